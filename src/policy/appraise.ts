/**
 * The Trust stage: appraise verified claims against a policy and reference values (issue 5).
 * Every check runs (no early exit); each yields a row with pass/fail/skip, the claim it read, the
 * expected and actual values, its effect on the AR4SI trustworthiness vector and an explanation
 * that says what to do. The status is the worst tier in the vector (draft-ietf-rats-ear §3).
 */
import { iso, parseTime, type Claims, type JsonValue, type PlatformId, type TcbStatus, type Violation } from '../core/index.ts';
import { celContext, fromCel } from './cel.ts';
import { PolicyInvalid } from './errors.ts';
import { referenceNumber, referenceStrings, type ReferenceValue, type ReferenceValueSource } from './refs.ts';
import type { CompiledPolicy, PlatformSection } from './schema.ts';
import { AR4SI, statusOf, tierOf, valueForTier, worseTier, type TrustClaim, type TrustTier, type TrustVector } from './trust.ts';

export type RuleOutcome = 'pass' | 'fail' | 'skip';

export interface RuleResult {
  /** Stable id: built-in checks are 'platform', 'debug', 'tcb.status', 'tcb.min.snp', 'measurement.snp.measurement', …; CEL rules use their policy id. */
  id: string;
  kind: 'builtin' | 'rule';
  outcome: RuleOutcome;
  /** The claim(s) read, as paths into the neutral claims ('tcb.versions.snp', 'measurements["tdx.mrtd"]'). */
  claim: string;
  expected: JsonValue;
  actual: JsonValue;
  /** Tier this row contributes: the failure tier, 'affirming' for a pass that supports a claim, 'none' otherwise. */
  tier: TrustTier;
  /** The AR4SI claim and value this row sets (worst value per claim wins). */
  vector?: { claim: TrustClaim; value: number };
  /** What happened, in words. */
  message: string;
  /** What to do about it (failures and skips). */
  remedy?: string;
}

export interface AppraisalViolation extends Violation {
  tier: TrustTier;
  remedy?: string;
}

export interface AppraisalResult {
  status: TrustTier;
  trustVector: TrustVector;
  platform: PlatformId;
  policy: { id: string; version: number; revision?: string; digest: string };
  /** Every check, in evaluation order (built-ins first, then the policy's rules). */
  rules: RuleResult[];
  /** The failed rows (warning and contraindicated), all of them. */
  violations: AppraisalViolation[];
  /** The verifier's warnings, passed through. */
  warnings: string[];
  /** Facts about the appraisal itself (expired reference values, skipped checks). */
  notes: string[];
  /** Reference values used, with provenance (name → source, addedBy, addedAt). */
  referenceValues: { name: string; kind: string; source: string; addedBy: string; addedAt: string; expiresAt: string | null }[];
  appraisedAt: string;
}

export interface AppraiseOptions {
  policy: CompiledPolicy;
  refs?: ReferenceValueSource;
  now: Date;
  /** The verifier's warnings (collateral problems, missing CRLs, …). */
  warnings?: string[];
}

/** Platforms whose memory is encrypted by the CPU (AR4SI runtime-opaque "memory encryption"). */
const ENCRYPTED_MEMORY: readonly PlatformId[] = ['snp', 'tdx', 'sgx', 'az-snp-vtpm', 'az-tdx-vtpm'];

const DEFAULT_ALLOWED_TCB: TcbStatus[] = ['UpToDate', 'NotApplicable'];
const DEFAULT_WARNING_TCB: TcbStatus[] = ['SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'];

