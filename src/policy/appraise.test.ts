import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Claims } from '../core/index.ts';
import { appraise, type AppraisalResult } from './appraise.ts';
import { defaultPolicy } from './defaults.ts';
import { PolicyInvalid } from './errors.ts';
import { MemoryReferenceValueStore } from './refs.ts';
import { parsePolicy } from './schema.ts';
import { renderAppraisal } from './render.ts';
import { HOST_DATA, OTHER_MEASUREMENT, SNP_MEASUREMENT, snpClaims, tdxClaims } from './test-support/claims.ts';

const NOW = new Date('2024-01-01T00:05:00Z');

const POLICY = `
version: 1
id: prod-snp
revision: "2024-01"
platforms:
  snp:
    debug: false
    measurements:
      snp.measurement: [ref:my-app-v1, "${OTHER_MEASUREMENT}"]
    signers:
      snp.author_key_digest: ["${'00'.repeat(48)}"]
    minTcb: { snp: 14, microcode: ref:milan-min-ucode }
    allowedTcbStatus: [UpToDate]
    requireHostData: "${HOST_DATA}"
    maxEvidenceAgeSeconds: 300
rules:
  - id: vmpl0
    expr: 'claims.platformClaims.vmpl == 0'
    message: guest must run at VMPL0
    tier: contraindicated
    vector: configuration
  - id: no-smt
    expr: '!claims.platformClaims.policy.smt'
    message: SMT should be disabled
    tier: warning
    vector: hardware
    platforms: [tdx]
`;

function refs(extra: ConstructorParameters<typeof MemoryReferenceValueStore>[0] = []): MemoryReferenceValueStore {
  return new MemoryReferenceValueStore([
    { name: 'my-app-v1', kind: 'digest', value: SNP_MEASUREMENT.toUpperCase(), source: 'https://ci.example/build/42', addedBy: 'alice', addedAt: new Date('2023-12-01T00:00:00Z') },
    { name: 'milan-min-ucode', kind: 'svn', value: 72, source: 'AMD-SB-3019', addedBy: 'bob' },
    ...extra,
  ]);
}

async function run(claims: Claims, policyText = POLICY, store = refs(), warnings: string[] = []): Promise<AppraisalResult> {
  return appraise(claims, { policy: await parsePolicy(policyText), refs: store, now: NOW, warnings });
}

const row = (r: AppraisalResult, id: string) => {
  const x = r.rules.find((y) => y.id === id);
  assert.ok(x, `row ${id} present (have ${r.rules.map((y) => y.id).join(', ')})`);
  return x;
};

