/**
 * CEL rules over the neutral claims (@marcbachmann/cel-js). The environment declares `claims`
 * with a schema, so a misspelt field (`claims.debgu`) or a type error (`claims.debug + 1`) is
 * caught when the policy is loaded, with its position, instead of failing at appraisal time.
 *
 * Variables: claims (the neutral Claims; platformClaims is map<string, dyn>), refs (map of
 * reference values by name: digests/lists → list<string>, svn/number → int, …), warnings
 * (list<string>, the verifier's warnings), now (timestamp). JSON integers become CEL ints.
 */
import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import type { Claims, JsonValue } from '../core/index.ts';
import type { PolicyProblem } from './errors.ts';

const CLAIMS_SCHEMA = {
  platform: 'string',
  debug: 'bool',
  simulated: 'bool',
  measurements: 'map<string, string>',
  signers: 'map<string, string>',
  tcb: { status: 'string', advisoryIds: 'list<string>', date: 'string', versions: 'map<string, int>' },
  reportData: 'string',
  hostData: 'string',
  initData: 'string',
  instanceId: 'string',
  evidenceTime: 'string',
  verifiedAt: 'string',
  revocation: 'string',
  platformClaims: 'map<string, dyn>',
} as const;

let baseEnv: Environment | undefined;
function env(): Environment {
  if (!baseEnv) {
    baseEnv = new Environment({ unlistedVariablesAreDyn: false, limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 32 } })
      .registerVariable({ name: 'claims', schema: CLAIMS_SCHEMA as never, description: 'the neutral claims of the verified evidence' })
      .registerVariable('refs', 'map<string, dyn>')
      .registerVariable('warnings', 'list<string>')
      .registerVariable('now', 'google.protobuf.Timestamp');
  }
  return baseEnv;
}

interface CelErrorLike {
  name?: string;
  code?: string;
  summary?: string;
  message?: string;
  range?: { start: number; end: number };
}

/** 1-based line/column of an offset in the expression text. */
export function positionOf(text: string, offset: number): { offset: number; line: number; column: number } {
  let line = 1;
  let col = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  return { offset, line, column: col };
}

function excerpt(text: string, offset: number): string {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  const endNl = text.indexOf('\n', offset);
  const line = text.slice(start, endNl === -1 ? undefined : endNl);
  return `${line}\n${' '.repeat(Math.max(0, offset - start))}^`;
}

export interface CompiledExpr {
  source: string;
  evaluate(ctx: CelContext): unknown;
  /** The `claims.…` paths the expression reads, in source order, de-duplicated (for explanations). */
  claimPaths: { text: string; evaluate(ctx: CelContext): unknown }[];
  /** For `path <op> other`: the operator and the text of the other side (expected value). */
  comparison?: { op: string; claimSide: 'left' | 'right'; otherText: string; evaluateOther(ctx: CelContext): unknown };
}

export type CelContext = Record<string, unknown>;

/** Compiles and type-checks one expression; returns a problem (with position) instead of throwing. */
export function compileExpr(source: string, path: string, rule?: string): CompiledExpr | PolicyProblem {
  const e = env();
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = e.parse(source);
  } catch (err) {
    return problemFrom(err as CelErrorLike, source, path, rule, 'syntax error');
  }
  const checked = e.check(source);
  if (!checked.valid) return problemFrom((checked.error ?? {}) as CelErrorLike, source, path, rule, 'type error');
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    return { path, rule, message: `a rule must evaluate to bool, this expression evaluates to ${checked.type}`, position: positionOf(source, 0), excerpt: excerpt(source, 0) };
  }
  const paths: CompiledExpr['claimPaths'] = [];
  const seen = new Set<string>();
  collectClaimPaths(parsed.ast, (node) => {
    const text = source.slice(node.start, node.end);
    if (seen.has(text)) return;
    seen.add(text);
    const sub = safeParse(text);
    if (sub) paths.push({ text, evaluate: (ctx) => sub(ctx) });
  });
  const compiled: CompiledExpr = { source, evaluate: (ctx) => parsed(ctx), claimPaths: paths };
  const root = parsed.ast;
  const cmpOps = ['==', '!=', '<', '<=', '>', '>=', 'in'];
  if (cmpOps.includes(root.op)) {
    const [l, r] = root.args as [ASTNode, ASTNode];
    const lc = readsClaims(l);
    const rc = readsClaims(r);
    if (lc !== rc) {
      const other = lc ? r : l;
      const otherText = source.slice(other.start, other.end);
      const sub = safeParse(otherText);
      if (sub) compiled.comparison = { op: root.op, claimSide: lc ? 'left' : 'right', otherText, evaluateOther: (ctx) => sub(ctx) };
    }
  }
  return compiled;
}

