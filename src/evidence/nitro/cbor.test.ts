import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, fromHex, toHex } from '../../core/index.ts';
import { CborIndefiniteArray, CborMap, CborTag, decodeCbor, encodeCbor, MAX_DEPTH, type CborNode, type CborValue } from './cbor.ts';

const dec = (hex: string): CborNode => decodeCbor(fromHex(hex));
const malformed = (hex: string, why?: RegExp): void => {
  assert.throws(
    () => dec(hex),
    (e: unknown) => e instanceof AttestError && e.code === 'ERR_EVIDENCE_MALFORMED' && (!why || why.test(e.message)),
    hex,
  );
};

test('RFC 8949 Appendix A vectors decode', () => {
  const cases: [string, (n: CborNode) => boolean][] = [
    ['00', (n) => n.kind === 'uint' && n.value === 0n],
    ['1903e8', (n) => n.kind === 'uint' && n.value === 1000n],
    ['1bffffffffffffffff', (n) => n.kind === 'uint' && n.value === 18446744073709551615n],
    ['3863', (n) => n.kind === 'nint' && n.value === -100n],
    ['3822', (n) => n.kind === 'nint' && n.value === -35n],
    ['f90001', (n) => n.kind === 'float' && n.value === 5.960464477539063e-8],
    ['f93c00', (n) => n.kind === 'float' && n.value === 1],
    ['fa47c35000', (n) => n.kind === 'float' && n.value === 100000],
    ['fb3ff199999999999a', (n) => n.kind === 'float' && n.value === 1.1],
    ['f4', (n) => n.kind === 'simple' && n.value === false],
    ['f6', (n) => n.kind === 'simple' && n.value === null],
    ['4401020304', (n) => n.kind === 'bytes' && toHex(n.value) === '01020304'],
    ['5f42010243030405ff', (n) => n.kind === 'bytes' && n.indefinite && toHex(n.value) === '0102030405'],
    ['62c3bc', (n) => n.kind === 'text' && n.value === 'ü'],
    ['7f657374726561646d696e67ff', (n) => n.kind === 'text' && n.value === 'streaming'],
    ['83010203', (n) => n.kind === 'array' && n.items.length === 3],
    ['9f018202039f0405ffff', (n) => n.kind === 'array' && n.indefinite && n.items.length === 3],
    ['a201020304', (n) => n.kind === 'map' && n.entries.length === 2 && !n.indefinite],
    ['bf61610161629f0203ffff', (n) => n.kind === 'map' && n.indefinite && n.entries.length === 2],
    ['d818456449455446', (n) => n.kind === 'tag' && n.tag === 24n],
  ];
  for (const [hex, ok] of cases) assert.ok(ok(dec(hex)), hex);
});

test('strictness: trailing bytes, duplicate keys, truncation, reserved values are EvidenceMalformed', () => {
  malformed('0000', /trailing/);
  malformed('a2010101 02'.replace(/ /g, ''), /duplicate map key 1/);
  malformed('bf0101010[2]ff'.replace(/[[\]]/g, ''), /duplicate/);
  malformed('a2616101616102', /duplicate map key "a"/);
  // The same key in a non-preferred encoding is still the same key.
  malformed('a201011801 02'.replace(/ /g, ''), /duplicate/);
  malformed('a24101024101 03'.replace(/ /g, ''), /duplicate/);
  malformed('a1a00101', /map key is a map/);
  malformed('', /empty/);
  malformed('1c', /reserved/);
  malformed('ff', /break/);
  malformed('5f4101', /needs/); // indefinite bytes never closed
  malformed('5f6161ff', /chunk/); // text chunk inside a byte string
  malformed('5f5f4101ffff', /chunk/); // nested indefinite chunk
  malformed('1f', /not allowed/);
  malformed('f800', /one-byte form/);
  malformed('62c328', /UTF-8/);
  malformed('5a7fffffff00', /exceeds/); // huge length: no allocation, a clean error
  malformed('9b00000001000000000000', /exceeds/);
  malformed('bb7fffffffffffffff', /exceeds/);
  malformed('a1', /needs|exceeds/);
  malformed('a10102ff', /trailing|break/);
});

test('nesting deeper than MAX_DEPTH is refused without recursion blow-up', () => {
  malformed('81'.repeat(MAX_DEPTH + 1) + '00', /nesting/);
  malformed('9f'.repeat(100_000), /nesting/);
  assert.equal(dec('81'.repeat(MAX_DEPTH) + '00').kind, 'array');
});

test('offsets point at the offending item', () => {
  try {
    decodeCbor(fromHex('a3616101616202616103616201'), 'payload', 100);
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof AttestError);
    assert.equal(e.details.field, 'payload');
    assert.equal(e.details.offset, 100 + 7);
  }
});

test('encoder uses shortest arguments and preserves indefinite forms', () => {
  assert.equal(toHex(encodeCbor(23)), '17');
  assert.equal(toHex(encodeCbor(24)), '1818');
  assert.equal(toHex(encodeCbor(256)), '190100');
  assert.equal(toHex(encodeCbor(65536)), '1a00010000');
  assert.equal(toHex(encodeCbor(2n ** 32n)), '1b0000000100000000');
  assert.equal(toHex(encodeCbor(-35)), '3822');
  assert.equal(toHex(encodeCbor(new CborMap([[1, -35]]))), 'a1013822');
  assert.equal(toHex(encodeCbor(new CborMap([['a', 1]], true))), 'bf616101ff');
  assert.equal(toHex(encodeCbor(new CborIndefiniteArray([1, 2]))), '9f0102ff');
  assert.equal(toHex(encodeCbor(new CborTag(18, []))), 'd280');
  assert.equal(toHex(encodeCbor([null, true, false, undefined])), '84f6f5f4f7');
  assert.throws(() => encodeCbor(1.5), RangeError);
});

const cborValue: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -1_000_000, max: 1_000_000 }),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    fc.string(),
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom(null, true, false),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.uniqueArray(fc.tuple(fc.oneof(fc.integer({ min: -100, max: 100 }), fc.string({ maxLength: 4 })), tie('v')), { maxLength: 4, selector: ([k]) => (typeof k === 'number' ? `i${k}` : `t${k}`) }).chain((entries) =>
      fc.boolean().map((indef) => new CborMap(entries, indef)),
    ),
  ),
})).v;

test('property: encode → decode consumes exactly the encoding', () => {
  fc.assert(
    fc.property(cborValue, (v) => {
      const bytes = encodeCbor(v);
      const n = decodeCbor(bytes);
      assert.equal(n.end, bytes.length);
    }),
    { numRuns: 300 },
  );
});

test('property: random bytes yield a node or EvidenceMalformed, never another exception', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      try {
        decodeCbor(b);
      } catch (e) {
        assert.ok(e instanceof AttestError && e.code === 'ERR_EVIDENCE_MALFORMED', String(e));
      }
    }),
    { numRuns: 300 },
  );
});