describe('appraise', () => {
  it('affirms genuine, up-to-date, non-debug SNP claims that match the reference values', async () => {
    const r = await run(snpClaims());
    assert.equal(r.status, 'affirming', renderAppraisal(r));
    assert.deepEqual(r.violations, []);
    assert.deepEqual(r.trustVector, { 'instance-identity': 2, configuration: 2, 'runtime-opaque': 2, hardware: 2, executables: 2 });
    assert.equal(r.policy.id, 'prod-snp');
    assert.equal(r.policy.revision, '2024-01');
    assert.match(r.policy.digest, /^[0-9a-f]{64}$/);
    assert.equal(row(r, 'measurement.snp.measurement').outcome, 'pass');
    assert.equal(row(r, 'tcb.min.microcode').outcome, 'pass');
    assert.equal(row(r, 'vmpl0').outcome, 'pass');
    assert.equal(row(r, 'no-smt').outcome, 'skip');
    assert.equal(row(r, 'evidence.age').outcome, 'skip', 'SNP evidence has no timestamp');
    assert.deepEqual(r.referenceValues.map((x) => [x.name, x.source, x.addedBy]), [['milan-min-ucode', 'AMD-SB-3019', 'bob'], ['my-app-v1', 'https://ci.example/build/42', 'alice']]);
    // every check is in the table: built-ins and rules
    assert.ok(r.rules.length >= 12);
  });

  // Each case breaks exactly one thing; the result must name that rule, the claim, expected and actual.
  const cases: { name: string; claims: Claims; rule: string; tier: 'warning' | 'contraindicated'; claim: RegExp; actual: unknown; message: RegExp; vector?: [string, number] }[] = [
    { name: 'debug', claims: snpClaims({ debug: true }), rule: 'debug', tier: 'contraindicated', claim: /^debug$/, actual: true, message: /debug mode/, vector: ['configuration', 96] },
    { name: 'simulated', claims: snpClaims({ simulated: true }), rule: 'simulated', tier: 'contraindicated', claim: /^simulated$/, actual: true, message: /simulated TEE/, vector: ['hardware', 96] },
    { name: 'tcb out of date', claims: snpClaims({ tcb: { status: 'OutOfDate', advisoryIds: ['INTEL-SA-00837'], versions: { bootloader: 3, tee: 0, snp: 14, microcode: 72 } } }), rule: 'tcb.status', tier: 'warning', claim: /^tcb\.status$/, actual: 'OutOfDate', message: /OutOfDate.*INTEL-SA-00837/, vector: ['hardware', 32] },
    { name: 'tcb revoked', claims: snpClaims({ tcb: { status: 'Revoked', advisoryIds: [], versions: { bootloader: 3, tee: 0, snp: 14, microcode: 72 } } }), rule: 'tcb.status', tier: 'contraindicated', claim: /^tcb\.status$/, actual: 'Revoked', message: /revoked/, vector: ['hardware', 96] },
    { name: 'snp firmware too old', claims: snpClaims({ tcb: { status: 'UpToDate', advisoryIds: [], versions: { bootloader: 3, tee: 0, snp: 5, microcode: 72 } } }), rule: 'tcb.min.snp', tier: 'contraindicated', claim: /^tcb\.versions\.snp$/, actual: 5, message: /snp is 5, below the policy minimum 14/, vector: ['hardware', 96] },
    { name: 'microcode below referenced minimum', claims: snpClaims({ tcb: { status: 'UpToDate', advisoryIds: [], versions: { bootloader: 3, tee: 0, snp: 14, microcode: 68 } } }), rule: 'tcb.min.microcode', tier: 'contraindicated', claim: /microcode/, actual: 68, message: /68, below the policy minimum 72 \(ref:milan-min-ucode\)/ },
    { name: 'unknown measurement', claims: snpClaims({ measurements: { 'snp.measurement': 'cc'.repeat(48) } }), rule: 'measurement.snp.measurement', tier: 'contraindicated', claim: /measurements\["snp\.measurement"\]/, actual: 'cc'.repeat(48), message: /not one of the 2 allowed value\(s\) from ref:my-app-v1/, vector: ['executables', 96] },
    { name: 'wrong author key', claims: snpClaims({ signers: { 'snp.id_key_digest': '00'.repeat(48), 'snp.author_key_digest': 'ff'.repeat(48) } }), rule: 'signer.snp.author_key_digest', tier: 'contraindicated', claim: /signers/, actual: 'ff'.repeat(48), message: /author_key_digest/ },
    { name: 'wrong host data', claims: snpClaims({ hostData: '22'.repeat(32) }), rule: 'hostData', tier: 'contraindicated', claim: /hostData/, actual: '22'.repeat(32), message: /host data/, vector: ['configuration', 96] },
    { name: 'revocation not checked', claims: snpClaims({ revocation: 'absent' }), rule: 'revocation', tier: 'warning', claim: /^revocation$/, actual: 'absent', message: /no CRL/, vector: ['hardware', 32] },
    { name: 'CEL rule vmpl0', claims: snpClaims({ platformClaims: { ...snpClaims().platformClaims, vmpl: 2 } }), rule: 'vmpl0', tier: 'contraindicated', claim: /platformClaims\.vmpl/, actual: 2, message: /guest must run at VMPL0/, vector: ['configuration', 96] },
    { name: 'CEL rule on a missing claim fails closed', claims: snpClaims({ platformClaims: { version: 2 } }), rule: 'vmpl0', tier: 'contraindicated', claim: /platformClaims\.vmpl/, actual: '<absent>', message: /could not be evaluated/ },
  ];
  for (const c of cases) {
    it(`fails only "${c.rule}" when ${c.name}`, async () => {
      const r = await run(c.claims);
      assert.equal(r.status, c.tier, renderAppraisal(r));
      const fails = r.rules.filter((x) => x.outcome === 'fail' && x.id !== 'memory' && x.id !== 'debug' && x.id !== 'simulated');
      const expectedFails = c.rule === 'debug' || c.rule === 'simulated' ? [] : [c.rule];
      assert.deepEqual(fails.map((x) => x.id), expectedFails, renderAppraisal(r));
      const x = row(r, c.rule);
      assert.equal(x.outcome, 'fail');
      assert.equal(x.tier, c.tier);
      assert.match(x.claim, c.claim);
      assert.deepEqual(x.actual, c.actual);
      assert.notEqual(x.expected, null);
      assert.match(x.message, c.message);
      if (c.vector) assert.equal(r.trustVector[c.vector[0] as keyof typeof r.trustVector], c.vector[1]);
      assert.ok(r.violations.some((v) => v.rule === c.rule && v.tier === c.tier));
      if (c.tier !== 'contraindicated' || c.rule !== 'vmpl0') assert.ok(x.remedy || x.kind === 'rule', 'built-in failures say what to do');
    });
  }

  it('reports every violation at once (no early exit)', async () => {
    const r = await run(snpClaims({ debug: true, revocation: 'absent', hostData: '22'.repeat(32), measurements: { 'snp.measurement': 'cc'.repeat(48) }, tcb: { status: 'OutOfDate', advisoryIds: [], versions: { snp: 1, microcode: 1, bootloader: 0, tee: 0 } } }));
    assert.equal(r.status, 'contraindicated');
    const failed = r.violations.map((v) => v.rule).sort();
    for (const id of ['debug', 'memory', 'revocation', 'hostData', 'measurement.snp.measurement', 'tcb.status', 'tcb.min.snp', 'tcb.min.microcode']) assert.ok(failed.includes(id), `${id} in ${failed}`);
    const text = renderAppraisal(r);
    assert.match(text, /APPRAISAL CONTRAINDICATED/);
    assert.match(text, /→ /);
  });

  it('contraindicates evidence of a platform the policy does not accept', async () => {
    const r = await run(tdxClaims());
    assert.equal(r.status, 'contraindicated');
    const x = row(r, 'platform');
    assert.equal(x.outcome, 'fail');
    assert.deepEqual(x.expected, ['snp']);
    assert.equal(x.actual, 'tdx');
    assert.match(x.remedy!, /platforms\.tdx/);
  });

  it('checks evidence age when the evidence carries a time', async () => {
    const fresh = await run(snpClaims({ evidenceTime: '2024-01-01T00:04:00Z' }));
    assert.equal(row(fresh, 'evidence.age').outcome, 'pass');
    const stale = await run(snpClaims({ evidenceTime: '2023-12-31T23:59:00Z' }));
    assert.equal(row(stale, 'evidence.age').outcome, 'fail');
    assert.equal(stale.status, 'contraindicated');
    assert.match(row(stale, 'evidence.age').message, /360s old, more than the 300s/);
  });

  it('does not use an expired reference value and says so', async () => {
    const store = refs();
    await store.put({ name: 'my-app-v1', kind: 'digest', value: SNP_MEASUREMENT, source: 'ci', addedBy: 'alice', expiresAt: new Date('2023-12-31T00:00:00Z') });
    const r = await run(snpClaims(), POLICY, store);
    assert.equal(r.status, 'contraindicated');
    assert.match(row(r, 'measurement.snp.measurement').message, /expired at 2023-12-31T00:00:00Z/);
    assert.ok(r.notes.some((n) => /my-app-v1 expired/.test(n)));
  });

  it('refuses a policy whose reference values are missing (ERR_POLICY_INVALID, all names listed)', async () => {
    await assert.rejects(run(snpClaims(), POLICY, new MemoryReferenceValueStore()), (e: unknown) => {
      assert.ok(e instanceof PolicyInvalid);
      assert.equal(e.code, 'ERR_POLICY_INVALID');
      assert.deepEqual(e.problems.map((p) => p.path).sort(), ['ref:milan-min-ucode', 'ref:my-app-v1']);
      return true;
    });
  });

  it('exposes reference values and verifier warnings to CEL', async () => {
    const text = `version: 1\nid: t\nplatforms: { snp: {} }\nrules:\n  - id: app\n    expr: 'claims.measurements["snp.measurement"] in refs["my-app-v1"]'\n    message: unknown app\n    vector: executables\n  - id: quiet\n    expr: 'size(warnings) == 0'\n    message: verifier warned\n    tier: warning\n`;
    const ok = await run(snpClaims(), text);
    assert.equal(ok.status, 'affirming', renderAppraisal(ok));
    assert.deepEqual(row(ok, 'app').expected, `in ${JSON.stringify([SNP_MEASUREMENT])}`);
    const bad = await run(snpClaims({ measurements: { 'snp.measurement': OTHER_MEASUREMENT } }), text, refs(), ['CRL stale']);
    assert.equal(bad.status, 'contraindicated');
    assert.equal(row(bad, 'app').actual, OTHER_MEASUREMENT);
    assert.equal(row(bad, 'quiet').tier, 'warning');
    assert.equal(row(bad, 'verifier.warnings').outcome, 'skip');
  });

  it('verifierWarnings: warning makes verifier warnings count', async () => {
    const r = await run(snpClaims(), `version: 1\nid: t\nverifierWarnings: warning\nplatforms: { snp: {} }\n`, refs(), ['TCB info expired; accepted by --allow-expired-collateral']);
    assert.equal(r.status, 'warning');
    assert.equal(row(r, 'verifier.warnings').outcome, 'fail');
  });

  it('a debug TEE accepted by the policy is a warning, never affirming', async () => {
    const r = await run(snpClaims({ debug: true }), `version: 1\nid: t\nplatforms: { snp: { debug: true } }\n`);
    assert.equal(r.status, 'warning');
    assert.equal(r.trustVector.configuration, 32);
    assert.equal(r.trustVector['runtime-opaque'], undefined);
  });
});

