/** End-to-end CLI flow against a real swtpm: keys → make-credential → activate → finish → quote → verify. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprint, parseCertificates } from '../../core/index.ts';
import { startSwtpm, type Swtpm } from '../../attester/tpm/test-support/swtpm.ts';
import { main } from '../main.ts';

let tpm: Swtpm;
let dir: string;

before(async () => {
  tpm = await startSwtpm('sha256');
  dir = await mkdtemp(join(tmpdir(), 'teataster-tpm-cli-'));
});
after(async () => {
  await tpm?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI in-process, capturing stdout (the exit status is main()'s return value). */
async function cli(args: string[]): Promise<{ stdout: string; code: number }> {
  let stdout = '';
  const orig = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  const before = process.exitCode;
  try {
    const code = await main(['node', 'teataster', ...args]);
    return { stdout, code };
  } finally {
    process.stdout.write = orig;
    process.stderr.write = origErr;
    process.exitCode = before;
  }
}

test('teataster tpm: credential activation and quote verification end to end', async () => {
  const tcp = `127.0.0.1:${tpm.port}`;
  const ca = join(dir, 'ca.pem');
  await writeFile(ca, tpm.caRootPem + tpm.caIssuerPem);
  const root = `tpm:${await fingerprint(parseCertificates(tpm.caRootPem)[0]!)}`;
  const keys = await cli(['tpm', 'keys', '--tcp', tcp]);
  assert.equal(keys.code, 0);
  await writeFile(join(dir, 'keys.json'), keys.stdout);
  const ch = await cli(['tpm', 'make-credential', '--keys', join(dir, 'keys.json'), '--state', join(dir, 'state.json'), '--collateral', ca, '--trust-root', root]);
  assert.equal(ch.code, 0);
  await writeFile(join(dir, 'challenge.json'), ch.stdout);
  const secret = await cli(['tpm', 'activate', '--tcp', tcp, '--challenge', join(dir, 'challenge.json')]);
  assert.equal(secret.code, 0);
  assert.match(secret.stdout.trim(), /^[0-9a-f]{64}$/);
  const fin = await cli(['tpm', 'finish', '--state', join(dir, 'state.json'), '--secret', secret.stdout.trim()]);
  assert.equal(fin.code, 0);
  await writeFile(join(dir, 'trust.json'), fin.stdout);
  const wrong = await cli(['tpm', 'finish', '--state', join(dir, 'state.json'), '--secret', '00'.repeat(32)]);
  assert.equal(wrong.code, 1);
  const nonce = 'ab'.repeat(32);
  const q = await cli(['tpm', 'quote', '--tcp', tcp, '--nonce', nonce, '--no-event-log', '--out', join(dir, 'bundle.json')]);
  assert.equal(q.code, 0);
  const base = ['verify', join(dir, 'bundle.json'), '--collateral', ca, '--collateral', join(dir, 'trust.json'), '--trust-root', root, '--json'];
  const ok = await cli([...base, '--nonce', nonce]);
  assert.equal(ok.code, 0, ok.stdout);
  const out = JSON.parse(ok.stdout) as { verified: boolean; platform: string; claims: { platformClaims: { akTrust: string } } };
  assert.equal(out.verified, true);
  assert.equal(out.platform, 'tpm');
  assert.equal(out.claims.platformClaims.akTrust, 'activated');
  const bad = await cli([...base, '--nonce', 'cd'.repeat(32)]);
  assert.equal(bad.code, 1);
  assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'ERR_BINDING_MISMATCH');
});
