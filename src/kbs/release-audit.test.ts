import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { createSimAttester } from '../attester/index.ts';
import { evidenceSourceOf } from '../cli/commands/get-resource.ts';
import { randomBytes } from '../core/index.ts';
import { KbsClient, KbsRequestFailed } from '../protocol/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { simKeyThumbprint } from '../verify/sim/index.ts';
import { validateConfig } from './config.ts';
import { DEV_SIM_POLICY } from './dev.ts';
import { createPolicyEngine } from './policy-engine.ts';
import { createKbsServer } from './server.ts';

test('a resource is not released when its audit row cannot be written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'teataster-kbs-audit-'));
  try {
    const attester = createSimAttester({ dir });
    const thumb = await simKeyThumbprint((await attester.key()).publicJwk);
    const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const database = join(dir, 'kbs.sqlite');
    const config = validateConfig({ listen: { host: '127.0.0.1', port: 0 }, database, logLevel: 'silent', admin: { keys: [{ jwk: await exportJWK(publicKey), roles: ['admin'] }] }, trustRoots: { sim: [thumb] }, verify: { offline: true } });
    const real = await openStore(database, { masterKey: randomBytes(32) });
    let failReleases = false;
    const audit = new Proxy(real.audit, {
      get(target, prop, receiver) {
        if (prop === 'append') {
          return (e: Parameters<Store['audit']['append']>[0]) => (failReleases && e.kind === 'release' ? Promise.reject(new Error('disk full')) : target.append(e));
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const store = new Proxy(real, { get: (t, p, r) => (p === 'audit' ? audit : (Reflect.get(t, p, r) as unknown)) }) as Store;
    const engine = await createPolicyEngine(store, config);
    const server = await createKbsServer({ config, store, engine, maintenanceIntervalMs: 0 });
    await store.attestationPolicies.set('sim', DEV_SIM_POLICY, 'test');
    await store.resourcePolicies.set('t/**', 'platform == "sim"', { updatedBy: 'test' });
    await store.resources.put('t/key/one', new TextEncoder().encode('s3cret'), { createdBy: 'test' });
    const url = await server.listen();
    try {
      const source = evidenceSourceOf(attester);
      assert.equal(new TextDecoder().decode(await new KbsClient({ url, source }).getResource('t/key/one')), 's3cret');
      failReleases = true;
      const err = await new KbsClient({ url, source }).getResource('t/key/one').catch((e: unknown) => e);
      assert.ok(err instanceof KbsRequestFailed, String(err));
      assert.equal(err.status, 500);
      assert.ok(!JSON.stringify(err.problem).includes('s3cret'));
      const releases = await real.audit.query({ kind: 'release', verdict: 'released' });
      assert.equal(releases.length, 1, 'only the first release is recorded');
    } finally {
      await server.close();
      await real.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
