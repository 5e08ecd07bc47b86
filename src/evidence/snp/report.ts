/**
 * parseSnpReport / encodeSnpReport: the SEV-SNP ATTESTATION_REPORT (versions 2, 3 and 5, always
 * 1184 bytes). Pure: no crypto, no I/O. Layout and spec references in layout.ts.
 */
import { ByteReader, ByteWriter, EvidenceMalformed, UnsupportedVersion, isAllZero, toHex } from '../../core/index.ts';
import {
  CPUID_FAMILY_TURIN,
  SNP_PLATFORM_INFO_BITS,
  SNP_POLICY_BITS,
  SNP_REPORT_SIZE,
  SNP_SIGNED_END,
  SNP_SIGNING_KEY,
  SNP_SIG_ALGO_ECDSA_P384_SHA384,
  SNP_SIG_COMPONENT_SIZE,
  SNP_SUPPORTED_VERSIONS,
} from './layout.ts';

const TEE = 'snp';

/** Which byte order of TCB_VERSION applies: Milan/Genoa ("legacy") or Turin (family 1Ah). */
export type TcbLayout = 'legacy' | 'turin';

/** A decoded TCB_VERSION. `raw` is the little-endian u64 as stored (go-sev-guest's "TCB u64"). */
export interface SnpTcbVersion {
  raw: bigint;
  layout: TcbLayout;
  /** Turin only: FMC_SPL (byte 0). */
  fmc?: number;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

export interface SnpPolicy {
  raw: bigint;
  abiMinor: number;
  abiMajor: number;
  smt: boolean;
  migrateMa: boolean;
  debug: boolean;
  singleSocket: boolean;
  cxlAllow: boolean;
  memAes256Xts: boolean;
  raplDis: boolean;
  ciphertextHiding: boolean;
  pageSwapDisable: boolean;
}

export interface SnpPlatformInfo {
  raw: bigint;
  smtEnabled: boolean;
  tsmeEnabled: boolean;
  eccEnabled: boolean;
  raplDisabled: boolean;
  ciphertextHidingEnabled: boolean;
  aliasCheckComplete: boolean;
  tioEnabled: boolean;
}

export type SnpSigningKey = 'vcek' | 'vlek' | 'none';

export interface SnpSignerInfo {
  raw: number;
  /** AUTHOR_KEY_EN: the ID block carried an author key. */
  authorKeyEn: boolean;
  /** MASK_CHIP_KEY: CHIP_ID is all zero (the host masked it). */
  maskChipId: boolean;
  signingKey: SnpSigningKey;
}

export interface SnpFirmwareVersion {
  build: number;
  minor: number;
  major: number;
}

export interface SnpCpuid {
  family: number;
  model: number;
  stepping: number;
}

export interface SnpSignature {
  /** R, 72 bytes little-endian, as stored. */
  r: Uint8Array;
  /** S, 72 bytes little-endian, as stored. */
  s: Uint8Array;
}

/** A parsed report. Byte fields are copies; `raw` is the exact input, `signed` = raw[0, 0x2A0). */
export interface SnpReport {
  /** VERSION */
  version: number;
  /** GUEST_SVN */
  guestSvn: number;
  /** POLICY */
  policy: SnpPolicy;
  /** FAMILY_ID */
  familyId: Uint8Array;
  /** IMAGE_ID */
  imageId: Uint8Array;
  /** VMPL */
  vmpl: number;
  /** SIGNATURE_ALGO */
  signatureAlgo: number;
  /** CURRENT_TCB */
  currentTcb: SnpTcbVersion;
  /** PLATFORM_INFO */
  platformInfo: SnpPlatformInfo;
  /** AUTHOR_KEY_EN / MASK_CHIP_KEY / SIGNING_KEY (0x48) */
  signerInfo: SnpSignerInfo;
  /** REPORT_DATA */
  reportData: Uint8Array;
  /** MEASUREMENT */
  measurement: Uint8Array;
  /** HOST_DATA */
  hostData: Uint8Array;
  /** ID_KEY_DIGEST */
  idKeyDigest: Uint8Array;
  /** AUTHOR_KEY_DIGEST */
  authorKeyDigest: Uint8Array;
  /** REPORT_ID */
  reportId: Uint8Array;
  /** REPORT_ID_MA */
  reportIdMa: Uint8Array;
  /** REPORTED_TCB: the TCB the VCEK is derived from (use this, not CURRENT_TCB, to pick the VCEK). */
  reportedTcb: SnpTcbVersion;
  /** CPUID_FAM_ID / CPUID_MOD_ID / CPUID_STEP (version 3+). */
  cpuid?: SnpCpuid;
  /** CHIP_ID */
  chipId: Uint8Array;
  /** COMMITTED_TCB */
  committedTcb: SnpTcbVersion;
  /** CURRENT_BUILD / CURRENT_MINOR / CURRENT_MAJOR */
  currentVersion: SnpFirmwareVersion;
  /** COMMITTED_BUILD / COMMITTED_MINOR / COMMITTED_MAJOR */
  committedVersion: SnpFirmwareVersion;
  /** LAUNCH_TCB */
  launchTcb: SnpTcbVersion;
  /** LAUNCH_MIT_VECTOR (version 5+). */
  launchMitVector?: bigint;
  /** CURRENT_MIT_VECTOR (version 5+). */
  currentMitVector?: bigint;
  signature: SnpSignature;
  raw: Uint8Array;
  signed: Uint8Array;
}

/** Splits a u64 into two u32 halves once, so bit and byte reads stay in Number arithmetic. */
function halves(v: bigint): [number, number] {
  return [Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn)];
}
const bit = (v: bigint, n: number): boolean => {
  const [lo, hi] = halves(v);
  return n < 32 ? ((lo >>> n) & 1) === 1 : ((hi >>> (n - 32)) & 1) === 1;
};
const byteOf = (h: [number, number], i: number): number => (i < 4 ? h[0] >>> (8 * i) : h[1] >>> (8 * (i - 4))) & 0xff;
const byteAt = (v: bigint, i: number): number => byteOf(halves(v), i);

