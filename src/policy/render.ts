/** Human rendering of an appraisal: verdict, trust vector, one row per check, then what to do. */
import type { AppraisalResult, RuleResult } from './appraise.ts';
import { describeClaimValue, tierOf, TRUST_CLAIMS } from './trust.ts';

const MARK: Record<RuleResult['outcome'], string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' };

function text(v: unknown, n = 40): string {
  const s = typeof v === 'string' ? v : v === null || v === undefined ? '-' : JSON.stringify(v);
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function renderAppraisal(r: AppraisalResult): string {
  const lines: string[] = [];
  const pol = `${r.policy.id}${r.policy.revision ? `@${r.policy.revision}` : ''} (v${r.policy.version}, sha256 ${r.policy.digest.slice(0, 12)}…)`;
  lines.push(`APPRAISAL ${r.status.toUpperCase()}  ${r.platform}  policy ${pol}`);
  lines.push('', 'Trust vector (AR4SI):');
  for (const c of TRUST_CLAIMS) {
    const v = r.trustVector[c];
    if (v === undefined) continue;
    lines.push(`  ${pad(c, 18)} ${pad(String(v), 4)} ${pad(tierOf(v), 16)} ${describeClaimValue(c, v)}`);
  }
  if (Object.keys(r.trustVector).length === 0) lines.push('  (no claims)');
  const idW = Math.min(28, Math.max(4, ...r.rules.map((x) => x.id.length)));
  const clW = Math.min(30, Math.max(5, ...r.rules.map((x) => x.claim.length)));
  lines.push('', 'Checks:');
  lines.push(`  ${pad('RESULT', 6)} ${pad('TIER', 15)} ${pad('RULE', idW)} ${pad('CLAIM', clW)} ${pad('EXPECTED', 40)} ACTUAL`);
  for (const x of r.rules) {
    const tier = x.outcome === 'fail' ? x.tier : '';
    lines.push(`  ${pad(MARK[x.outcome], 6)} ${pad(tier, 15)} ${pad(text(x.id, idW), idW)} ${pad(text(x.claim, clW), clW)} ${pad(text(x.expected), 40)} ${text(x.actual, 60)}`);
  }
  if (r.violations.length) {
    lines.push('', `Why (${r.violations.length}):`);
    for (const v of r.violations) {
      lines.push(`  ✗ [${v.tier}] ${v.rule}: ${v.message}`);
      if (v.remedy) lines.push(`      → ${v.remedy}`);
    }
  }
  const skipped = r.rules.filter((x) => x.outcome === 'skip' && x.remedy);
  if (skipped.length) {
    lines.push('', 'Not appraised:');
    for (const x of skipped) lines.push(`  - ${x.id}: ${x.message}${x.remedy ? `\n      → ${x.remedy}` : ''}`);
  }
  if (r.notes.length) {
    lines.push('', 'Notes:');
    for (const n of r.notes) lines.push(`  - ${n}`);
  }
  if (r.referenceValues.length) {
    lines.push('', 'Reference values used:');
    for (const rv of r.referenceValues) lines.push(`  ${rv.name} (${rv.kind}) from ${rv.source}, added by ${rv.addedBy} at ${rv.addedAt}${rv.expiresAt ? `, expires ${rv.expiresAt}` : ''}`);
  }
  return lines.join('\n');
}