const DEBUG_HINT: Partial<Record<PlatformId, string>> = {
  snp: 'the guest policy has DEBUG (bit 19) set: relaunch the guest with a policy that clears it (e.g. QEMU sev-snp-guest policy=0x30000)',
  'az-snp-vtpm': 'the SNP guest policy has DEBUG (bit 19) set: use a production confidential VM image/SKU',
  tdx: 'TD ATTRIBUTES.DEBUG (bit 0) is set: relaunch the TD without debug (QEMU tdx-guest debug=off)',
  'az-tdx-vtpm': 'TD ATTRIBUTES.DEBUG is set: use a production confidential VM',
  sgx: 'the enclave ATTRIBUTES.DEBUG flag is set: sign and launch a production enclave (DisableDebug=1)',
  nitro: 'the enclave runs in debug mode (all PCRs zero): run it without --debug-mode',
};

const short = (s: string, n = 24): string => (s.length > n ? `${s.slice(0, n)}…` : s);

interface ResolvedRefs {
  byName: Map<string, ReferenceValue>;
  expired: Map<string, ReferenceValue>;
}

async function resolveRefs(policy: CompiledPolicy, source: ReferenceValueSource | undefined, now: Date): Promise<ResolvedRefs> {
  const byName = new Map<string, ReferenceValue>();
  const expired = new Map<string, ReferenceValue>();
  const missing: string[] = [];
  for (const name of policy.refNames) {
    const rv = source ? await source.get(name) : undefined;
    if (!rv) missing.push(name);
    else if (rv.expiresAt && rv.expiresAt.getTime() <= now.getTime()) expired.set(name, rv);
    else byName.set(name, rv);
  }
  if (missing.length) {
    throw new PolicyInvalid(
      missing.map((n) => ({ path: `ref:${n}`, message: `reference value "${n}" is not defined (add it with \`teataster refs add ${n} …\` or pass a --refs file)` })),
      policy.document.id,
    );
  }
  return { byName, expired };
}

interface Allowed {
  values: string[];
  labels: string[];
  problems: string[];
}

/** Expands a list of literals and ref:names into allowed lowercase strings. */
function expand(list: string[], refs: ResolvedRefs): Allowed {
  const out: Allowed = { values: [], labels: [], problems: [] };
  for (const item of list) {
    if (!item.startsWith('ref:')) {
      out.values.push(item);
      out.labels.push(short(item));
      continue;
    }
    const name = item.slice(4);
    const exp = refs.expired.get(name);
    if (exp) {
      out.problems.push(`reference value ${name} expired at ${iso(exp.expiresAt!)} and was not used`);
      continue;
    }
    const rv = refs.byName.get(name)!;
    const vals = referenceStrings(rv);
    if (!vals) {
      out.problems.push(`reference value ${name} is of kind ${rv.kind}, not a digest/list, and was not used`);
      continue;
    }
    out.values.push(...vals.map((v) => v.toLowerCase()));
    out.labels.push(`ref:${name}`);
  }
  out.values = [...new Set(out.values)];
  return out;
}

class Rows {
  readonly rows: RuleResult[] = [];
  add(r: Omit<RuleResult, 'tier'> & { tier?: TrustTier }): void {
    const tier = r.tier ?? (r.vector && r.outcome !== 'skip' ? tierOf(r.vector.value) : 'none');
    this.rows.push({ ...r, tier });
  }
}

