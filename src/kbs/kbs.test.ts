import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { randomBytes } from '../core/index.ts';
import { openStore } from '../store/index.ts';
import { AdminAuthenticator, grants, loadAdminKeys, signAdminToken } from './admin-auth.ts';
import { loadConfig, validateConfig } from './config.ts';
import { globMatches, isValidGlob } from './glob.ts';
import { redactExpected } from './policy-engine.ts';
import { HttpProblem } from './problems.ts';
import { compileResourcePolicy, evaluateResourcePolicies } from './resource-policy.ts';
import { signWebhook, WebhookDispatcher } from './webhooks.ts';

test('globs: * is one segment, ** any number, ? one character', () => {
  const cases: [string, string, boolean][] = [
    ['**', 'a/b/c', true],
    ['default/*/*', 'default/key/one', true],
    ['default/*/*', 'other/key/one', false],
    ['default/**', 'default/key/one', true],
    ['*/key/*', 'x/key/y', true],
    ['*/key/*', 'x/cert/y', false],
    ['a/**/c', 'a/c', true],
    ['a/**/c', 'a/b/c', true],
    ['prod/key/db?', 'prod/key/db1', true],
    ['prod/key/db?', 'prod/key/db12', false],
    ['a.b/c/d', 'axb/c/d', false],
  ];
  for (const [g, p, want] of cases) assert.equal(globMatches(g, p), want, `${g} vs ${p}`);
  assert.ok(isValidGlob('default/**'));
  assert.ok(!isValidGlob('../x/*'));
  assert.ok(!isValidGlob('a/(b)/c'));
});

test('resource policies: every matching policy must pass; each failed conjunct is listed; none matching denies', () => {
  const p1 = compileResourcePolicy('prod/**', 'platform == "snp" && !simulated && status == "affirming"');
  const p2 = compileResourcePolicy('prod/key/*', 'claims.tcb.versions.snp >= 5');
  const input = { path: 'prod/key/db', status: 'warning', platform: 'sim', simulated: true, claims: { tcb: { versions: { snp: 3 } } }, ear: {}, now: new Date() };
  const d = evaluateResourcePolicies([p1, p2], input);
  assert.equal(d.allowed, false);
  assert.deepEqual(d.violations.map((v) => v.rule), ['prod/**#1', 'prod/**#2', 'prod/**#3', 'prod/key/*#1']);
  assert.ok(d.violations.every((v) => v.message.includes('is not met')));
  const ok = evaluateResourcePolicies([p1, p2], { ...input, status: 'affirming', platform: 'snp', simulated: false, claims: { tcb: { versions: { snp: 7 } } } });
  assert.equal(ok.allowed, true);
  assert.equal(ok.rules.length, 4);
  const none = evaluateResourcePolicies([p1], { ...input, path: 'dev/key/x' });
  assert.equal(none.allowed, false);
  assert.equal(none.violations[0]!.rule, 'resource-policy.present');
  // evaluation errors (missing claim) deny, they do not crash
  const p3 = compileResourcePolicy('**', 'claims.measurements["sim.measurement"] == "ab"');
  const e = evaluateResourcePolicies([p3], { ...input, claims: {} });
  assert.equal(e.allowed, false);
  assert.equal(e.rules[0]!.result, 'error');
  // resource variables
  assert.equal(evaluateResourcePolicies([compileResourcePolicy('**', 'resource.repository == "prod" && resource.tag == "db"')], input).allowed, true);
});

test('resource policies: syntax and type errors are ERR_POLICY_INVALID', () => {
  assert.throws(() => compileResourcePolicy('**', 'status == '), { code: 'ERR_POLICY_INVALID' });
  assert.throws(() => compileResourcePolicy('**', 'unknownVar == 1'), { code: 'ERR_POLICY_INVALID' });
  assert.throws(() => compileResourcePolicy('**', '"a" + 1'), { code: 'ERR_POLICY_INVALID' });
  assert.throws(() => compileResourcePolicy('**', '   '), { code: 'ERR_POLICY_INVALID' });
});

