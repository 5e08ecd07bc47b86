import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestError, ByteReader, ByteWriter, ErrorCode } from './index.ts';

test('ByteReader reads little and big endian and bounds-checks with EvidenceMalformed', () => {
  const w = new ByteWriter(2).u16le(0x1234).u32be(0xdeadbeef).u64le(0x0102030405060708n).bytes(new Uint8Array([9]));
  const r = new ByteReader(w.finish(), 'test');
  assert.equal(r.u16le('a'), 0x1234);
  assert.equal(r.u32be('b'), 0xdeadbeef);
  assert.equal(r.u64le('c'), 0x0102030405060708n);
  assert.equal(r.u8('d'), 9);
  r.expectEnd();
  assert.throws(() => r.u8('past end'), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.EvidenceMalformed && (e.details.field === 'past end'));
  const r2 = new ByteReader(new Uint8Array(3), 'test');
  assert.throws(() => r2.u32le('x'), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.EvidenceMalformed);
  assert.throws(() => new ByteReader(new Uint8Array(3), 't').expectEnd(), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.EvidenceMalformed);
});

test('ByteWriter.fixed pads and refuses overflow', () => {
  assert.deepEqual([...new ByteWriter().fixed(new Uint8Array([1]), 3).finish()], [1, 0, 0]);
  assert.throws(() => new ByteWriter().fixed(new Uint8Array(4), 3));
});
