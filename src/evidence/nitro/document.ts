/**
 * The AWS Nitro Enclaves attestation document: a COSE_Sign1 whose payload is a CBOR map
 * (AWS Nitro Enclaves User Guide, "Verifying the root of trust", attestation document
 * specification and syntactical validation; aws-nitro-enclaves-nsm-api `AttestationDoc`):
 *
 *   AttestationDocument = {
 *     module_id: text,               ; issuing NSM module id (non-empty)
 *     digest: "SHA384",
 *     timestamp: uint .size 8,       ; ms since the UNIX epoch (> 0)
 *     pcrs: { + index => pcr },      ; 1..32 entries, index 0..31, pcr = bytes .size (32/48/64)
 *     certificate: cert,             ; DER, the signing certificate
 *     cabundle: [* cert],            ; DER, root first: [root, intermediate1, …, intermediateN], ≥ 1
 *     ? public_key: bytes,           ; 1..1024
 *     ? user_data: bytes,            ; 0..512
 *     ? nonce: bytes,                ; 0..512
 *   }
 *   cert = bytes .size (1..1024)
 *
 * The NSM writes absent optional fields as null; both null and a missing key are accepted. The
 * map may use definite or indefinite length (the dstack samples are indefinite, 0xbf…0xff).
 * Unknown keys and wrong types are rejected: the document is signed, so an unexpected field means
 * a producer this parser does not understand, and a verifier fails closed.
 *
 * Pure parsing: no crypto, no time. Verification lives in src/verify/nitro.
 */
import { EvidenceMalformed, toHex } from '../../core/index.ts';
import { CborIndefiniteArray, CborMap, decodeCbor, describeKind, encodeCbor, type CborNode, type CborValue } from './cbor.ts';
import { encodeCoseSign1, looksLikeCoseSign1, parseCoseSign1, type CoseSign1 } from './cose.ts';

const TEE = 'nitro';

export const PAYLOAD_KEYS = ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce'] as const;
export type PayloadKey = (typeof PAYLOAD_KEYS)[number];
const REQUIRED: readonly PayloadKey[] = ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle'];

/** Syntactical limits from the AWS attestation document specification. */
export const LIMITS = {
  pcrCountMin: 1,
  pcrCountMax: 32,
  pcrIndexMax: 31,
  pcrLengths: [32, 48, 64] as readonly number[],
  certMin: 1,
  certMax: 1024,
  cabundleMin: 1,
  publicKeyMin: 1,
  publicKeyMax: 1024,
  userDataMax: 512,
  nonceMax: 512,
} as const;

/** How the payload was laid out on the wire, so encodeNitroPayload can reproduce it byte-exact. */
export interface PayloadLayout {
  indefinite: boolean;
  keyOrder: PayloadKey[];
  pcrsIndefinite: boolean;
  cabundleIndefinite: boolean;
}

export interface NitroPayload {
  /** module_id: the issuing NSM's id, e.g. "i-0123…-enc0123…". */
  moduleId: string;
  /** digest: always "SHA384". */
  digest: 'SHA384';
  /** timestamp: milliseconds since the UNIX epoch (UTC). */
  timestamp: number;
  /** pcrs: index → value, in wire order. */
  pcrs: Map<number, Uint8Array>;
  /** certificate: DER of the signing (leaf) certificate. */
  certificate: Uint8Array;
  /** cabundle: DER certificates, root first. */
  cabundle: Uint8Array[];
  publicKey: Uint8Array | null;
  userData: Uint8Array | null;
  nonce: Uint8Array | null;
}

export interface NitroDocument extends NitroPayload {
  cose: CoseSign1;
  layout: PayloadLayout;
  /** The exact COSE_Sign1 bytes (after base64 unwrapping, if the input was base64 text). */
  raw: Uint8Array;
}

function fail(field: string, node: CborNode | undefined, base: number, reason: string): never {
  throw new EvidenceMalformed(TEE, field, node ? base + node.offset : undefined, reason);
}

function bstr(field: string, n: CborNode, base: number, min: number, max: number): Uint8Array {
  if (n.kind !== 'bytes') fail(field, n, base, `must be a byte string, got ${describeKind(n)}`);
  if (n.value.length < min || n.value.length > max) fail(field, n, base, `length ${n.value.length} is outside ${min}..${max} bytes`);
  return n.value;
}

function optionalBstr(field: string, n: CborNode | undefined, base: number, min: number, max: number): Uint8Array | null {
  if (!n || (n.kind === 'simple' && n.value === null)) return null;
  if (n.kind !== 'bytes') fail(field, n, base, `must be a byte string or null, got ${describeKind(n)}`);
  return bstr(field, n, base, min, max);
}

