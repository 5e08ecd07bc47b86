/**
 * A strict, small CBOR (RFC 8949) decoder and encoder for the subset that COSE_Sign1 attestation
 * documents use. Why not a general library: the verifier needs (a) offsets for every item so errors
 * name where a document is wrong, (b) hard rejections a general decoder makes optional — trailing
 * bytes (§5.3.1 "well-formed" covers one item), duplicate map keys (§5.6, "not valid"), lengths
 * beyond the input, nesting beyond a fixed depth — and (c) exact control of the bytes it encodes,
 * because COSE signs an encoding (RFC 9052 §4.4), not a value.
 *
 * Accepted: major types 0–7, definite and indefinite lengths (§3.2; real Nitro documents use
 * both), tags, simple values false/true/null/undefined, half/single/double floats.
 * Rejected: reserved additional information 28–30 (§3.1), a "break" outside an indefinite item,
 * indefinite strings whose chunks are not definite strings of the same major type (§3.2.3), simple
 * values 0–31 in the two-byte form (§3.3), invalid UTF-8 in text strings (§5.3.1), map keys that are
 * not integers, text or byte strings (COSE labels are int / tstr; nothing else is needed), and
 * duplicate keys compared by value (so 0x01 and 0x1801 are the same key).
 */
import { EvidenceMalformed, concatBytes, toHex } from '../../core/index.ts';

const TEE = 'nitro';
/** Nesting limit: a Nitro document is 3 levels deep; 32 leaves room while bounding recursion. */
export const MAX_DEPTH = 32;

interface NodeBase {
  /** Offset of the item's first byte in the decoded input. */
  offset: number;
  /** Offset one past the item's last byte. */
  end: number;
}
export type CborNode =
  | (NodeBase & { kind: 'uint'; value: bigint })
  | (NodeBase & { kind: 'nint'; value: bigint })
  | (NodeBase & { kind: 'bytes'; value: Uint8Array; indefinite: boolean })
  | (NodeBase & { kind: 'text'; value: string; indefinite: boolean })
  | (NodeBase & { kind: 'array'; items: CborNode[]; indefinite: boolean })
  | (NodeBase & { kind: 'map'; entries: [CborNode, CborNode][]; indefinite: boolean })
  | (NodeBase & { kind: 'tag'; tag: bigint; item: CborNode })
  | (NodeBase & { kind: 'simple'; value: boolean | null | undefined })
  | (NodeBase & { kind: 'float'; value: number });

export type CborKind = CborNode['kind'];

/** A human name for a node's type, for "expected X, got Y" messages. */
export function describeKind(n: CborNode): string {
  switch (n.kind) {
    case 'uint':
      return 'unsigned integer';
    case 'nint':
      return 'negative integer';
    case 'bytes':
      return 'byte string';
    case 'text':
      return 'text string';
    case 'array':
      return 'array';
    case 'map':
      return 'map';
    case 'tag':
      return `tag ${n.tag}`;
    case 'float':
      return 'float';
    case 'simple':
      return n.value === null ? 'null' : n.value === undefined ? 'undefined' : 'boolean';
  }
}

