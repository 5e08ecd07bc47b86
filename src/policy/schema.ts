/**
 * The appraisal policy document, version 1 (YAML or JSON; docs/policy.md). Validated with zod;
 * every problem is collected (with its line in the file when parsed from text) and reported in
 * one PolicyInvalid (ERR_POLICY_INVALID).
 */
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { canonicalJson, PLATFORM_IDS, sha256, toHex, utf8, type PlatformId, type TcbStatus } from '../core/index.ts';
import { compileExpr, type CompiledExpr } from './cel.ts';
import { PolicyInvalid, type PolicyProblem } from './errors.ts';
import { REF_NAME } from './refs.ts';
import { TRUST_CLAIMS, type TrustClaim } from './trust.ts';

export const POLICY_VERSIONS = [1] as const;

export const TCB_STATUSES: readonly TcbStatus[] = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked', 'NotApplicable'];

/** `ref:<name>` or a hex literal (lowercased, 0x stripped). */
const valueRef = z
  .string()
  .trim()
  .refine((s) => (s.startsWith('ref:') ? REF_NAME.test(s.slice(4)) : /^(0x)?[0-9a-fA-F]+$/.test(s)), { message: 'must be hex or ref:<name>' })
  .transform((s) => (s.startsWith('ref:') ? s : s.replace(/^0x/, '').toLowerCase()));

const valueRefs = z.union([valueRef.transform((v) => [v]), z.array(valueRef).min(1)]);

const svnOrRef = z.union([z.number().int().min(0), z.string().regex(/^ref:/, 'must be an integer or ref:<name>').refine((s) => REF_NAME.test(s.slice(4)), 'invalid reference name')]);

const tcbStatus = z.enum(TCB_STATUSES as [TcbStatus, ...TcbStatus[]]);

export const platformSectionSchema = z
  .object({
    /** Accept debug TEEs (never affirming: a debug TEE lets the host read its memory). */
    debug: z.boolean().default(false),
    /** Accept the software-simulated TEE (development only). */
    allowSimulated: z.boolean().default(false),
    /** Allowed values per measurement name ('snp.measurement', 'tdx.rtmr1', 'tpm.sha256.pcr7'). */
    measurements: z.record(z.string().min(1), valueRefs).default({}),
    /** Allowed values per signer name ('sgx.mrsigner', 'snp.author_key_digest'). */
    signers: z.record(z.string().min(1), valueRefs).default({}),
    /** Minimum TCB component versions ('snp', 'microcode', 'bootloader', 'tee', 'pcesvn', 'sgx.0'…). */
    minTcb: z.record(z.string().min(1), svnOrRef).default({}),
    /** TCB statuses that are affirming. Default [UpToDate, NotApplicable]. */
    allowedTcbStatus: z.array(tcbStatus).optional(),
    /** TCB statuses that are accepted with a warning. Default: the *Needed and OutOfDate* ones. */
    warningTcbStatus: z.array(tcbStatus).optional(),
    /** Security advisories (INTEL-SA-…) that make the evidence contraindicated. */
    deniedAdvisories: z.array(z.string().min(1)).default([]),
    /** Required HOST_DATA (SNP) / MRCONFIGID (TDX) value. */
    requireHostData: valueRefs.optional(),
    /** Required init data digest (Confidential Containers initdata). */
    requireInitData: valueRefs.optional(),
    /** Maximum evidence age for evidence that carries a timestamp (Nitro). */
    maxEvidenceAgeSeconds: z.number().int().positive().optional(),
    /** Missing revocation data: 'warn' (default) → warning, 'required' → contraindicated, 'ignore'. */
    revocation: z.enum(['warn', 'required', 'ignore']).default('warn'),
  })
  .strict();

export const ruleSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (max 64)'),
    expr: z.string().min(1),
    /** Shown when the rule fails; say what is wrong and how to fix it. */
    message: z.string().min(1),
    tier: z.enum(['warning', 'contraindicated']).default('contraindicated'),
    /** The AR4SI claim a failure lowers (default configuration). */
    vector: z.enum(TRUST_CLAIMS as unknown as [TrustClaim, ...TrustClaim[]]).default('configuration'),
    /** An explicit AR4SI code point instead of the tier's canonical one (e.g. 33 unrecognized run-time). */
    value: z.number().int().min(-128).max(127).optional(),
    /** Only evaluate for these platforms (default: all). */
    platforms: z.array(z.enum(PLATFORM_IDS as [PlatformId, ...PlatformId[]])).optional(),
  })
  .strict();

export const policySchema = z
  .object({
    version: z.number().int(),
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (max 64)'),
    /** The policy author's own revision label, carried into results and tokens. */
    revision: z.union([z.string().min(1), z.number()]).transform(String).optional(),
    description: z.string().optional(),
    /** Platforms this policy accepts; evidence of any other platform is contraindicated. */
    platforms: z.record(z.string(), platformSectionSchema),
    rules: z.array(ruleSchema).default([]),
    /** 'report' (default): verifier warnings are listed; 'warning': any verifier warning makes the result a warning. */
    verifierWarnings: z.enum(['report', 'warning']).default('report'),
  })
  .strict();

