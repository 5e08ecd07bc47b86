/** Human-readable output: verdict first, then chain, TCB, key claims, warnings. */
import type { Verified } from '../verify/index.ts';
import type { VerifyJson } from './commands/verify.ts';

const short = (hex: string | undefined, n = 96): string => (hex === undefined ? '-' : hex.length > n ? `${hex.slice(0, n)}…` : hex);

export function renderVerified(v: Verified): string {
  const c = v.claims;
  const lines: string[] = [];
  lines.push(`VERIFIED  ${v.platform}${c.debug ? '  (DEBUG TEE)' : ''}${c.simulated ? '  (SIMULATED, INSECURE)' : ''}`);
  if (v.chain.length) {
    lines.push('', 'Chain:');
    for (const l of v.chain) lines.push(`  ${l.role.padEnd(13)} ${l.subject}  (until ${l.notAfter}, sha256 ${l.sha256.slice(0, 16)}…)`);
  }
  if (v.tcb) {
    lines.push('', `TCB: ${v.tcb.status}${v.tcb.date ? ` (tcbDate ${v.tcb.date})` : ''}${v.tcb.advisoryIds.length ? `  advisories: ${v.tcb.advisoryIds.join(', ')}` : ''}`);
    const vers = Object.entries(v.tcb.versions);
    if (vers.length) lines.push(`  ${vers.map(([k, x]) => `${k}=${x}`).join(' ')}`);
  }
  lines.push('', 'Claims:');
  for (const [k, val] of Object.entries(c.measurements)) lines.push(`  ${k.padEnd(22)} ${short(val)}`);
  for (const [k, val] of Object.entries(c.signers)) lines.push(`  ${k.padEnd(22)} ${short(val)}`);
  if (c.reportData !== undefined) lines.push(`  ${'report_data'.padEnd(22)} ${short(c.reportData, 128)}`);
  if (c.hostData !== undefined) lines.push(`  ${'host_data'.padEnd(22)} ${short(c.hostData)}`);
  if (c.instanceId !== undefined) lines.push(`  ${'instance_id'.padEnd(22)} ${short(c.instanceId)}`);
  if (c.evidenceTime !== undefined) lines.push(`  ${'evidence_time'.padEnd(22)} ${c.evidenceTime}`);
  lines.push(`  ${'debug'.padEnd(22)} ${c.debug}`);
  lines.push(`  ${'revocation'.padEnd(22)} ${c.revocation}`);
  lines.push(`  ${'verified_at'.padEnd(22)} ${c.verifiedAt}`);
  if (v.warnings.length) {
    lines.push('', 'Warnings:');
    for (const w of v.warnings) lines.push(`  ! ${w}`);
  }
  return lines.join('\n');
}

export function renderFailure(j: VerifyJson): string {
  const lines = [`REJECTED  ${j.platform ?? 'unknown platform'}`, '', `  ${j.error?.code}: ${j.error?.message}`];
  const d = j.error?.details ?? {};
  if ('expected' in d || 'actual' in d) {
    lines.push(`  expected: ${JSON.stringify(d.expected)}`, `  actual:   ${JSON.stringify(d.actual)}`);
  }
  if (j.warnings.length) {
    lines.push('', 'Warnings:');
    for (const w of j.warnings) lines.push(`  ! ${w}`);
  }
  return lines.join('\n');
}