function safeParse(text: string): ((ctx: CelContext) => unknown) | undefined {
  try {
    return env().parse(text) as (ctx: CelContext) => unknown;
  } catch {
    return undefined;
  }
}

function problemFrom(err: CelErrorLike, source: string, path: string, rule: string | undefined, kind: string): PolicyProblem {
  const offset = err.range?.start ?? 0;
  return {
    path,
    rule,
    message: `CEL ${kind}: ${err.summary ?? err.message ?? String(err)}`,
    position: positionOf(source, offset),
    excerpt: excerpt(source, offset),
  };
}

function isNode(x: unknown): x is ASTNode {
  return typeof x === 'object' && x !== null && 'op' in x && 'args' in x;
}

function rootId(node: ASTNode): string | undefined {
  let n: ASTNode = node;
  for (;;) {
    if (n.op === 'id') return n.args as string;
    if (n.op === '.' || n.op === '.?' || n.op === '[]' || n.op === '[?]') n = (n.args as [ASTNode, unknown])[0];
    else return undefined;
  }
}

function isAccess(n: ASTNode): boolean {
  return n.op === '.' || n.op === '.?' || n.op === '[]' || n.op === '[?]' || n.op === 'id';
}

function readsClaims(node: ASTNode): boolean {
  let found = false;
  walk(node, (n) => {
    if (n.op === 'id' && n.args === 'claims') found = true;
  });
  return found;
}

function walk(node: unknown, fn: (n: ASTNode) => void): void {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, fn);
    return;
  }
  if (!isNode(node)) return;
  fn(node);
  walk(node.args, fn);
}

/** Maximal member/index chains rooted at `claims` (claims.tcb.versions.snp, claims.measurements["x"]). */
function collectClaimPaths(node: unknown, emit: (n: ASTNode) => void, parentIsAccess = false): void {
  if (Array.isArray(node)) {
    for (const x of node) collectClaimPaths(x, emit, false);
    return;
  }
  if (!isNode(node)) return;
  if (isAccess(node) && rootId(node) === 'claims') {
    if (!parentIsAccess && node.op !== 'id') emit(node);
    // index expressions may themselves read claims
    if (node.op === '[]' || node.op === '[?]') collectClaimPaths((node.args as [ASTNode, ASTNode])[1], emit, false);
    const inner = node.op === 'id' ? undefined : (node.args as [ASTNode, unknown])[0];
    if (inner) collectClaimPaths(inner, emit, true);
    return;
  }
  collectClaimPaths(node.args, emit, false);
}

/** JSON → CEL values: integers become bigint (CEL int), everything else is kept. */
export function toCel(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(toCel);
  if (v && typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = toCel(x);
    return o;
  }
  return v;
}

/** CEL values → JSON for explanations (bigint → number when safe, else string). */
export function fromCel(v: unknown): JsonValue {
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return [...v].map((b) => b.toString(16).padStart(2, '0')).join('');
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), fromCel(x)]));
  if (Array.isArray(v)) return v.map(fromCel);
  if (v && typeof v === 'object') {
    const o: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v)) o[k] = fromCel(x);
    return o;
  }
  if (v === undefined) return null;
  return v as JsonValue;
}

export function celContext(claims: Claims, refs: Record<string, JsonValue>, warnings: string[], now: Date): CelContext {
  const c = { simulated: false, ...claims };
  return { claims: toCel(c), refs: toCel(refs), warnings: [...warnings], now };
}
