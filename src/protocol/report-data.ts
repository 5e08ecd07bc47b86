/**
 * The report-data binding of KBS protocol 0.4.0 (guest-components rcar_client.rs and Trustee
 * kbs/src/attestation/backend.rs): the TEE's REPORT_DATA holds
 *   H( JCS( {"tee-pubkey": <JWK>, "nonce": <challenge nonce>, "additional-evidence": <string>} ) )
 * where H is SHA-384 unless the Challenge's extra-params carry "selected-hash-algorithm", and JCS is
 * RFC 8785 (serde_json_canonicalizer on the Rust side). A 32/48-byte digest occupies the head of a
 * 64-byte REPORT_DATA with the rest zero.
 */
import { canonicalJson as jcs, digest, ProtocolError, utf8, type HashName } from '../core/index.ts';
import type { TeePubKey } from './types.ts';

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512';
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];
export const DEFAULT_HASH_ALGORITHM: HashAlgorithm = 'sha384';
export const SUPPORTED_HASH_ALGORITHMS_KEY = 'supported-hash-algorithms';
export const SELECTED_HASH_ALGORITHM_KEY = 'selected-hash-algorithm';

const WEBCRYPTO: Record<HashAlgorithm, HashName> = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

export function isHashAlgorithm(s: string): s is HashAlgorithm {
  return (HASH_ALGORITHMS as readonly string[]).includes(s);
}

/** RFC 8785 JCS (core canonicalJson); a value JCS cannot encode is a protocol error here. */
export function canonicalJson(value: unknown): string {
  try {
    return jcs(value);
  } catch (e) {
    if (e instanceof TypeError) throw new ProtocolError(`JCS: ${e.message}`);
    throw e;
  }
}

/**
 * The server's choice for a Request's extra-params. Trustee answers "" (→ SHA-384 on both sides)
 * unless the TEE needs another hash; teataster also answers "" when the client supports the
 * server's preferred algorithm and it is the default, and otherwise selects explicitly.
 */
export function negotiateHash(requestExtra: unknown, preferred: HashAlgorithm = DEFAULT_HASH_ALGORITHM): { algorithm: HashAlgorithm; extraParams: '' | Record<string, string> } {
  let supported: HashAlgorithm[] | null = null;
  if (requestExtra && typeof requestExtra === 'object' && !Array.isArray(requestExtra)) {
    const list = (requestExtra as Record<string, unknown>)[SUPPORTED_HASH_ALGORITHMS_KEY];
    if (list !== undefined) {
      if (!Array.isArray(list)) throw new ProtocolError(`extra-params.${SUPPORTED_HASH_ALGORITHMS_KEY} must be an array`);
      supported = list.filter((x): x is string => typeof x === 'string').map((x) => x.toLowerCase()).filter(isHashAlgorithm);
      if (supported.length === 0) throw new ProtocolError(`extra-params.${SUPPORTED_HASH_ALGORITHMS_KEY} names no supported algorithm (supported: ${HASH_ALGORITHMS.join(', ')})`);
    }
  }
  let algorithm: HashAlgorithm = preferred;
  if (supported && !supported.includes(preferred)) {
    // Strongest algorithm both sides know.
    algorithm = [...HASH_ALGORITHMS].reverse().find((a) => supported.includes(a)) ?? preferred;
  }
  if (algorithm === DEFAULT_HASH_ALGORITHM) return { algorithm, extraParams: '' };
  return { algorithm, extraParams: { [SELECTED_HASH_ALGORITHM_KEY]: algorithm } };
}

/** The client side: the algorithm a Challenge selects (SHA-384 when it selects none). */
export function selectedHash(challengeExtra: unknown): HashAlgorithm {
  if (challengeExtra && typeof challengeExtra === 'object' && !Array.isArray(challengeExtra)) {
    const sel = (challengeExtra as Record<string, unknown>)[SELECTED_HASH_ALGORITHM_KEY];
    if (sel !== undefined) {
      if (typeof sel !== 'string' || !isHashAlgorithm(sel.toLowerCase())) throw new ProtocolError(`challenge selects an unsupported hash algorithm ${JSON.stringify(sel)}`);
      return sel.toLowerCase() as HashAlgorithm;
    }
  }
  return DEFAULT_HASH_ALGORITHM;
}

/** The canonical runtime-data document whose digest the primary evidence must carry. */
export function runtimeDataDocument(teePubkey: TeePubKey, nonce: string, additionalEvidence: string): string {
  return canonicalJson({ 'tee-pubkey': teePubkey, nonce, 'additional-evidence': additionalEvidence });
}

/** H(JCS({tee-pubkey, nonce, additional-evidence})): the expected REPORT_DATA prefix. */
export async function computeReportData(teePubkey: TeePubKey, nonce: string, additionalEvidence = '', algorithm: HashAlgorithm = DEFAULT_HASH_ALGORITHM): Promise<Uint8Array> {
  return digest(WEBCRYPTO[algorithm], utf8(runtimeDataDocument(teePubkey, nonce, additionalEvidence)));
}

/** The canonical document bound into additional (device) evidence: the runtime-data document without additional-evidence. */
export function deviceRuntimeDataDocument(teePubkey: TeePubKey, nonce: string): string {
  return canonicalJson({ 'tee-pubkey': teePubkey, nonce });
}

/** The runtime data bound into additional (device) evidence. */
export async function computeDeviceReportData(teePubkey: TeePubKey, nonce: string, algorithm: HashAlgorithm = DEFAULT_HASH_ALGORITHM): Promise<Uint8Array> {
  return digest(WEBCRYPTO[algorithm], utf8(deviceRuntimeDataDocument(teePubkey, nonce)));
}

/** Pads a digest to a 64-byte REPORT_DATA field (digest first, zeros after). */
export function toReportDataField(d: Uint8Array, size = 64): Uint8Array {
  if (d.length > size) throw new ProtocolError(`digest of ${d.length} bytes does not fit a ${size}-byte report-data field`);
  const out = new Uint8Array(size);
  out.set(d, 0);
  return out;
}
