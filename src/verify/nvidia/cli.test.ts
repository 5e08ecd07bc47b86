/**
 * `teataster verify` on the real H100 report through a child process (the CLI contract: exit 0
 * verified / 1 rejected, --json object), with the chain passed as --collateral.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runVerifyJson } from '../../../test/support/cli.ts';
import { corpusAvailable, corpusFile, corpusPath } from '../../../test/support/corpus.ts';
import { parseNvidiaReport } from '../../evidence/nvidia/index.ts';

const skip = !corpusAvailable() && 'corpus not available';
const REPORT = 'nvidia/hopper/hopperAttestationReport.hex.txt';
const CHAIN = 'nvidia/hopper/hopper_cert_chain_case1_valid.pem';
const AT = '2025-01-01T00:00:00Z';
const NONCE = '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb';

const run = runVerifyJson;

test('CLI: the real H100 report verifies with its chain (detected from hex; binary with --platform)', { skip }, async () => {
  const ok = await run([corpusPath(REPORT), '--collateral', corpusPath(CHAIN), '--at', AT, '--nonce', NONCE]);
  assert.equal(ok.status, 0, JSON.stringify(ok.json.error));
  assert.equal(ok.json.verified, true);
  assert.equal(ok.json.platform, 'nvidia');
  assert.equal(ok.json.tcb, null);
  assert.equal(ok.json.claims.instanceId, '53c22ba15e5d68088282da074ed9fb37aa585771');
  assert.equal((ok.json.claims.measurements as Record<string, string>)['nvidia.measurement1'], '8048dfd18fe229bf16eb9d30cca0f11a24dafe6eb731de1462984645a0b189b77c4e4e17de727a5e19e3d07de51da338');
  assert.ok(ok.json.warnings.some((w) => w.includes('RIM')));

  // binary form of the same report, platform named explicitly
  const dir = mkdtempSync(join(tmpdir(), 'teataster-nvidia-'));
  try {
    const bin = join(dir, 'report.bin');
    writeFileSync(bin, parseNvidiaReport(corpusFile(REPORT)).raw);
    const b = await run([bin, '--collateral', corpusPath(CHAIN), '--at', AT, '--platform', 'nvidia']);
    assert.equal(b.status, 0, JSON.stringify(b.json.error));
    assert.equal(b.json.platform, 'nvidia');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: wrong nonce, a broken chain, no chain, and an NRAS JSON result are rejected with their codes', { skip }, async () => {
  const nonce = await run([corpusPath(REPORT), '--collateral', corpusPath(CHAIN), '--at', AT, '--nonce', '00'.repeat(32)]);
  assert.equal(nonce.status, 1);
  assert.equal(nonce.json.error?.code, 'ERR_BINDING_MISMATCH');
  const gap = await run([corpusPath(REPORT), '--collateral', corpusPath('nvidia/hopper/hopper_cert_chain_case3_missing_intermediate.pem'), '--at', AT]);
  assert.equal(gap.status, 1);
  assert.equal(gap.json.error?.code, 'ERR_CERTIFICATE_INVALID');
  const none = await run([corpusPath(REPORT), '--at', AT]);
  assert.equal(none.status, 1);
  assert.equal(none.json.error?.code, 'ERR_COLLATERAL_UNAVAILABLE');
  const nras = await run([corpusPath('nvidia/dstack/gpu_attestation_h100_nras_result.json'), '--platform', 'nvidia', '--at', AT]);
  assert.equal(nras.status, 1);
  assert.equal(nras.json.verified, false);
  assert.equal(nras.json.error?.code, 'ERR_UNSUPPORTED_VERSION');
});
