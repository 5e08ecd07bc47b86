/**
 * The `teataster verify` contract for DCAP quotes, through a real child process: exit codes and
 * the --json object with tcb.status and tcb.advisoryIds filled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { corpusAvailable, corpusPath } from '../../../test/support/corpus.ts';

const skip = !corpusAvailable() && 'corpus not available';
const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'teataster.js');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr });
    });
  });
}

test('teataster verify <tdx quote> --collateral … --at … --offline --json: OutOfDate is verified with advisories', { skip }, async () => {
  const cache = mkdtempSync(join(tmpdir(), 'teataster-dcap-'));
  try {
    const coll = ['tdx/automata/0625_tcbinfov3_00806f050000.json', 'tdx/automata/0625_qe_td.json', 'tdx/automata/onchain_test_platform_crl_0625.der', 'tdx/roots/intel_sgx_tcb_signing_2025-2032.pem', 'tdx/roots/intel_sgx_root_ca_crl_2025-03-20.der'];
    const r = await cli(['verify', corpusPath('tdx/automata/onchain_test_tdx_v4_quote.bin'), ...coll.flatMap((c) => ['--collateral', corpusPath(c)]), '--at', '2025-06-05T03:45:00Z', '--offline', '--cache-dir', cache, '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const j = JSON.parse(r.stdout) as { verified: boolean; platform: string; tcb: { status: string; advisoryIds: string[] }; warnings: string[]; claims: { measurements: Record<string, string> } };
    assert.equal(j.verified, true);
    assert.equal(j.platform, 'tdx');
    assert.equal(j.tcb.status, 'OutOfDate');
    assert.deepEqual(j.tcb.advisoryIds, ['INTEL-SA-00960', 'INTEL-SA-00982', 'INTEL-SA-00986']);
    assert.ok(j.warnings.some((w) => w.startsWith('TCB OUTOFDATE')));
    assert.equal(j.claims.measurements['tdx.mrtd'], '935be7742dd89c6a4df6dba8353d89041ae0f052beef993b1e7f4524d3bc57650df20e5582158352e1240b3f1fed55d8');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('teataster verify: SGX QuoteCollateralV3 bundle, debug enclave rejected, no matching level rejected', { skip }, async () => {
  const sgx = await cli(['verify', corpusPath('sgx/dcap-qvl/sgx_quote'), '--collateral', corpusPath('sgx/dcap-qvl/sgx_quote_collateral.json'), '--at', '2025-07-19T10:01:17Z', '--offline', '--no-cache', '--json']);
  assert.equal(sgx.code, 0, sgx.stderr + sgx.stdout);
  const j = JSON.parse(sgx.stdout) as { platform: string; tcb: { status: string; advisoryIds: string[] } };
  assert.equal(j.platform, 'sgx');
  assert.equal(j.tcb.status, 'ConfigurationAndSWHardeningNeeded');
  assert.deepEqual(j.tcb.advisoryIds, ['INTEL-SA-00289', 'INTEL-SA-00615']);

  const nomatch = await cli(['verify', corpusPath('tdx/dcap-qvl/tdx_quote_outdated'), '--collateral', corpusPath('tdx/dcap-qvl/tdx_quote_outdated_collateral.json'), '--at', '2026-03-20T10:41:14Z', '--offline', '--no-cache', '--json']);
  assert.equal(nomatch.code, 1);
  const n = JSON.parse(nomatch.stdout) as { verified: boolean; error: { code: string } };
  assert.equal(n.verified, false);
  assert.equal(n.error.code, 'ERR_TCB_UNACCEPTABLE');

  const coll = ['sgx/automata/0825_sgx_tcbinfov3_00606a000000.json', 'sgx/automata/0825_sgx_qeidentity_v4.json', 'sgx/automata/0825_platform_crl.der', 'tdx/roots/intel_sgx_tcb_signing_2025-2032.pem'];
  const dbg = await cli(['verify', corpusPath('sgx/trustee/occlum_quote.dat'), ...coll.flatMap((c) => ['--collateral', corpusPath(c)]), '--at', '2025-08-15T05:45:00Z', '--offline', '--no-cache', '--json']);
  assert.equal(dbg.code, 1);
  assert.equal((JSON.parse(dbg.stdout) as { error: { code: string } }).error.code, 'ERR_DEBUG_NOT_ALLOWED');
});