/** The identity of a map key for duplicate detection; throws for key types this decoder refuses. */
export function keyId(k: CborNode, field: string, base: number): string {
  switch (k.kind) {
    case 'uint':
      return `i${k.value}`;
    case 'nint':
      return `i${k.value}`;
    case 'text':
      return `t${k.value}`;
    case 'bytes':
      return `b${toHex(k.value)}`;
    default:
      throw new EvidenceMalformed(TEE, field, base + k.offset, `map key is a ${describeKind(k)}; only integer, text and byte-string keys are accepted`);
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Decoder {
  private readonly b: Uint8Array;
  private readonly view: DataView;
  private p = 0;
  private readonly field: string;
  private readonly base: number;
  constructor(bytes: Uint8Array, field: string, base: number) {
    this.b = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.field = field;
    this.base = base;
  }
  get pos(): number {
    return this.p;
  }
  fail(at: number, reason: string): never {
    throw new EvidenceMalformed(TEE, this.field, this.base + at, reason);
  }
  private need(n: number, at: number, what: string): void {
    if (n > this.b.length - this.p) this.fail(at, `${what} needs ${n} bytes but only ${this.b.length - this.p} remain`);
  }
  /** Reads the argument of an initial byte; returns -1n for indefinite length (ai 31). */
  private arg(ai: number, at: number): bigint {
    if (ai < 24) return BigInt(ai);
    switch (ai) {
      case 24:
        this.need(1, at, 'argument');
        return BigInt(this.b[this.p++]!);
      case 25: {
        this.need(2, at, 'argument');
        const v = this.view.getUint16(this.p);
        this.p += 2;
        return BigInt(v);
      }
      case 26: {
        this.need(4, at, 'argument');
        const v = this.view.getUint32(this.p);
        this.p += 4;
        return BigInt(v);
      }
      case 27: {
        this.need(8, at, 'argument');
        const v = this.view.getBigUint64(this.p);
        this.p += 8;
        return v;
      }
      case 31:
        return -1n;
      default:
        return this.fail(at, `reserved additional information ${ai} (RFC 8949 §3.1)`);
    }
  }
  /** A definite length that must fit in the remaining input (every element takes ≥ 1 byte). */
  private length(v: bigint, at: number, unit: string): number {
    const remaining = this.b.length - this.p;
    if (v > BigInt(remaining)) this.fail(at, `length ${v} ${unit} exceeds the ${remaining} bytes that remain`);
    return Number(v);
  }
  private isBreak(): boolean {
    return this.p < this.b.length && this.b[this.p] === 0xff;
  }
  item(depth: number): CborNode {
    const at = this.p;
    if (depth > MAX_DEPTH) this.fail(at, `nesting deeper than ${MAX_DEPTH}`);
    this.need(1, at, 'item');
    const ib = this.b[this.p++]!;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (ib === 0xff) this.fail(at, 'unexpected "break" (0xff) outside an indefinite-length item');
    if (major === 7) return this.simple(ai, at);
    const v = this.arg(ai, at);
    const indefinite = v === -1n;
    if (indefinite && (major === 0 || major === 1 || major === 6)) this.fail(at, `additional information 31 is not allowed for major type ${major}`);
    switch (major) {
      case 0:
        return { kind: 'uint', value: v, offset: at, end: this.p };
      case 1:
        return { kind: 'nint', value: -1n - v, offset: at, end: this.p };
      case 2:
      case 3: {
        let bytes: Uint8Array;
        if (indefinite) {
          const chunks: Uint8Array[] = [];
          for (;;) {
            if (this.isBreak()) {
              this.p++;
              break;
            }
            const cAt = this.p;
            this.need(1, cAt, 'string chunk');
            const cib = this.b[this.p++]!;
            if (cib >> 5 !== major || (cib & 0x1f) === 31) this.fail(cAt, `chunk of an indefinite-length ${major === 2 ? 'byte' : 'text'} string must be a definite string of the same type (RFC 8949 §3.2.3)`);
            const n = this.length(this.arg(cib & 0x1f, cAt), cAt, 'bytes');
            chunks.push(this.b.subarray(this.p, this.p + n));
            this.p += n;
          }
          bytes = concatBytes(...chunks);
        } else {
          const n = this.length(v, at, 'bytes');
          bytes = this.b.subarray(this.p, this.p + n);
          this.p += n;
        }
        if (major === 2) return { kind: 'bytes', value: bytes, indefinite, offset: at, end: this.p };
        let text: string;
        try {
          text = utf8Strict.decode(bytes);
        } catch {
          return this.fail(at, 'text string is not valid UTF-8');
        }
        return { kind: 'text', value: text, indefinite, offset: at, end: this.p };
      }
      case 4: {
        const items: CborNode[] = [];
        if (indefinite) {
          for (;;) {
            if (this.isBreak()) {
              this.p++;
              break;
            }
            items.push(this.item(depth + 1));
          }
        } else {
          const n = this.length(v, at, 'items');
          for (let i = 0; i < n; i++) items.push(this.item(depth + 1));
        }
        return { kind: 'array', items, indefinite, offset: at, end: this.p };
      }
      case 5: {
        const entries: [CborNode, CborNode][] = [];
        const seen = new Set<string>();
        const add = (): void => {
          const k = this.item(depth + 1);
          const id = keyId(k, this.field, this.base);
          if (seen.has(id)) this.fail(k.offset, `duplicate map key ${k.kind === 'text' ? JSON.stringify(k.value) : id.slice(1)} (RFC 8949 §5.6)`);
          seen.add(id);
          entries.push([k, this.item(depth + 1)]);
        };
        if (indefinite) {
          for (;;) {
            if (this.isBreak()) {
              this.p++;
              break;
            }
            add();
          }
        } else {
          // Two bytes at least per entry.
          const n = this.length(v * 2n, at, 'key/value items');
          for (let i = 0; i < n / 2; i++) add();
        }
        return { kind: 'map', entries, indefinite, offset: at, end: this.p };
      }
      default: {
        // major 6: tag
        const item = this.item(depth + 1);
        return { kind: 'tag', tag: v, item, offset: at, end: this.p };
      }
    }
  }
  private simple(ai: number, at: number): CborNode {
    switch (ai) {
      case 20:
        return { kind: 'simple', value: false, offset: at, end: this.p };
      case 21:
        return { kind: 'simple', value: true, offset: at, end: this.p };
      case 22:
        return { kind: 'simple', value: null, offset: at, end: this.p };
      case 23:
        return { kind: 'simple', value: undefined, offset: at, end: this.p };
      case 24: {
        this.need(1, at, 'simple value');
        const v = this.b[this.p++]!;
        if (v < 32) this.fail(at, `simple value ${v} must use the one-byte form (RFC 8949 §3.3)`);
        return this.fail(at, `unassigned simple value ${v}`);
      }
      case 25: {
        this.need(2, at, 'half float');
        const h = this.view.getUint16(this.p);
        this.p += 2;
        return { kind: 'float', value: halfToNumber(h), offset: at, end: this.p };
      }
      case 26: {
        this.need(4, at, 'float');
        const v = this.view.getFloat32(this.p);
        this.p += 4;
        return { kind: 'float', value: v, offset: at, end: this.p };
      }
      case 27: {
        this.need(8, at, 'double');
        const v = this.view.getFloat64(this.p);
        this.p += 8;
        return { kind: 'float', value: v, offset: at, end: this.p };
      }
      default:
        if (ai < 20) return this.fail(at, `unassigned simple value ${ai}`);
        return this.fail(at, `reserved additional information ${ai} for major type 7 (RFC 8949 §3.1)`);
    }
  }
}

function halfToNumber(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (mant + 1024) * 2 ** (exp - 25);
}

/**
 * Decodes exactly one CBOR data item filling all of `bytes`. `field` names the structure in error
 * messages and `base` is added to offsets (for items nested in a byte string of a larger input).
 */
export function decodeCbor(bytes: Uint8Array, field = 'cbor', base = 0): CborNode {
  const d = new Decoder(bytes, field, base);
  if (bytes.length === 0) d.fail(0, 'empty input');
  const node = d.item(0);
  if (d.pos !== bytes.length) d.fail(d.pos, `${bytes.length - d.pos} trailing byte(s) after the CBOR item`);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Encoding. Definite lengths use the shortest argument (RFC 8949 §4.2.1 "preferred serialization")
// unless a map/array/string asks for indefinite length, so a parsed document can be re-encoded
// byte-exact and Sig_structure is encoded exactly as RFC 9052 §4.4 requires.

/** A map for the encoder, entries in the given order (CBOR maps are ordered on the wire). */
export class CborMap {
  readonly entries: readonly (readonly [CborValue, CborValue])[];
  readonly indefinite: boolean;
  constructor(entries: readonly (readonly [CborValue, CborValue])[], indefinite = false) {
    this.entries = entries;
    this.indefinite = indefinite;
  }
}
export class CborTag {
  readonly tag: number | bigint;
  readonly value: CborValue;
  constructor(tag: number | bigint, value: CborValue) {
    this.tag = tag;
    this.value = value;
  }
}
/** Raw, already-encoded CBOR spliced in as-is (tests use it to build malformed documents). */
export class CborRaw {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}
/** An indefinite-length array. */
export class CborIndefiniteArray {
  readonly items: readonly CborValue[];
  constructor(items: readonly CborValue[]) {
    this.items = items;
  }
}
export type CborValue = number | bigint | string | Uint8Array | boolean | null | undefined | readonly CborValue[] | CborMap | CborTag | CborRaw | CborIndefiniteArray;

class Writer {
  private buf = new Uint8Array(256);
  private n = 0;
  private ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const nb = new Uint8Array(size);
    nb.set(this.buf.subarray(0, this.n));
    this.buf = nb;
  }
  byte(v: number): void {
    this.ensure(1);
    this.buf[this.n++] = v;
  }
  bytes(v: Uint8Array): void {
    this.ensure(v.length);
    this.buf.set(v, this.n);
    this.n += v.length;
  }
  head(major: number, v: number | bigint): void {
    const m = major << 5;
    const big = BigInt(v);
    if (big < 0n) throw new RangeError('CBOR argument must be non-negative');
    if (big < 24n) this.byte(m | Number(big));
    else if (big < 0x100n) {
      this.byte(m | 24);
      this.byte(Number(big));
    } else if (big < 0x10000n) {
      this.byte(m | 25);
      this.byte(Number(big >> 8n));
      this.byte(Number(big & 0xffn));
    } else if (big < 0x100000000n) {
      this.byte(m | 26);
      for (let s = 24n; s >= 0n; s -= 8n) this.byte(Number((big >> s) & 0xffn));
    } else if (big < 0x10000000000000000n) {
      this.byte(m | 27);
      for (let s = 56n; s >= 0n; s -= 8n) this.byte(Number((big >> s) & 0xffn));
    } else throw new RangeError('CBOR argument exceeds 64 bits');
  }
  value(v: CborValue): void {
    if (v === null) return this.byte(0xf6);
    if (v === undefined) return this.byte(0xf7);
    if (v === false) return this.byte(0xf4);
    if (v === true) return this.byte(0xf5);
    if (typeof v === 'number' || typeof v === 'bigint') {
      if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`CBOR encoder: ${v} is not a safe integer (floats are not encoded)`);
      const big = BigInt(v);
      return big >= 0n ? this.head(0, big) : this.head(1, -1n - big);
    }
    if (typeof v === 'string') {
      const b = new TextEncoder().encode(v);
      this.head(3, b.length);
      return this.bytes(b);
    }
    if (v instanceof Uint8Array) {
      this.head(2, v.length);
      return this.bytes(v);
    }
    if (v instanceof CborRaw) return this.bytes(v.bytes);
    if (v instanceof CborTag) {
      this.head(6, v.tag);
      return this.value(v.value);
    }
    if (v instanceof CborMap) {
      if (v.indefinite) this.byte(0xbf);
      else this.head(5, v.entries.length);
      for (const [k, x] of v.entries) {
        this.value(k);
        this.value(x);
      }
      if (v.indefinite) this.byte(0xff);
      return;
    }
    if (v instanceof CborIndefiniteArray) {
      this.byte(0x9f);
      for (const x of v.items) this.value(x);
      return this.byte(0xff);
    }
    this.head(4, v.length);
    for (const x of v) this.value(x);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

export function encodeCbor(v: CborValue): Uint8Array {
  const w = new Writer();
  w.value(v);
  return w.result();
}

/** The encoded head (initial byte + argument) of a definite-length item. */
export function encodeHead(major: number, length: number): Uint8Array {
  const w = new Writer();
  w.head(major, length);
  return w.result();
}
