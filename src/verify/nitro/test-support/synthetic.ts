/**
 * A fake AWS Nitro PKI and NSM for tests and benchmarks: root → regional → zonal → instance →
 * per-document leaf, all ECDSA P-384 / SHA-384 like the real one, and documents signed exactly as
 * the NSM signs them. Trust the fake root with ctx.extraRoots['aws-nitro'] = [pki.root.fingerprint].
 */
import { x509 } from '../../../core/x509.ts';
import { emptyCollateral } from '../../../collateral/index.ts';
import { ES384_PROTECTED, encodeCoseSign1, encodeNitroPayload, sigStructure, type EncodePayloadOptions, type NitroPayload } from '../../../evidence/nitro/index.ts';
import type { VerifyContext } from '../../types.ts';
import { mint, type TestIdentity } from '../../../../test/support/pki.ts';

const P384 = { kind: 'ec', curve: 'P-384' } as const;

export interface FakeNitroPki {
  root: TestIdentity;
  regional: TestIdentity;
  zonal: TestIdentity;
  instance: TestIdentity;
}

export const T0 = new Date('2025-06-01T12:00:00Z');

export async function makeNitroPki(opts: { instanceCa?: boolean } = {}): Promise<FakeNitroPki> {
  const crlDp = (name: string): x509.Extension => new x509.CRLDistributionPointsExtension([`http://crl.test.invalid/${name}.crl`]);
  const root = await mint({ subject: 'C=US, O=Amazon, OU=AWS, CN=test.nitro-enclaves', alg: P384, ca: true, notBefore: new Date('2019-10-28T00:00:00Z'), notAfter: new Date('2049-10-28T00:00:00Z') });
  const regional = await mint({ subject: 'C=US, O=Amazon, OU=AWS, CN=0123456789abcdef.us-east-1.test.nitro-enclaves', alg: P384, ca: true, issuer: root, notBefore: new Date('2025-05-20T00:00:00Z'), notAfter: new Date('2025-06-20T00:00:00Z'), extensions: [crlDp('root')] });
  const zonal = await mint({ subject: 'CN=fedcba9876543210.zonal.us-east-1.test.nitro-enclaves, OU=AWS, O=Amazon, C=US', alg: P384, ca: true, issuer: regional, notBefore: new Date('2025-05-30T00:00:00Z'), notAfter: new Date('2025-06-05T00:00:00Z'), extensions: [crlDp('regional')] });
  const instance = await mint({
    subject: 'C=US, O=Amazon, OU=AWS, CN=i-0123456789abcdef0.us-east-1.test.nitro-enclaves',
    alg: P384,
    issuer: zonal,
    ca: opts.instanceCa ?? true,
    notBefore: new Date('2025-06-01T00:00:00Z'),
    notAfter: new Date('2025-06-02T00:00:00Z'),
  });
  return { root, regional, zonal, instance };
}

export async function mintLeaf(pki: FakeNitroPki, at: Date = T0, opts: { issuer?: TestIdentity; curve?: 'P-256' | 'P-384'; hours?: number } = {}): Promise<TestIdentity> {
  return mint({
    subject: 'C=US, O=Amazon, OU=AWS, CN=i-0123456789abcdef0-enc0123456789abcdef.us-east-1.test',
    alg: { kind: 'ec', curve: opts.curve ?? 'P-384' },
    issuer: opts.issuer ?? pki.instance,
    notBefore: new Date(at.getTime() - 60_000),
    notAfter: new Date(at.getTime() + (opts.hours ?? 3) * 3600_000),
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
}

const der = (c: { cert: x509.X509Certificate }): Uint8Array => new Uint8Array(c.cert.rawData);

export function pcrsOf(fill: (i: number) => number = (i) => i + 1, count = 16, size = 48): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  for (let i = 0; i < count; i++) m.set(i, new Uint8Array(size).fill(fill(i)));
  return m;
}

export function basePayload(pki: FakeNitroPki, leaf: TestIdentity, at: Date = T0): NitroPayload {
  return {
    moduleId: 'i-0123456789abcdef0-enc0123456789abcdef',
    digest: 'SHA384',
    timestamp: at.getTime(),
    pcrs: pcrsOf(),
    certificate: der(leaf),
    cabundle: [der(pki.root), der(pki.regional), der(pki.zonal), der(pki.instance)],
    publicKey: null,
    userData: null,
    nonce: null,
  };
}

export interface DocOptions extends EncodePayloadOptions {
  /** Change payload fields before encoding. */
  payload?: Partial<NitroPayload>;
  /** Use this pre-encoded payload instead. */
  payloadBytes?: Uint8Array;
  protectedBytes?: Uint8Array;
  unprotectedBytes?: Uint8Array;
  tagged?: boolean;
  /** Sign with this key instead of the leaf's. */
  signer?: CryptoKey;
}

export async function signDoc(leaf: TestIdentity, payload: Uint8Array, opts: DocOptions = {}): Promise<Uint8Array> {
  const protectedBytes = opts.protectedBytes ?? ES384_PROTECTED;
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-384' }, opts.signer ?? leaf.keys.privateKey, sigStructure(protectedBytes, payload) as Uint8Array<ArrayBuffer>));
  return encodeCoseSign1({ protectedBytes, ...(opts.unprotectedBytes ? { unprotectedBytes: opts.unprotectedBytes } : {}), payload, signature: sig, tagged: opts.tagged ?? false });
}

export async function makeDoc(pki: FakeNitroPki, leaf: TestIdentity, opts: DocOptions = {}, at: Date = T0): Promise<Uint8Array> {
  const payload = opts.payloadBytes ?? encodeNitroPayload({ ...basePayload(pki, leaf, at), ...opts.payload }, opts);
  return signDoc(leaf, payload, opts);
}

export function fakeCtx(pki: FakeNitroPki, over: Partial<VerifyContext> = {}): VerifyContext {
  return { now: new Date(T0.getTime() + 1000), collateral: emptyCollateral(), extraRoots: { 'aws-nitro': [pki.root.fingerprint] }, ...over };
}
