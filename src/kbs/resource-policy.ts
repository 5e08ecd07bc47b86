/**
 * Resource policies: per resource-path glob, one CEL expression over the attestation result.
 * Every policy whose glob matches the requested path must allow it (no matching policy = deny:
 * secrets are closed by default). A policy's top-level `&&` conjuncts are evaluated one by one so
 * that a denial lists every failed condition, each in words (its own CEL text — which the policy
 * author wrote and the caller may see; claim VALUES are not echoed back).
 *
 * CEL variables: status (EAR status string), platform (string), simulated (bool),
 * claims (map: the neutral claims of the attestation), ear (map: the verified EAR token payload),
 * resource ({path, repository, type, tag}), now (timestamp).
 */
import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { AttestError, ErrorCode } from '../core/index.ts';
import { globMatches } from './glob.ts';

let env: Environment | undefined;
function celEnv(): Environment {
  env ??= new Environment({ unlistedVariablesAreDyn: false, limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 32 } })
    .registerVariable('status', 'string')
    .registerVariable('platform', 'string')
    .registerVariable('simulated', 'bool')
    .registerVariable('claims', 'map<string, dyn>')
    .registerVariable('ear', 'map<string, dyn>')
    .registerVariable('resource', 'map<string, string>')
    .registerVariable('now', 'google.protobuf.Timestamp');
  return env;
}

export interface CompiledResourcePolicy {
  glob: string;
  source: string;
  conjuncts: { text: string; run: (ctx: Record<string, unknown>) => unknown }[];
}

function splitAnd(node: ASTNode, out: ASTNode[]): void {
  if (node.op === '&&') for (const a of node.args as ASTNode[]) splitAnd(a, out);
  else out.push(node);
}

/** Parses and type-checks; throws ERR_POLICY_INVALID with the position of the problem. */
export function compileResourcePolicy(glob: string, source: string): CompiledResourcePolicy {
  const e = celEnv();
  const text = source.trim();
  if (!text) throw new AttestError(ErrorCode.PolicyInvalid, `resource policy for ${glob} is empty`);
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = e.parse(text);
  } catch (err) {
    const r = (err as { range?: { start: number } }).range;
    throw new AttestError(ErrorCode.PolicyInvalid, `resource policy for ${glob}: CEL syntax error${r ? ` at offset ${r.start}` : ''}: ${(err as Error).message}`, { glob, offset: r?.start });
  }
  const checked = e.check(text);
  if (!checked.valid) {
    const err = checked.error as { message?: string; range?: { start: number } } | undefined;
    throw new AttestError(ErrorCode.PolicyInvalid, `resource policy for ${glob}: CEL type error${err?.range ? ` at offset ${err.range.start}` : ''}: ${err?.message ?? 'invalid'}`, { glob, offset: err?.range?.start });
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') throw new AttestError(ErrorCode.PolicyInvalid, `resource policy for ${glob} must evaluate to bool, not ${checked.type}`, { glob });
  const parts: ASTNode[] = [];
  splitAnd(parsed.ast, parts);
  const conjuncts = parts.map((n) => {
    const t = text.slice(n.start, n.end);
    const f = e.parse(t) as (ctx: Record<string, unknown>) => unknown;
    return { text: t, run: f };
  });
  return { glob, source: text, conjuncts };
}

export interface ResourceDecisionRule {
  policy: string;
  rule: string;
  result: 'pass' | 'fail' | 'error';
  message: string;
}

export interface ResourceDecision {
  allowed: boolean;
  rules: ResourceDecisionRule[];
  violations: { rule: string; message: string }[];
}

function toCel(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(toCel);
  if (v && typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined && x !== null) o[k] = toCel(x);
    return o;
  }
  return v;
}

export interface ResourceInput {
  path: string;
  status: string;
  platform: string;
  simulated: boolean;
  claims: unknown;
  ear: unknown;
  now: Date;
}

export function evaluateResourcePolicies(policies: readonly CompiledResourcePolicy[], input: ResourceInput): ResourceDecision {
  const [repository = '', type = '', tag = ''] = input.path.split('/');
  const ctx: Record<string, unknown> = {
    status: input.status,
    platform: input.platform,
    simulated: input.simulated,
    claims: toCel(input.claims ?? {}),
    ear: toCel(input.ear ?? {}),
    resource: { path: input.path, repository, type, tag },
    now: input.now,
  };
  const matching = policies.filter((p) => globMatches(p.glob, input.path));
  const rules: ResourceDecisionRule[] = [];
  if (matching.length === 0) {
    const v = { rule: 'resource-policy.present', message: `no resource policy covers ${input.path}; resources are denied unless a policy allows them` };
    return { allowed: false, rules: [{ policy: '(none)', rule: v.rule, result: 'fail', message: v.message }], violations: [v] };
  }
  for (const p of matching) {
    p.conjuncts.forEach((c, i) => {
      const id = `${p.glob}#${i + 1}`;
      let r: unknown;
      try {
        r = c.run(ctx);
      } catch (err) {
        rules.push({ policy: p.glob, rule: id, result: 'error', message: `condition \`${c.text}\` of the policy for ${p.glob} could not be evaluated: ${(err as Error).message.split('\n')[0]}` });
        return;
      }
      if (r === true) rules.push({ policy: p.glob, rule: id, result: 'pass', message: `condition \`${c.text}\` of the policy for ${p.glob} holds` });
      else rules.push({ policy: p.glob, rule: id, result: 'fail', message: `condition \`${c.text}\` of the policy for ${p.glob} is not met` });
    });
  }
  const violations = rules.filter((r) => r.result !== 'pass').map((r) => ({ rule: r.rule, message: r.message }));
  return { allowed: violations.length === 0, rules, violations };
}