/** Appraises verified claims; never throws for a failed check (only for an invalid policy or missing reference values). */
export async function appraise(input: Claims, opts: AppraiseOptions): Promise<AppraisalResult> {
  const { policy, now } = opts;
  // Tolerate claims objects from other producers that leave optional collections out.
  const claims: Claims = {
    ...input,
    measurements: input.measurements ?? {},
    signers: input.signers ?? {},
    tcb: { status: input.tcb?.status ?? 'NotApplicable', advisoryIds: input.tcb?.advisoryIds ?? [], versions: input.tcb?.versions ?? {}, ...(input.tcb?.date ? { date: input.tcb.date } : {}) },
    platformClaims: input.platformClaims ?? {},
    revocation: input.revocation ?? 'absent',
  };
  const warnings = opts.warnings ?? [];
  const refs = await resolveRefs(policy, opts.refs, now);
  const doc = policy.document;
  const rows = new Rows();
  const notes: string[] = [];
  for (const [name, rv] of refs.expired) notes.push(`reference value ${name} expired at ${iso(rv.expiresAt!)}; it was not used (renew it with \`teataster refs add ${name} …\`)`);
  const platform = claims.platform;
  const section = doc.platforms[platform] as PlatformSection | undefined;
  const accepted = Object.keys(doc.platforms);

  // 1. platform accepted by the policy at all
  if (!section) {
    rows.add({
      id: 'platform',
      kind: 'builtin',
      outcome: 'fail',
      claim: 'platform',
      expected: accepted,
      actual: platform,
      tier: 'contraindicated',
      message: `policy ${doc.id} does not accept ${platform} evidence (it accepts: ${accepted.join(', ')})`,
      remedy: `add a platforms.${platform} section to the policy, or appraise with a policy written for ${platform}`,
    });
  } else {
    rows.add({ id: 'platform', kind: 'builtin', outcome: 'pass', claim: 'platform', expected: accepted, actual: platform, message: `${platform} evidence verified: signature chain to the vendor root checked`, vector: { claim: 'instance-identity', value: AR4SI['instance-identity'].trustworthy } });
    builtinChecks(claims, section, refs, rows, now, warnings, doc.verifierWarnings);
  }

  // 2. the policy's CEL rules
  const refMap: Record<string, JsonValue> = {};
  for (const [name, rv] of refs.byName) refMap[name] = referenceStrings(rv) ?? rv.value;
  for (const name of refs.expired.keys()) refMap[name] = [];
  const ctx = policy.rules.length ? celContext(claims, refMap, warnings, now) : {};
  for (const rule of policy.rules) {
    if (rule.platforms && !rule.platforms.includes(platform)) {
      rows.add({ id: rule.id, kind: 'rule', outcome: 'skip', claim: '-', expected: rule.expr, actual: null, message: `not applicable to ${platform} (rule applies to ${rule.platforms.join(', ')})` });
      continue;
    }
    const c = rule.compiled;
    const actual: Record<string, JsonValue> = {};
    for (const p of c.claimPaths) {
      try {
        actual[p.text.replace(/^claims\./, '')] = fromCel(p.evaluate(ctx));
      } catch {
        actual[p.text.replace(/^claims\./, '')] = '<absent>';
      }
    }
    let expected: JsonValue = rule.expr;
    if (c.comparison) {
      try {
        const other = fromCel(c.comparison.evaluateOther(ctx));
        expected = c.comparison.claimSide === 'left' ? `${c.comparison.op} ${JSON.stringify(other)}` : `${JSON.stringify(other)} ${c.comparison.op} (claim)`;
      } catch {
        expected = rule.expr;
      }
    }
    const claimText = c.claimPaths.map((p) => p.text.replace(/^claims\./, '')).join(', ') || '-';
    const value = rule.value ?? valueForTier(rule.vector, rule.tier);
    const actualJson: JsonValue = Object.keys(actual).length === 1 ? Object.values(actual)[0]! : actual;
    let result: unknown;
    let evalError: string | undefined;
    try {
      result = c.evaluate(ctx);
    } catch (e) {
      evalError = (e as { summary?: string }).summary ?? (e as Error).message;
    }
    if (evalError !== undefined || result !== true) {
      const why = evalError !== undefined ? `could not be evaluated (${evalError}); a rule that cannot be evaluated fails` : result === false ? 'evaluated to false' : `evaluated to ${JSON.stringify(fromCel(result))}, not true`;
      rows.add({
        id: rule.id,
        kind: 'rule',
        outcome: 'fail',
        claim: claimText,
        expected,
        actual: actualJson,
        vector: { claim: rule.vector, value },
        tier: tierOf(value) === 'none' ? rule.tier : tierOf(value),
        message: `${rule.message} (rule \`${rule.expr}\` ${why})`,
        remedy: evalError !== undefined ? `check that the evidence of ${platform} carries ${claimText}; guard optional claims with has(...)` : undefined,
      });
    } else {
      rows.add({ id: rule.id, kind: 'rule', outcome: 'pass', claim: claimText, expected, actual: actualJson, tier: 'none', message: `\`${rule.expr}\` holds` });
    }
  }

  // 3. combine
  const vector: TrustVector = {};
  const direct: TrustTier[] = [];
  for (const r of rows.rows) {
    if (r.outcome === 'skip') continue;
    if (r.vector) {
      const cur = vector[r.vector.claim];
      vector[r.vector.claim] = cur === undefined ? r.vector.value : worseValue(cur, r.vector.value);
    } else if (r.outcome === 'fail') direct.push(r.tier);
  }
  for (const r of rows.rows) if (r.outcome === 'fail' && r.vector && tierOf(r.vector.value) !== r.tier) direct.push(r.tier);
  const status = statusOf(vector, direct);
  const violations: AppraisalViolation[] = rows.rows
    .filter((r) => r.outcome === 'fail')
    .map((r) => ({ rule: r.id, message: r.message, claim: r.claim, expected: r.expected, actual: r.actual, tier: r.tier, ...(r.remedy ? { remedy: r.remedy } : {}) }));
  const used = new Set<string>([...refs.byName.keys(), ...refs.expired.keys()]);
  return {
    status,
    trustVector: vector,
    platform,
    policy: { id: doc.id, version: doc.version, ...(doc.revision !== undefined ? { revision: doc.revision } : {}), digest: policy.digest },
    rules: rows.rows,
    violations,
    warnings: [...warnings],
    notes,
    referenceValues: [...used].sort().map((n) => {
      const rv = (refs.byName.get(n) ?? refs.expired.get(n))!;
      return { name: n, kind: rv.kind, source: rv.source, addedBy: rv.addedBy, addedAt: iso(rv.addedAt), expiresAt: rv.expiresAt ? iso(rv.expiresAt) : null };
    }),
    appraisedAt: iso(now),
  };
}

