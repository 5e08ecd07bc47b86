/**
 * Keep end to end on loopback, through the CLI as a user runs it: `kbs serve --dev` (sim TEE
 * accepted, SQLite), `keep keygen/package/deploy/run`, `kbs admin put-resource`. Covers: the
 * workload prints a value derived from a KBS secret; a preopened in-memory file; a Keep whose
 * measurement is not in the policy gets nothing; tampered and foreign bundles are refused; memory
 * and time limits; and the workload key never appears in the clear in logs, outputs, temp files,
 * /dev/shm or the database.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toPem, x509 } from '../../src/core/index.ts';
import { cleanupExamples, examplePath } from '../../src/keep/test-support/examples.ts';

const BIN = fileURLToPath(new URL('../../bin/teataster.js', import.meta.url));
const started = Date.now();
let work: string;
let kbs: ChildProcess;
let kbsUrl: string;
let kbsHost: string;
let kbsLog = '';
const outputs: string[] = [];
const SIM_MEASUREMENT = createHash('sha384').update('teataster-sim').digest('hex');
const SECRET = `api-token-${Date.now()}-do-not-print`;

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, TEATASTER_SIM_DIR: join(work, '.teataster'), ...env } });
  outputs.push(r.stdout, r.stderr);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\n${r.stderr}`);
  return r;
}

function keepToml(name: string, body: string): string {
  const p = join(work, `${name}.toml`);
  writeFileSync(p, `name = "${name}"\nversion = "1.0.0"\n${body}`);
  return p;
}

/** keygen (once) + package + deploy with the sim measurement; returns the kbs:// reference. */
function packageAndDeploy(name: string, example: Parameters<typeof examplePath>[0], toml: string, extra: string[] = []): string {
  ok(cli(['keep', 'package', examplePath(example), '--config', keepToml(name, toml), '--key', 'tenant.jwk', '-o', `${name}.keep`]), `package ${name}`);
  const d = ok(cli(['keep', 'deploy', `${name}.keep`, '--kbs', kbsUrl, '--token-file', '.teataster/admin-token', '--platform', 'sim', '--allow-warning', '--measurement', `sim.measurement=${SIM_MEASUREMENT}`, ...extra]), `deploy ${name}`);
  assert.equal(d.stdout.trim(), `kbs://${kbsHost}/keeps/${name}`);
  return d.stdout.trim();
}

const run = (ref: string, env: Record<string, string> = {}, extra: string[] = []): CliResult => cli(['keep', 'run', ref, '--tee', 'sim', '--insecure-http', ...extra], env);

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'teataster-keep-e2e-'));
  // The Keep CA of the KBS (config keepCa): a P-256 CA key (PKCS#8) and its certificate.
  const caKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=Keep CA (CLI e2e)', keys: caKeys, notAfter: new Date(Date.now() + 86_400_000), extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)] });
  writeFileSync(join(work, 'keep-ca.key'), toPem(new Uint8Array(await crypto.subtle.exportKey('pkcs8', caKeys.privateKey)), 'PRIVATE KEY'), { mode: 0o600 });
  writeFileSync(join(work, 'keep-ca.pem'), ca.toString('pem'));
  writeFileSync(join(work, 'kbs.yaml'), 'database: .teataster/kbs.sqlite\nkeepCa:\n  key: keep-ca.key\n  cert: keep-ca.pem\n  ttlSeconds: 600\n');
  kbs = spawn(process.execPath, [BIN, 'kbs', 'serve', '--dev', '--config', 'kbs.yaml', '--port', '0'], { cwd: work, env: { ...process.env, TEATASTER_SIM_DIR: join(work, '.teataster') }, stdio: ['ignore', 'pipe', 'pipe'] });
  kbs.stdout!.on('data', (b: Buffer) => { kbsLog += b.toString('utf8'); });
  kbsUrl = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`KBS did not start:\n${kbsLog}`)), 60_000);
    kbs.stderr!.on('data', (b: Buffer) => {
      kbsLog += b.toString('utf8');
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(kbsLog);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    kbs.on('exit', (code) => reject(new Error(`KBS exited ${code}:\n${kbsLog}`)));
  });
  kbsHost = new URL(kbsUrl).host;
  ok(cli(['keep', 'keygen', '-o', 'tenant.jwk']), 'keygen');
  writeFileSync(join(work, 'secret.txt'), SECRET);
  ok(cli(['kbs', 'admin', '--url', kbsUrl, '--token-file', '.teataster/admin-token', 'put-resource', 'default/keep-hello/token', 'secret.txt']), 'put secret');
  writeFileSync(join(work, 'config.txt'), 'listen = 8443\nmode = "confidential"\n');
  ok(cli(['kbs', 'admin', '--url', kbsUrl, '--token-file', '.teataster/admin-token', 'put-resource', 'default/keep-files/config', 'config.txt']), 'put file');
});

