/** The KBS logs at trace level while a secret is stored and released: no secret, token or cookie appears. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { evidenceSourceOf } from '../../src/cli/commands/get-resource.ts';
import { randomBytes } from '../../src/core/index.ts';
import { createKbsServer, createPolicyEngine, DEV_SIM_POLICY, validateConfig } from '../../src/kbs/index.ts';
import { KbsClient } from '../../src/protocol/index.ts';
import { openStore } from '../../src/store/index.ts';
import { adminCreds, simAttesterIn, sqliteDb } from './kbs-support.ts';

test('trace-level logs never contain secrets, admin tokens, EAR tokens or session cookies', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const db = await sqliteDb();
  const dir = await mkdtemp(join(tmpdir(), 'kbs-logs-'));
  const admin = await adminCreds();
  const token = await admin.token();
  const sim = await simAttesterIn(dir);
  const config = validateConfig({ logLevel: 'trace', listen: { host: '127.0.0.1', port: 0 }, database: db.url, admin: { keys: [{ jwk: admin.publicJwk as Record<string, unknown>, roles: ['admin'] }] }, trustRoots: { sim: [sim.thumbprint] }, verify: { offline: true } });
  const store = await openStore(db.url, { masterKey: randomBytes(32) });
  const server = await createKbsServer({ config, store, engine: await createPolicyEngine(store, config), logStream: sink });
  try {
    const url = await server.listen();
    await store.attestationPolicies.set('sim', DEV_SIM_POLICY, 'test');
    const secret = `log-canary-${Date.now()}`;
    let r = await fetch(`${url}/kbs/v0/resource/default/key/canary`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: secret });
    assert.equal(r.status, 200);
    r = await fetch(`${url}/kbs/v0/resource-policy`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ policy: Buffer.from('platform == "sim"').toString('base64') }) });
    assert.equal(r.status, 200, await r.text());
    const c = new KbsClient({ url, source: evidenceSourceOf(sim.attester) });
    assert.equal(new TextDecoder().decode(await c.getResource('default/key/canary')), secret);
    // failures are logged too
    await fetch(`${url}/kbs/v0/resource/default/key/canary`, { headers: { authorization: `Bearer ${c.token!.slice(0, -4)}AAAA` } });
    const all = lines.join('');
    assert.ok(lines.length > 5, 'the server logged');
    for (const needle of [secret, token, c.token!, token.split('.')[2]!, c.token!.split('.')[2]!]) assert.ok(!all.includes(needle), `log contains ${needle.slice(0, 20)}…`);
    assert.ok(!/kbs-session-id=[A-Za-z0-9_-]{16,}/.test(all), 'log contains a session cookie');
  } finally {
    await server.close();
    await store.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
});
