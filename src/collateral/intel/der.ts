/**
 * A minimal DER walker for the Intel PCK extension (a SEQUENCE of SEQUENCE { OID, value }). Only
 * definite lengths; every overrun throws, so a hostile certificate cannot make it read past its input.
 */
export interface Tlv {
  tag: number;
  /** Content bytes. */
  value: Uint8Array;
  /** Offset just past this TLV in the parent buffer. */
  end: number;
}

export function readTlv(buf: Uint8Array, at: number): Tlv {
  if (at + 2 > buf.length) throw new RangeError('DER: truncated header');
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new RangeError('DER: multi-byte tags are not used here');
  let p = at + 1;
  let len = buf[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) throw new RangeError('DER: unsupported length encoding');
    len = 0;
    for (let i = 0; i < n; i++) {
      if (p >= buf.length) throw new RangeError('DER: truncated length');
      len = len * 256 + buf[p++]!;
    }
  }
  if (p + len > buf.length) throw new RangeError('DER: value overruns its container');
  return { tag, value: buf.subarray(p, p + len), end: p + len };
}

export function children(buf: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let at = 0;
  while (at < buf.length) {
    const t = readTlv(buf, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

export function decodeOid(v: Uint8Array): string {
  if (v.length === 0) throw new RangeError('DER: empty OID');
  const parts: number[] = [];
  const first = v[0]!;
  parts.push(first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80);
  let acc = 0;
  for (let i = 1; i < v.length; i++) {
    const b = v[i]!;
    acc = acc * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(acc);
      acc = 0;
    }
  }
  return parts.join('.');
}

/** Non-negative INTEGER that fits a JS number. */
export function decodeUint(v: Uint8Array): number {
  if (v.length === 0 || v.length > 6) throw new RangeError('DER: INTEGER size out of range');
  if (v[0]! & 0x80) throw new RangeError('DER: negative INTEGER');
  let n = 0;
  for (const b of v) n = n * 256 + b;
  return n;
}
