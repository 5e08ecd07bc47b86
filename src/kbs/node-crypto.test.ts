import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { compactVerify, decodeProtectedHeader, exportJWK, flattenedDecrypt, generateKeyPair, importJWK } from 'jose';
import { computeDeviceReportData, computeReportData, decryptResponse, encryptResponse, generateTeeKeyPair, HASH_ALGORITHMS, TEE_KEY_KINDS, type TeePubKey } from '../protocol/index.ts';
import { deviceReportDataSync, encryptResponseNode, jwtPayload, reportDataSync, teePubKeySpki, withNodeSign } from './node-crypto.ts';

test('node:crypto JWE: jose decrypts it for every key type, same header shape as the jose encryption, tampering fails', async () => {
  for (const kind of TEE_KEY_KINDS) {
    const k = await generateTeeKeyPair(kind);
    // P-521 shared secrets with leading zero bytes and small payloads: several rounds.
    const rounds = kind === 'RSA' ? 2 : 30;
    for (let i = 0; i < rounds; i++) {
      const secret = crypto.getRandomValues(new Uint8Array(i * 7));
      const jwe = encryptResponseNode(secret, k.publicJwk);
      const { plaintext } = await flattenedDecrypt(jwe, k.privateKey, { keyManagementAlgorithms: ['RSA-OAEP-256', 'ECDH-ES+A256KW'], contentEncryptionAlgorithms: ['A256GCM'] });
      assert.deepEqual(new Uint8Array(plaintext), secret, kind);
      assert.deepEqual(await decryptResponse(jwe, k.privateKey), secret);
      // Same fields, same header member order as jose's FlattenedEncrypt output.
      const ref = await encryptResponse(secret, k.publicJwk);
      assert.deepEqual(Object.keys(jwe), Object.keys(ref));
      const h = decodeProtectedHeader(jwe);
      const hr = decodeProtectedHeader(ref);
      assert.deepEqual(Object.keys(h), Object.keys(hr));
      const epk = h.epk as { crv?: string; x?: string } | undefined;
      const epkRef = hr.epk as { crv?: string; x?: string } | undefined;
      if (epk) {
        assert.deepEqual(Object.keys(epk), Object.keys(epkRef!));
        assert.equal(epk.crv, kind);
        assert.notEqual(epk.x, epkRef!.x, 'fresh ephemeral key per response');
      }
      assert.equal(Buffer.from(jwe.iv, 'base64url').length, 12);
      assert.equal(Buffer.from(jwe.tag, 'base64url').length, 16);
    }
    const jwe = encryptResponseNode(new TextEncoder().encode('the secret'), k.publicJwk);
    const other = await generateTeeKeyPair(kind);
    await assert.rejects(decryptResponse(jwe, other.privateKey), { code: 'ERR_PROTOCOL' });
    for (const field of ['ciphertext', 'tag', 'encrypted_key', 'iv'] as const) {
      const b = Buffer.from(jwe[field], 'base64url');
      b[0]! ^= 1;
      await assert.rejects(decryptResponse({ ...jwe, [field]: b.toString('base64url') }, k.privateKey), { code: 'ERR_PROTOCOL' }, field);
    }
    // The protected header is authenticated (AAD).
    const hdr = JSON.parse(Buffer.from(jwe.protected, 'base64url').toString()) as Record<string, unknown>;
    await assert.rejects(decryptResponse({ ...jwe, protected: Buffer.from(JSON.stringify({ ...hdr, zip: undefined, kid: 'x' })).toString('base64url') }, k.privateKey), { code: 'ERR_PROTOCOL' });
  }
});

