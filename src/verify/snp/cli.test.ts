/**
 * The `teataster verify` contract end to end on real SNP evidence: the JSON object, exit codes
 * 0 (verified), 1 (rejected) and 2 (unreadable file).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { corpusAvailable, corpusFile, corpusPath } from '../../../test/support/corpus.ts';

const skip = !corpusAvailable() && 'corpus not available';
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((r) => {
    execFile(process.execPath, [join(repo, 'bin', 'teataster.js'), ...args], { cwd: repo, env: { ...process.env, HOME: tmpdir() } }, (err, stdout, stderr) => {
      r({ code: err ? ((err as { code?: number }).code ?? 99) : 0, stdout, stderr });
    });
  });
}

const common = (vcek: string, at: string): string[] => ['--collateral', corpusPath(vcek), '--collateral', corpusPath('snp/roots'), '--at', at, '--offline', '--no-cache', '--json'];

test('cli: a valid Genoa report verifies (exit 0) with the JSON contract', { skip }, async () => {
  const r = await run(['verify', corpusPath('snp/trustee-e2e/genoa_v3_report.bin'), ...common('snp/trustee-e2e/genoa_v3_report_vcek.der', '2025-06-01T00:00:00Z')]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const j = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(j.verified, true);
  assert.equal(j.platform, 'snp');
  assert.deepEqual(j.tcb, { status: 'UpToDate', advisoryIds: [] });
  assert.equal(j.error, null);
  const claims = j.claims as { measurements: Record<string, string>; platformClaims: Record<string, unknown> };
  assert.equal(claims.measurements['snp.measurement'], '6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e73e');
  assert.equal(claims.platformClaims.product, 'Genoa');
  assert.ok((j.warnings as string[]).some((w) => w.includes('revocation not checked')));
});

test('cli: expected --report-data is enforced; --require-crl fails offline; debug needs --allow-debug', { skip }, async () => {
  const rep = corpusPath('snp/trustee-e2e/genoa_v3_report.bin');
  const args = common('snp/trustee-e2e/genoa_v3_report_vcek.der', '2025-06-01T00:00:00Z');
  const ok = await run(['verify', rep, ...args, '--report-data', '7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf929eef3ff23c46e858f0b1982f9a92b17c51b578d958cde6b0c92978f150cf9b0']);
  assert.equal(ok.code, 0, ok.stdout);
  const bad = await run(['verify', rep, ...args, '--report-data', '7e7320889600c7ac133aea7b896c51f4']);
  assert.equal(bad.code, 1);
  assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'ERR_BINDING_MISMATCH');
  const crl = await run(['verify', rep, ...args, '--require-crl']);
  assert.equal(crl.code, 1);
  assert.equal((JSON.parse(crl.stdout) as { error: { code: string } }).error.code, 'ERR_COLLATERAL_UNAVAILABLE');

  const gsg = corpusPath('snp/go-sev-guest/milan_v2_attestation.bin');
  const gargs = common('snp/go-sev-guest/milan_vcek.der', '2022-09-24T01:00:00Z');
  const dbg = await run(['verify', gsg, ...gargs]);
  assert.equal(dbg.code, 1);
  const dj = JSON.parse(dbg.stdout) as { verified: boolean; error: { code: string }; tcb: unknown; claims: unknown };
  assert.deepEqual([dj.verified, dj.error.code, dj.tcb], [false, 'ERR_DEBUG_NOT_ALLOWED', null]);
  const allowed = await run(['verify', gsg, ...gargs, '--allow-debug']);
  assert.equal(allowed.code, 0, allowed.stdout);
});

test('cli: tampered report → exit 1 ERR_SIGNATURE_INVALID; truncated → exit 1 malformed; missing file → exit 2', { skip }, async () => {
  const args = common('snp/trustee/test-vcek.der', '2023-06-01T00:00:00Z');
  const tampered = await run(['verify', corpusPath('snp/derived-invalid/trustee_test-report_byte42plus1.bin'), ...args]);
  assert.equal(tampered.code, 1);
  assert.equal((JSON.parse(tampered.stdout) as { error: { code: string } }).error.code, 'ERR_SIGNATURE_INVALID');

  const dir = mkdtempSync(join(tmpdir(), 'snp-cli-'));
  try {
    const trunc = join(dir, 'trunc.bin');
    writeFileSync(trunc, corpusFile('snp/trustee/test-report.bin').subarray(0, 1000));
    const t = await run(['verify', trunc, '--platform', 'snp', ...args]);
    assert.equal(t.code, 1, t.stderr);
    assert.equal((JSON.parse(t.stdout) as { error: { code: string } }).error.code, 'ERR_EVIDENCE_MALFORMED');
    const missing = await run(['verify', join(dir, 'nope.bin'), ...args]);
    assert.equal(missing.code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cli: human-readable output names the verdict and the failing check', { skip }, async () => {
  const args = common('snp/trustee/test-vcek.der', '2023-06-01T00:00:00Z').filter((a) => a !== '--json');
  const ok = await run(['verify', corpusPath('snp/trustee/test-report.bin'), ...args]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /snp/i);
  const bad = await run(['verify', corpusPath('snp/derived-invalid/trustee_test-report_byte384plus1.bin'), ...args]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /ERR_CERTIFICATE_INVALID/);
  assert.match(bad.stdout, /blSPL/);
});
