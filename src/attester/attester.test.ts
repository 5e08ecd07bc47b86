import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAttestError } from '../core/index.ts';
import { parseSimEvidence } from '../evidence/sim/index.ts';
import { simKeyThumbprint } from '../verify/sim/index.ts';
import { createSimAttester, detectAttesters, isAttester, loadOrCreateSimKey, selectAttester, SIM_KEY_FILE } from './index.ts';

test('the sim key is created once (0600, private half only on disk there) and reloaded identically, also under concurrency', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sim-key-'));
  try {
    const keys = await Promise.all([loadOrCreateSimKey(dir), loadOrCreateSimKey(dir), loadOrCreateSimKey(dir)]);
    const thumbs = await Promise.all(keys.map((k) => simKeyThumbprint(k.publicJwk)));
    assert.equal(new Set(thumbs).size, 1);
    const st = await stat(join(dir, SIM_KEY_FILE));
    assert.equal(st.mode & 0o777, 0o600);
    const again = await loadOrCreateSimKey(dir);
    assert.equal(await simKeyThumbprint(again.publicJwk), thumbs[0]);
    const jwk = JSON.parse(await readFile(join(dir, SIM_KEY_FILE), 'utf8')) as Record<string, unknown>;
    assert.equal(jwk.crv, 'P-256');
    // evidence carries only the public key
    const ev = parseSimEvidence(await createSimAttester({ dir }).evidence(new Uint8Array(64)));
    assert.ok(!('d' in ev.key));
    assert.equal(await simKeyThumbprint(ev.key), thumbs[0]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a corrupt key file is a DeviceError, not a silent new key', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sim-key-'));
  try {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, SIM_KEY_FILE), '{"kty":"EC"}');
    await assert.rejects(loadOrCreateSimKey(dir), (e: unknown) => isAttestError(e) && e.code === 'ERR_DEVICE');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('attester selection: sim on request; auto ends with sim; a named hardware TEE is found or refused with ERR_DEVICE', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sim-sel-'));
  const sim = await selectAttester('sim', { sim: { dir } });
  assert.equal(sim.id, 'sim');
  assert.ok(isAttester(sim));
  assert.equal(parseSimEvidence(await sim.evidence(new Uint8Array(64))).body.svn, 1);
  await rm(dir, { recursive: true, force: true });
  const found = await detectAttesters();
  assert.equal(found.at(-1)?.id, 'sim');
  for (const tee of ['snp', 'tdx', 'tpm'] as const) {
    try {
      const a = await selectAttester(tee);
      assert.equal(a.id, tee);
    } catch (e) {
      assert.ok(isAttestError(e) && e.code === 'ERR_DEVICE', String(e));
    }
  }
});
