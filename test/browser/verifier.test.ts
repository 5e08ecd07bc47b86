/**
 * The browser-safe core really runs in a browser: headless Chromium loads src/platform, src/collateral
 * and src/policy from the sources (type-stripped, import map to the packages' ESM builds, no bundler,
 * no Node built-ins available) and verifies real SNP, TDX and Nitro evidence offline at the corpus's
 * verify_at with WebCrypto, rejects tampered evidence with the right error code, appraises one result
 * with the default policy and issues and checks an EAR. Every value must equal the Node run of the
 * same harness. A missing Chromium is a failure, not a skip (install the Debian package `chromium`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { corpusAvailable, corpusFile, corpusPath, loadManifest, type ManifestEntry } from '../support/corpus.ts';
import { verifyEarToken } from '../../src/policy/index.ts';
import { evaluateInPage, findChromium, launchChromium, type Browser } from './chromium.ts';
import { runPlan, type Plan, type RunResult, type SampleResult } from './harness.ts';
import { startServer, type TestServer } from './server.ts';

const TIMEOUT_MS = 120_000;
const skip = !corpusAvailable() && 'corpus not available';

const dirFiles = (d: string): string[] =>
  readdirSync(corpusPath(d))
    .sort()
    .map((f) => `${d}/${f}`);

function entry(id: string): ManifestEntry {
  const e = loadManifest().find((x) => x.id === id);
  assert.ok(e, `manifest entry ${id} missing`);
  return e;
}

/** The samples, straight from the MANIFEST (files, verify_at, expected verdict/fields). */
function buildPlan(): Plan {
  const snp = entry('snp-virtee-milan-v2');
  const tdx = entry('tdx-qvl-uptodate-v4');
  const nitro = entry('nitro-dstack-nsmqvl');
  const tampered = entry('snp-derived-virtee_report_milan_byte21xor80');
  assert.equal(tampered.expected.verdict, 'invalid');
  return {
    appraise: snp.id,
    samples: [
      { id: snp.id, evidence: snp.files[0]!, collateral: [...dirFiles('snp/roots'), snp.files[1]!], at: snp.verify_at! },
      { id: tdx.id, evidence: tdx.files[0]!, collateral: [tdx.files[1]!, ...dirFiles('tdx/roots')], at: tdx.verify_at! },
      { id: nitro.id, evidence: nitro.files[0]!, collateral: [], at: nitro.verify_at! },
      // A corpus sample with one flipped bit inside the signed report (no verify_at: the original's time).
      { id: tampered.id, evidence: tampered.files[0]!, collateral: [...dirFiles('snp/roots'), tampered.files[1]!], at: snp.verify_at! },
      // Tampering done in the page: the last byte of the COSE_Sign1 signature.
      { id: `${nitro.id}+signature-bit`, evidence: nitro.files[0]!, collateral: [], at: nitro.verify_at!, flip: { offset: -1, mask: 0x01 } },
    ],
  };
}

const byId = (r: RunResult, id: string): SampleResult => {
  const s = r.samples.find((x) => x.id === id);
  assert.ok(s, `no result for ${id}`);
  return s;
};

