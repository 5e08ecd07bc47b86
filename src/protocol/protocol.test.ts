import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { flattenedDecrypt } from 'jose';
import {
  AttestationSchema,
  canonicalJson,
  computeReportData,
  decryptResponse,
  encryptResponse,
  generateTeeKeyPair,
  keyManagementAlg,
  negotiateHash,
  parseResourcePath,
  platformOfTee,
  RequestSchema,
  selectedHash,
  TEE_KEY_KINDS,
  teeOfPlatform,
  toReportDataField,
  type TeePubKey,
} from './index.ts';

test('JCS: RFC 8785 number and key-order examples', () => {
  assert.equal(canonicalJson(JSON.parse('{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001]}')), '{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}');
  const keys = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
  // RFC 8785 §3.2.3: sorted by UTF-16 code units
  const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'];
  assert.equal(canonicalJson(keys), `{${order.map((k) => `${JSON.stringify(k)}:${JSON.stringify(keys[k as keyof typeof keys])}`).join(',')}}`);
  assert.equal(canonicalJson({ b: [true, null, 'x'], a: { d: 1, c: '\u2028' } }), '{"a":{"c":"\u2028","d":1},"b":[true,null,"x"]}');
  assert.throws(() => canonicalJson({ x: Number.NaN }), { code: 'ERR_PROTOCOL' });
});

test('JCS output is parseable and stable under key permutation', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string().filter((k) => k !== '__proto__'), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null))), (o) => {
      const c = canonicalJson(o);
      assert.deepEqual(JSON.parse(c), { ...o });
      const reversed = Object.fromEntries(Object.entries(o).reverse());
      assert.equal(canonicalJson(reversed), c);
    }),
    { numRuns: 200 },
  );
});

test('report data: SHA-384 of the canonical {additional-evidence, nonce, tee-pubkey} (known answer by hand)', async () => {
  const pk: TeePubKey = { kty: 'EC', alg: 'ECDH-ES+A256KW', crv: 'P-256', x: 'WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis', y: 'y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE' };
  const nonce = 'qJ9YyH7nOq2fQ1e4i3+0b2Hq8mS9P4wzvT7bM1kN0Xc=';
  const text = `{"additional-evidence":"","nonce":"${nonce}","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"${pk.kty === 'EC' ? pk.x : ''}","y":"${pk.kty === 'EC' ? pk.y : ''}"}}`;
  const want = createHash('sha384').update(text).digest();
  assert.deepEqual(Buffer.from(await computeReportData(pk, nonce)), want);
  assert.deepEqual(Buffer.from(await computeReportData(pk, nonce, '', 'sha256')), createHash('sha256').update(text).digest());
  assert.deepEqual(Buffer.from(await computeReportData(pk, nonce, '', 'sha512')), createHash('sha512').update(text).digest());
  const field = toReportDataField(want);
  assert.equal(field.length, 64);
  assert.deepEqual(Buffer.from(field.subarray(0, 48)), want);
  assert.ok(field.subarray(48).every((b) => b === 0));
});

test('hash negotiation: "" keeps SHA-384 (Trustee), otherwise the strongest common algorithm', () => {
  assert.deepEqual(negotiateHash(''), { algorithm: 'sha384', extraParams: '' });
  assert.deepEqual(negotiateHash({ 'supported-hash-algorithms': ['sha256', 'sha384', 'sha512'] }), { algorithm: 'sha384', extraParams: '' });
  assert.deepEqual(negotiateHash({ 'supported-hash-algorithms': ['SHA256'] }), { algorithm: 'sha256', extraParams: { 'selected-hash-algorithm': 'sha256' } });
  assert.deepEqual(negotiateHash({ 'supported-hash-algorithms': ['sha256', 'sha512'] }), { algorithm: 'sha512', extraParams: { 'selected-hash-algorithm': 'sha512' } });
  assert.deepEqual(negotiateHash('', 'sha512'), { algorithm: 'sha512', extraParams: { 'selected-hash-algorithm': 'sha512' } });
  assert.throws(() => negotiateHash({ 'supported-hash-algorithms': ['md5'] }), { code: 'ERR_PROTOCOL' });
  assert.throws(() => negotiateHash({ 'supported-hash-algorithms': 'sha384' }), { code: 'ERR_PROTOCOL' });
  assert.equal(selectedHash(''), 'sha384');
  assert.equal(selectedHash({ 'selected-hash-algorithm': 'SHA512' }), 'sha512');
  assert.throws(() => selectedHash({ 'selected-hash-algorithm': 'sha1' }), { code: 'ERR_PROTOCOL' });
});