/** Decodes a TCB_VERSION u64 in the given layout (NOTES 2.2). */
export function decodeTcbVersion(raw: bigint, layout: TcbLayout): SnpTcbVersion {
  const h = halves(raw);
  if (layout === 'turin') {
    return { raw, layout, fmc: byteOf(h, 0), bootloader: byteOf(h, 1), tee: byteOf(h, 2), snp: byteOf(h, 3), microcode: byteOf(h, 7) };
  }
  return { raw, layout, bootloader: byteOf(h, 0), tee: byteOf(h, 1), snp: byteOf(h, 6), microcode: byteOf(h, 7) };
}

/** Builds a TCB_VERSION u64 from its parts (inverse of decodeTcbVersion for zero reserved bytes). */
export function encodeTcbVersion(parts: { fmc?: number; bootloader: number; tee: number; snp: number; microcode: number }, layout: TcbLayout): bigint {
  const b = (v: number, i: number): bigint => BigInt(v & 0xff) << BigInt(8 * i);
  if (layout === 'turin') return b(parts.fmc ?? 0, 0) | b(parts.bootloader, 1) | b(parts.tee, 2) | b(parts.snp, 3) | b(parts.microcode, 7);
  return b(parts.bootloader, 0) | b(parts.tee, 1) | b(parts.snp, 6) | b(parts.microcode, 7);
}

export function decodeSnpPolicy(raw: bigint): SnpPolicy {
  const P = SNP_POLICY_BITS;
  return {
    raw,
    abiMinor: byteAt(raw, 0),
    abiMajor: byteAt(raw, 1),
    smt: bit(raw, P.smt),
    migrateMa: bit(raw, P.migrateMa),
    debug: bit(raw, P.debug),
    singleSocket: bit(raw, P.singleSocket),
    cxlAllow: bit(raw, P.cxlAllow),
    memAes256Xts: bit(raw, P.memAes256Xts),
    raplDis: bit(raw, P.raplDis),
    ciphertextHiding: bit(raw, P.ciphertextHiding),
    pageSwapDisable: bit(raw, P.pageSwapDisable),
  };
}

export function decodeSnpPlatformInfo(raw: bigint): SnpPlatformInfo {
  const B = SNP_PLATFORM_INFO_BITS;
  return {
    raw,
    smtEnabled: bit(raw, B.smtEnabled),
    tsmeEnabled: bit(raw, B.tsmeEnabled),
    eccEnabled: bit(raw, B.eccEnabled),
    raplDisabled: bit(raw, B.raplDisabled),
    ciphertextHidingEnabled: bit(raw, B.ciphertextHidingEnabled),
    aliasCheckComplete: bit(raw, B.aliasCheckComplete),
    tioEnabled: bit(raw, B.tioEnabled),
  };
}

