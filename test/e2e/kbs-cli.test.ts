/**
 * The KBS command line as a user meets it (README quickstart): `kbs serve --dev` in an empty
 * directory, `kbs admin …`, `get-resource --tee sim`; then a configured HTTPS KBS with the Keep CA.
 * Real processes, real ports on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSimAttester } from '../../src/attester/index.ts';
import { toPem, x509 } from '../../src/core/index.ts';
import { DEV_SIM_POLICY } from '../../src/kbs/index.ts';
import { simKeyThumbprint } from '../../src/verify/sim/index.ts';
import { mint } from '../support/pki.ts';

const BIN = new URL('../../bin/teataster.js', import.meta.url).pathname;

function run(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env } });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
  });
}

async function serve(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ p: ChildProcess; url: string; stdout: () => string; stderr: () => string; stop: () => Promise<number> }> {
  const p = spawn(process.execPath, [BIN, 'kbs', 'serve', ...args], { cwd, env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (https?:\/\/[^\s]+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    p.once('exit', (c) => reject(new Error(`kbs serve exited ${c}: ${err}`)));
  });
  // the token line (if any) is written right after the "listening" line
  await new Promise((r) => setTimeout(r, 200));
  return {
    p,
    url,
    stdout: () => out,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        p.once('exit', (c) => resolve(c ?? -1));
        p.kill('SIGTERM');
      }),
  };
}

describe('kbs serve --dev quickstart (real processes)', () => {
  let cwd: string;
  before(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'teataster-quickstart-'));
  });
  after(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('starts, prints the admin token once, stores and releases a secret to the sim TEE, audits, stops cleanly', async () => {
    const kbs = await serve(cwd, ['--dev', '--port', '0']);
    const token = kbs.stdout().trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal((await readFile(join(cwd, '.teataster', 'admin-token'), 'utf8')).trim(), token);
    const hostPort = new URL(kbs.url).host;
    await writeFile(join(cwd, 'secret.txt'), 'quickstart-secret');
    let r = await run(cwd, ['kbs', 'admin', '--url', kbs.url, 'put-resource', 'default/key/demo', 'secret.txt']);
    assert.equal(r.code, 0, r.stderr);
    r = await run(cwd, ['get-resource', `kbs://${hostPort}/default/key/demo`, '--tee', 'sim', '--insecure-http', '-o', 'out.bin']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /SIMULATED TEE/);
    assert.equal(await readFile(join(cwd, 'out.bin'), 'utf8'), 'quickstart-secret');
    r = await run(cwd, ['get-resource', `kbs://${hostPort}/default/key/demo`, '--tee', 'sim', '--insecure-http']);
    assert.equal(r.stdout.toString(), 'quickstart-secret');
    // plain http needs the flag
    r = await run(cwd, ['get-resource', `http://${hostPort}/default/key/demo`, '--tee', 'sim']);
    assert.equal(r.code, 2);
    // a stricter policy denies, with the reason on stderr and exit 1
    await writeFile(join(cwd, 'deny.cel'), 'platform == "snp"');
    r = await run(cwd, ['kbs', 'admin', '--url', kbs.url, 'set-resource-policy', 'default/key/*', 'deny.cel']);
    assert.equal(r.code, 0, r.stderr);
    r = await run(cwd, ['get-resource', `kbs://${hostPort}/default/key/demo`, '--tee', 'sim', '--insecure-http']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERR_POLICY_DENIED.*platform == "snp"/);
    r = await run(cwd, ['kbs', 'admin', '--url', kbs.url, 'get-policy']);
    assert.equal(r.code, 0);
    assert.ok((JSON.parse(r.stdout.toString()) as { resourcePolicies: unknown[] }).resourcePolicies.length >= 2);
    r = await run(cwd, ['kbs', 'admin', '--url', kbs.url, 'refs', 'add', 'sim-measurement', '--kind', 'digest', '--value', 'ab'.repeat(48)]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(cwd, ['kbs', 'admin', '--url', kbs.url, 'audit', '--since', '1h', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { kind: string; verdict: string });
    assert.ok(events.some((e) => e.kind === 'release' && e.verdict === 'released'));
    assert.ok(events.some((e) => e.kind === 'refusal' && e.verdict === 'denied'));
    assert.ok(events.some((e) => e.kind === 'admin'));
    // the admin API refuses without the token
    r = await run(cwd, ['kbs', 'admin', '--url', kbs.url, '--token-file', 'secret.txt', 'get-policy']);
    assert.equal(r.code, 1);
    assert.equal(await kbs.stop(), 0);
    // second start: same token, not printed again
    const again = await serve(cwd, ['--dev', '--port', '0']);
    assert.equal(again.stdout(), '');
    r = await run(cwd, ['kbs', 'admin', '--url', again.url, 'list-resources']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await again.stop(), 0);
  });

  it('`kbs serve` with no configuration at all is the dev quickstart, and says so', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'teataster-noconfig-'));
    try {
      const kbs = await serve(fresh, ['--port', '0'], { TEATASTER_KBS_CONFIG: '' });
      assert.match(kbs.stderr(), /starting in --dev mode/);
      assert.match(kbs.stdout().trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);
      assert.equal(new URL(kbs.url).hostname, '127.0.0.1');
      assert.equal(await kbs.stop(), 0);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });
});

describe('kbs serve --config: HTTPS, admin keys from the config, Keep CA', () => {
  let cwd: string;
  before(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'teataster-https-'));
  });
  after(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('serves RCAR over TLS to a client that trusts the CA, with the Keep CA route registered', async () => {
    const ca = await mint({ subject: 'CN=test KBS CA', alg: { kind: 'ec', curve: 'P-256' }, ca: true });
    const leaf = await mint({ subject: 'CN=localhost', alg: { kind: 'ec', curve: 'P-256' }, issuer: ca, extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])] });
    const pkcs8 = async (k: CryptoKey) => toPem(new Uint8Array(await crypto.subtle.exportKey('pkcs8', k)), 'PRIVATE KEY');
    await writeFile(join(cwd, 'ca.pem'), ca.cert.toString('pem'));
    await writeFile(join(cwd, 'tls.pem'), leaf.cert.toString('pem'));
    await writeFile(join(cwd, 'tls.key'), await pkcs8(leaf.keys.privateKey));
    await writeFile(join(cwd, 'keep-ca.key'), await pkcs8(ca.keys.privateKey));
    const sim = createSimAttester({ dir: join(cwd, 'sim') });
    const thumb = await simKeyThumbprint((await sim.key()).publicJwk);
    let k = await run(cwd, ['kbs', 'keygen', 'admin', '--alg', 'ES256']);
    assert.equal(k.code, 0, k.stderr);
    k = await run(cwd, ['kbs', 'mint-token', '--key', 'admin.key.jwk', '--roles', 'admin', '--ttl', '10m', '--subject', 'ops']);
    assert.equal(k.code, 0, k.stderr);
    await writeFile(join(cwd, 'admin.token'), k.stdout.toString().trim());
    k = await run(cwd, ['kbs', 'mint-token', '--key', 'admin.key.jwk', '--roles', 'auditor', '--ttl', '10m']);
    await writeFile(join(cwd, 'auditor.token'), k.stdout.toString().trim());
    await writeFile(
      join(cwd, 'kbs.yaml'),
      [
        'listen: { host: 127.0.0.1, port: 0 }',
        `database: ${join(cwd, 'kbs.sqlite')}`,
        `masterKey: { env: TEST_KBS_MASTER_KEY }`,
        `tls: { cert: ${join(cwd, 'tls.pem')}, key: ${join(cwd, 'tls.key')} }`,
        `admin: { keys: [ { file: ${join(cwd, 'admin.pub.jwk')}, roles: [admin] } ] }`,
        `trustRoots: { sim: [ "${thumb}" ] }`,
        `keepCa: { key: ${join(cwd, 'keep-ca.key')}, cert: ${join(cwd, 'ca.pem')} }`,
        'logLevel: silent',
      ].join('\n'),
    );
    const env = { TEST_KBS_MASTER_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64'), NODE_EXTRA_CA_CERTS: join(cwd, 'ca.pem') };
    const kbs = await serve(cwd, ['--config', 'kbs.yaml'], env);
    try {
      assert.match(kbs.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(kbs.stdout(), '');
      await writeFile(join(cwd, 'sim.yaml'), DEV_SIM_POLICY);
      await writeFile(join(cwd, 'allow.cel'), 'platform == "sim" && status != "contraindicated"');
      await writeFile(join(cwd, 'v.txt'), 'tls-secret');
      for (const args of [
        ['set-attestation-policy', 'sim', 'sim.yaml'],
        ['set-resource-policy', 'app/**', 'allow.cel'],
        ['put-resource', 'app/key/one', 'v.txt'],
      ]) {
        const r = await run(cwd, ['kbs', 'admin', '--url', kbs.url, '--token-file', 'admin.token', ...args], env);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      }
      const denied = await run(cwd, ['kbs', 'admin', '--url', kbs.url, '--token-file', 'auditor.token', 'put-resource', 'app/key/two', 'v.txt'], env);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /ERR_FORBIDDEN/);
      const r = await run(cwd, ['get-resource', `kbs://${new URL(kbs.url).host}/app/key/one`, '--tee', 'sim', '--sim-dir', join(cwd, 'sim')], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'tls-secret');
      // this process does not trust the test CA: the TLS handshake itself fails
      assert.ok((await fetch(`${kbs.url}/healthz`).catch((e: Error) => e)) instanceof Error);
      // with the CA: the Keep CA route is mounted (401 without an EAR token, not 404)
      const status = await new Promise<number>((resolve, reject) => {
        const u = new URL(`${kbs.url}/kbs/v0/keep/certificate`);
        const req = httpsRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', ca: ca.cert.toString('pem'), headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end('{"keep":"x","csr":"y"}');
      });
      assert.equal(status, 401);
    } finally {
      assert.equal(await kbs.stop(), 0);
    }
  });
});
