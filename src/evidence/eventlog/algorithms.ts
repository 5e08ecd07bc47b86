/**
 * TPM_ALG_ID values for hash algorithms (TPM 2.0 Part 2 §6.3, TCG Algorithm Registry) and their
 * digest sizes. Shared by the event-log parser and the TPM structures.
 */
import type { HashName } from '../../core/index.ts';

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  SM3_256: 0x0012,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  ECSCHNORR: 0x001c,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  SHA3_256: 0x0027,
  SHA3_384: 0x0028,
  SHA3_512: 0x0029,
  CFB: 0x0043,
} as const;

interface HashInfo {
  /** Lowercase bank name used in claim keys: 'sha1', 'sha256', … */
  name: string;
  size: number;
  /** The WebCrypto name when WebCrypto can compute it (SM3 and SHA-3 cannot). */
  webcrypto?: HashName;
}

export const HASH_ALGS: ReadonlyMap<number, HashInfo> = new Map<number, HashInfo>([
  [TPM_ALG.SHA1, { name: 'sha1', size: 20, webcrypto: 'SHA-1' }],
  [TPM_ALG.SHA256, { name: 'sha256', size: 32, webcrypto: 'SHA-256' }],
  [TPM_ALG.SHA384, { name: 'sha384', size: 48, webcrypto: 'SHA-384' }],
  [TPM_ALG.SHA512, { name: 'sha512', size: 64, webcrypto: 'SHA-512' }],
  [TPM_ALG.SM3_256, { name: 'sm3_256', size: 32 }],
  [TPM_ALG.SHA3_256, { name: 'sha3_256', size: 32 }],
  [TPM_ALG.SHA3_384, { name: 'sha3_384', size: 48 }],
  [TPM_ALG.SHA3_512, { name: 'sha3_512', size: 64 }],
]);

export function hashAlgName(alg: number): string {
  return HASH_ALGS.get(alg)?.name ?? `alg_0x${alg.toString(16).padStart(4, '0')}`;
}

/** The TPM_ALG_ID for a bank name ('sha256', 'SHA256', 'SHA-256'), or undefined. */
export function hashAlgByName(name: string): number | undefined {
  const n = name.toLowerCase().replace(/-/g, '');
  for (const [id, info] of HASH_ALGS) if (info.name === n) return id;
  return undefined;
}

export function hashSize(alg: number): number | undefined {
  return HASH_ALGS.get(alg)?.size;
}

export function webCryptoHash(alg: number): HashName | undefined {
  return HASH_ALGS.get(alg)?.webcrypto;
}
