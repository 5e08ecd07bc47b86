import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesEqual, ecdsaDerToRaw, ecdsaRawToDer, fromBase64, fromHex, toBase64, toBase64Url, toHex } from './index.ts';

test('hex and base64 round-trip any bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      assert.ok(bytesEqual(fromHex(toHex(b)), b));
      assert.ok(bytesEqual(fromBase64(toBase64(b)), b));
      assert.ok(bytesEqual(fromBase64(toBase64Url(b)), b));
      assert.equal(toBase64(b), Buffer.from(b).toString('base64'));
    }),
  );
});

test('fromHex and fromBase64 reject garbage', () => {
  assert.throws(() => fromHex('abc'));
  assert.throws(() => fromHex('zz'));
  assert.throws(() => fromBase64('a'));
  assert.throws(() => fromBase64('ab$d'));
});

test('ECDSA DER <-> raw conversion round-trips', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 96, maxLength: 96 }), (raw) => {
      const der = ecdsaRawToDer(raw);
      assert.ok(bytesEqual(ecdsaDerToRaw(der, 'P-384'), raw));
    }),
  );
  assert.throws(() => ecdsaDerToRaw(new Uint8Array([0x31, 0]), 'P-256'));
});

test('fromBase64 matches Buffer on standard, URL-safe, unpadded and wrapped input', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 80 }), (b, style, wrap) => {
      const std = Buffer.from(b).toString('base64');
      const text =
        style === 0 ? std
        : style === 1 ? Buffer.from(b).toString('base64url')
        : style === 2 ? std.replace(/=+$/, '')
        : (std.match(new RegExp(`.{1,${wrap}}`, 'g')) ?? []).join(wrap % 2 ? '\r\n' : '\n\t ');
      const got = fromBase64(text);
      assert.deepEqual(got, new Uint8Array(Buffer.from(text, style === 1 ? 'base64url' : 'base64')));
      assert.equal(got.byteOffset, 0);
      assert.equal(got.buffer.byteLength, b.length);
    }),
    { numRuns: 300 },
  );
});

test('fromBase64 rejects characters outside both alphabets, wherever they are', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 60 }), fc.nat(), fc.constantFrom('$', '.', '*', '\u00e9', '\u0141', '\u{1F600}', '\0'), (b, at, bad) => {
      const std = toBase64(b);
      const i = at % (std.length + 1);
      assert.throws(() => fromBase64(std.slice(0, i) + bad + std.slice(i)), /not a base64 string/);
    }),
    { numRuns: 200 },
  );
});

test('toHex is the lowercase two-digit encoding of every byte', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.equal(toHex(all), Buffer.from(all).toString('hex'));
  assert.equal(toHex(new Uint8Array(0)), '');
  // Inputs around and well past the per-call chunk (8192 bytes), up to 1 MiB.
  for (const n of [8191, 8192, 8193, 3 * 8192 + 5, 1 << 20]) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 131 + (i >> 8)) & 0xff);
    assert.equal(toHex(b), Buffer.from(b).toString('hex'), `${n} bytes`);
  }
});