test('the verifier core runs in headless Chromium and agrees with Node', { skip, timeout: TIMEOUT_MS + 30_000 }, async (t) => {
  const bin = findChromium();
  if (!bin) {
    assert.fail(
      `Chromium not found (${process.env.CI === 'true' ? 'CI=true: the browser test is mandatory' : 'looked at $CHROMIUM_BIN, $CHROME_BIN, /usr/bin/chromium…'}). ` +
        'Install it with `apt-get install -y chromium` (Debian; .ci/run does this) or set CHROMIUM_BIN to a Chromium/Chrome binary.',
    );
  }
  const plan = buildPlan();
  const nodeRun = await runPlan(plan, async (rel) => corpusFile(rel));

  let server: TestServer | undefined;
  let browser: Browser | undefined;
  try {
    server = await startServer();
    // The core's bare imports are exactly the packages it declares; none is a Node built-in.
    const bare = [...server.graph.bareImports.keys()].sort();
    assert.deepEqual(bare.filter((s) => s.startsWith('node:') || !/^[@a-z]/.test(s)), [], `non-package imports in the browser-safe core: ${bare.join(', ')}`);
    assert.ok(bare.includes('@peculiar/x509') && bare.includes('reflect-metadata'), bare.join(', '));

    browser = await launchChromium(bin, 30_000);
    const loader = `(rel) => fetch('/corpus/' + rel).then((r) => { if (!r.ok) throw new Error(rel + ': HTTP ' + r.status); return r.arrayBuffer(); }).then((b) => new Uint8Array(b))`;
    const expression = `window.__harness.then((m) => m.runPlan(${JSON.stringify(plan)}, ${loader}))`;
    const run = await evaluateInPage<RunResult>(browser, `${server.origin}/`, expression, TIMEOUT_MS);
    const page = run.value;
    const diag = `\nserver refusals: ${JSON.stringify(server.requests.filter((r) => r.status !== 200))}\npage log:\n${run.console.join('\n')}\nchromium stderr tail:\n${browser.stderr().slice(-2000)}`;
    assert.ok(page && Array.isArray(page.samples), `the page returned no result${diag}`);

    // It really ran in Chromium, where there is no process/Buffer, and WebCrypto did the work.
    assert.match(page.environment.userAgent, /HeadlessChrome\//, diag);
    assert.equal(page.environment.hasProcess, false);
    assert.equal(page.environment.hasBuffer, false);
    assert.equal(page.environment.subtle, true);
    assert.deepEqual(page.environment.platforms, nodeRun.environment.platforms);
    // Everything the page asked for was served; nothing outside the core was requested.
    assert.deepEqual(server.requests.filter((r) => r.status !== 200 && r.url !== '/favicon.ico'), [], diag);
    for (const m of ['/src/platform/browser-entry.ts', '/src/platform/index.ts', '/src/collateral/index.ts', '/src/policy/index.ts']) {
      assert.ok(server.requests.some((r) => r.url === m), `${m} was loaded by the page`);
    }
    assert.ok(server.requests.some((r) => r.url === '/node_modules/@peculiar/x509/build/x509.es.js'));

    const snpId = plan.samples[0]!.id;
    const snp = byId(page, snpId);
    const snpFields = entry(snpId).expected.fields as Record<string, unknown>;
    assert.equal(snp.verified, true, `${snpId}: ${snp.error}${diag}`);
    assert.equal(snp.platform, 'snp');
    const snpClaims = snp.claims as Record<string, Record<string, string> & { status?: string }>;
    assert.equal(snpClaims.measurements!['snp.measurement'], snpFields.measurement);
    assert.equal(snpClaims.reportData as unknown, snpFields.report_data);
    assert.equal((snp.tcb as { status: string }).status, 'UpToDate');

    const tdxId = plan.samples[1]!.id;
    const tdx = byId(page, tdxId);
    const tdxFields = entry(tdxId).expected.fields as Record<string, unknown>;
    assert.equal(tdx.verified, true, `${tdxId}: ${tdx.error}${diag}`);
    assert.equal(tdx.platform, 'tdx');
    const tdxClaims = tdx.claims as Record<string, Record<string, string>>;
    assert.equal(tdxClaims.measurements!['tdx.mrtd'], tdxFields.mrtd);
    assert.equal(tdxClaims.measurements!['tdx.rtmr0'], tdxFields.rtmr0);
    assert.equal((tdx.tcb as { status: string }).status, entry(tdxId).expected.tcb_status);

    const nitroId = plan.samples[2]!.id;
    const nitro = byId(page, nitroId);
    const nitroFields = entry(nitroId).expected.fields as Record<string, unknown>;
    assert.equal(nitro.verified, true, `${nitroId}: ${nitro.error}${diag}`);
    assert.equal(nitro.platform, 'nitro');
    const nitroClaims = nitro.claims as Record<string, Record<string, string> | string>;
    assert.equal((nitroClaims.measurements as Record<string, string>)['nitro.pcr0'], nitroFields.pcr0);
    assert.equal(nitroClaims.instanceId, nitroFields.module_id);

    // Tampered evidence is rejected with a signature error, in the browser as in Node.
    assert.equal(byId(page, plan.samples[3]!.id).verified, false);
    assert.equal(byId(page, plan.samples[3]!.id).error, 'ERR_SIGNATURE_INVALID');
    assert.equal(byId(page, plan.samples[4]!.id).verified, false);
    assert.equal(byId(page, plan.samples[4]!.id).error, 'ERR_SIGNATURE_INVALID');

    // Same verdicts, claims, TCB, warnings and chains as Node, value for value.
    for (const n of nodeRun.samples) assert.deepEqual(byId(page, n.id), n, `${n.id}: browser and Node disagree`);

    // Default-policy appraisal: identical to Node's, and an EAR issued in the page verifies in Node.
    const appraisal = page.appraisal as { status: string; platform: string; policy: { id: string }; rules: { id: string; outcome: string }[] };
    assert.deepEqual(page.appraisal, nodeRun.appraisal);
    assert.equal(appraisal.platform, 'snp');
    assert.equal(appraisal.policy.id, 'default-snp');
    assert.ok(appraisal.rules.some((r) => r.id === 'platform' && r.outcome === 'pass'));
    assert.equal(page.ear.status, appraisal.status);
    assert.equal(page.ear.verifiedStatus, appraisal.status);
    for (const n of nodeRun.samples) t.diagnostic(`${n.id}: browser ${page.timings[n.id]?.toFixed(1)} ms, node ${nodeRun.timings[n.id]?.toFixed(1)} ms (first verification, cold)`);
    const ear = await verifyEarToken(page.ear.token, { keys: [page.ear.publicJwk as Record<string, string>], now: new Date(plan.samples[0]!.at) });
    assert.equal(ear.status, appraisal.status);
  } finally {
    await browser?.close();
    await server?.close();
  }
});