/** Decodes SIGNER_INFO (0x48); reserved bits 31:5 and SIGNING_KEY values 2..6 are malformed. */
export function decodeSnpSignerInfo(raw: number): SnpSignerInfo {
  if (raw >>> 5 !== 0) throw new EvidenceMalformed(TEE, 'SIGNER_INFO', 0x48, `reserved bits 31:5 must be zero, got 0x${raw.toString(16)}`);
  const key = (raw >>> 2) & 7;
  let signingKey: SnpSigningKey;
  if (key === SNP_SIGNING_KEY.vcek) signingKey = 'vcek';
  else if (key === SNP_SIGNING_KEY.vlek) signingKey = 'vlek';
  else if (key === SNP_SIGNING_KEY.none) signingKey = 'none';
  else throw new EvidenceMalformed(TEE, 'SIGNING_KEY', 0x48, `value ${key} is reserved (0 = VCEK, 1 = VLEK, 7 = none)`);
  return { raw, authorKeyEn: (raw & 1) === 1, maskChipId: (raw & 2) === 2, signingKey };
}

export function encodeSnpSignerInfo(s: { authorKeyEn: boolean; maskChipId: boolean; signingKey: SnpSigningKey }): number {
  return (s.authorKeyEn ? 1 : 0) | (s.maskChipId ? 2 : 0) | (SNP_SIGNING_KEY[s.signingKey] << 2);
}

/** The TCB layout a report uses: Turin's for CPUID family 1Ah (v3+), legacy otherwise. */
export function tcbLayoutFor(version: number, cpuidFamily: number | undefined): TcbLayout {
  return version >= 3 && cpuidFamily === CPUID_FAMILY_TURIN ? 'turin' : 'legacy';
}

function mbz(r: ByteReader, offset: number, size: number, field: string): void {
  const b = r.seek(offset, field).bytesView(size, field);
  if (!isAllZero(b)) throw new EvidenceMalformed(TEE, field, offset, `reserved, must be zero, got ${toHex(b)}`);
}

/**
 * Parses a SEV-SNP attestation report. Rejects any size other than 1184 bytes, versions other
 * than 2, 3 and 5, SIGNATURE_ALGO other than 1, a POLICY without its must-be-one bit 17,
 * reserved SIGNING_KEY values and non-zero reserved ranges.
 */
