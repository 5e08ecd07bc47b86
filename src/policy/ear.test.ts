import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { fromBase64Url, toBase64Url, utf8 } from '../core/index.ts';
import { appraise, type AppraisalResult } from './appraise.ts';
import { defaultPolicy } from './defaults.ts';
import { EAR_PROFILE_IETF_04, EAR_PROFILE_VERAISON, issueEar, parseEarClaims, signerFromJwk, verifyEarToken, type EarAlgorithm } from './ear.ts';
import { TokenInvalid } from './errors.ts';
import { KeyRing, MemoryKeyRingStorage } from './keyring.ts';
import { snpClaims } from './test-support/claims.ts';

const NOW = new Date('2025-03-01T12:00:00Z');
const later = (s: number) => new Date(NOW.getTime() + s * 1000);

async function appraisal(over = {}): Promise<AppraisalResult> {
  return appraise(snpClaims(over), { policy: await defaultPolicy('snp'), now: NOW });
}

async function keyPair(alg: EarAlgorithm) {
  const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  const pub = { ...(await exportJWK(publicKey)), kid: `k-${alg}`, alg };
  return { signer: { kid: `k-${alg}`, alg, key: privateKey as CryptoKey }, jwks: { keys: [pub] }, privateJwk: { ...(await exportJWK(privateKey)), kid: `k-${alg}`, alg } };
}

const rejects = async (p: Promise<unknown>, reason: string) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TokenInvalid, String(e));
    assert.equal(e.code, 'ERR_TOKEN_INVALID');
    assert.equal(e.reason, reason, e.message);
    return true;
  });