describe('claims from other producers', () => {
  it('tolerates claims without tcb, measurements, signers or platformClaims', async () => {
    const bare = { platform: 'tdx', debug: false, verifiedAt: '2024-01-01T00:00:00Z' } as unknown as Claims;
    const r = await appraise(bare, { policy: await defaultPolicy('tdx'), now: NOW });
    assert.equal(row(r, 'tcb.status').actual, 'NotApplicable');
    assert.equal(row(r, 'revocation').outcome, 'fail', 'unknown revocation state counts as absent');
    assert.equal(r.status, 'warning');
  });
});

describe('default policy', () => {
  const base = async (c: Claims) => appraise(c, { policy: await defaultPolicy(c.platform), now: NOW });
  it('affirms a clean TEE, and says the workload was not appraised', async () => {
    const r = await base(snpClaims());
    assert.equal(r.status, 'affirming');
    assert.equal(row(r, 'measurements').outcome, 'skip');
    assert.match(row(r, 'measurements').message, /not appraised/);
    assert.equal(r.policy.id, 'default-snp');
  });
  const table: [string, Partial<Claims>, string][] = [
    ['debug', { debug: true }, 'contraindicated'],
    ['simulated', { simulated: true }, 'contraindicated'],
    ['revoked TCB', { tcb: { status: 'Revoked', advisoryIds: [], versions: {} } }, 'contraindicated'],
    ['OutOfDate', { tcb: { status: 'OutOfDate', advisoryIds: ['INTEL-SA-00960'], versions: {} } }, 'warning'],
    ['SWHardeningNeeded', { tcb: { status: 'SWHardeningNeeded', advisoryIds: [], versions: {} } }, 'warning'],
    ['missing CRL', { revocation: 'absent' }, 'warning'],
    ['no revocation for the platform', { revocation: 'not-applicable' }, 'affirming'],
  ];
  for (const [name, over, status] of table) {
    it(`${name} → ${status}`, async () => {
      assert.equal((await base(tdxClaims(over))).status, status);
      assert.equal((await base(snpClaims(over))).status, status);
    });
  }
  it('rejects the simulated platform under the all-platform default', async () => {
    const sim: Claims = { ...snpClaims(), platform: 'sim', simulated: true, measurements: { 'sim.measurement': '00' } };
    const r = await appraise(sim, { policy: await defaultPolicy(), now: NOW });
    assert.equal(r.status, 'contraindicated');
    assert.equal(row(r, 'simulated').outcome, 'fail');
  });
});

