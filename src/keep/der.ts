/** The few DER encodings (X.690) the Keep CA writes into its custom certificate extension. */
import { concatBytes, utf8 } from '../core/index.ts';

function len(n: number): Uint8Array {
  if (n < 0x80) return new Uint8Array([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return new Uint8Array([0x80 | bytes.length, ...bytes]);
}

export const tlv = (tag: number, value: Uint8Array): Uint8Array => concatBytes(new Uint8Array([tag]), len(value.length), value);
export const derSequence = (...items: Uint8Array[]): Uint8Array => tlv(0x30, concatBytes(...items));
export const derOctets = (b: Uint8Array): Uint8Array => tlv(0x04, b);
export const derUtf8 = (s: string): Uint8Array => tlv(0x0c, utf8(s));
export function derSmallInt(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 127) throw new RangeError('derSmallInt: 0..127 only');
  return tlv(0x02, new Uint8Array([n]));
}

/** OBJECT IDENTIFIER from dotted text, arcs of any size (X.690 §8.19). */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  if (arcs.length < 2) throw new RangeError('OID needs two arcs');
  const body: number[] = [];
  const push = (v: bigint): void => {
    const out: number[] = [Number(v & 0x7fn)];
    v >>= 7n;
    while (v > 0n) {
      out.unshift(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    body.push(...out);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, new Uint8Array(body));
}

/** Reads one TLV at `p` (definite lengths only); returns the element's full extent and its content. */
export function readTlv(b: Uint8Array, p: number): { tag: number; start: number; contentStart: number; end: number } {
  const start = p;
  if (p + 2 > b.length) throw new RangeError('DER: truncated');
  const tag = b[p++]!;
  let n = b[p++]!;
  if (n & 0x80) {
    const k = n & 0x7f;
    if (k === 0 || k > 4 || p + k > b.length) throw new RangeError('DER: bad length');
    n = 0;
    for (let i = 0; i < k; i++) n = n * 256 + b[p++]!;
  }
  if (p + n > b.length) throw new RangeError('DER: content runs past the end');
  return { tag, start, contentStart: p, end: p + n };
}

/** A placeholder OID (small arcs under 1.3.6.1.4.1) whose DER encoding has the same length as `oid`. */
export function sameLengthPlaceholderOid(oid: string): string {
  const target = derOid(oid).length - 2;
  const base = [1, 3, 6, 1, 4, 1];
  const arcs = [...base];
  // 1.3 encodes as one byte; each further arc < 128 as one byte.
  while (arcs.length - 1 < target) arcs.push(arcs.length === base.length ? 0x7e : 0x7f);
  return arcs.join('.');
}