describe('EAR tokens', () => {
  for (const alg of ['ES256', 'ES384', 'EdDSA'] as const) {
    it(`round-trips with ${alg}`, async () => {
      const kp = await keyPair(alg);
      const a = await appraisal({ revocation: 'absent' });
      const teePubKey = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' } as JWK;
      const jwt = await issueEar({ appraisal: a, teePubKey, runtimeData: { nonce: 'abcd' } }, { signer: kp.signer, now: NOW, nonce: 'abcd', ttlSeconds: 120 });
      const v = await verifyEarToken(jwt, { jwks: kp.jwks, now: later(60) });
      assert.equal(v.header.alg, alg);
      assert.equal(v.profile, EAR_PROFILE_VERAISON);
      assert.equal(v.spelling, 'dotted');
      assert.equal(v.status, 'warning');
      assert.equal(v.exp! - v.iat, 120);
      assert.equal(v.nonce, 'abcd');
      const cpu0 = v.submods.cpu0!;
      assert.equal(cpu0.status, 'warning');
      assert.deepEqual(cpu0.trustVector, a.trustVector);
      assert.deepEqual(cpu0.policyIds, ['policy:default-snp@1']);
      assert.deepEqual((cpu0.annotatedEvidence!.runtime_data_claims as Record<string, unknown>)['tee-pubkey'], teePubKey);
      assert.equal((cpu0.policyClaims!.violations as unknown[]).length, 1);
      // the key attestation carries the SPKI of the TEE key
      const spki = fromBase64Url(cpu0.keyAttestation!.akpub);
      const imported = await crypto.subtle.importKey('spki', spki as Uint8Array<ArrayBuffer>, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
      assert.equal((await crypto.subtle.exportKey('jwk', imported)).x, teePubKey.x);
      // raw claim names as Trustee/Veraison consumers read them
      assert.equal((v.claims.submods as Record<string, Record<string, unknown>>).cpu0!['ear.status'], 'warning');
    });
  }

  it('emits and verifies the draft-ietf-rats-ear-04 underscore spelling', async () => {
    const kp = await keyPair('ES256');
    const jwt = await issueEar({ appraisal: await appraisal() }, { signer: kp.signer, now: NOW, spelling: 'underscore' });
    const payload = JSON.parse(new TextDecoder().decode(fromBase64Url(jwt.split('.')[1]!))) as Record<string, unknown>;
    assert.equal(payload.eat_profile, EAR_PROFILE_IETF_04);
    assert.ok('ear_verifier_id' in payload);
    const sub = (payload.submods as Record<string, Record<string, unknown>>).cpu0!;
    assert.equal(sub.ear_status, 'affirming');
    assert.ok(Array.isArray(sub.ear_appraisal_policy_ids));
    const v = await verifyEarToken(jwt, { jwks: kp.jwks, now: NOW });
    assert.equal(v.spelling, 'underscore');
    assert.equal(v.submods.cpu0!.status, 'affirming');
  });

  it('accepts third-party tokens in either spelling (hand-built claims)', async () => {
    const kp = await keyPair('ES384');
    const iat = Math.floor(NOW.getTime() / 1000);
    const dotted = { eat_profile: EAR_PROFILE_VERAISON, iat, exp: iat + 60, 'ear.verifier-id': { developer: 'https://veraison-project.org', build: 'vts 0.0.1' }, submods: { cpu0: { 'ear.status': 'affirming', 'ear.trustworthiness-vector': { hardware: 2, executables: 2 }, 'ear.appraisal-policy-id': 'policy:AWS_NITRO' } } };
    const underscore = { eat_profile: 'tag:ietf.org,2026:rats/ear#04', iat, exp: iat + 60, ear_verifier_id: { developer: 'x', build: 'y' }, submods: { PSA: { ear_status: 'contraindicated', ear_trustworthiness_vector: { 'instance-identity': 2, executables: 96 }, ear_appraisal_policy_ids: ['https://veraison.example/policy/1/60a0068d'] } } };
    for (const [claims, status, spelling] of [[dotted, 'affirming', 'dotted'], [underscore, 'contraindicated', 'underscore']] as const) {
      const jwt = await new SignJWT(claims).setProtectedHeader({ alg: 'ES384', kid: 'k-ES384' }).sign(kp.signer.key);
      const v = await verifyEarToken(jwt, { jwks: kp.jwks, now: NOW });
      assert.equal(v.status, status);
      assert.equal(v.spelling, spelling);
    }
  });

  it('rejects tampered tokens (any payload or signature change)', async () => {
    const kp = await keyPair('ES256');
    const jwt = await issueEar({ appraisal: await appraisal() }, { signer: kp.signer, now: NOW });
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const forged = JSON.parse(new TextDecoder().decode(fromBase64Url(p)));
    forged.submods.cpu0['ear.status'] = 'affirming';
    forged.submods.cpu0['ear.trustworthiness-vector'].hardware = 2;
    forged.exp += 3600;
    await rejects(verifyEarToken(`${h}.${toBase64Url(utf8(JSON.stringify(forged)))}.${s}`, { jwks: kp.jwks, now: NOW }), 'signature');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: s.length - 2 }), async (i) => {
        const c = s[i] === 'A' ? 'B' : 'A';
        const bad = `${h}.${p}.${s.slice(0, i)}${c}${s.slice(i + 1)}`;
        await assert.rejects(verifyEarToken(bad, { jwks: kp.jwks, now: NOW }), (e: unknown) => e instanceof TokenInvalid);
      }),
      { numRuns: 50 },
    );
    await rejects(verifyEarToken('not.a.jwt.at.all', { jwks: kp.jwks, now: NOW }), 'malformed');
  });

  it('rejects expired and not-yet-valid tokens, unknown keys and other algorithms', async () => {
    const kp = await keyPair('ES256');
    const other = await keyPair('ES256');
    const jwt = await issueEar({ appraisal: await appraisal() }, { signer: kp.signer, now: NOW, ttlSeconds: 300 });
    await rejects(verifyEarToken(jwt, { jwks: kp.jwks, now: later(300 + 61) }), 'expired');
    await verifyEarToken(jwt, { jwks: kp.jwks, now: later(300 + 59) }); // inside the clock skew
    await rejects(verifyEarToken(jwt, { jwks: kp.jwks, now: later(-120) }), 'not-yet-valid');
    await rejects(verifyEarToken(jwt, { jwks: { keys: other.jwks.keys.map((k) => ({ ...k, kid: 'k-ES256' })) }, now: NOW }), 'signature');
    await rejects(verifyEarToken(jwt, { jwks: { keys: other.jwks.keys.map((k) => ({ ...k, kid: 'nope' })) }, now: NOW }), 'unknown-key');
    const hs = await new SignJWT({ eat_profile: EAR_PROFILE_VERAISON }).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(32));
    await rejects(verifyEarToken(hs, { jwks: kp.jwks, now: NOW }), 'algorithm');
    const none = `${toBase64Url(utf8('{"alg":"none"}'))}.${jwt.split('.')[1]}.`;
    await rejects(verifyEarToken(none, { jwks: kp.jwks, now: NOW }), 'algorithm');
  });

  it('rejects tokens that are not EARs or contradict themselves', async () => {
    const kp = await keyPair('EdDSA');
    const iat = Math.floor(NOW.getTime() / 1000);
    const base = { eat_profile: EAR_PROFILE_VERAISON, iat, exp: iat + 60, 'ear.verifier-id': { developer: 'd', build: 'b' } };
    const bad: [Record<string, unknown>, string][] = [
      [{ ...base, eat_profile: 'tag:example.com,2024:other', submods: { cpu0: { 'ear.status': 'affirming' } } }, 'profile'],
      [{ ...base, submods: {} }, 'claims'],
      [{ ...base, submods: { cpu0: { 'ear.status': 'great' } } }, 'claims'],
      [{ ...base, submods: { cpu0: { 'ear.status': 'affirming', 'ear.trustworthiness-vector': { hardware: 96 } } } }, 'claims'],
      [{ ...base, submods: { cpu0: { 'ear.status': 'affirming', ear_status: 'warning' } } }, 'claims'],
      [{ ...base, iat: iat + 0.5, submods: { cpu0: { 'ear.status': 'none' } } }, 'claims'],
      [{ eat_profile: EAR_PROFILE_VERAISON, iat, exp: iat + 60, submods: { cpu0: { 'ear.status': 'none' } } }, 'claims'],
    ];
    for (const [claims, reason] of bad) {
      const jwt = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: 'k-EdDSA' }).sign(kp.signer.key);
      await rejects(verifyEarToken(jwt, { jwks: kp.jwks, now: NOW }), reason);
    }
    const noExp = await new SignJWT({ ...base, exp: undefined, submods: { cpu0: { 'ear.status': 'none' } } }).setProtectedHeader({ alg: 'EdDSA', kid: 'k-EdDSA' }).sign(kp.signer.key);
    await rejects(verifyEarToken(noExp, { jwks: kp.jwks, now: NOW }), 'claims');
    assert.equal((await verifyEarToken(noExp, { jwks: kp.jwks, now: NOW, requireExp: false })).status, 'none');
    assert.throws(() => parseEarClaims({ ...base, submods: { cpu0: { 'ear.status': 'affirming', 'ear.trustworthiness-vector': { bogus: 2 } } } }), TokenInvalid);
  });

  it('signs with a private JWK file (--token-key) and checks issuer/audience', async () => {
    const kp = await keyPair('ES384');
    const signer = await signerFromJwk(kp.privateJwk);
    const jwt = await issueEar({ appraisal: await appraisal() }, { signer, now: NOW, issuer: 'https://kbs.example', audience: 'rp-1' });
    assert.equal((await verifyEarToken(jwt, { jwks: kp.jwks, now: NOW, issuer: 'https://kbs.example', audience: 'rp-1' })).status, 'affirming');
    await rejects(verifyEarToken(jwt, { jwks: kp.jwks, now: NOW, issuer: 'https://evil.example' }), 'claims');
    assert.equal((await verifyEarToken(jwt, { keys: kp.jwks.keys, now: NOW })).status, 'affirming', 'keys: [...] works like jwks');
    await rejects(verifyEarToken(jwt, { now: NOW }), 'key');
    await assert.rejects(signerFromJwk({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }), TokenInvalid);
    // a key that does not fit the algorithm is refused rather than producing an invalid JWS
    await rejects(issueEar({ appraisal: await appraisal() }, { signer: { ...signer, alg: 'ES256' }, now: NOW }), 'key');
  });

  it('issues multi-submod tokens (cpu0 + gpu0) whose status is the worst', async () => {
    const ring = new KeyRing(new MemoryKeyRingStorage());
    const jwt = await issueEar({ cpu0: { appraisal: await appraisal() }, gpu0: { appraisal: await appraisal({ tcb: { status: 'OutOfDate', advisoryIds: [], versions: {} } }) } }, { signer: ring, now: NOW });
    const v = await verifyEarToken(jwt, { jwks: await ring.jwks(NOW), now: NOW });
    assert.deepEqual(Object.keys(v.submods), ['cpu0', 'gpu0']);
    assert.equal(v.status, 'warning');
  });
});
