/** Hex / base64 / base64url and byte helpers, browser-safe (no Buffer). */

/** Char codes of the lowercase hex digits. */
const HEX_ASCII: readonly number[] = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** Bytes per String.fromCharCode call: keeps the argument count far below engine limits. */
const HEX_CHUNK = 8192;

/**
 * Lowercase hex. Char codes are collected and turned into a string once per chunk: per-byte string
 * concatenation builds a rope that costs more to create and to flatten (hot in claims building).
 */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let start = 0; start < bytes.length; start += HEX_CHUNK) {
    const n = Math.min(HEX_CHUNK, bytes.length - start);
    const out = new Array<number>(n * 2);
    for (let i = 0; i < n; i++) {
      const x = bytes[start + i]!;
      out[2 * i] = HEX_ASCII[x >> 4]!;
      out[2 * i + 1] = HEX_ASCII[x & 15]!;
    }
    s += String.fromCharCode(...out);
  }
  return s;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new TypeError(`not a hex string (length ${clean.length})`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_SKIP = 64; // ASCII whitespace and '=' are ignored wherever they occur
const B64_BAD = 255;
/** Decode table over bytes: 0..63 a base64 digit (both alphabets), B64_SKIP, or B64_BAD. */
const B64_DECODE = (() => {
  const t = new Uint8Array(256).fill(B64_BAD);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  t['-'.charCodeAt(0)] = 62;
  t['_'.charCodeAt(0)] = 63;
  for (const c of ' \t\n\v\f\r=') t[c.charCodeAt(0)] = B64_SKIP;
  return t;
})();
/** The same digits pre-shifted into their place in a 24-bit group; -1 for every other byte. */
const B64_GROUP = [18, 12, 6, 0].map((shift) => {
  const t = new Int32Array(256).fill(-1);
  for (let i = 0; i < 256; i++) if (B64_DECODE[i]! < 64) t[i] = B64_DECODE[i]! << shift;
  return t;
}) as [Int32Array, Int32Array, Int32Array, Int32Array];
const ASCII = new TextEncoder();

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + '==';
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + '=';
  }
  return s;
}

export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Decodes standard or URL-safe base64, with or without padding; whitespace and '=' are ignored.
 * No regex over the input: the text is encoded to bytes natively, then decoded four digits at a
 * time through pre-shifted tables, falling back to digit-by-digit only around whitespace and
 * padding. Large inputs (JWS payloads, PEM bundles, evidence of hundreds of KB) decode in linear
 * time, several times faster than a per-character loop.
 */
export function fromBase64(text: string): Uint8Array {
  // Non-ASCII characters become bytes ≥ 0x80, which the tables reject.
  const b = ASCII.encode(text);
  const len = b.length;
  const out = new Uint8Array(Math.floor((len * 3) / 4) + 3);
  const [g0, g1, g2, g3] = B64_GROUP;
  let o = 0;
  let i = 0;
  let quad = 0;
  let k = 0;
  let digits = 0;
  while (i < len) {
    if (k === 0) {
      const start = i;
      while (i + 4 <= len) {
        const n = g0[b[i]!]! | g1[b[i + 1]!]! | g2[b[i + 2]!]! | g3[b[i + 3]!]!;
        if (n < 0) break;
        out[o] = n >> 16;
        out[o + 1] = (n >> 8) & 0xff;
        out[o + 2] = n & 0xff;
        o += 3;
        i += 4;
      }
      digits += i - start;
      if (i >= len) break;
    }
    const v = B64_DECODE[b[i]!]!;
    if (v < 64) {
      quad = (quad << 6) | v;
      digits++;
      if (++k === 4) {
        out[o] = quad >> 16;
        out[o + 1] = (quad >> 8) & 0xff;
        out[o + 2] = quad & 0xff;
        o += 3;
        quad = 0;
        k = 0;
      }
    } else if (v !== B64_SKIP) {
      // Every byte before this one was ASCII, so the byte index is the character index.
      throw new TypeError(`not a base64 string (character ${JSON.stringify(String.fromCodePoint(text.codePointAt(i)!))} at ${i})`);
    }
    i++;
  }
  if (k === 1) throw new TypeError(`not a base64 string (bad length: ${digits} digits)`);
  if (k === 2) out[o++] = quad >> 4;
  else if (k === 3) {
    out[o] = quad >> 10;
    out[o + 1] = (quad >> 2) & 0xff;
    o += 2;
  }
  // An exact-size result (its .buffer holds nothing else), as callers may pass `.buffer` on.
  return out.slice(0, o);
}

export const fromBase64Url = fromBase64;

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function fromUtf8(bytes: Uint8Array, fatal = true): string {
  return new TextDecoder('utf-8', { fatal }).decode(bytes);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function isAllZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

export function reverseBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[bytes.length - 1 - i]!;
  return out;
}

/** A fresh ArrayBuffer-backed copy: WebCrypto's BufferSource typing wants ArrayBuffer, not SharedArrayBuffer. */
export function ab(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

/** Decodes PEM blocks of the given label (or any label) into DER. */
export function pemBlocks(text: string, label?: string): { label: string; der: Uint8Array }[] {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  const out: { label: string; der: Uint8Array }[] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (label && m[1] !== label) continue;
    out.push({ label: m[1]!, der: fromBase64(m[2]!) });
  }
  return out;
}

export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = toBase64(der).replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function fingerprintHexColon(hex: string): string {
  return hex.toUpperCase().replace(/(..)(?!$)/g, '$1:');
}
