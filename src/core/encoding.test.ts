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
