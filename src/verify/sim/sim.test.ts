import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createSimAttester, signSimEvidence } from '../../attester/sim/index.ts';
import { emptyCollateral } from '../../collateral/index.ts';
import { isAttestError, randomBytes, utf8 } from '../../core/index.ts';
import { detectSim, encodeSimEvidence, parseSimEvidence } from '../../evidence/sim/index.ts';
import { getPlatform, verifyEvidence } from '../../platform/index.ts';
import type { VerifyContext } from '../types.ts';
import { SIM_INSECURE_WARNING, simKeyThumbprint, verifySim } from './index.ts';
import { hasCode } from '../../../test/support/errors.ts';

const keyPair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
const attester = createSimAttester({ keyPair, instance: 'test-vm', svn: 3 });
const thumb = await simKeyThumbprint((await attester.key()).publicJwk);
const rd = randomBytes(64);
const good = await attester.evidence(rd);
const ctx = (over: Partial<VerifyContext> = {}): VerifyContext => ({ now: new Date(), collateral: emptyCollateral(), extraRoots: { sim: [thumb] }, ...over });

test('sim evidence verifies, is marked simulated, and carries the claims', async () => {
  assert.ok(detectSim(good));
  assert.equal(getPlatform('sim').id, 'sim');
  const v = await verifyEvidence(good, ctx({ expected: { reportData: rd } }), 'sim');
  assert.equal(v.platform, 'sim');
  assert.equal(v.claims.simulated, true);
  assert.equal(v.claims.debug, false);
  assert.equal(v.claims.tcb.versions.svn, 3);
  assert.equal(v.claims.instanceId, 'test-vm');
  assert.equal(v.claims.signers['sim.key_thumbprint'], thumb);
  assert.match(v.claims.measurements['sim.measurement']!, /^[0-9a-f]{96}$/);
  assert.ok(v.warnings.includes(SIM_INSECURE_WARNING));
  assert.ok(!v.warnings.some((w) => w.startsWith('UNPINNED')));
});

test('an unpinned key is accepted with a loud warning; a different pin is RootNotTrusted', async () => {
  const v = await verifySim(parseSimEvidence(good), ctx({ extraRoots: {} }));
  assert.ok(v.warnings.some((w) => w.startsWith('UNPINNED sim key')));
  await assert.rejects(verifySim(parseSimEvidence(good), ctx({ extraRoots: { sim: ['00'.repeat(32)] } })), hasCode('ERR_ROOT_NOT_TRUSTED'));
});

test('binding, debug and age are enforced', async () => {
  const other = randomBytes(64);
  await assert.rejects(verifySim(parseSimEvidence(good), ctx({ expected: { reportData: other } })), hasCode('ERR_BINDING_MISMATCH'));
  // a 48-byte digest is a prefix; the rest of REPORT_DATA must be zero
  const digest = randomBytes(48);
  const padded = new Uint8Array(64);
  padded.set(digest);
  const ev = await attester.evidence(padded);
  await verifySim(parseSimEvidence(ev), ctx({ expected: { reportData: digest } }));
  const dbg = await createSimAttester({ keyPair, debug: true }).evidence(rd);
  await assert.rejects(verifySim(parseSimEvidence(dbg), ctx()), hasCode('ERR_DEBUG_NOT_ALLOWED'));
  assert.equal((await verifySim(parseSimEvidence(dbg), ctx({ options: { allowDebug: true } }))).claims.debug, true);
  const old = await createSimAttester({ keyPair, now: () => new Date(Date.now() - 3600_000) }).evidence(rd);
  await assert.rejects(verifySim(parseSimEvidence(old), ctx({ options: { maxAgeSeconds: 60 } })), hasCode('ERR_EVIDENCE_EXPIRED'));
});

test('encode is the inverse of parse (byte-exact)', () => {
  const e = parseSimEvidence(good);
  const again = encodeSimEvidence(new TextDecoder().decode(e.signed), e.signature, e.key);
  assert.deepEqual(again, good);
});

test('any single-byte change in the signed payload is rejected', async () => {
  const doc = JSON.parse(new TextDecoder().decode(good)) as { payload: string };
  const payload = doc.payload;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  await fc.assert(
    fc.asyncProperty(fc.nat(payload.length - 1), fc.nat(alphabet.length - 1), async (i, j) => {
      const c = alphabet[j]!;
      fc.pre(c !== payload[i]);
      const mutated = utf8(JSON.stringify({ ...doc, payload: payload.slice(0, i) + c + payload.slice(i + 1) }));
      let err: unknown;
      try {
        await verifySim(parseSimEvidence(mutated), ctx());
      } catch (e) {
        err = e;
      }
      assert.ok(isAttestError(err), `mutation at ${i} accepted or threw a non-AttestError: ${String(err)}`);
    }),
    { numRuns: 150 },
  );
});

test('random or truncated input yields an AttestError, never another exception', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      try {
        parseSimEvidence(b);
      } catch (e) {
        assert.ok(isAttestError(e), String(e));
      }
    }),
    { numRuns: 200 },
  );
  for (let n = 0; n < good.length; n += 7) assert.throws(() => parseSimEvidence(good.subarray(0, n)), (e: unknown) => isAttestError(e));
});

test('a signature by another key over the same body fails', async () => {
  const other = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const e = parseSimEvidence(good);
  const forged = await signSimEvidence(e.body, { keyPair: other, publicJwk: e.key });
  await assert.rejects(verifySim(parseSimEvidence(forged), ctx()), hasCode('ERR_SIGNATURE_INVALID'));
});
