import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTeataster } from '../../../test/support/cli.ts';
import { corpusAvailable, corpusPath, loadManifest } from '../../../test/support/corpus.ts';

const skip = !corpusAvailable() && 'corpus not available';
const teataster = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  const r = await runTeataster(args);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('verify --event-log replays a TDX CCEL against RTMR0..2 and rejects one that does not match', { skip }, async () => {
  const collateral = loadManifest().find((e) => e.id === 'tdx-automata-collateral-0625')!.files.flatMap((f) => ['--collateral', corpusPath(f)]);
  const roots = ['--collateral', corpusPath('tdx/roots')];
  const at = ['--at', '2025-06-05T03:45:00Z', '--offline', '--no-cache', '--json'];
  const ok = await teataster(['verify', corpusPath('tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat'), '--event-log', corpusPath('tdx/go-tdx-guest/ccel/ccel_data.dat'), ...collateral, ...roots, ...at]);
  assert.equal(ok.code, 0, ok.stderr + ok.stdout);
  const j = JSON.parse(ok.stdout) as { verified: boolean; tcb: { status: string }; claims: { platformClaims: { ccel: { eventCount: number } } } };
  assert.equal(j.verified, true);
  assert.equal(j.tcb.status, 'OutOfDate');
  assert.ok(j.claims.platformClaims.ccel.eventCount > 0);
  // trustee's CCEL_data belongs to another TD: replay mismatch is a rejection, never ignored
  const bad = await teataster(['verify', corpusPath('tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat'), '--event-log', corpusPath('tdx/trustee/CCEL_data'), ...collateral, ...roots, ...at]);
  assert.equal(bad.code, 1, bad.stderr + bad.stdout);
  assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'ERR_BINDING_MISMATCH');
  // --event-log is a usage error for evidence other than TDX
  const usage = await teataster(['verify', corpusPath('snp/virtee-sev/report_milan.bin'), '--event-log', corpusPath('tdx/trustee/CCEL_data'), '--offline', '--no-cache']);
  assert.equal(usage.code, 2, usage.stderr);
});
