/**
 * TPM 2.0 structures used by attestation (TPM 2.0 Library Specification, Part 2 "Structures",
 * rev 1.59), all big-endian:
 *
 * - TPMS_ATTEST (§10.12.12) with TPMS_CLOCK_INFO (§10.11.1) and TPMS_QUOTE_INFO (§10.12.4) /
 *   TPMS_CERTIFY_INFO (§10.12.3);
 * - TPML_PCR_SELECTION (§10.9.7) / TPMS_PCR_SELECTION (§10.6.2);
 * - TPMT_SIGNATURE (§11.3.4): RSASSA, RSAPSS (TPMS_SIGNATURE_RSA) and ECDSA (TPMS_SIGNATURE_ECC);
 * - TPMT_PUBLIC (§12.2.4): RSA, ECC, KEYEDHASH and SYMCIPHER objects.
 *
 * Every parse keeps `raw` (for TPMS_ATTEST the exact signed bytes) and has an encode inverse;
 * encode(parse(x)) == x for every well-formed x.
 */
import { ByteReader, ByteWriter, EvidenceMalformed, UnsupportedVersion } from '../../core/index.ts';
import { hashAlgName, hashSize, TPM_ALG } from '../eventlog/index.ts';

const TEE = 'tpm';

/** TPM_GENERATED_VALUE (Part 2 §6.2): "\xffTCG". */
export const TPM_GENERATED_VALUE = 0xff544347;

/** TPM_ST attestation structure tags (Part 2 §6.9). */
export const TPM_ST = {
  ATTEST_NV: 0x8014,
  ATTEST_COMMAND_AUDIT: 0x8015,
  ATTEST_SESSION_AUDIT: 0x8016,
  ATTEST_CERTIFY: 0x8017,
  ATTEST_QUOTE: 0x8018,
  ATTEST_TIME: 0x8019,
  ATTEST_CREATION: 0x801a,
} as const;

/** TPM_ECC_CURVE (Part 2 §6.4). */
export const TPM_ECC = { NIST_P256: 0x0003, NIST_P384: 0x0004, NIST_P521: 0x0005 } as const;

/** TPMA_OBJECT bits (Part 2 §8.3). */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

const MAX_TPM2B = 4096;

function tpm2b(r: ByteReader, field: string, max = MAX_TPM2B): Uint8Array {
  const at = r.offset;
  const n = r.u16be(`${field}.size`);
  if (n > max) throw new EvidenceMalformed(TEE, `${field}.size`, at, `${n} bytes exceeds the maximum of ${max}`);
  return r.take(n, field);
}
function w2b(w: ByteWriter, b: Uint8Array): void {
  w.u16be(b.length).bytes(b);
}

// ---------------------------------------------------------------------------------------------
// TPML_PCR_SELECTION

export interface PcrSelection {
  /** TPMI_ALG_HASH of the bank. */
  hash: number;
  /** The selected PCR indices, ascending. */
  pcrs: number[];
  /** sizeofSelect (bytes of bitmap); kept for byte-exact encoding. */
  sizeofSelect: number;
}

export function parsePcrSelection(r: ByteReader): PcrSelection[] {
  const at = r.offset;
  const count = r.u32be('TPML_PCR_SELECTION.count');
  if (count > 16) throw new EvidenceMalformed(TEE, 'TPML_PCR_SELECTION.count', at, `${count} banks (at most 16)`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hAt = r.offset;
    const hash = r.u16be('TPMS_PCR_SELECTION.hash');
    if (hashSize(hash) === undefined) throw new EvidenceMalformed(TEE, 'TPMS_PCR_SELECTION.hash', hAt, `0x${hash.toString(16)} is not a hash algorithm`);
    const sAt = r.offset;
    const sizeofSelect = r.u8('TPMS_PCR_SELECTION.sizeofSelect');
    if (sizeofSelect < 1 || sizeofSelect > 32) throw new EvidenceMalformed(TEE, 'TPMS_PCR_SELECTION.sizeofSelect', sAt, `${sizeofSelect} (expected 1..32)`);
    const bitmap = r.bytesView(sizeofSelect, 'TPMS_PCR_SELECTION.pcrSelect');
    const pcrs: number[] = [];
    for (let p = 0; p < sizeofSelect * 8; p++) if (bitmap[p >> 3]! & (1 << (p & 7))) pcrs.push(p);
    out.push({ hash, pcrs, sizeofSelect });
  }
  return out;
}