after(async () => {
  if (kbs && kbs.exitCode === null) {
    kbs.kill('SIGTERM');
    await new Promise((r) => kbs.once('exit', r));
  }
  cleanupExamples();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('package → deploy → run: the workload prints a value derived from its KBS secret', () => {
  const ref = packageAndDeploy('hello', 'secret-digest', 'args = ["API_TOKEN"]\n[env]\nGREETING = "hello from a keep"\n[secrets]\nAPI_TOKEN = "default/keep-hello/token"\n[limits]\nmemory_mb = 16\ntimeout_s = 20\n');
  const r = run(ref);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `sha256(API_TOKEN)=${createHash('sha256').update(SECRET).digest('hex')}\nhello from a keep\n`);
  assert.ok(!r.stdout.includes(SECRET) && !r.stderr.includes(SECRET));
});

test("the workload's exit code is the CLI's exit code", () => {
  const ref = packageAndDeploy('exit2', 'secret-digest', 'args = ["NOT_SET"]\n[limits]\nmemory_mb = 16\ntimeout_s = 20\n');
  const r = run(ref, {}, ['-q']);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'secret-digest: NOT_SET is not set\n');
});

test('a Keep whose measurement is not in the policy gets nothing (ERR_POLICY_DENIED, exit 125, no output)', () => {
  const other = createHash('sha384').update('some other image').digest('hex');
  const r = run(`kbs://${kbsHost}/keeps/hello`, { TEATASTER_SIM_MEASUREMENT: other });
  assert.equal(r.status, 125, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /ERR_POLICY_DENIED/);
  assert.match(r.stderr, /sim\.measurement/);
});

test('a tampered bundle is refused (ERR_WORKLOAD_INVALID); a bundle by another tenant is refused (ERR_SIGNATURE_INVALID)', () => {
  const admin = ['kbs', 'admin', '--url', kbsUrl, '--token-file', '.teataster/admin-token'];
  const original = readFileSync(join(work, 'hello.keep'));
  const b = JSON.parse(original.toString('utf8')) as { manifest: { env: Record<string, string> } };
  b.manifest.env.GREETING = 'tampered';
  writeFileSync(join(work, 'tampered.keep'), JSON.stringify(b));
  ok(cli([...admin, 'put-resource', 'keeps/hello/bundle', 'tampered.keep']), 'upload tampered');
  let r = run(`kbs://${kbsHost}/keeps/hello`);
  assert.equal(r.status, 125, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /ERR_WORKLOAD_INVALID/);

  // An attacker with admin access swaps in a bundle signed by its own key (but cannot change the
  // tenant key the Keep pins with --tenant-key).
  ok(cli(['keep', 'keygen', '-o', 'attacker.jwk']), 'attacker keygen');
  ok(cli(['keep', 'package', examplePath('secret-digest'), '--config', join(work, 'hello.toml'), '--key', 'attacker.jwk', '-o', 'forged.keep']), 'forge');
  ok(cli([...admin, 'put-resource', 'keeps/hello/bundle', 'forged.keep']), 'upload forged');
  r = run(`kbs://${kbsHost}/keeps/hello`, {}, ['--tenant-key', 'tenant.pub.jwk']);
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /ERR_SIGNATURE_INVALID/);
  // And with the deployed tenant record as the pin (no --tenant-key), the same.
  r = run(`kbs://${kbsHost}/keeps/hello`);
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /ERR_SIGNATURE_INVALID/);

  ok(cli([...admin, 'put-resource', 'keeps/hello/bundle', 'hello.keep']), 'restore');
  r = run(`kbs://${kbsHost}/keeps/hello`, {}, ['--tenant-key', 'tenant.pub.jwk']);
  assert.equal(r.status, 0, r.stderr);
});

