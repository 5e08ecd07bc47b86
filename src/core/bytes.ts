/**
 * Bounds-checked little/big-endian reader and writer over a Uint8Array. Every out-of-range read
 * throws EvidenceMalformed naming the field and offset, so parsers never index past the end.
 */
import { EvidenceMalformed } from './errors.ts';

export class ByteReader {
  private readonly view: DataView;
  offset = 0;
  readonly bytes: Uint8Array;
  readonly tee: string;
  readonly base: number;
  constructor(bytes: Uint8Array, tee: string, base = 0) {
    this.bytes = bytes;
    this.tee = tee;
    this.base = base;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number {
    return this.bytes.length;
  }
  get remaining(): number {
    return this.bytes.length - this.offset;
  }
  private need(n: number, field: string, at = this.offset): void {
    if (n < 0 || at < 0 || at + n > this.bytes.length) {
      throw new EvidenceMalformed(this.tee, field, this.base + at, `needs ${n} bytes but only ${Math.max(0, this.bytes.length - at)} remain (input is ${this.bytes.length} bytes)`);
    }
  }
  seek(offset: number, field = 'offset'): this {
    if (offset < 0 || offset > this.bytes.length) {
      throw new EvidenceMalformed(this.tee, field, this.base + offset, `offset beyond end of ${this.bytes.length}-byte input`);
    }
    this.offset = offset;
    return this;
  }
  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.offset++);
  }
  u16le(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }
  u16be(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.offset, false);
    this.offset += 2;
    return v;
  }
  u32le(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  u32be(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.offset, false);
    this.offset += 4;
    return v;
  }
  u64le(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }
  u64be(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.offset, false);
    this.offset += 8;
    return v;
  }
  /** A zero-copy view of the next n bytes. */
  bytesView(n: number, field: string): Uint8Array {
    this.need(n, field);
    const v = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  /** A copy of the next n bytes (safe to keep after the input buffer is reused). */
  take(n: number, field: string): Uint8Array {
    return this.bytesView(n, field).slice();
  }
  /** Reads bytes at an absolute offset without moving the cursor. */
  at(offset: number, n: number, field: string): Uint8Array {
    this.need(n, field, offset);
    return this.bytes.slice(offset, offset + n);
  }
  expectEnd(field = 'trailing data'): void {
    if (this.offset !== this.bytes.length) {
      throw new EvidenceMalformed(this.tee, field, this.base + this.offset, `${this.bytes.length - this.offset} unexpected bytes after the structure`);
    }
  }
}

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;
  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }
  private grow(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): this {
    this.grow(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
    return this;
  }
  u16le(v: number): this {
    this.grow(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
    return this;
  }
  u16be(v: number): this {
    this.grow(2);
    this.view.setUint16(this.length, v, false);
    this.length += 2;
    return this;
  }
  u32le(v: number): this {
    this.grow(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
    return this;
  }
  u32be(v: number): this {
    this.grow(4);
    this.view.setUint32(this.length, v, false);
    this.length += 4;
    return this;
  }
  u64le(v: bigint): this {
    this.grow(8);
    this.view.setBigUint64(this.length, v, true);
    this.length += 8;
    return this;
  }
  u64be(v: bigint): this {
    this.grow(8);
    this.view.setBigUint64(this.length, v, false);
    this.length += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  /** Writes b, zero-padded (or rejecting overflow) to exactly n bytes. */
  fixed(b: Uint8Array, n: number): this {
    if (b.length > n) throw new RangeError(`value of ${b.length} bytes does not fit a ${n}-byte field`);
    this.bytes(b);
    return this.zeros(n - b.length);
  }
  zeros(n: number): this {
    this.grow(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
    return this;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** A frozen layout table entry: spec name, offset and size, as DESIGN.md asks parsers to keep. */
export interface FieldLayout {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}
