/**
 * COSE_Sign1 (RFC 9052 §4.2) as the Nitro Secure Module emits it:
 *   COSE_Sign1 = [ protected: bstr .cbor header_map, unprotected: header_map, payload: bstr, signature: bstr ]
 * optionally wrapped in tag 18 (RFC 9052 §2; NSM documents are untagged). Only ES384 (alg −35,
 * RFC 9053 §2.1) is accepted: the NSM signs with P-384 and anything else is a different producer.
 */
import { EvidenceMalformed, UnsupportedVersion, concatBytes, utf8 } from '../../core/index.ts';
import { CborMap, CborRaw, CborTag, decodeCbor, describeKind, encodeCbor, encodeHead, keyId, type CborNode, type CborValue } from './cbor.ts';

const TEE = 'nitro';
/** RFC 9052 §2: CBOR tag for COSE_Sign1. */
export const COSE_SIGN1_TAG = 18;
/** RFC 9052 §3.1 header labels. */
export const HEADER_ALG = 1;
export const HEADER_CRIT = 2;
/** RFC 9053 §2.1: ECDSA w/ SHA-384. */
export const ALG_ES384 = -35;
/** P-384 raw signature r‖s (RFC 9053 §2.1: the signature is the two integers, each 48 bytes). */
export const ES384_SIGNATURE_BYTES = 96;

export interface CoseSign1 {
  tagged: boolean;
  /** The protected header exactly as encoded (signed as-is in Sig_structure). */
  protectedBytes: Uint8Array;
  /** Decoded protected header labels (integers as numbers, text labels as strings). */
  protectedHeader: Map<number | string, CborNode>;
  alg: number;
  unprotected: Map<number | string, CborNode>;
  /** The unprotected header map exactly as encoded (not signed). */
  unprotectedBytes: Uint8Array;
  /** The payload byte string content (the signed attestation document map). */
  payload: Uint8Array;
  /** Offset of the payload content within the COSE bytes (for error offsets inside it). */
  payloadOffset: number;
  /** Raw r‖s. */
  signature: Uint8Array;
  raw: Uint8Array;
}

function label(k: CborNode, field: string): number | string {
  keyId(k, field, 0);
  if (k.kind === 'uint' || k.kind === 'nint') {
    if (k.value < BigInt(Number.MIN_SAFE_INTEGER) || k.value > BigInt(Number.MAX_SAFE_INTEGER)) throw new EvidenceMalformed(TEE, field, k.offset, `header label ${k.value} out of range`);
    return Number(k.value);
  }
  if (k.kind === 'text') return k.value;
  throw new EvidenceMalformed(TEE, field, k.offset, 'header labels must be integers or text (RFC 9052 §3)');
}

function headerMap(n: CborNode, field: string, base: number): Map<number | string, CborNode> {
  if (n.kind !== 'map') throw new EvidenceMalformed(TEE, field, base + n.offset, `must be a map, got ${describeKind(n)}`);
  const m = new Map<number | string, CborNode>();
  for (const [k, v] of n.entries) m.set(label(k, field), v);
  return m;
}

/** Cheap sniff for content detection: tag 18 or a 4-array whose protected header says ES384. */
export function looksLikeCoseSign1(bytes: Uint8Array): boolean {
  let p = 0;
  if (bytes[p] === 0xd2) p++;
  if (bytes[p] !== 0x84) return false;
  p++;
  const ib = bytes[p];
  if (ib === undefined || ib >> 5 !== 2) return false;
  let len = ib & 0x1f;
  p++;
  if (len === 24) len = bytes[p++] ?? 0;
  else if (len > 24) return false;
  if (len === 0 || p + len > bytes.length) return false;
  try {
    const hdr = decodeCbor(bytes.subarray(p, p + len), 'protected header');
    if (hdr.kind !== 'map') return false;
    return hdr.entries.some(([k, v]) => k.kind === 'uint' && k.value === 1n && v.kind === 'nint' && v.value === BigInt(ALG_ES384));
  } catch {
    return false;
  }
}

