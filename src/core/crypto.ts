/** WebCrypto helpers shared by every verifier. Browser-safe: only globalThis.crypto.subtle. */
import { ab, concatBytes } from './encoding.ts';

export type HashName = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

export function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available in this runtime');
  return s;
}

export async function digest(alg: HashName, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest(alg, ab(data)));
}
export const sha256 = (d: Uint8Array): Promise<Uint8Array> => digest('SHA-256', d);
export const sha384 = (d: Uint8Array): Promise<Uint8Array> => digest('SHA-384', d);
export const sha512 = (d: Uint8Array): Promise<Uint8Array> => digest('SHA-512', d);

export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

export type EcCurve = 'P-256' | 'P-384' | 'P-521';
export const CURVE_BYTES: Record<EcCurve, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/** Left-pads or strips leading zeros so an unsigned big-endian integer is exactly n bytes. */
export function fixedWidth(intBe: Uint8Array, n: number): Uint8Array {
  let start = 0;
  while (start < intBe.length - n && intBe[start] === 0) start++;
  const v = intBe.subarray(start);
  if (v.length > n) throw new RangeError(`integer of ${v.length} bytes exceeds ${n}`);
  const out = new Uint8Array(n);
  out.set(v, n - v.length);
  return out;
}

/** Converts a DER ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }) into WebCrypto's raw r‖s. */
export function ecdsaDerToRaw(der: Uint8Array, curve: EcCurve): Uint8Array {
  const n = CURVE_BYTES[curve];
  let p = 0;
  const fail = (why: string): never => {
    throw new RangeError(`malformed DER ECDSA signature: ${why}`);
  };
  const readLen = (): number => {
    if (p >= der.length) fail('truncated length');
    let len = der[p++]!;
    if (len & 0x80) {
      const k = len & 0x7f;
      if (k === 0 || k > 2) fail('bad length');
      len = 0;
      for (let i = 0; i < k; i++) {
        if (p >= der.length) fail('truncated length');
        len = (len << 8) | der[p++]!;
      }
    }
    return len;
  };
  if (der[p++] !== 0x30) fail('not a SEQUENCE');
  const seqLen = readLen();
  if (p + seqLen !== der.length) fail('SEQUENCE length does not match');
  const ints: Uint8Array[] = [];
  for (let i = 0; i < 2; i++) {
    if (der[p++] !== 0x02) fail('not an INTEGER');
    const l = readLen();
    if (p + l > der.length) fail('INTEGER overruns');
    ints.push(der.subarray(p, p + l));
    p += l;
  }
  if (p !== der.length) fail('trailing bytes');
  return concatBytes(fixedWidth(ints[0]!, n), fixedWidth(ints[1]!, n));
}

/** Converts raw r‖s into DER (for interop with X.509/COSE consumers that need it). */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const enc = (x: Uint8Array): Uint8Array => {
    let i = 0;
    while (i < x.length - 1 && x[i] === 0) i++;
    let v = x.subarray(i);
    if (v[0]! & 0x80) v = concatBytes(new Uint8Array([0]), v);
    return concatBytes(new Uint8Array([0x02, v.length]), v);
  };
  const body = concatBytes(enc(raw.subarray(0, half)), enc(raw.subarray(half)));
  const len = body.length < 0x80 ? new Uint8Array([body.length]) : new Uint8Array([0x81, body.length]);
  return concatBytes(new Uint8Array([0x30]), len, body);
}

/** Imports an uncompressed (0x04‖X‖Y) or bare X‖Y EC public point. */
export async function importEcPublicRaw(point: Uint8Array, curve: EcCurve): Promise<CryptoKey> {
  const n = CURVE_BYTES[curve];
  const raw = point.length === 2 * n ? concatBytes(new Uint8Array([4]), point) : point;
  if (raw.length !== 2 * n + 1 || raw[0] !== 4) throw new RangeError(`EC ${curve} public key must be ${2 * n} or ${2 * n + 1} bytes, got ${point.length}`);
  return subtle().importKey('raw', ab(raw), { name: 'ECDSA', namedCurve: curve }, true, ['verify']);
}

export async function ecdsaVerify(key: CryptoKey, hash: HashName, rawSig: Uint8Array, data: Uint8Array): Promise<boolean> {
  return subtle().verify({ name: 'ECDSA', hash }, key, ab(rawSig), ab(data));
}
