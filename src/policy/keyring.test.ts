import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import { toBase64 } from '../core/index.ts';
import { mint } from '../../test/support/pki.ts';
import { appraise } from './appraise.ts';
import { defaultPolicy } from './defaults.ts';
import { issueEar, verifyEarToken } from './ear.ts';
import { TokenInvalid } from './errors.ts';
import { KeyRing, MemoryKeyRingStorage, type Jwk } from './keyring.ts';
import { snpClaims } from './test-support/claims.ts';

const T0 = new Date('2025-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const DAY = 86_400;

async function token(ring: KeyRing, now: Date, ttl = 600): Promise<string> {
  const a = await appraise(snpClaims(), { policy: await defaultPolicy('snp'), now });
  return issueEar({ appraisal: a }, { signer: ring, now, ttlSeconds: ttl });
}

describe('key ring', () => {
  it('generates a key on first use, persists it and reuses it', async () => {
    const storage = new MemoryKeyRingStorage();
    const ring = new KeyRing(storage);
    assert.equal((await ring.jwks(T0)).keys.length, 0);
    const [a, b] = await Promise.all([ring.signer(T0), ring.signer(T0)]);
    assert.equal(a.kid, b.kid, 'concurrent first use makes one key');
    assert.equal(storage.keys.length, 1);
    const again = await new KeyRing(storage).signer(at(10));
    assert.equal(again.kid, a.kid, 'a second process finds the stored key');
    const jwks = await ring.jwks(T0);
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.kid, a.kid);
    assert.equal(jwks.keys[0]!.d, undefined, 'no private part in the JWKS');
    assert.equal(jwks.keys[0]!.use, 'sig');
  });

  for (const alg of ['ES256', 'ES384', 'EdDSA'] as const) {
    it(`signs verifiable tokens with ${alg}`, async () => {
      const ring = new KeyRing(new MemoryKeyRingStorage(), { alg });
      const jwt = await token(ring, T0);
      const v = await verifyEarToken(jwt, { jwks: await ring.jwks(T0), now: T0 });
      assert.equal(v.header.alg, alg);
    });
  }

  it('rotation with overlap: old tokens verify until they expire, then the old key leaves the JWKS', async () => {
    const ring = new KeyRing(new MemoryKeyRingStorage(), { maxTokenTtlSeconds: 3600 });
    const old = await token(ring, T0, 3600);
    const oldKid = (await ring.signer(T0)).kid;
    const fresh = await ring.rotate(at(60));
    assert.notEqual(fresh.kid, oldKid);
    assert.equal((await ring.signer(at(61))).kid, fresh.kid, 'new tokens use the new key');
    const newer = await token(ring, at(120), 3600);
    // a relying party fetching the JWKS after the rotation can verify both
    const jwksMid = await ring.jwks(at(1800));
    assert.deepEqual(jwksMid.keys.map((k) => k.kid).sort(), [oldKid, fresh.kid].sort());
    await verifyEarToken(old, { jwks: jwksMid, now: at(1800) });
    await verifyEarToken(newer, { jwks: jwksMid, now: at(1800) });
    // the old key stays until retiredAt + maxTokenTtl = T0+60+3600
    assert.equal((await ring.jwks(at(3659))).keys.length, 2);
    const jwksLate = await ring.jwks(at(3661));
    assert.deepEqual(jwksLate.keys.map((k) => k.kid), [fresh.kid]);
    await assert.rejects(verifyEarToken(old, { jwks: jwksLate, now: at(3661) }), TokenInvalid);
    const st = await ring.status(at(3661));
    assert.deepEqual(st.keys.map((k) => k.state), ['expired', 'active']);
    assert.deepEqual(await ring.prune(at(3661)), [oldKid]);
  });

  it('caps token lifetime at the overlap window', async () => {
    const ring = new KeyRing(new MemoryKeyRingStorage(), { maxTokenTtlSeconds: 120 });
    const v = await verifyEarToken(await token(ring, T0, 86_400), { jwks: await ring.jwks(T0), now: T0 });
    assert.equal(v.exp! - v.iat, 120);
  });

  it('warns well before the signing key lapses and rotates automatically', async () => {
    const ring = new KeyRing(new MemoryKeyRingStorage(), { keyLifetimeSeconds: 90 * DAY, rotateBeforeSeconds: 14 * DAY, warnBeforeSeconds: 30 * DAY });
    const first = await ring.signer(T0);
    assert.deepEqual((await ring.status(at(50 * DAY))).warnings, []);
    const w = (await ring.status(at(61 * DAY))).warnings;
    assert.equal(w.length, 1);
    assert.match(w[0]!, /expires at 2025-04-01T00:00:00Z, in 29 day\(s\); it is rotated automatically from 2025-03-18/);
    assert.equal((await ring.signer(at(70 * DAY))).kid, first.kid);
    const second = await ring.signer(at(77 * DAY));
    assert.notEqual(second.kid, first.kid, 'rotated inside the 14-day window');
    assert.deepEqual((await ring.status(at(77 * DAY))).keys.map((k) => k.state), ['retired', 'active']);
  });

  it('imports an operator key: its notAfter bounds signing and triggers warnings', async () => {
    const ring = new KeyRing(new MemoryKeyRingStorage(), { rotateBeforeSeconds: 0 });
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = (await exportJWK(privateKey)) as Jwk;
    const notAfter = at(20 * DAY);
    const k = await ring.importKey(jwk, T0, { notAfter });
    assert.equal(k.notAfter?.toISOString(), notAfter.toISOString());
    assert.equal((await ring.signer(T0)).kid, k.kid);
    assert.match((await ring.status(T0)).warnings[0]!, /expires at 2025-01-21T00:00:00Z, in 20 day\(s\); rotate it/);
    await assert.rejects(ring.importKey({ kty: 'EC', crv: 'P-256' }, T0), TokenInvalid);
  });

  it('takes the signing lifetime from an x5c certificate and refuses an expired one', async () => {
    const id = await mint({ subject: 'CN=EAR signer', alg: { kind: 'ec', curve: 'P-256' }, notBefore: new Date('2024-06-01T00:00:00Z'), notAfter: new Date('2025-02-01T00:00:00Z') });
    const jwk = { ...((await exportJWK(id.keys.privateKey)) as Jwk), x5c: [toBase64(new Uint8Array(id.cert.rawData))] };
    const ring = new KeyRing(new MemoryKeyRingStorage(), { rotateBeforeSeconds: 0 });
    const k = await ring.importKey(jwk, T0);
    assert.equal(k.notAfter?.toISOString(), '2025-02-01T00:00:00.000Z');
    assert.deepEqual((await ring.status(T0)).warnings, []);
    assert.match((await ring.status(at(5 * DAY))).warnings[0]!, /\(its certificate\) expires at 2025-02-01T00:00:00Z, in 26 day/);
    const v = await verifyEarToken(await token(ring, T0), { jwks: await ring.jwks(T0), now: T0 });
    assert.equal(v.header.kid, k.kid);
    assert.ok(Array.isArray((await ring.jwks(T0)).keys[0]!.x5c), 'the JWKS carries the certificate');
    await assert.rejects(new KeyRing(new MemoryKeyRingStorage()).importKey(jwk, new Date('2025-03-01T00:00:00Z')), TokenInvalid);
  });
});