export function encodePcrSelection(w: ByteWriter, sel: readonly PcrSelection[]): void {
  w.u32be(sel.length);
  for (const s of sel) {
    const max = s.pcrs.reduce((m, p) => Math.max(m, p), -1);
    const size = Math.max(s.sizeofSelect, 3, (max >> 3) + 1);
    const bitmap = new Uint8Array(size);
    for (const p of s.pcrs) bitmap[p >> 3]! |= 1 << (p & 7);
    w.u16be(s.hash).u8(size).bytes(bitmap);
  }
}

// ---------------------------------------------------------------------------------------------
// TPMS_ATTEST

export interface ClockInfo {
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
}

export interface QuoteInfo {
  pcrSelect: PcrSelection[];
  pcrDigest: Uint8Array;
}

export interface CertifyInfo {
  name: Uint8Array;
  qualifiedName: Uint8Array;
}

export interface TpmsAttest {
  /** TPM_GENERATED_VALUE (must be 0xff544347). */
  magic: number;
  /** TPMI_ST_ATTEST. */
  type: number;
  /** qualifiedSigner: TPM2B_NAME of the signing key's qualified name. */
  qualifiedSigner: Uint8Array;
  /** extraData: the caller's qualifying data (the verifier's nonce). */
  extraData: Uint8Array;
  clockInfo: ClockInfo;
  firmwareVersion: bigint;
  quote?: QuoteInfo;
  certify?: CertifyInfo;
  /** The exact bytes the TPM signed. */
  raw: Uint8Array;
}

/**
 * Parses a TPMS_ATTEST. The magic and type are parsed, not judged: verifyQuote checks them so that
 * forged or non-quote structures surface as verification failures with the offending value.
 * Types other than QUOTE and CERTIFY are UnsupportedVersion.
 */
export function parseTpmsAttest(bytes: Uint8Array): TpmsAttest {
  const r = new ByteReader(bytes, TEE);
  const magic = r.u32be('TPMS_ATTEST.magic');
  const type = r.u16be('TPMS_ATTEST.type');
  const qualifiedSigner = tpm2b(r, 'TPMS_ATTEST.qualifiedSigner', 2 + 64);
  const extraData = tpm2b(r, 'TPMS_ATTEST.extraData', 66); // TPM2B_DATA: at most sizeof(TPMT_HA)
  const clock = r.u64be('TPMS_CLOCK_INFO.clock');
  const resetCount = r.u32be('TPMS_CLOCK_INFO.resetCount');
  const restartCount = r.u32be('TPMS_CLOCK_INFO.restartCount');
  const safeAt = r.offset;
  const safeByte = r.u8('TPMS_CLOCK_INFO.safe');
  if (safeByte > 1) throw new EvidenceMalformed(TEE, 'TPMS_CLOCK_INFO.safe', safeAt, `TPMI_YES_NO value ${safeByte}`);
  const firmwareVersion = r.u64be('TPMS_ATTEST.firmwareVersion');
  const base = { magic, type, qualifiedSigner, extraData, clockInfo: { clock, resetCount, restartCount, safe: safeByte === 1 }, firmwareVersion, raw: bytes };
  let out: TpmsAttest;
  if (type === TPM_ST.ATTEST_QUOTE) {
    const pcrSelect = parsePcrSelection(r);
    const pcrDigest = tpm2b(r, 'TPMS_QUOTE_INFO.pcrDigest', 64);
    out = { ...base, quote: { pcrSelect, pcrDigest } };
  } else if (type === TPM_ST.ATTEST_CERTIFY) {
    out = { ...base, certify: { name: tpm2b(r, 'TPMS_CERTIFY_INFO.name', 2 + 64), qualifiedName: tpm2b(r, 'TPMS_CERTIFY_INFO.qualifiedName', 2 + 64) } };
  } else {
    throw new UnsupportedVersion(TEE, 'TPMS_ATTEST.type', `0x${type.toString(16)}`, ['0x8018 (QUOTE)', '0x8017 (CERTIFY)']);
  }
  r.expectEnd('TPMS_ATTEST trailing data');
  return out;
}