test('wire validators accept Trustee messages and reject malformed ones', () => {
  assert.ok(RequestSchema.safeParse({ version: '0.4.0', tee: 'snp', 'extra-params': '' }).success);
  assert.ok(RequestSchema.safeParse({ version: '0.4.0', tee: 'tdx', 'extra-params': { 'supported-hash-algorithms': ['sha384'] } }).success);
  assert.ok(!RequestSchema.safeParse({ tee: 'snp' }).success);
  const ok = { 'runtime-data': { nonce: 'n', 'tee-pubkey': { kty: 'RSA', alg: 'RSA-OAEP-256', n: 'AQAB', e: 'AQAB' } }, 'tee-evidence': { primary_evidence: { a: 1 }, additional_evidence: '' } };
  assert.ok(AttestationSchema.safeParse(ok).success);
  assert.ok(AttestationSchema.safeParse({ ...ok, 'init-data': { format: 'toml', body: 'x' } }).success);
  assert.ok(!AttestationSchema.safeParse({ ...ok, 'tee-evidence': { additional_evidence: '' } }).success);
  assert.ok(!AttestationSchema.safeParse({ ...ok, 'runtime-data': { nonce: 'n', 'tee-pubkey': { kty: 'EC', crv: 'P-192', x: 'a', y: 'b' } } }).success);
  assert.ok(!AttestationSchema.safeParse({ ...ok, 'runtime-data': { nonce: 'n', 'tee-pubkey': { kty: 'oct', k: 'a' } } }).success);
});

test('TEE names map to platforms and back (sample ↔ sim)', () => {
  assert.equal(platformOfTee('sample'), 'sim');
  assert.equal(platformOfTee('azsnpvtpm'), 'az-snp-vtpm');
  assert.equal(platformOfTee('aztdxvtpm'), 'az-tdx-vtpm');
  assert.equal(platformOfTee('cca'), null);
  assert.equal(platformOfTee('__proto__'), null);
  assert.equal(teeOfPlatform('sim'), 'sample');
  assert.equal(teeOfPlatform('az-snp-vtpm'), 'azsnpvtpm');
});

test('resource paths: three safe segments', () => {
  assert.deepEqual(parseResourcePath('default/key/one'), { repository: 'default', type: 'key', tag: 'one' });
  for (const bad of ['a/b', 'a/b/c/d', '../b/c', 'a/./c', 'a/b/', 'a b/c/d', 'a/b/c%2f']) assert.equal(parseResourcePath(bad), null, bad);
});

test('JWE round trip for every key type, decrypted by jose directly; wrong key and tampering fail', async () => {
  const secret = new TextEncoder().encode('the secret');
  for (const kind of TEE_KEY_KINDS) {
    const k = await generateTeeKeyPair(kind);
    const jwe = await encryptResponse(secret, k.publicJwk);
    const { plaintext, protectedHeader } = await flattenedDecrypt(jwe, k.privateKey);
    assert.deepEqual(new Uint8Array(plaintext), secret);
    assert.equal(protectedHeader?.alg, keyManagementAlg(k.publicJwk));
    assert.equal(protectedHeader?.enc, 'A256GCM');
    assert.deepEqual(await decryptResponse(jwe, k.privateKey), secret);
    const other = await generateTeeKeyPair(kind);
    await assert.rejects(decryptResponse(jwe, other.privateKey), { code: 'ERR_PROTOCOL' });
    const ct = Buffer.from(jwe.ciphertext, 'base64url');
    ct[0]! ^= 1;
    await assert.rejects(decryptResponse({ ...jwe, ciphertext: ct.toString('base64url') }, k.privateKey), { code: 'ERR_PROTOCOL' });
  }
  await assert.rejects(encryptResponse(secret, { kty: 'RSA', alg: 'RSA1_5', n: 'AQAB', e: 'AQAB' }), { code: 'ERR_PROTOCOL' });
  await assert.rejects(encryptResponse(secret, { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }), { code: 'ERR_PROTOCOL' });
});
