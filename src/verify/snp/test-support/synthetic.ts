/**
 * A fake AMD PKI for tests: an RSA-PSS-SHA384 ARK/ASK/ASVK (same names as AMD's) and ECDSA P-384
 * VCEK/VLEK leaves carrying AMD's extensions, plus reports encoded with encodeSnpReport and signed
 * with the leaf's private key. Every error path of verifySnp can be reached with these.
 */
import { x509 } from '../../../core/x509.ts';
import { encodeSnpReport, encodeTcbVersion, snpSignatureFromRaw, type SnpReportFields, type SnpSigningKey, type TcbLayout } from '../../../evidence/snp/index.ts';
import { AMD_OID } from '../extensions.ts';
import { mint, type TestIdentity } from '../../../../test/support/pki.ts';
import { emptyCollateral, type CollateralSet } from '../../../collateral/index.ts';
import type { VerifyContext } from '../../types.ts';

export const AMD_DN = 'OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices';
const PSS = { kind: 'rsa-pss', bits: 2048, hash: 'SHA-384', saltLength: 48 } as const;

export interface FakeAmd {
  product: 'Milan' | 'Genoa' | 'Turin';
  ark: TestIdentity;
  ask: TestIdentity;
  asvk: TestIdentity;
}

export async function mintFakeAmd(product: FakeAmd['product'] = 'Milan'): Promise<FakeAmd> {
  const ark = await mint({ subject: `${AMD_DN}, CN=ARK-${product}`, alg: PSS, ca: true });
  const ask = await mint({ subject: `${AMD_DN}, CN=SEV-${product}`, alg: PSS, ca: true, issuer: ark });
  const asvk = await mint({ subject: `${AMD_DN}, CN=SEV-VLEK-${product}`, alg: PSS, ca: true, issuer: ark });
  return { product, ark, ask, asvk };
}

const derInt = (n: number): Uint8Array => (n >= 0x80 ? new Uint8Array([2, 2, 0, n]) : new Uint8Array([2, 1, n]));
const derIa5 = (s: string): Uint8Array => new Uint8Array([0x16, s.length, ...new TextEncoder().encode(s)]);

export interface TcbParts {
  fmc?: number;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

export interface LeafOptions {
  kind?: 'vcek' | 'vlek';
  tcb: TcbParts;
  /** VCEK hwID (64 bytes, or 8 on Turin); omitted for VLEKs. */
  hwId?: Uint8Array;
  hwIdEncoding?: 'raw' | 'octet-string';
  productName?: string;
  cspId?: string;
  notBefore?: Date;
  notAfter?: Date;
  serial?: string;
  /** Defaults to the ASK (VCEK) or ASVK (VLEK). */
  issuer?: TestIdentity;
}

export async function mintLeaf(amd: FakeAmd, o: LeafOptions): Promise<TestIdentity> {
  const kind = o.kind ?? 'vcek';
  const E = (oid: string, v: Uint8Array): x509.Extension => new x509.Extension(oid, false, v as Uint8Array<ArrayBuffer>);
  const exts = [
    E(AMD_OID.structVersion, derInt(1)),
    E(AMD_OID.productName, derIa5(o.productName ?? (amd.product === 'Milan' ? 'Milan-B0' : amd.product))),
    ...(o.tcb.fmc !== undefined ? [E(AMD_OID.fmcSpl, derInt(o.tcb.fmc))] : []),
    E(AMD_OID.blSpl, derInt(o.tcb.bootloader)),
    E(AMD_OID.teeSpl, derInt(o.tcb.tee)),
    E(AMD_OID.snpSpl, derInt(o.tcb.snp)),
    E(AMD_OID.ucodeSpl, derInt(o.tcb.microcode)),
  ];
  if (o.hwId) exts.push(E(AMD_OID.hwId, o.hwIdEncoding === 'octet-string' ? new Uint8Array([4, o.hwId.length, ...o.hwId]) : o.hwId));
  if (o.cspId) exts.push(E(AMD_OID.cspId, derIa5(o.cspId)));
  return mint({
    subject: `${AMD_DN}, CN=${kind === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK'}`,
    alg: { kind: 'ec', curve: 'P-384' },
    issuer: o.issuer ?? (kind === 'vcek' ? amd.ask : amd.asvk),
    extensions: exts,
    serial: o.serial ?? '00',
    ...(o.notBefore ? { notBefore: o.notBefore } : {}),
    ...(o.notAfter ? { notAfter: o.notAfter } : {}),
  });
}

export interface ReportOptions {
  version?: 2 | 3 | 5;
  cpuid?: { family: number; model: number; stepping: number };
  tcb: TcbParts;
  chipId: Uint8Array;
  signingKey?: SnpSigningKey;
  maskChipId?: boolean;
  policy?: bigint;
  reportData?: Uint8Array;
  measurement?: Uint8Array;
  launchMitVector?: bigint;
  currentMitVector?: bigint;
}

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);