export function encodeTpmsAttest(a: Omit<TpmsAttest, 'raw'>): Uint8Array {
  const w = new ByteWriter();
  w.u32be(a.magic).u16be(a.type);
  w2b(w, a.qualifiedSigner);
  w2b(w, a.extraData);
  w.u64be(a.clockInfo.clock).u32be(a.clockInfo.resetCount).u32be(a.clockInfo.restartCount).u8(a.clockInfo.safe ? 1 : 0);
  w.u64be(a.firmwareVersion);
  if (a.quote) {
    encodePcrSelection(w, a.quote.pcrSelect);
    w2b(w, a.quote.pcrDigest);
  } else if (a.certify) {
    w2b(w, a.certify.name);
    w2b(w, a.certify.qualifiedName);
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// TPMT_SIGNATURE

export type TpmtSignature =
  | { sigAlg: typeof TPM_ALG.RSASSA | typeof TPM_ALG.RSAPSS; hash: number; sig: Uint8Array; raw: Uint8Array }
  | { sigAlg: typeof TPM_ALG.ECDSA; hash: number; r: Uint8Array; s: Uint8Array; raw: Uint8Array };

export function parseTpmtSignature(bytes: Uint8Array): TpmtSignature {
  const r = new ByteReader(bytes, TEE);
  const sigAlg = r.u16be('TPMT_SIGNATURE.sigAlg');
  const hAt = r.offset;
  let out: TpmtSignature;
  if (sigAlg === TPM_ALG.RSASSA || sigAlg === TPM_ALG.RSAPSS) {
    const hash = r.u16be('TPMS_SIGNATURE_RSA.hash');
    if (hashSize(hash) === undefined) throw new EvidenceMalformed(TEE, 'TPMS_SIGNATURE_RSA.hash', hAt, `0x${hash.toString(16)} is not a hash algorithm`);
    const sig = tpm2b(r, 'TPMS_SIGNATURE_RSA.sig', 512);
    if (sig.length === 0) throw new EvidenceMalformed(TEE, 'TPMS_SIGNATURE_RSA.sig', hAt + 2, 'empty signature');
    out = { sigAlg, hash, sig, raw: bytes };
  } else if (sigAlg === TPM_ALG.ECDSA) {
    const hash = r.u16be('TPMS_SIGNATURE_ECC.hash');
    if (hashSize(hash) === undefined) throw new EvidenceMalformed(TEE, 'TPMS_SIGNATURE_ECC.hash', hAt, `0x${hash.toString(16)} is not a hash algorithm`);
    const sr = tpm2b(r, 'TPMS_SIGNATURE_ECC.signatureR', 66);
    const ss = tpm2b(r, 'TPMS_SIGNATURE_ECC.signatureS', 66);
    if (sr.length === 0 || ss.length === 0) throw new EvidenceMalformed(TEE, 'TPMS_SIGNATURE_ECC', hAt + 2, 'empty r or s');
    out = { sigAlg, hash, r: sr, s: ss, raw: bytes };
  } else {
    throw new UnsupportedVersion(TEE, 'TPMT_SIGNATURE.sigAlg', `0x${sigAlg.toString(16)}`, ['0x14 (RSASSA)', '0x16 (RSAPSS)', '0x18 (ECDSA)']);
  }
  r.expectEnd('TPMT_SIGNATURE trailing data');
  return out;
}

export function encodeTpmtSignature(s: TpmtSignature | Omit<Extract<TpmtSignature, { sig: Uint8Array }>, 'raw'> | Omit<Extract<TpmtSignature, { r: Uint8Array }>, 'raw'>): Uint8Array {
  const w = new ByteWriter();
  w.u16be(s.sigAlg).u16be(s.hash);
  if ('sig' in s) w2b(w, s.sig);
  else {
    w2b(w, s.r);
    w2b(w, s.s);
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// TPMT_PUBLIC

export interface SymDef {
  /** TPM_ALG_NULL or e.g. AES. */
  algorithm: number;
  keyBits?: number;
  mode?: number;
}

export interface Scheme {
  scheme: number;
  hashAlg?: number;
  /** ECDAA count / XOR kdf. */
  extra?: number;
}

export interface RsaParms {
  symmetric: SymDef;
  scheme: Scheme;
  keyBits: number;
  /** 0 means the default 65537 (Part 2 §12.2.3.5). */
  exponent: number;
}
export interface EccParms {
  symmetric: SymDef;
  scheme: Scheme;
  curveId: number;
  kdf: Scheme;
}

interface PublicBase {
  nameAlg: number;
  objectAttributes: number;
  authPolicy: Uint8Array;
  raw: Uint8Array;
}
export type TpmtPublic =
  | (PublicBase & { type: typeof TPM_ALG.RSA; rsa: RsaParms; unique: Uint8Array })
  | (PublicBase & { type: typeof TPM_ALG.ECC; ecc: EccParms; x: Uint8Array; y: Uint8Array })
  | (PublicBase & { type: typeof TPM_ALG.KEYEDHASH; keyedHash: Scheme; unique: Uint8Array })
  | (PublicBase & { type: typeof TPM_ALG.SYMCIPHER; sym: SymDef; unique: Uint8Array });

function readSymDef(r: ByteReader, field: string): SymDef {
  const algorithm = r.u16be(`${field}.algorithm`);
  if (algorithm === TPM_ALG.NULL) return { algorithm };
  return { algorithm, keyBits: r.u16be(`${field}.keyBits`), mode: r.u16be(`${field}.mode`) };
}
function writeSymDef(w: ByteWriter, s: SymDef): void {
  w.u16be(s.algorithm);
  if (s.algorithm !== TPM_ALG.NULL) w.u16be(s.keyBits ?? 0).u16be(s.mode ?? 0);
}

/** TPMT_RSA_SCHEME / TPMT_ECC_SCHEME / TPMT_KDF_SCHEME / TPMT_KEYEDHASH_SCHEME (Part 2 §11.2). */
function readScheme(r: ByteReader, field: string): Scheme {
  const scheme = r.u16be(`${field}.scheme`);
  if (scheme === TPM_ALG.NULL || scheme === TPM_ALG.RSAES) return { scheme };
  const hashAlg = r.u16be(`${field}.details.hashAlg`);
  if (scheme === TPM_ALG.ECDAA) return { scheme, hashAlg, extra: r.u16be(`${field}.details.count`) };
  if (scheme === 0x000a /* TPM_ALG_XOR */) return { scheme, hashAlg, extra: r.u16be(`${field}.details.kdf`) };
  return { scheme, hashAlg };
}
function writeScheme(w: ByteWriter, s: Scheme): void {
  w.u16be(s.scheme);
  if (s.hashAlg !== undefined) w.u16be(s.hashAlg);
  if (s.extra !== undefined) w.u16be(s.extra);
}

export function parseTpmtPublic(bytes: Uint8Array): TpmtPublic {
  const r = new ByteReader(bytes, TEE);
  const out = readTpmtPublic(r);
  r.expectEnd('TPMT_PUBLIC trailing data');
  return out;
}

/** Reads one TPMT_PUBLIC from a reader (for TPM2B_PUBLIC inside command responses). */
export function readTpmtPublic(r: ByteReader): TpmtPublic {
  const start = r.offset;
  const type = r.u16be('TPMT_PUBLIC.type');
  const nAt = r.offset;
  const nameAlg = r.u16be('TPMT_PUBLIC.nameAlg');
  if (hashSize(nameAlg) === undefined) throw new EvidenceMalformed(TEE, 'TPMT_PUBLIC.nameAlg', nAt, `0x${nameAlg.toString(16)} is not a hash algorithm`);
  const objectAttributes = r.u32be('TPMT_PUBLIC.objectAttributes');
  const authPolicy = tpm2b(r, 'TPMT_PUBLIC.authPolicy', 64);
  const raw = (): Uint8Array => r.bytes.slice(start, r.offset);
  if (type === TPM_ALG.RSA) {
    const symmetric = readSymDef(r, 'TPMS_RSA_PARMS.symmetric');
    const scheme = readScheme(r, 'TPMS_RSA_PARMS.scheme');
    const kAt = r.offset;
    const keyBits = r.u16be('TPMS_RSA_PARMS.keyBits');
    if (keyBits < 1024 || keyBits > 4096 || keyBits % 8 !== 0) throw new EvidenceMalformed(TEE, 'TPMS_RSA_PARMS.keyBits', kAt, `${keyBits}`);
    const exponent = r.u32be('TPMS_RSA_PARMS.exponent');
    const uAt = r.offset;
    const unique = tpm2b(r, 'TPM2B_PUBLIC_KEY_RSA', 512);
    if (unique.length !== 0 && unique.length !== keyBits / 8) throw new EvidenceMalformed(TEE, 'TPM2B_PUBLIC_KEY_RSA', uAt, `modulus of ${unique.length} bytes for a ${keyBits}-bit key`);
    return { type, nameAlg, objectAttributes, authPolicy, rsa: { symmetric, scheme, keyBits, exponent }, unique, raw: raw() };
  }
  if (type === TPM_ALG.ECC) {
    const symmetric = readSymDef(r, 'TPMS_ECC_PARMS.symmetric');
    const scheme = readScheme(r, 'TPMS_ECC_PARMS.scheme');
    const curveId = r.u16be('TPMS_ECC_PARMS.curveID');
    const kdf = readScheme(r, 'TPMS_ECC_PARMS.kdf');
    const x = tpm2b(r, 'TPMS_ECC_POINT.x', 66);
    const y = tpm2b(r, 'TPMS_ECC_POINT.y', 66);
    return { type, nameAlg, objectAttributes, authPolicy, ecc: { symmetric, scheme, curveId, kdf }, x, y, raw: raw() };
  }
  if (type === TPM_ALG.KEYEDHASH) {
    const keyedHash = readScheme(r, 'TPMS_KEYEDHASH_PARMS.scheme');
    const unique = tpm2b(r, 'TPM2B_DIGEST', 64);
    return { type, nameAlg, objectAttributes, authPolicy, keyedHash, unique, raw: raw() };
  }
  if (type === TPM_ALG.SYMCIPHER) {
    const sym = readSymDef(r, 'TPMS_SYMCIPHER_PARMS.sym');
    const unique = tpm2b(r, 'TPM2B_DIGEST', 64);
    return { type, nameAlg, objectAttributes, authPolicy, sym, unique, raw: raw() };
  }
  throw new UnsupportedVersion(TEE, 'TPMT_PUBLIC.type', `0x${type.toString(16)}`, ['0x1 (RSA)', '0x23 (ECC)', '0x8 (KEYEDHASH)', '0x25 (SYMCIPHER)']);
}

type DistOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type TpmtPublicTemplate = DistOmit<TpmtPublic, 'raw'>;

export function encodeTpmtPublic(p: TpmtPublicTemplate): Uint8Array {
  const w = new ByteWriter();
  w.u16be(p.type).u16be(p.nameAlg).u32be(p.objectAttributes >>> 0);
  w2b(w, p.authPolicy);
  if (p.type === TPM_ALG.RSA) {
    writeSymDef(w, p.rsa.symmetric);
    writeScheme(w, p.rsa.scheme);
    w.u16be(p.rsa.keyBits).u32be(p.rsa.exponent);
    w2b(w, p.unique);
  } else if (p.type === TPM_ALG.ECC) {
    writeSymDef(w, p.ecc.symmetric);
    writeScheme(w, p.ecc.scheme);
    w.u16be(p.ecc.curveId);
    writeScheme(w, p.ecc.kdf);
    w2b(w, p.x);
    w2b(w, p.y);
  } else if (p.type === TPM_ALG.KEYEDHASH) {
    writeScheme(w, p.keyedHash);
    w2b(w, p.unique);
  } else {
    writeSymDef(w, p.sym);
    w2b(w, p.unique);
  }
  return w.finish();
}

export function curveName(curveId: number): 'P-256' | 'P-384' | 'P-521' | undefined {
  return curveId === TPM_ECC.NIST_P256 ? 'P-256' : curveId === TPM_ECC.NIST_P384 ? 'P-384' : curveId === TPM_ECC.NIST_P521 ? 'P-521' : undefined;
}

/** Names of the set TPMA_OBJECT bits, for claims and messages. */
export function describeAttributes(attrs: number): string[] {
  return Object.entries(TPMA_OBJECT)
    .filter(([, bit]) => (attrs & bit) !== 0)
    .map(([k]) => k);
}

export { hashAlgName };