/** Parses a COSE_Sign1 structure; the whole input must be that one item (no trailing bytes). */
export function parseCoseSign1(bytes: Uint8Array): CoseSign1 {
  let node = decodeCbor(bytes, 'COSE_Sign1');
  let tagged = false;
  if (node.kind === 'tag') {
    if (node.tag !== BigInt(COSE_SIGN1_TAG)) throw new EvidenceMalformed(TEE, 'COSE_Sign1', node.offset, `tag ${node.tag} is not COSE_Sign1 (tag 18)`);
    tagged = true;
    node = node.item;
  }
  if (node.kind !== 'array') throw new EvidenceMalformed(TEE, 'COSE_Sign1', node.offset, `must be an array, got ${describeKind(node)}`);
  if (node.items.length !== 4) throw new EvidenceMalformed(TEE, 'COSE_Sign1', node.offset, `must have 4 elements, got ${node.items.length}`);
  const [p, u, pl, sig] = node.items as [CborNode, CborNode, CborNode, CborNode];

  if (p.kind !== 'bytes') throw new EvidenceMalformed(TEE, 'protected', p.offset, `must be a byte string, got ${describeKind(p)}`);
  if (p.indefinite) throw new EvidenceMalformed(TEE, 'protected', p.offset, 'must be a definite-length byte string');
  // RFC 9052 §3: a zero-length protected bstr means "no protected headers" — but alg must be protected here.
  if (p.value.length === 0) throw new EvidenceMalformed(TEE, 'protected', p.offset, 'is empty; the algorithm must be a protected header');
  const pOff = p.end - p.value.length;
  const protectedHeader = headerMap(decodeCbor(p.value, 'protected', pOff), 'protected', pOff);
  const algNode = protectedHeader.get(HEADER_ALG);
  if (!algNode) throw new EvidenceMalformed(TEE, 'protected.alg', p.offset, 'missing (label 1)');
  if (algNode.kind !== 'nint' && algNode.kind !== 'uint') {
    throw new EvidenceMalformed(TEE, 'protected.alg', pOff + algNode.offset, `must be an integer algorithm id, got ${describeKind(algNode)}`);
  }
  const alg = Number(algNode.value);
  if (alg !== ALG_ES384) throw new UnsupportedVersion(TEE, 'COSE algorithm', alg, [`${ALG_ES384} (ES384)`]);
  const crit = protectedHeader.get(HEADER_CRIT);
  if (crit) {
    // RFC 9052 §3.1: every label listed as critical must be understood. Only alg is understood.
    if (crit.kind !== 'array' || crit.items.length === 0) throw new EvidenceMalformed(TEE, 'protected.crit', pOff + crit.offset, 'must be a non-empty array of labels');
    for (const c of crit.items) {
      const l = label(c, 'protected.crit');
      if (l !== HEADER_ALG) throw new EvidenceMalformed(TEE, 'protected.crit', pOff + c.offset, `critical header ${JSON.stringify(l)} is not understood`);
    }
  }

  const unprotected = headerMap(u, 'unprotected', 0);
  if (unprotected.has(HEADER_ALG)) throw new EvidenceMalformed(TEE, 'unprotected', u.offset, 'alg must not appear in the unprotected header');

  if (pl.kind !== 'bytes') {
    throw new EvidenceMalformed(TEE, 'payload', pl.offset, pl.kind === 'simple' && pl.value === null ? 'detached payload (nil) is not supported' : `must be a byte string, got ${describeKind(pl)}`);
  }
  if (sig.kind !== 'bytes') throw new EvidenceMalformed(TEE, 'signature', sig.offset, `must be a byte string, got ${describeKind(sig)}`);
  if (sig.value.length !== ES384_SIGNATURE_BYTES) throw new EvidenceMalformed(TEE, 'signature', sig.offset, `ES384 signature must be ${ES384_SIGNATURE_BYTES} bytes (r‖s), got ${sig.value.length}`);

  return {
    tagged,
    protectedBytes: p.value,
    protectedHeader,
    alg,
    unprotected,
    unprotectedBytes: bytes.subarray(u.offset, u.end),
    payload: pl.value,
    payloadOffset: pl.indefinite ? pl.offset : pl.end - pl.value.length,
    signature: sig.value,
    raw: bytes,
  };
}

const SIGNATURE1 = utf8('Signature1');

/**
 * RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected, external_aad, payload], encoded
 * with definite lengths and shortest arguments. external_aad is empty for Nitro (h'').
 */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array, externalAad: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concatBytes(
    new Uint8Array([0x84]),
    encodeHead(3, SIGNATURE1.length),
    SIGNATURE1,
    encodeHead(2, protectedBytes.length),
    protectedBytes,
    encodeHead(2, externalAad.length),
    externalAad,
    encodeHead(2, payload.length),
    payload,
  );
}

export interface CoseSign1Parts {
  /** Encoded protected header; default {1: -35}. */
  protectedBytes?: Uint8Array;
  /** Encoded unprotected header; default {} (0xa0). */
  unprotectedBytes?: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
  tagged?: boolean;
}

export const ES384_PROTECTED = encodeCbor(new CborMap([[HEADER_ALG, ALG_ES384]]));

/** Encodes a COSE_Sign1 (the inverse of parseCoseSign1 for documents it accepts). */
export function encodeCoseSign1(parts: CoseSign1Parts): Uint8Array {
  const arr: CborValue[] = [parts.protectedBytes ?? ES384_PROTECTED, new CborRaw(parts.unprotectedBytes ?? new Uint8Array([0xa0])), parts.payload, parts.signature];
  return encodeCbor(parts.tagged ? new CborTag(COSE_SIGN1_TAG, arr) : arr);
}