function worseValue(a: number, b: number): number {
  const ta = tierOf(a);
  const tb = tierOf(b);
  if (worseTier(ta, tb) !== ta) return b;
  if (ta !== tb) return a;
  return Math.abs(b) > Math.abs(a) ? b : a;
}

function builtinChecks(claims: Claims, s: PlatformSection, refs: ResolvedRefs, rows: Rows, now: Date, warnings: string[], verifierWarnings: 'report' | 'warning'): void {
  const p = claims.platform;

  // simulated TEE
  if (claims.simulated) {
    rows.add(
      s.allowSimulated
        ? { id: 'simulated', kind: 'builtin', outcome: 'fail', claim: 'simulated', expected: false, actual: true, tier: 'warning', vector: { claim: 'hardware', value: AR4SI.hardware.unsafe }, message: 'simulated TEE accepted by this policy (allowSimulated): it has no hardware protection', remedy: 'never use allowSimulated in production' }
        : { id: 'simulated', kind: 'builtin', outcome: 'fail', claim: 'simulated', expected: false, actual: true, vector: { claim: 'hardware', value: AR4SI.hardware.contraindicated }, message: 'the evidence comes from the software-simulated TEE, which provides no hardware protection', remedy: 'attest a real TEE; a development policy may set allowSimulated: true' },
    );
  } else {
    rows.add({ id: 'simulated', kind: 'builtin', outcome: 'pass', claim: 'simulated', expected: false, actual: false, message: 'hardware TEE (not simulated)' });
  }

  // debug
  if (claims.debug) {
    rows.add(
      s.debug
        ? { id: 'debug', kind: 'builtin', outcome: 'fail', claim: 'debug', expected: false, actual: true, vector: { claim: 'configuration', value: AR4SI.configuration.unsafe }, message: 'debug TEE accepted by this policy (debug: true); the host can read its memory, so it is never affirming', remedy: DEBUG_HINT[p] ?? 'run the TEE without debug' }
        : { id: 'debug', kind: 'builtin', outcome: 'fail', claim: 'debug', expected: false, actual: true, vector: { claim: 'configuration', value: AR4SI.configuration.unsupportable }, message: 'the TEE runs in debug mode: the host can read and change its memory', remedy: DEBUG_HINT[p] ?? 'run the TEE without debug' },
    );
    rows.add(
      s.debug
        ? { id: 'memory', kind: 'builtin', outcome: 'skip', claim: 'debug', expected: 'memory opaque to the host', actual: 'visible (debug)', message: 'memory of a debug TEE is visible to the host; no runtime-opaque claim is made because the policy accepts debug' }
        : { id: 'memory', kind: 'builtin', outcome: 'fail', claim: 'debug', expected: 'memory opaque to the host', actual: 'visible (debug)', vector: { claim: 'runtime-opaque', value: AR4SI['runtime-opaque'].visibleMemory }, message: 'memory of a debug TEE is visible to the host', remedy: 'same fix as for debug: a production (non-debug) launch' },
    );
  } else {
    rows.add({ id: 'debug', kind: 'builtin', outcome: 'pass', claim: 'debug', expected: false, actual: false, vector: { claim: 'configuration', value: AR4SI.configuration.approved }, message: 'debug disabled' });
    if (ENCRYPTED_MEMORY.includes(p) && !claims.simulated) rows.add({ id: 'memory', kind: 'builtin', outcome: 'pass', claim: 'platform', expected: 'memory encryption', actual: p, vector: { claim: 'runtime-opaque', value: AR4SI['runtime-opaque'].encryptedMemory }, message: `${p} encrypts guest memory` });
  }

  // TCB status
  const allowed = s.allowedTcbStatus ?? DEFAULT_ALLOWED_TCB;
  const warnList = (s.warningTcbStatus ?? DEFAULT_WARNING_TCB).filter((x) => !allowed.includes(x));
  const st = claims.tcb.status;
  const adv = claims.tcb.advisoryIds.length ? ` (advisories: ${claims.tcb.advisoryIds.join(', ')})` : '';
  if (allowed.includes(st)) {
    rows.add({ id: 'tcb.status', kind: 'builtin', outcome: 'pass', claim: 'tcb.status', expected: allowed, actual: st, vector: { claim: 'hardware', value: AR4SI.hardware.genuine }, message: `TCB status ${st} is accepted${adv}` });
  } else if (warnList.includes(st)) {
    const slot: TrustClaim = st.startsWith('OutOfDate') ? 'hardware' : st.startsWith('Configuration') ? 'configuration' : 'executables';
    const remedy = st.startsWith('OutOfDate')
      ? `update the platform firmware/microcode to the current TCB level${adv}, then use fresh collateral`
      : st.includes('Configuration')
        ? `apply the platform configuration the advisories require${adv} (BIOS settings such as disabling SMT/hyper-threading)`
        : `the platform is current but the advisories${adv} require software mitigations inside the TEE; make sure the workload has them`;
    rows.add({ id: 'tcb.status', kind: 'builtin', outcome: 'fail', claim: 'tcb.status', expected: allowed, actual: st, vector: { claim: slot, value: 32 }, message: `TCB status ${st} is accepted with a warning${adv}`, remedy });
    if (st === 'OutOfDateConfigurationNeeded') rows.add({ id: 'tcb.configuration', kind: 'builtin', outcome: 'fail', claim: 'tcb.status', expected: allowed, actual: st, vector: { claim: 'configuration', value: AR4SI.configuration.unsafe }, message: 'the platform configuration also needs changes', remedy: 'apply the configuration the advisories require' });
  } else {
    rows.add({
      id: 'tcb.status',
      kind: 'builtin',
      outcome: 'fail',
      claim: 'tcb.status',
      expected: [...allowed, ...warnList],
      actual: st,
      vector: { claim: 'hardware', value: AR4SI.hardware.contraindicated },
      message: st === 'Revoked' ? `the platform TCB is revoked by the vendor${adv}` : `TCB status ${st} is not accepted by the policy${adv}`,
      remedy: st === 'Revoked' ? 'the platform cannot be trusted until its firmware is updated past the revoked level' : `update the platform, or add ${st} to allowedTcbStatus/warningTcbStatus if you accept the risk`,
    });
  }

  // minimum TCB component versions
  for (const [comp, min] of Object.entries(s.minTcb)) {
    let minimum: number | undefined = typeof min === 'number' ? min : undefined;
    let via = '';
    if (typeof min === 'string') {
      const name = min.slice(4);
      const rv = refs.byName.get(name);
      via = ` (ref:${name})`;
      if (!rv) {
        rows.add({ id: `tcb.min.${comp}`, kind: 'builtin', outcome: 'fail', claim: `tcb.versions.${comp}`, expected: min, actual: claims.tcb.versions[comp] ?? null, vector: { claim: 'hardware', value: AR4SI.hardware.contraindicated }, message: `minimum ${comp} version comes from reference value ${name}, which has expired`, remedy: `renew reference value ${name}` });
        continue;
      }
      minimum = referenceNumber(rv);
      if (minimum === undefined) {
        rows.add({ id: `tcb.min.${comp}`, kind: 'builtin', outcome: 'fail', claim: `tcb.versions.${comp}`, expected: min, actual: claims.tcb.versions[comp] ?? null, vector: { claim: 'hardware', value: AR4SI.hardware.contraindicated }, message: `reference value ${name} is of kind ${rv.kind}; a minimum TCB needs kind svn or number`, remedy: `re-add ${name} with --kind svn` });
        continue;
      }
    }
    const actual = claims.tcb.versions[comp];
    if (actual === undefined) {
      rows.add({ id: `tcb.min.${comp}`, kind: 'builtin', outcome: 'fail', claim: `tcb.versions.${comp}`, expected: `>= ${minimum}`, actual: null, vector: { claim: 'hardware', value: AR4SI.hardware.contraindicated }, message: `the evidence reports no TCB component "${comp}" (it reports: ${Object.keys(claims.tcb.versions).join(', ') || 'none'})`, remedy: `fix the component name in minTcb` });
    } else if (actual < minimum!) {
      rows.add({ id: `tcb.min.${comp}`, kind: 'builtin', outcome: 'fail', claim: `tcb.versions.${comp}`, expected: `>= ${minimum}`, actual, vector: { claim: 'hardware', value: AR4SI.hardware.contraindicated }, message: `TCB component ${comp} is ${actual}, below the policy minimum ${minimum}${via}`, remedy: `update the platform so that ${comp} reaches at least ${minimum} (firmware/microcode update on the host, then relaunch the TEE)` });
    } else {
      rows.add({ id: `tcb.min.${comp}`, kind: 'builtin', outcome: 'pass', claim: `tcb.versions.${comp}`, expected: `>= ${minimum}`, actual, vector: { claim: 'hardware', value: AR4SI.hardware.genuine }, message: `TCB component ${comp} ${actual} >= ${minimum}${via}` });
    }
  }

  // advisories
  if (s.deniedAdvisories.length) {
    const hit = claims.tcb.advisoryIds.filter((a) => s.deniedAdvisories.includes(a));
    rows.add(
      hit.length
        ? { id: 'tcb.advisories', kind: 'builtin', outcome: 'fail', claim: 'tcb.advisoryIds', expected: `none of ${s.deniedAdvisories.join(', ')}`, actual: claims.tcb.advisoryIds, vector: { claim: 'hardware', value: AR4SI.hardware.contraindicated }, message: `the platform is affected by denied advisories ${hit.join(', ')}`, remedy: 'update the platform to a TCB level that fixes them' }
        : { id: 'tcb.advisories', kind: 'builtin', outcome: 'pass', claim: 'tcb.advisoryIds', expected: `none of ${s.deniedAdvisories.join(', ')}`, actual: claims.tcb.advisoryIds, message: 'no denied advisories' },
    );
  }

  // revocation
  if (claims.revocation === 'checked') {
    rows.add({ id: 'revocation', kind: 'builtin', outcome: 'pass', claim: 'revocation', expected: 'checked', actual: 'checked', message: 'the attestation key chain was checked against the vendor CRLs' });
  } else if (claims.revocation === 'absent') {
    if (s.revocation === 'ignore') rows.add({ id: 'revocation', kind: 'builtin', outcome: 'skip', claim: 'revocation', expected: 'checked', actual: 'absent', message: 'revocation not checked (no CRL); the policy ignores this', remedy: 'supply the CRLs with --collateral or allow network access' });
    else
      rows.add({
        id: 'revocation',
        kind: 'builtin',
        outcome: 'fail',
        claim: 'revocation',
        expected: 'checked',
        actual: 'absent',
        vector: { claim: 'hardware', value: s.revocation === 'required' ? AR4SI.hardware.contraindicated : AR4SI.hardware.unsafe },
        message: 'no CRL was available, so the attestation key chain could not be checked for revocation',
        remedy: 'supply the vendor CRLs with --collateral (or allow network access); set revocation: ignore only if you accept the risk',
      });
  } else {
    rows.add({ id: 'revocation', kind: 'builtin', outcome: 'skip', claim: 'revocation', expected: 'checked', actual: claims.revocation, message: `revocation is not applicable to ${p} evidence` });
  }

  // measurements and signers (executables)
  const digestChecks = (kind: 'measurement' | 'signer', spec: Record<string, string[]>, have: Record<string, string>): void => {
    const names = Object.keys(spec);
    if (names.length === 0) {
      rows.add({
        id: `${kind}s`,
        kind: 'builtin',
        outcome: 'skip',
        claim: `${kind}s`,
        expected: null,
        actual: have,
        message: `the policy lists no reference ${kind}s for ${p}: ${kind === 'measurement' ? 'the software running in the TEE was not appraised' : 'the signer was not appraised'}`,
        remedy: kind === 'measurement' ? `add platforms.${p}.measurements with reference values (teataster refs add …) to pin the workload` : undefined,
      });
      return;
    }
    for (const name of names) {
      const allowed = expand(spec[name]!, refs);
      const actual = have[name];
      const id = `${kind}.${name}`;
      const claim = `${kind}s["${name}"]`;
      const from = allowed.labels.join(', ');
      if (actual === undefined) {
        rows.add({ id, kind: 'builtin', outcome: 'fail', claim, expected: allowed.values, actual: null, vector: { claim: 'executables', value: AR4SI.executables.contraindicated }, message: `the evidence has no ${kind} named ${name} (it has: ${Object.keys(have).join(', ') || 'none'})`, remedy: `fix the ${kind} name in the policy` });
      } else if (allowed.values.includes(actual.toLowerCase())) {
        rows.add({ id, kind: 'builtin', outcome: 'pass', claim, expected: allowed.values, actual, vector: { claim: 'executables', value: AR4SI.executables.approvedRuntime }, message: `${name} matches ${from}` });
      } else {
        const extra = allowed.problems.length ? ` (${allowed.problems.join('; ')})` : '';
        rows.add({
          id,
          kind: 'builtin',
          outcome: 'fail',
          claim,
          expected: allowed.values,
          actual,
          vector: { claim: 'executables', value: AR4SI.executables.contraindicated },
          message: `${name} ${short(actual, 32)} is not one of the ${allowed.values.length} allowed value(s)${from ? ` from ${from}` : ''}${extra}`,
          remedy: `if this ${kind === 'measurement' ? 'build' : 'signer'} is one you trust, record it: teataster refs add <name> --kind digest --value ${actual} --source <where it came from>, and list ref:<name> under ${kind}s.${name}; otherwise the TEE runs software you did not approve`,
        });
      }
    }
  };
  digestChecks('measurement', s.measurements, claims.measurements);
  if (Object.keys(s.signers).length) digestChecks('signer', s.signers, claims.signers);

  // host data / init data (configuration)
  const dataCheck = (id: string, label: string, spec: string[] | undefined, actual: string | undefined): void => {
    if (!spec) return;
    const allowed = expand(spec, refs);
    if (actual !== undefined && allowed.values.includes(actual.toLowerCase())) {
      rows.add({ id, kind: 'builtin', outcome: 'pass', claim: id, expected: allowed.values, actual, vector: { claim: 'configuration', value: AR4SI.configuration.approved }, message: `${label} matches ${allowed.labels.join(', ')}` });
    } else {
      rows.add({
        id,
        kind: 'builtin',
        outcome: 'fail',
        claim: id,
        expected: allowed.values,
        actual: actual ?? null,
        vector: { claim: 'configuration', value: AR4SI.configuration.unsupportable },
        message: actual === undefined ? `${p} evidence carries no ${label}${p === 'tdx' && id === 'hostData' ? ' (for TDX, pin tdx.mrconfigid under measurements instead)' : ''}` : `${label} ${short(actual, 32)} is not one of the allowed value(s) ${allowed.labels.join(', ')}${allowed.problems.length ? ` (${allowed.problems.join('; ')})` : ''}`,
        remedy: `launch the TEE with the expected ${label}, or update the policy if the new value is intended`,
      });
    }
  };
  dataCheck('hostData', 'host data', s.requireHostData, claims.hostData);
  dataCheck('initData', 'init data', s.requireInitData, claims.initData);

  // evidence age
  if (s.maxEvidenceAgeSeconds !== undefined) {
    if (!claims.evidenceTime) {
      rows.add({ id: 'evidence.age', kind: 'builtin', outcome: 'skip', claim: 'evidenceTime', expected: `<= ${s.maxEvidenceAgeSeconds}s old`, actual: null, message: `${p} evidence carries no timestamp; freshness comes from the nonce bound into the report data` });
    } else {
      let t: Date | undefined;
      try {
        t = parseTime(claims.evidenceTime);
      } catch {
        t = undefined;
      }
      const age = t ? Math.round((now.getTime() - t.getTime()) / 1000) : NaN;
      if (t && age >= -60 && age <= s.maxEvidenceAgeSeconds) {
        rows.add({ id: 'evidence.age', kind: 'builtin', outcome: 'pass', claim: 'evidenceTime', expected: `<= ${s.maxEvidenceAgeSeconds}s old`, actual: claims.evidenceTime, message: `evidence is ${age}s old` });
      } else {
        rows.add({
          id: 'evidence.age',
          kind: 'builtin',
          outcome: 'fail',
          claim: 'evidenceTime',
          expected: `<= ${s.maxEvidenceAgeSeconds}s old`,
          actual: claims.evidenceTime,
          tier: 'contraindicated',
          message: age < -60 ? `evidence is dated ${-age}s in the future` : `evidence is ${Number.isNaN(age) ? 'of unknown age' : `${age}s old`}, more than the ${s.maxEvidenceAgeSeconds}s the policy allows (it may be replayed)`,
          remedy: 'request fresh evidence (and check the clocks)',
        });
      }
    }
  }

  // verifier warnings
  if (warnings.length) {
    rows.add(
      verifierWarnings === 'warning'
        ? { id: 'verifier.warnings', kind: 'builtin', outcome: 'fail', claim: '-', expected: 'no warnings', actual: warnings, tier: 'warning', message: `the verifier reported ${warnings.length} warning(s): ${warnings.join('; ')}`, remedy: 'resolve the warnings (usually: supply fresh collateral)' }
        : { id: 'verifier.warnings', kind: 'builtin', outcome: 'skip', claim: '-', expected: 'no warnings', actual: warnings, message: `the verifier reported ${warnings.length} warning(s) (reported only; set verifierWarnings: warning to make them count)` },
    );
  }
}