test('config: defaults, env overrides, validation errors name the field', async () => {
  const c = validateConfig({});
  assert.equal(c.listen.port, 8080);
  assert.equal(c.hashAlgorithm, 'sha384');
  assert.equal(c.session.ttlSeconds, 300);
  assert.throws(() => validateConfig({ listen: { port: 70000 } }), (e: Error & { code?: string }) => e.code === 'ERR_CONFIG_INVALID' && e.message.includes('listen.port'));
  assert.throws(() => validateConfig({ admin: { keys: [{ roles: ['admin'] }] } }), { code: 'ERR_CONFIG_INVALID' });
  const dir = await mkdtemp(join(tmpdir(), 'kbs-cfg-'));
  try {
    await writeFile(join(dir, 'kbs.yaml'), 'listen:\n  port: 9000\ndatabase: /tmp/x.sqlite\nsession:\n  ttlSeconds: 60\n');
    const f = await loadConfig(join(dir, 'kbs.yaml'), {}, { TEATASTER_KBS_PORT: '9100' });
    assert.equal(f.listen.port, 9100);
    assert.equal(f.session.ttlSeconds, 60);
    await writeFile(join(dir, 'kbs.toml'), '[listen]\nport = 9001\n');
    assert.equal((await loadConfig(join(dir, 'kbs.toml'), {}, {})).listen.port, 9001);
    await assert.rejects(loadConfig(join(dir, 'missing.yaml'), {}, {}), { code: 'ERR_CONFIG_INVALID' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('signAdminToken mints what authorize accepts, audience and issuer included; expired tokens are refused', async () => {
  const k = await generateKeyPair('ES256', { extractable: true });
  const keys = await loadAdminKeys([{ jwk: (await exportJWK(k.publicKey)) as Record<string, unknown>, roles: ['admin'], kid: 'ops' }]);
  const auth = new AdminAuthenticator(keys, { audience: 'kbs.example', issuer: 'ops-ca' });
  const mint = (o: { lifetimeSeconds: number; now?: Date; audience?: string }) =>
    signAdminToken(k.privateKey, 'ES256', { roles: ['resource-writer'], subject: 'alice', kid: 'ops', issuer: 'ops-ca', audience: 'kbs.example', ...o });
  assert.deepEqual(await auth.authorize(`Bearer ${await mint({ lifetimeSeconds: 600 })}`, 'resource-writer'), { subject: 'alice', roles: ['resource-writer'], kid: 'ops' });
  await assert.rejects(auth.authorize(`Bearer ${await mint({ lifetimeSeconds: 600, audience: 'other' })}`, 'reader'), (e: unknown) => e instanceof HttpProblem && e.status === 401);
  await assert.rejects(auth.authorize(`Bearer ${await mint({ lifetimeSeconds: 60, now: new Date(Date.now() - 3_600_000) })}`, 'reader'), (e: unknown) => e instanceof HttpProblem && e.status === 401);
});

test('admin tokens: Ed25519 and ES256 keys, roles cut to what the key may grant, expiry, wrong key', async () => {
  const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const es = await generateKeyPair('ES256', { extractable: true });
  const keys = await loadAdminKeys([
    { jwk: (await exportJWK(ed.publicKey)) as Record<string, unknown>, roles: ['admin'] },
    { jwk: (await exportJWK(es.publicKey)) as Record<string, unknown>, roles: ['auditor'], kid: 'audit-key' },
  ]);
  const auth = new AdminAuthenticator(keys);
  const tok = (alg: 'EdDSA' | 'ES256', key: CryptoKey, roles: string[], exp = 600, kid?: string) =>
    new SignJWT({ roles }).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).setSubject('op').setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + exp).sign(key);
  const p = await auth.authorize(`Bearer ${await tok('EdDSA', ed.privateKey, ['admin'])}`, 'resource-writer');
  assert.deepEqual(p.roles, ['admin']);
  // the ES256 key may only grant auditor: an 'admin' claim in its token is dropped
  const t2 = await tok('ES256', es.privateKey, ['admin', 'auditor'], 600, 'audit-key');
  assert.deepEqual((await auth.authorize(`Bearer ${t2}`, 'auditor')).roles, ['auditor']);
  await assert.rejects(auth.authorize(`Bearer ${t2}`, 'resource-writer'), (e: unknown) => e instanceof HttpProblem && e.status === 403);
  await assert.rejects(auth.authorize(`Bearer ${await tok('EdDSA', ed.privateKey, ['admin'], -120)}`, 'reader'), (e: unknown) => e instanceof HttpProblem && e.status === 401);
  const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  await assert.rejects(auth.authorize(`Bearer ${await tok('EdDSA', stranger.privateKey, ['admin'])}`, 'reader'), (e: unknown) => e instanceof HttpProblem && e.status === 401);
  await assert.rejects(auth.authorize(undefined, 'reader'), (e: unknown) => e instanceof HttpProblem && e.status === 401);
  await assert.rejects(loadAdminKeys([{ jwk: (await exportJWK(ed.privateKey)) as Record<string, unknown>, roles: ['admin'] }]), { code: 'ERR_CONFIG_INVALID' });
  assert.ok(grants(['policy-writer'], 'reader'));
  assert.ok(!grants(['auditor'], 'policy-writer'));
});

test('denial messages never echo reference values', () => {
  const m = redactExpected('measurement 00ff is not one of [aaaaaaaabbbbbbbb, ccccccccdddddddd]', ['aaaaaaaabbbbbbbb', 'ccccccccdddddddd']);
  assert.equal(m, 'measurement 00ff is not one of [[reference value], [reference value]]');
});

test('webhooks: queued in the store, signed with HMAC-SHA256, retried until delivered', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kbs-wh-'));
  const store = await openStore(join(dir, 'db.sqlite'), { masterKey: randomBytes(32) });
  const got: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  let fail = 1;
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (fail-- > 0) {
        res.statusCode = 500;
        res.end();
        return;
      }
      got.push({ headers: req.headers, body });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const secret = new TextEncoder().encode('whsec-test');
  const log = { info: () => undefined, warn: () => undefined };
  try {
    const d = new WebhookDispatcher(store, [{ url: `http://127.0.0.1:${port}/hook`, secret, events: ['resource.denied'] }], log);
    await d.notify('resource.denied', { resource: 'a/b/c' });
    await d.notify('attestation.failed', { ignored: true });
    assert.equal(await d.deliverDue(), 0); // first attempt: HTTP 500
    assert.equal(await d.deliverDue(new Date(Date.now() + 5_000)), 1); // retried after the backoff
    assert.equal(got.length, 1);
    const sig = String(got[0]!.headers['teataster-signature']);
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
    assert.ok(m, sig);
    assert.equal(m[2], createHmac('sha256', secret).update(`${m[1]}.${got[0]!.body}`).digest('hex'));
    assert.equal(signWebhook(secret, Number(m[1]), got[0]!.body), sig);
    assert.equal((JSON.parse(got[0]!.body) as { event: string }).event, 'resource.denied');
  } finally {
    srv.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('collateral files and directories are loaded for every verification', async () => {
  const { loadCollateral } = await import('./server.ts');
  const dir = await mkdtemp(join(tmpdir(), 'kbs-coll-'));
  try {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'a.json'), JSON.stringify({ format: 'teataster.tpm-trust/v1', akNames: ['000b00'] }));
    await writeFile(join(dir, 'sub', 'b.json'), JSON.stringify({ x: 1 }));
    await writeFile(join(dir, '.hidden.json'), '{}');
    assert.equal((await loadCollateral([join(dir, 'a.json')])).json.length, 1);
    assert.equal((await loadCollateral([dir])).json.length, 2);
    await assert.rejects(loadCollateral([join(dir, 'absent')]), { code: 'ERR_CONFIG_INVALID' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