/** Parses the payload map (the bytes inside COSE_Sign1's payload bstr). */
export function parseNitroPayload(payload: Uint8Array, base = 0): { payload: NitroPayload; layout: PayloadLayout } {
  const root = decodeCbor(payload, 'payload', base);
  if (root.kind !== 'map') fail('payload', root, base, `must be a map, got ${describeKind(root)}`);
  const fields = new Map<PayloadKey, CborNode>();
  const keyOrder: PayloadKey[] = [];
  for (const [k, v] of root.entries) {
    if (k.kind !== 'text') fail('payload', k, base, `keys must be text strings, got ${describeKind(k)}`);
    if (!(PAYLOAD_KEYS as readonly string[]).includes(k.value)) fail(k.value, k, base, `unknown field ${JSON.stringify(k.value)} (known: ${PAYLOAD_KEYS.join(', ')})`);
    fields.set(k.value as PayloadKey, v);
    keyOrder.push(k.value as PayloadKey);
  }
  const missing = REQUIRED.filter((k) => !fields.has(k));
  if (missing.length) fail(missing.join(', '), root, base, `required field(s) missing: ${missing.join(', ')}`);
  const get = (k: PayloadKey): CborNode => fields.get(k)!;

  const mid = get('module_id');
  if (mid.kind !== 'text') fail('module_id', mid, base, `must be a text string, got ${describeKind(mid)}`);
  if (mid.value.length === 0) fail('module_id', mid, base, 'must not be empty');

  const dg = get('digest');
  if (dg.kind !== 'text') fail('digest', dg, base, `must be a text string, got ${describeKind(dg)}`);
  if (dg.value !== 'SHA384') fail('digest', dg, base, `must be "SHA384", got ${JSON.stringify(dg.value)}`);

  const ts = get('timestamp');
  if (ts.kind !== 'uint') fail('timestamp', ts, base, `must be an unsigned integer (ms since epoch), got ${describeKind(ts)}`);
  if (ts.value === 0n) fail('timestamp', ts, base, 'must be > 0');
  // 2^53 ms is year 287396; anything larger is not a time this verifier can represent.
  if (ts.value > BigInt(Number.MAX_SAFE_INTEGER)) fail('timestamp', ts, base, `${ts.value} is not a representable time`);

  const pn = get('pcrs');
  if (pn.kind !== 'map') fail('pcrs', pn, base, `must be a map, got ${describeKind(pn)}`);
  if (pn.entries.length < LIMITS.pcrCountMin || pn.entries.length > LIMITS.pcrCountMax) fail('pcrs', pn, base, `has ${pn.entries.length} entries; ${LIMITS.pcrCountMin}..${LIMITS.pcrCountMax} are allowed`);
  const pcrs = new Map<number, Uint8Array>();
  for (const [k, v] of pn.entries) {
    if (k.kind !== 'uint' || k.value > BigInt(LIMITS.pcrIndexMax)) fail('pcrs', k, base, `index must be an unsigned integer 0..${LIMITS.pcrIndexMax}, got ${k.kind === 'uint' || k.kind === 'nint' ? k.value : describeKind(k)}`);
    const idx = Number(k.value);
    if (v.kind !== 'bytes') fail(`pcrs[${idx}]`, v, base, `must be a byte string, got ${describeKind(v)}`);
    if (!LIMITS.pcrLengths.includes(v.value.length)) fail(`pcrs[${idx}]`, v, base, `length ${v.value.length} is not one of ${LIMITS.pcrLengths.join('/')}`);
    pcrs.set(idx, v.value);
  }

  const certificate = bstr('certificate', get('certificate'), base, LIMITS.certMin, LIMITS.certMax);

  const cb = get('cabundle');
  if (cb.kind !== 'array') fail('cabundle', cb, base, `must be an array, got ${describeKind(cb)}`);
  if (cb.items.length < LIMITS.cabundleMin) fail('cabundle', cb, base, 'must hold at least one certificate');
  const cabundle = cb.items.map((c, i) => bstr(`cabundle[${i}]`, c, base, LIMITS.certMin, LIMITS.certMax));

  return {
    payload: {
      moduleId: mid.value,
      digest: 'SHA384',
      timestamp: Number(ts.value),
      pcrs,
      certificate,
      cabundle,
      publicKey: optionalBstr('public_key', fields.get('public_key'), base, LIMITS.publicKeyMin, LIMITS.publicKeyMax),
      userData: optionalBstr('user_data', fields.get('user_data'), base, 0, LIMITS.userDataMax),
      nonce: optionalBstr('nonce', fields.get('nonce'), base, 0, LIMITS.nonceMax),
    },
    layout: { indefinite: root.indefinite, keyOrder, pcrsIndefinite: pn.indefinite, cabundleIndefinite: cb.indefinite },
  };
}