export function parseSnpReport(bytes: Uint8Array): SnpReport {
  if (bytes.length !== SNP_REPORT_SIZE) {
    throw new EvidenceMalformed(TEE, 'report', 0, `an SEV-SNP attestation report is exactly ${SNP_REPORT_SIZE} bytes, got ${bytes.length}`);
  }
  const r = new ByteReader(bytes, TEE);
  const version = r.u32le('VERSION');
  if (!SNP_SUPPORTED_VERSIONS.includes(version)) throw new UnsupportedVersion(TEE, 'report VERSION', version, [...SNP_SUPPORTED_VERSIONS]);
  const guestSvn = r.u32le('GUEST_SVN');
  const policyRaw = r.u64le('POLICY');
  if (!bit(policyRaw, SNP_POLICY_BITS.reservedMustBeOne)) throw new EvidenceMalformed(TEE, 'POLICY', 0x08, `bit 17 is reserved and must be one (policy 0x${policyRaw.toString(16)})`);
  const familyId = r.take(16, 'FAMILY_ID');
  const imageId = r.take(16, 'IMAGE_ID');
  const vmpl = r.u32le('VMPL');
  const signatureAlgo = r.u32le('SIGNATURE_ALGO');
  if (signatureAlgo !== SNP_SIG_ALGO_ECDSA_P384_SHA384) {
    throw new EvidenceMalformed(TEE, 'SIGNATURE_ALGO', 0x34, `must be 1 (ECDSA P-384 with SHA-384), got ${signatureAlgo}`);
  }
  const currentTcbRaw = r.u64le('CURRENT_TCB');
  const platformInfo = decodeSnpPlatformInfo(r.u64le('PLATFORM_INFO'));
  const signerInfo = decodeSnpSignerInfo(r.u32le('SIGNER_INFO'));
  mbz(r, 0x4c, 4, 'RESERVED_04C');
  r.seek(0x50);
  const reportData = r.take(64, 'REPORT_DATA');
  const measurement = r.take(48, 'MEASUREMENT');
  const hostData = r.take(32, 'HOST_DATA');
  const idKeyDigest = r.take(48, 'ID_KEY_DIGEST');
  const authorKeyDigest = r.take(48, 'AUTHOR_KEY_DIGEST');
  const reportId = r.take(32, 'REPORT_ID');
  const reportIdMa = r.take(32, 'REPORT_ID_MA');
  const reportedTcbRaw = r.u64le('REPORTED_TCB');
  let cpuid: SnpCpuid | undefined;
  if (version >= 3) {
    cpuid = { family: r.u8('CPUID_FAM_ID'), model: r.u8('CPUID_MOD_ID'), stepping: r.u8('CPUID_STEP') };
    mbz(r, 0x18b, 0x15, 'RESERVED_18B');
  } else {
    mbz(r, 0x188, 0x18, 'RESERVED_188');
  }
  r.seek(0x1a0);
  const chipId = r.take(64, 'CHIP_ID');
  const committedTcbRaw = r.u64le('COMMITTED_TCB');
  const currentVersion = { build: r.u8('CURRENT_BUILD'), minor: r.u8('CURRENT_MINOR'), major: r.u8('CURRENT_MAJOR') };
  mbz(r, 0x1eb, 1, 'RESERVED_1EB');
  r.seek(0x1ec);
  const committedVersion = { build: r.u8('COMMITTED_BUILD'), minor: r.u8('COMMITTED_MINOR'), major: r.u8('COMMITTED_MAJOR') };
  mbz(r, 0x1ef, 1, 'RESERVED_1EF');
  r.seek(0x1f0);
  const launchTcbRaw = r.u64le('LAUNCH_TCB');
  let launchMitVector: bigint | undefined;
  let currentMitVector: bigint | undefined;
  if (version >= 5) {
    launchMitVector = r.u64le('LAUNCH_MIT_VECTOR');
    currentMitVector = r.u64le('CURRENT_MIT_VECTOR');
    mbz(r, 0x208, SNP_SIGNED_END - 0x208, 'RESERVED_208');
  } else {
    mbz(r, 0x1f8, SNP_SIGNED_END - 0x1f8, 'RESERVED_1F8');
  }
  r.seek(SNP_SIGNED_END);
  const sigR = r.take(SNP_SIG_COMPONENT_SIZE, 'SIGNATURE_R');
  const sigS = r.take(SNP_SIG_COMPONENT_SIZE, 'SIGNATURE_S');
  mbz(r, 0x330, SNP_REPORT_SIZE - 0x330, 'RESERVED_SIGNATURE');
  r.seek(SNP_REPORT_SIZE);
  r.expectEnd();

  const layout = tcbLayoutFor(version, cpuid?.family);
  const raw = bytes.slice();
  return {
    version,
    guestSvn,
    policy: decodeSnpPolicy(policyRaw),
    familyId,
    imageId,
    vmpl,
    signatureAlgo,
    currentTcb: decodeTcbVersion(currentTcbRaw, layout),
    platformInfo,
    signerInfo,
    reportData,
    measurement,
    hostData,
    idKeyDigest,
    authorKeyDigest,
    reportId,
    reportIdMa,
    reportedTcb: decodeTcbVersion(reportedTcbRaw, layout),
    ...(cpuid ? { cpuid } : {}),
    chipId,
    committedTcb: decodeTcbVersion(committedTcbRaw, layout),
    currentVersion,
    committedVersion,
    launchTcb: decodeTcbVersion(launchTcbRaw, layout),
    ...(launchMitVector !== undefined ? { launchMitVector } : {}),
    ...(currentMitVector !== undefined ? { currentMitVector } : {}),
    signature: { r: sigR, s: sigS },
    raw,
    signed: raw.subarray(0, SNP_SIGNED_END),
  };
}

/** What encodeSnpReport needs: a parsed report, or the same fields built by hand (tests). */
export type SnpReportFields = Omit<SnpReport, 'raw' | 'signed' | 'policy' | 'platformInfo' | 'signerInfo' | 'currentTcb' | 'reportedTcb' | 'committedTcb' | 'launchTcb'> & {
  policy: { raw: bigint };
  platformInfo: { raw: bigint };
  signerInfo: { authorKeyEn: boolean; maskChipId: boolean; signingKey: SnpSigningKey };
  currentTcb: { raw: bigint };
  reportedTcb: { raw: bigint };
  committedTcb: { raw: bigint };
  launchTcb: { raw: bigint };
};

