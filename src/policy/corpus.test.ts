/**
 * Policies applied to REAL corpus evidence: verified offline at its verify_at by the registered
 * platform verifier, then appraised. Reference values come from the corpus MANIFEST (independent
 * of the verifier's output).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyCollateral } from '../collateral/index.ts';
import type { Claims } from '../core/index.ts';
import { verifyEvidence } from '../platform/index.ts';
import { corpusAvailable, corpusFile, loadManifest } from '../../test/support/corpus.ts';
import { appraise } from './appraise.ts';
import { defaultPolicy } from './defaults.ts';
import { MemoryReferenceValueStore } from './refs.ts';
import { parsePolicy } from './schema.ts';
import { renderAppraisal } from './render.ts';

const skip = !corpusAvailable() && 'corpus not available';

async function verified(id: string, evidence: string, collateral: string[]): Promise<{ claims: Claims; warnings: string[]; at: Date; fields: Record<string, unknown> }> {
  const e = loadManifest().find((x) => x.id === id);
  assert.ok(e, id);
  const at = new Date(e.verify_at!);
  const v = await verifyEvidence(corpusFile(evidence), { now: at, collateral: classifyCollateral(collateral.map((f) => ({ name: f, bytes: corpusFile(f) }))), offline: true, options: { allowDebug: true } }, e.platform);
  return { claims: v.claims, warnings: v.warnings, at, fields: e.expected.fields ?? {} };
}

describe('appraisal of real corpus evidence', { skip }, () => {
  it('TDX (dcap-qvl, UpToDate): affirming with the right MRTD/RTMR reference values; one wrong value is explained', async () => {
    const { claims, warnings, at, fields } = await verified('tdx-qvl-uptodate-v4', 'tdx/dcap-qvl/tdx_quote', ['tdx/dcap-qvl/tdx_quote_collateral.json']);
    const refs = new MemoryReferenceValueStore([
      { name: 'td-firmware', kind: 'digest', value: String(fields.mrtd), source: 'corpus MANIFEST tdx-qvl-uptodate-v4', addedBy: 'test' },
      { name: 'td-boot', kind: 'list', value: [String(fields.rtmr0)], source: 'corpus', addedBy: 'test' },
      { name: 'td-kernel', kind: 'digest', value: [String(fields.rtmr1), 'ab'.repeat(48)], source: 'corpus', addedBy: 'test' },
    ]);
    const text = `version: 1
id: prod-tdx
platforms:
  tdx:
    measurements:
      tdx.mrtd: ref:td-firmware
      tdx.rtmr0: [ref:td-boot]
      tdx.rtmr1: [ref:td-kernel]
    minTcb: { pcesvn: ${Number(fields.pcesvn)} }
    allowedTcbStatus: [UpToDate]
rules:
  - id: rtmr2-known
    expr: 'claims.measurements["tdx.rtmr2"] == "${String(fields.rtmr2)}"'
    message: kernel command line (RTMR2) changed
    vector: executables
`;
    const r = await appraise(claims, { policy: await parsePolicy(text), refs, now: at, warnings });
    assert.equal(r.status, 'affirming', renderAppraisal(r));
    assert.equal(r.trustVector.executables, 2);
    assert.equal(r.trustVector.hardware, 2);

    await refs.put({ name: 'td-kernel', kind: 'digest', value: 'cd'.repeat(48), source: 'stale CI build', addedBy: 'test' });
    const bad = await appraise(claims, { policy: await parsePolicy(text), refs, now: at, warnings });
    assert.equal(bad.status, 'contraindicated');
    assert.deepEqual(bad.violations.map((v) => v.rule), ['measurement.tdx.rtmr1']);
    assert.equal(bad.violations[0]!.actual, fields.rtmr1);
    assert.deepEqual(bad.violations[0]!.expected, ['cd'.repeat(48)]);
    assert.match(bad.violations[0]!.remedy!, /teataster refs add/);
  });

  it('SNP (trustee Milan VCEK): missing CRL is a warning under the default policy; affirming once the policy pins the measurement and ignores revocation', async () => {
    const { claims, warnings, at, fields } = await verified('snp-trustee-milan-v2-vcek', 'snp/trustee/test-report.bin', ['snp/trustee/test-vcek.der', 'snp/roots/ark_milan.pem', 'snp/roots/ask_milan.pem']);
    const def = await appraise(claims, { policy: await defaultPolicy('snp'), now: at, warnings });
    assert.equal(def.status, 'warning', renderAppraisal(def));
    assert.deepEqual(def.violations.map((v) => v.rule), ['revocation']);
    const refs = new MemoryReferenceValueStore([{ name: 'kata-snp', kind: 'digest', value: String(fields.measurement), source: 'corpus', addedBy: 'test' }]);
    const pol = (minSnp: number) => parsePolicy(`version: 1\nid: snp\nplatforms:\n  snp:\n    revocation: ignore\n    measurements: { snp.measurement: ref:kata-snp }\n    minTcb: { snp: ${minSnp}, bootloader: 3 }\n    requireHostData: "${String(fields.host_data)}"\nrules:\n  - { id: vmpl0, expr: 'claims.platformClaims.vmpl == 0', message: guest must run at VMPL0 }\n`);
    const ok = await appraise(claims, { policy: await pol(8), refs, now: at, warnings });
    assert.equal(ok.status, 'affirming', renderAppraisal(ok));
    const old = await appraise(claims, { policy: await pol(9), refs, now: at, warnings });
    assert.equal(old.status, 'contraindicated');
    assert.deepEqual(old.violations.map((v) => [v.rule, v.actual, v.expected]), [['tcb.min.snp', 8, '>= 9']]);
  });

  it('SNP (go-sev-guest, debug guest policy 0xb0000): contraindicated, and the explanation names the debug bit', async () => {
    const { claims, warnings, at } = await verified('snp-gsg-milan-v2', 'snp/go-sev-guest/milan_v2_attestation.bin', ['snp/go-sev-guest/milan_vcek.der', 'snp/roots/ark_milan.pem', 'snp/roots/ask_milan.pem']);
    const r = await appraise(claims, { policy: await defaultPolicy('snp'), now: at, warnings });
    assert.equal(r.status, 'contraindicated');
    const debug = r.violations.find((v) => v.rule === 'debug')!;
    assert.equal(debug.actual, true);
    assert.match(debug.remedy!, /bit 19/);
    assert.equal(r.trustVector['runtime-opaque'], 96);
  });
});