describe('appraise properties', () => {
  it('a minimum TCB passes exactly when the reported version reaches it', async () => {
    const policy = await parsePolicy('version: 1\nid: p\nplatforms:\n  snp:\n    minTcb: { snp: 10 }\n');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 255 }), async (snp) => {
        const r = await appraise(snpClaims({ tcb: { status: 'UpToDate', advisoryIds: [], versions: { snp } } }), { policy, now: NOW });
        assert.equal(r.status, snp >= 10 ? 'affirming' : 'contraindicated');
        assert.equal(row(r, 'tcb.min.snp').outcome, snp >= 10 ? 'pass' : 'fail');
      }),
      { numRuns: 60 },
    );
  });
  it('the status is never better than the worst trust-vector claim', async () => {
    const policy = await defaultPolicy('snp');
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.boolean(), fc.constantFrom('UpToDate', 'OutOfDate', 'Revoked', 'SWHardeningNeeded', 'NotApplicable'), fc.constantFrom('checked', 'absent', 'not-applicable'), async (debug, simulated, status, revocation) => {
        const r = await appraise(snpClaims({ debug, simulated, revocation: revocation as Claims['revocation'], tcb: { status: status as Claims['tcb']['status'], advisoryIds: [], versions: {} } }), { policy, now: NOW });
        const worst = Math.max(...Object.values(r.trustVector).map((v) => (v! >= 96 ? 3 : v! >= 32 ? 2 : v! >= 2 ? 1 : 0)));
        const rank = { none: 0, affirming: 1, warning: 2, contraindicated: 3 }[r.status];
        assert.ok(rank >= worst);
        assert.equal(r.violations.length, r.rules.filter((x) => x.outcome === 'fail').length);
      }),
      { numRuns: 100 },
    );
  });
});