/**
 * Encodes a report (the inverse of parseSnpReport: parse → encode is byte-exact). The signature
 * is written as given; sign `encoded.subarray(0, 0x2A0)` and call again with the signature set.
 */
export function encodeSnpReport(rep: SnpReportFields): Uint8Array {
  const w = new ByteWriter(SNP_REPORT_SIZE);
  w.u32le(rep.version).u32le(rep.guestSvn).u64le(rep.policy.raw);
  w.fixed(rep.familyId, 16).fixed(rep.imageId, 16);
  w.u32le(rep.vmpl).u32le(rep.signatureAlgo).u64le(rep.currentTcb.raw).u64le(rep.platformInfo.raw);
  w.u32le(encodeSnpSignerInfo(rep.signerInfo)).zeros(4);
  w.fixed(rep.reportData, 64).fixed(rep.measurement, 48).fixed(rep.hostData, 32);
  w.fixed(rep.idKeyDigest, 48).fixed(rep.authorKeyDigest, 48).fixed(rep.reportId, 32).fixed(rep.reportIdMa, 32);
  w.u64le(rep.reportedTcb.raw);
  if (rep.version >= 3 && rep.cpuid) w.u8(rep.cpuid.family).u8(rep.cpuid.model).u8(rep.cpuid.stepping).zeros(0x15);
  else w.zeros(0x18);
  w.fixed(rep.chipId, 64).u64le(rep.committedTcb.raw);
  w.u8(rep.currentVersion.build).u8(rep.currentVersion.minor).u8(rep.currentVersion.major).zeros(1);
  w.u8(rep.committedVersion.build).u8(rep.committedVersion.minor).u8(rep.committedVersion.major).zeros(1);
  w.u64le(rep.launchTcb.raw);
  if (rep.version >= 5) w.u64le(rep.launchMitVector ?? 0n).u64le(rep.currentMitVector ?? 0n).zeros(SNP_SIGNED_END - 0x208);
  else w.zeros(SNP_SIGNED_END - 0x1f8);
  w.fixed(rep.signature.r, SNP_SIG_COMPONENT_SIZE).fixed(rep.signature.s, SNP_SIG_COMPONENT_SIZE);
  w.zeros(SNP_REPORT_SIZE - 0x330);
  const out = w.finish();
  if (out.length !== SNP_REPORT_SIZE) throw new RangeError(`encoded SNP report is ${out.length} bytes`);
  return out;
}

/**
 * Converts the stored signature (72-byte little-endian R and S) into WebCrypto's raw P-384 form
 * (48-byte big-endian R ‖ S). Returns undefined if a component does not fit in 48 bytes.
 */
export function snpSignatureToRaw(sig: SnpSignature): Uint8Array | undefined {
  const out = new Uint8Array(96);
  for (const [i, le] of [sig.r, sig.s].entries()) {
    if (le.length !== SNP_SIG_COMPONENT_SIZE || !isAllZero(le.subarray(48))) return undefined;
    for (let j = 0; j < 48; j++) out[i * 48 + 47 - j] = le[j]!;
  }
  return out;
}

/** The inverse of snpSignatureToRaw (for minting synthetic reports). */
export function snpSignatureFromRaw(raw: Uint8Array): SnpSignature {
  if (raw.length !== 96) throw new RangeError(`a raw P-384 signature is 96 bytes, got ${raw.length}`);
  const r = new Uint8Array(SNP_SIG_COMPONENT_SIZE);
  const s = new Uint8Array(SNP_SIG_COMPONENT_SIZE);
  for (let j = 0; j < 48; j++) {
    r[j] = raw[47 - j]!;
    s[j] = raw[95 - j]!;
  }
  return { r, s };
}

/** Cheap sniffing for content detection: size, version and signature algorithm. Never throws. */
export function looksLikeSnpReport(bytes: Uint8Array): boolean {
  if (bytes.length !== SNP_REPORT_SIZE) return false;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return SNP_SUPPORTED_VERSIONS.includes(v.getUint32(0, true)) && v.getUint32(0x34, true) === SNP_SIG_ALGO_ECDSA_P384_SHA384;
}