/** base64 / base64url alphabet → 6-bit value; -1 invalid, -2 whitespace, -3 padding. */
const B64 = (() => {
  const t = new Int8Array(256).fill(-1);
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) t[abc.charCodeAt(i)] = i;
  t[0x2d] = 62; // '-'
  t[0x5f] = 63; // '_'
  for (const c of [0x20, 0x09, 0x0a, 0x0d]) t[c] = -2;
  t[0x3d] = -3; // '='
  return t;
})();

/** Decodes base64 text held as bytes, without going through strings; undefined if it is not base64. */
function decodeBase64Bytes(text: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  let pad = false;
  for (let i = 0; i < text.length; i++) {
    const v = B64[text[i]!]!;
    if (v === -2) continue;
    if (v === -3) {
      pad = true;
      continue;
    }
    if (v < 0 || pad) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return bits >= 6 ? undefined : out.subarray(0, o);
}

/**
 * Accepts the binary COSE_Sign1 or its base64 text (how evervault, KMS and most HTTP APIs carry
 * it). Returns the binary form; anything else is returned unchanged for the parser to reject.
 */
export function unwrapNitroInput(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0 || bytes[0] === 0x84 || bytes[0] === 0xd2) return bytes;
  if (bytes.length > 64 * 1024) return bytes;
  const bin = decodeBase64Bytes(bytes);
  return bin && (bin[0] === 0x84 || bin[0] === 0xd2) ? bin : bytes;
}

/** Content sniff (binary or base64): a COSE_Sign1 whose protected header says ES384. */
export function looksLikeNitroDocument(bytes: Uint8Array): boolean {
  return looksLikeCoseSign1(unwrapNitroInput(bytes));
}

/** Parses an attestation document (binary COSE_Sign1 or base64 of it). Throws EvidenceMalformed. */
export function parseNitroDocument(input: Uint8Array): NitroDocument {
  const bytes = unwrapNitroInput(input);
  const cose = parseCoseSign1(bytes);
  const { payload, layout } = parseNitroPayload(cose.payload, cose.payloadOffset);
  return { ...payload, cose, layout, raw: bytes };
}

export interface EncodePayloadOptions {
  layout?: Partial<PayloadLayout>;
  /** Extra entries appended as-is (tests: unknown fields, duplicates, wrong types). */
  extra?: readonly (readonly [CborValue, CborValue])[];
  /** Replace a field's encoded value (tests: wrong types). */
  override?: Partial<Record<PayloadKey, CborValue>>;
}

/**
 * Encodes a payload map, the inverse of parseNitroPayload: with the parsed layout the output is
 * byte-identical to the original. Default layout: definite map, AWS key order, nulls for absent
 * optional fields (what the NSM emits).
 */
export function encodeNitroPayload(p: NitroPayload, opts: EncodePayloadOptions = {}): Uint8Array {
  const layout: PayloadLayout = { indefinite: false, keyOrder: [...PAYLOAD_KEYS], pcrsIndefinite: false, cabundleIndefinite: false, ...opts.layout };
  const pcrs = new CborMap([...p.pcrs].map(([k, v]) => [k, v] as const), layout.pcrsIndefinite);
  const values: Record<PayloadKey, CborValue> = {
    module_id: p.moduleId,
    digest: p.digest,
    timestamp: p.timestamp,
    pcrs,
    certificate: p.certificate,
    cabundle: layout.cabundleIndefinite ? new CborIndefiniteArray(p.cabundle) : p.cabundle,
    public_key: p.publicKey,
    user_data: p.userData,
    nonce: p.nonce,
    ...opts.override,
  };
  const entries: (readonly [CborValue, CborValue])[] = layout.keyOrder.map((k) => [k, values[k]] as const);
  if (opts.extra) entries.push(...opts.extra);
  return encodeCbor(new CborMap(entries, layout.indefinite));
}

/** Re-encodes a parsed document (byte-exact for the NSM's own encodings). */
export function encodeNitroDocument(doc: NitroDocument): Uint8Array {
  return encodeCoseSign1({
    protectedBytes: doc.cose.protectedBytes,
    unprotectedBytes: doc.cose.unprotectedBytes,
    payload: encodeNitroPayload(doc, { layout: doc.layout }),
    signature: doc.cose.signature,
    tagged: doc.cose.tagged,
  });
}

/** PCRs as lowercase hex by index (for claims and CLI output). */
export function pcrsHex(pcrs: Map<number, Uint8Array>): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [k, v] of [...pcrs].sort((a, b) => a[0] - b[0])) out[k] = toHex(v);
  return out;
}