test('a preopened in-memory file reaches the workload (read-only)', () => {
  const ref = packageAndDeploy('files', 'read-file', 'args = ["/etc/app/config.txt"]\n[files]\n"/etc/app/config.txt" = "default/keep-files/config"\n[limits]\nmemory_mb = 16\ntimeout_s = 20\n');
  const r = run(ref, {}, ['-q']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'dir: config.txt\nlisten = 8443\nmode = "confidential"\n\nwrite-open: Read-only file system\n');
});

test('identity: the Keep CA of `kbs serve` (config keepCa) certifies the attested key; the workload reads it in memory', () => {
  const ref = packageAndDeploy('web', 'read-file', 'args = ["/identity/cert.pem"]\n[identity]\ndns = ["web.keep.test"]\n[limits]\nmemory_mb = 16\ntimeout_s = 20\n');
  const r = run(ref, {}, ['-q']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^dir: ca\.pem cert\.pem key\.pem\n-----BEGIN CERTIFICATE-----/);
  const cert = new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)![0]);
  assert.ok(cert.verify(new X509Certificate(readFileSync(join(work, 'keep-ca.pem'))).publicKey));
  assert.equal(cert.subjectAltName, 'DNS:web.keep.test, URI:urn:teataster:keep:web');
  assert.ok(new Date(cert.validTo).getTime() <= Date.now() + 600_000);
});

test('limits: memory ceiling and wall-clock timeout → ERR_LIMIT_EXCEEDED, exit 125', () => {
  const hog = packageAndDeploy('hog', 'memory-hog', '[limits]\nmemory_mb = 8\ntimeout_s = 30\n');
  let r = run(hog);
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /ERR_LIMIT_EXCEEDED: limit exceeded: memory_mb/);
  const spin = packageAndDeploy('spin', 'spin', '[limits]\nmemory_mb = 1\ntimeout_s = 1\n');
  const t0 = Date.now();
  r = run(spin);
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /ERR_LIMIT_EXCEEDED: limit exceeded: timeout_s/);
  assert.equal(r.stdout, 'spinning\n');
  assert.ok(Date.now() - t0 < 60_000);
});

test('the workload keys never appear in the clear: logs, CLI output, temp files, /dev/shm, database', () => {
  const keys = readdirSync(work).filter((f) => f.endsWith('.keep.key')).map((f) => JSON.parse(readFileSync(join(work, f), 'utf8')) as { k: string });
  assert.ok(keys.length >= 4);
  const needles: Buffer[] = [];
  for (const { k } of keys) {
    const raw = Buffer.from(k, 'base64url');
    assert.equal(raw.length, 32);
    needles.push(Buffer.from(k), Buffer.from(raw.toString('base64')), Buffer.from(raw.toString('hex')), raw);
  }
  const hits: string[] = [];
  const scan = (what: string, data: Buffer): void => {
    for (const n of needles) if (data.includes(n)) hits.push(what);
  };
  scan('KBS log', Buffer.from(kbsLog));
  outputs.forEach((o, i) => scan(`CLI output #${i}`, Buffer.from(o)));
  const walk = (dir: string, filter: (p: string, mtimeMs: number) => boolean, depth = 0): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory() && depth < 4) walk(p, filter, depth + 1);
      else if (st.isFile() && st.size < 64 * 2 ** 20 && filter(p, st.mtimeMs)) {
        try {
          scan(p, readFileSync(p));
        } catch {
          // unreadable (another user's file): not ours
        }
      }
    }
  };
  // The work dir holds the KBS database (.teataster/kbs.sqlite + WAL) and every file the CLI wrote;
  // only the tenant's own *.keep.key files may contain the key.
  walk(work, (p) => !p.endsWith('.keep.key'));
  // Anything written to the temp dir or /dev/shm since the test started.
  walk(tmpdir(), (p, m) => m >= started - 1000 && !p.startsWith(work));
  walk('/dev/shm', (_p, m) => m >= started - 1000);
  const db = readdirSync(join(work, '.teataster')).filter((f) => f.startsWith('kbs.sqlite'));
  assert.ok(db.length >= 1, 'database file scanned');
  assert.deepEqual(hits, []);
  // Control: the scanner does find a key where it is (the tenant's own key file).
  const own = readdirSync(work).find((f) => f.endsWith('.keep.key'))!;
  scan('control', readFileSync(join(work, own)));
  assert.deepEqual(hits, ['control']);
});