export function reportFields(o: ReportOptions): SnpReportFields {
  const version = o.version ?? 3;
  const layout: TcbLayout = version >= 3 && o.cpuid?.family === 0x1a ? 'turin' : 'legacy';
  const tcb = { raw: encodeTcbVersion(o.tcb, layout) };
  return {
    version,
    guestSvn: 1,
    policy: { raw: o.policy ?? 0x30000n },
    familyId: fill(16, 0x11),
    imageId: fill(16, 0x22),
    vmpl: 0,
    signatureAlgo: 1,
    currentTcb: tcb,
    platformInfo: { raw: 0x25n },
    signerInfo: { authorKeyEn: false, maskChipId: o.maskChipId ?? false, signingKey: o.signingKey ?? 'vcek' },
    reportData: o.reportData ?? fill(64, 0xab),
    measurement: o.measurement ?? fill(48, 0x5a),
    hostData: fill(32, 0x01),
    idKeyDigest: fill(48, 0x02),
    authorKeyDigest: new Uint8Array(48),
    reportId: fill(32, 0x03),
    reportIdMa: fill(32, 0xff),
    reportedTcb: tcb,
    ...(version >= 3 ? { cpuid: o.cpuid ?? { family: 0x19, model: 0x01, stepping: 0x01 } } : {}),
    chipId: o.maskChipId ? new Uint8Array(64) : o.chipId,
    committedTcb: tcb,
    currentVersion: { build: 21, minor: 55, major: 1 },
    committedVersion: { build: 21, minor: 55, major: 1 },
    launchTcb: tcb,
    ...(version >= 5 ? { launchMitVector: o.launchMitVector ?? 3n, currentMitVector: o.currentMitVector ?? 7n } : {}),
    signature: { r: new Uint8Array(72), s: new Uint8Array(72) },
  };
}

/** Encodes and signs a report with `key` (ECDSA P-384 / SHA-384 over [0, 0x2A0)). */
export async function signReport(fields: SnpReportFields, key: CryptoKey): Promise<Uint8Array> {
  const unsigned = encodeSnpReport(fields);
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-384' }, key, unsigned.slice(0, 0x2a0) as Uint8Array<ArrayBuffer>));
  return encodeSnpReport({ ...fields, signature: snpSignatureFromRaw(sig) });
}

export function collateralOf(certs: TestIdentity[], crls: x509.X509Crl[] = []): CollateralSet {
  const c = emptyCollateral();
  c.certificates.push(...certs.map((i) => i.cert));
  c.crls.push(...crls);
  return c;
}

export function ctxFor(amd: FakeAmd, collateral: CollateralSet, extra: Partial<VerifyContext> = {}): VerifyContext {
  return { now: new Date('2025-06-01T00:00:00Z'), collateral, offline: true, extraRoots: { amd: [amd.ark.fingerprint] }, ...extra };
}

export const CHIP_ID = Uint8Array.from({ length: 64 }, (_, i) => (i * 7 + 3) & 0xff);
export const TCB: TcbParts = { bootloader: 4, tee: 0, snp: 24, microcode: 219 };