export type PlatformSection = z.output<typeof platformSectionSchema>;
export type PolicyRule = z.output<typeof ruleSchema>;
export type PolicyDocument = z.output<typeof policySchema>;
export type PolicyInput = z.input<typeof policySchema>;

export interface CompiledRule extends PolicyRule {
  compiled: CompiledExpr;
}

export interface CompiledPolicy {
  document: PolicyDocument;
  /** SHA-256 (hex) of the canonical JSON of the validated document: names the exact policy applied. */
  digest: string;
  rules: CompiledRule[];
  /** Every `ref:` name the policy uses. */
  refNames: string[];
}

type Locate = (path: (string | number)[]) => number | undefined;

function zodProblems(err: z.ZodError, locate: Locate | undefined): PolicyProblem[] {
  return err.issues.map((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(document)';
    let message = i.message;
    if (i.code === 'unrecognized_keys') message = `unknown field(s) ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    const at = (i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]!] : i.path) as (string | number)[];
    const line = locate?.(at);
    return { path, message, ...(line ? { documentLine: line } : {}) };
  });
}

/** Validates a policy object (already parsed from YAML/JSON) and compiles its CEL rules. */
export async function compilePolicy(input: unknown, locate?: Locate): Promise<CompiledPolicy> {
  const problems: PolicyProblem[] = [];
  const version = (input as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && !(POLICY_VERSIONS as readonly number[]).includes(version)) {
    throw new PolicyInvalid([{ path: 'version', message: `unsupported policy version ${version} (supported: ${POLICY_VERSIONS.join(', ')})` }]);
  }
  const r = policySchema.safeParse(input);
  if (!r.success) throw new PolicyInvalid(zodProblems(r.error, locate), (input as { id?: string } | null)?.id);
  const doc = r.data;
  for (const k of Object.keys(doc.platforms)) {
    if (!(PLATFORM_IDS as readonly string[]).includes(k)) problems.push({ path: `platforms.${k}`, message: `unknown platform "${k}" (known: ${PLATFORM_IDS.join(', ')})`, documentLine: locate?.(['platforms', k]) });
  }
  if (Object.keys(doc.platforms).length === 0) problems.push({ path: 'platforms', message: 'a policy must accept at least one platform' });
  const rules: CompiledRule[] = [];
  const ids = new Set<string>();
  doc.rules.forEach((rule, i) => {
    if (ids.has(rule.id)) problems.push({ path: `rules[${i}].id`, message: `duplicate rule id "${rule.id}"`, documentLine: locate?.(['rules', i, 'id']) });
    ids.add(rule.id);
    const c = compileExpr(rule.expr, `rules[${i}].expr`, rule.id);
    if ('message' in c) problems.push({ ...c, ...(locate?.(['rules', i, 'expr']) ? { documentLine: locate(['rules', i, 'expr']) } : {}) });
    else rules.push({ ...rule, compiled: c });
  });
  if (problems.length) throw new PolicyInvalid(problems, doc.id);
  const refNames = new Set<string>();
  const addRef = (v: unknown): void => {
    if (typeof v === 'string' && v.startsWith('ref:')) refNames.add(v.slice(4));
  };
  for (const p of Object.values(doc.platforms)) {
    for (const list of [...Object.values(p.measurements), ...Object.values(p.signers), p.requireHostData ?? [], p.requireInitData ?? []]) list.forEach(addRef);
    Object.values(p.minTcb).forEach(addRef);
  }
  for (const rule of doc.rules) for (const m of rule.expr.matchAll(/refs\s*\[\s*["']([^"']+)["']\s*\]|refs\.([A-Za-z_][A-Za-z0-9_]*)/g)) refNames.add((m[1] ?? m[2])!);
  const digest = toHex(await sha256(utf8(canonicalJson(doc))));
  return { document: doc, digest, rules, refNames: [...refNames].sort() };
}

/** Parses YAML or JSON text (JSON is YAML) and compiles it; problems carry file line numbers. */
export async function parsePolicy(text: string): Promise<CompiledPolicy> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new PolicyInvalid(doc.errors.map((e) => ({ path: '(document)', message: `YAML/JSON syntax error: ${e.message.split('\n')[0]}`, documentLine: lc.linePos(e.pos[0]).line })));
  }
  const locate: Locate = (path) => {
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return lc.linePos(node.range[0]).line;
    }
    return undefined;
  };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // unresolved or excessive aliases and similar structural problems
    throw new PolicyInvalid([{ path: '(document)', message: `YAML/JSON error: ${(e as Error).message.split('\n')[0]}` }]);
  }
  return compilePolicy(data, locate);
}