test('node:crypto JWE refuses unusable keys like the jose path', () => {
  const secret = new Uint8Array([1, 2, 3]);
  const bad: TeePubKey[] = [
    { kty: 'RSA', alg: 'RSA1_5', n: 'AQAB', e: 'AQAB' },
    { kty: 'EC', alg: 'RSA-OAEP-256', crv: 'P-256', x: 'AAAA', y: 'AAAA' },
    { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' },
    // Right length, not on the curve.
    { kty: 'EC', crv: 'P-256', x: Buffer.alloc(32, 1).toString('base64url'), y: Buffer.alloc(32, 2).toString('base64url') },
    { kty: 'EC', crv: 'P-384', x: Buffer.alloc(32, 1).toString('base64url'), y: Buffer.alloc(32, 2).toString('base64url') },
  ];
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
  bad.push({ kty: 'RSA', n: small.n!, e: small.e! });
  for (const k of bad) assert.throws(() => encryptResponseNode(secret, k), { code: 'ERR_PROTOCOL' }, JSON.stringify(k));
});

test('synchronous report-data digests equal protocol\'s WebCrypto ones for every hash', async () => {
  const k = await generateTeeKeyPair('P-256');
  for (const alg of HASH_ALGORITHMS) {
    for (const add of ['', '{"tpm":"x"}', 'ünïcødé']) {
      assert.deepEqual(reportDataSync(k.publicJwk, 'bm9uY2U=', add, alg), await computeReportData(k.publicJwk, 'bm9uY2U=', add, alg));
    }
    assert.deepEqual(deviceReportDataSync(k.publicJwk, 'bm9uY2U=', alg), await computeDeviceReportData(k.publicJwk, 'bm9uY2U=', alg));
  }
});

test('tee-pubkey SPKI equals WebCrypto\'s export; unusable keys give undefined', async () => {
  for (const kind of TEE_KEY_KINDS) {
    const k = await generateTeeKeyPair(kind);
    const pub = k.publicJwk;
    const alg = pub.kty === 'RSA' ? { name: 'RSA-OAEP', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: pub.crv };
    const wc = await crypto.subtle.importKey('jwk', { ...pub, alg: undefined } as JsonWebKey, alg, true, pub.kty === 'RSA' ? ['encrypt'] : ['verify']);
    assert.equal(teePubKeySpki(pub), Buffer.from(await crypto.subtle.exportKey('spki', wc)).toString('base64url'), kind);
  }
  assert.equal(teePubKeySpki({ kty: 'EC', crv: 'P-256', x: Buffer.alloc(32, 1).toString('base64url'), y: Buffer.alloc(32, 2).toString('base64url') }), undefined);
});

test('node:crypto EAR signing verifies with jose for every EAR algorithm', async () => {
  for (const alg of ['ES256', 'ES384', 'EdDSA'] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = await exportJWK(privateKey);
    // From the stored private JWK (a non-extractable CryptoKey), and from an extractable CryptoKey.
    const nonExtractable = (await importJWK(jwk, alg)) as CryptoKey;
    assert.equal(withNodeSign({ kid: 'k1', alg, key: nonExtractable }).sign, undefined, 'non-extractable without JWK: WebCrypto signs');
    for (const s of [withNodeSign({ kid: 'k1', alg, key: nonExtractable }, jwk), withNodeSign({ kid: 'k1', alg, key: privateKey })]) {
    const input = new TextEncoder().encode(`${Buffer.from(JSON.stringify({ alg, kid: 'k1', typ: 'JWT' })).toString('base64url')}.${Buffer.from('{"a":1}').toString('base64url')}`);
    const sig = await s.sign!(input);
    const jws = `${new TextDecoder().decode(input)}.${Buffer.from(sig).toString('base64url')}`;
    const { payload } = await compactVerify(jws, publicKey);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), { a: 1 });
    const bad = Buffer.from(sig);
    bad[3]! ^= 1;
    await assert.rejects(compactVerify(`${new TextDecoder().decode(input)}.${bad.toString('base64url')}`, publicKey));
    }
  }
});

test('jwtPayload reads a compact JWT payload and refuses anything else', () => {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  assert.deepEqual(jwtPayload(`${enc({ alg: 'ES256' })}.${enc({ jti: 'a', exp: 5 })}.sig`), { jti: 'a', exp: 5 });
  for (const bad of ['', 'a.b', `x.${enc([1])}.s`, `x.${enc('s')}.s`, 'x..s', `x.${Buffer.from('{').toString('base64url')}.s`]) assert.throws(() => jwtPayload(bad), Error, bad);
});
