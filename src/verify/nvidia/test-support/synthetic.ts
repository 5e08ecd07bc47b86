/**
 * A fake NVIDIA device PKI and GPU for tests and benchmarks: root → identity → provisioner →
 * BROM → GSP FMC leaf (with the FWID extension), all ECDSA P-384 / SHA-384 like the real one, and
 * SPDM MEASUREMENTS responses signed exactly as the GPU signs them (ECDSA P-384 raw r‖s over
 * request ‖ response-without-signature). Trust the fake root with ctx.extraRoots.nvidia.
 */
import { x509 } from '../../../core/x509.ts';
import { concatBytes, randomBytes } from '../../../core/index.ts';
import { emptyCollateral } from '../../../collateral/index.ts';
import { NVIDIA_FWID_OID } from '../../../collateral/nvidia/index.ts';
import {
  MEASUREMENT_SPEC_DMTF,
  OPAQUE,
  SPDM_GET_MEASUREMENTS,
  SPDM_MEASUREMENTS,
  SPDM_VERSION_11,
  encodeRequest,
  encodeResponseUnsigned,
  type MeasurementBlock,
  type OpaqueField,
  type SpdmGetMeasurementsRequest,
  type SpdmMeasurementsResponse,
} from '../../../evidence/nvidia/index.ts';
import type { VerifyContext } from '../../types.ts';
import { mint, type TestIdentity } from '../../../../test/support/pki.ts';

const P384 = { kind: 'ec', curve: 'P-384' } as const;
export const T0 = new Date('2025-06-01T12:00:00Z');

export interface FakeGpuPki {
  root: TestIdentity;
  identity: TestIdentity;
  provisioner: TestIdentity;
  brom: TestIdentity;
  leaf: TestIdentity;
  fwid: Uint8Array;
}

/** DER of a minimal TcbInfo-like value ending in the 48-byte FWID: SEQUENCE { OCTET STRING fwid }. */
export function fwidExtension(fwid: Uint8Array): x509.Extension {
  const der = concatBytes(new Uint8Array([0x30, fwid.length + 2, 0x04, fwid.length]), fwid);
  return new x509.Extension(NVIDIA_FWID_OID, false, der as Uint8Array<ArrayBuffer>);
}

export async function makeGpuPki(opts: { leafNotAfter?: Date; leafCurve?: 'P-256' | 'P-384'; leafFwid?: Uint8Array | null } = {}): Promise<FakeGpuPki> {
  const fwid = randomBytes(48);
  const root = await mint({ subject: 'CN=Test Device Identity CA, O=Test', alg: P384, ca: true });
  const identity = await mint({ subject: 'CN=Test GH100 Identity, O=Test', alg: P384, ca: true, issuer: root });
  const provisioner = await mint({ subject: 'CN=Test GH100 Provisioner ICA 1, O=Test', alg: P384, ca: true, issuer: identity });
  const brom = await mint({ subject: '2.5.4.5=0011223344, CN=Test GSP BROM, O=Test', alg: P384, ca: true, issuer: provisioner });
  const leafFwid = opts.leafFwid === undefined ? fwid : opts.leafFwid;
  const leaf = await mint({
    subject: '2.5.4.5=AABBCCDDEEFF00112233, CN=Test GSP FMC LF, O=Test',
    alg: { kind: 'ec', curve: opts.leafCurve ?? 'P-384' },
    issuer: brom,
    notAfter: opts.leafNotAfter,
    extensions: leafFwid ? [fwidExtension(leafFwid)] : [],
  });
  return { root, identity, provisioner, brom, leaf, fwid };
}

export function chainOf(pki: FakeGpuPki): x509.X509Certificate[] {
  return [pki.leaf.cert, pki.brom.cert, pki.provisioner.cert, pki.identity.cert, pki.root.cert];
}

export function ctxFor(pki: FakeGpuPki, over: Partial<VerifyContext> = {}, chain = chainOf(pki)): VerifyContext {
  const collateral = emptyCollateral();
  collateral.certificates.push(...chain);
  return { now: T0, collateral, extraRoots: { nvidia: [pki.root.fingerprint] }, ...over };
}

export function makeRequest(nonce: Uint8Array = randomBytes(32)): SpdmGetMeasurementsRequest {
  return { version: SPDM_VERSION_11, code: SPDM_GET_MEASUREMENTS, param1: 0x01, param2: 0xff, nonce, slotId: 0 };
}

export function makeBlocks(n = 8): MeasurementBlock[] {
  return Array.from({ length: n }, (_, i) => ({ index: i + 1, specification: MEASUREMENT_SPEC_DMTF, valueType: 0x01, value: randomBytes(48) }));
}

export function makeOpaque(fwid: Uint8Array): OpaqueField[] {
  const te = new TextEncoder();
  return [
    { type: OPAQUE.VBIOS_VERSION, value: new Uint8Array([0x00, 0x9f, 0x00, 0x96, 0x01, 0, 0, 0]) },
    { type: OPAQUE.DRIVER_VERSION, value: te.encode('550.90.07\0') },
    { type: OPAQUE.CHIP_SKU, value: te.encode('882\0\0\0\0\0\0') },
    { type: OPAQUE.MSRSCNT, value: new Uint8Array(32) },
    { type: OPAQUE.FWID, value: fwid },
  ];
}

export interface SignOptions {
  request?: SpdmGetMeasurementsRequest;
  blocks?: MeasurementBlock[];
  opaque?: OpaqueField[];
  responseNonce?: Uint8Array;
  key?: CryptoKey;
}

/** A whole signed report (binary): request ‖ response ‖ signature. */
export async function signedReport(pki: FakeGpuPki, o: SignOptions = {}): Promise<Uint8Array> {
  const request = o.request ?? makeRequest();
  const response: Omit<SpdmMeasurementsResponse, 'signature'> = {
    version: SPDM_VERSION_11,
    code: SPDM_MEASUREMENTS,
    param1: 0,
    param2: 0,
    blocks: o.blocks ?? makeBlocks(),
    nonce: o.responseNonce ?? randomBytes(32),
    opaque: o.opaque ?? makeOpaque(pki.fwid),
  };
  const signed = concatBytes(encodeRequest(request), encodeResponseUnsigned(response));
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-384' }, o.key ?? pki.leaf.keys.privateKey, signed as Uint8Array<ArrayBuffer>));
  return concatBytes(signed, sig);
}
