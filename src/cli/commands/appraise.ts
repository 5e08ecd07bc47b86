/**
 * The appraisal half of `teataster verify` (issue 5):
 *   --policy <file|default>   appraise the verified claims (default = the built-in secure policy)
 *   --refs <file>             reference values (JSON/YAML) used before the ones in the store
 *   --token                   print the signed EAR (stdout: the JWT only; the table goes to stderr)
 *   --token-key <jwk-file>    sign with this private JWK (generated, with a .jwks.json beside it,
 *                             if the file does not exist); default: the store's key ring (the KBS's keys)
 * `--json` adds "appraisal": {...} (and "token") to the verify object.
 * Exit: 0 affirming, 3 warning, 1 rejected / contraindicated / none, 2 usage or invalid policy.
 */
import { existsSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { exportJWK, generateKeyPair, calculateJwkThumbprint, type JWK } from 'jose';
import { parseTime, type JsonValue, type PlatformId } from '../../core/index.ts';
import {
  appraise,
  chainSources,
  defaultPolicy,
  issueEar,
  KeyRing,
  MemoryReferenceValueStore,
  parsePolicy,
  PolicyInvalid,
  renderAppraisal,
  signerFromJwk,
  type AppraisalResult,
  type CompiledPolicy,
  type EarSigner,
  type EarSignerSource,
  type EarSpelling,
  type PolicyProblem,
  type ReferenceValueSource,
} from '../../policy/index.ts';
import type { Store } from '../../store/index.ts';
import { UsageError } from '../exit.ts';
import { readJson, readText, writeErr, writeOut } from '../io.ts';
import { renderFailure, renderVerified } from '../render.ts';
import { addStoreOptions, openCliStore, type StoreCliOptions } from './policy-store.ts';
import { readRefsFile, who } from './refs.ts';
import { exitForTier } from './token.ts';
import type { VerifyOutcome } from './verify.ts';

export interface AppraisalCliOptions extends StoreCliOptions {
  policy?: string;
  refs?: string;
  token?: boolean;
  tokenKey?: string;
  tokenTtl?: string;
  earSpelling?: string;
  json?: boolean;
  nonce?: string;
}

export function addAppraisalOptions(cmd: Command): Command {
  return addStoreOptions(
    cmd
      .option('--policy <file|default>', 'appraise against this policy (YAML/JSON) or the built-in secure default')
      .option('--refs <file>', 'reference values (JSON/YAML list) for the policy, looked up before the store')
      .option('--token', 'print the signed EAR attestation token')
      .option('--token-key <jwk-file>', 'private JWK (ES256/ES384/EdDSA) to sign with; generated if missing (default: the store key ring)')
      .option('--token-ttl <seconds>', 'token lifetime (default 300)')
      .option('--ear-spelling <dotted|underscore>', 'EAR claim names: dotted (Veraison/Trustee, default) or underscore (draft-ietf-rats-ear-04)'),
  );
}

export interface PreparedAppraisal {
  /** undefined = the default policy of the verified platform. */
  policy?: CompiledPolicy;
  policyName: string;
  fileRefs?: MemoryReferenceValueStore;
}

export function formatPolicyProblems(name: string, e: PolicyInvalid): string {
  const lines = [`policy ${name} is invalid (${e.code}):`];
  for (const p of e.problems as PolicyProblem[]) {
    const where = [p.documentLine ? `line ${p.documentLine}` : '', p.position ? `expression line ${p.position.line}, column ${p.position.column}` : ''].filter(Boolean).join('; ');
    lines.push(`  ${p.path}${where ? ` (${where})` : ''}: ${p.message}`);
    if (p.excerpt) for (const l of p.excerpt.split('\n')) lines.push(`      ${l}`);
  }
  return lines.join('\n');
}

/** Loads the policy and the refs file before verification; usage errors surface early (exit 2). */
export async function prepareAppraisal(o: AppraisalCliOptions): Promise<PreparedAppraisal | undefined> {
  if (!o.policy) {
    for (const [flag, set] of [['--refs', o.refs], ['--token', o.token], ['--token-key', o.tokenKey]] as const) if (set) throw new UsageError(`${flag} needs --policy <file|default>`);
    return undefined;
  }
  if (o.earSpelling && o.earSpelling !== 'dotted' && o.earSpelling !== 'underscore') throw new UsageError('--ear-spelling must be dotted or underscore');
  if (o.tokenTtl !== undefined && !(Number.isInteger(Number(o.tokenTtl)) && Number(o.tokenTtl) > 0)) throw new UsageError('--token-ttl must be a positive number of seconds');
  let policy: CompiledPolicy | undefined;
  if (o.policy !== 'default') {
    const text = await readText(o.policy, 'policy');
    try {
      policy = await parsePolicy(text);
    } catch (e) {
      if (e instanceof PolicyInvalid) throw new UsageError(formatPolicyProblems(o.policy, e));
      throw e;
    }
  }
  const fileRefs = o.refs ? new MemoryReferenceValueStore(await readRefsFile(o.refs, who())) : undefined;
  return { policy, policyName: o.policy, ...(fileRefs ? { fileRefs } : {}) };
}

async function loadOrCreateKey(path: string): Promise<EarSigner> {
  if (!existsSync(path)) {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pub = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(pub, 'sha256');
    const priv = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(priv, null, 2)}\n`);
    } finally {
      await fh.close();
    }
    const jwksPath = `${path}.jwks.json`;
    const jf = await open(jwksPath, 'w', 0o644);
    try {
      await jf.writeFile(`${JSON.stringify({ keys: [{ ...pub, kid, alg: 'ES256', use: 'sig' }] }, null, 2)}\n`);
    } finally {
      await jf.close();
    }
    writeErr(`teataster: generated EAR signing key ${path} (kid ${kid}); relying parties verify with ${jwksPath}`);
  }
  const jwk = (await readJson(path, '--token-key')) as JWK;
  try {
    return await signerFromJwk(jwk);
  } catch (e) {
    throw new UsageError(`--token-key ${path}: ${(e as Error).message}`);
  }
}

/** Appraises a verify outcome, prints it, and returns the exit status. */
export async function applyAppraisal(outcome: VerifyOutcome, prep: PreparedAppraisal, o: AppraisalCliOptions): Promise<number> {
  const v = outcome.verified;
  if (!v) {
    if (o.json) writeOut(JSON.stringify({ ...outcome.json, appraisal: null }, null, 2));
    else writeOut(renderFailure(outcome.json));
    return exitForTier('contraindicated');
  }
  const policy = prep.policy ?? (await defaultPolicy(v.platform as PlatformId));
  const missing = policy.refNames.filter((n) => !prep.fileRefs || !prep.fileRefs.has(n));
  const needStore = missing.length > 0 || (o.token && !o.tokenKey);
  let store: Store | undefined;
  try {
    if (needStore) store = await openCliStore(o);
    const refs: ReferenceValueSource = chainSources(prep.fileRefs, store?.referenceValues);
    let result: AppraisalResult;
    try {
      result = await appraise(v.claims, { policy, refs, now: parseTime(v.claims.verifiedAt), warnings: v.warnings });
    } catch (e) {
      if (e instanceof PolicyInvalid) throw new UsageError(formatPolicyProblems(prep.policyName, e));
      throw e;
    }
    let token: string | undefined;
    if (o.token) {
      const signer: EarSigner | EarSignerSource = o.tokenKey ? await loadOrCreateKey(o.tokenKey) : new KeyRing(store!.signingKeys);
      const runtime: Record<string, JsonValue> = {};
      if (v.claims.reportData) runtime.report_data = v.claims.reportData;
      if (o.nonce) runtime.nonce = o.nonce;
      token = await issueEar(
        { appraisal: result, runtimeData: runtime, platformClaims: v.claims as unknown as Record<string, JsonValue> },
        { signer, now: new Date(), ...(o.tokenTtl ? { ttlSeconds: Number(o.tokenTtl) } : {}), ...(o.earSpelling ? { spelling: o.earSpelling as EarSpelling } : {}), ...(o.nonce ? { nonce: o.nonce } : {}) },
      );
    }
    if (o.json) writeOut(JSON.stringify({ ...outcome.json, appraisal: result, ...(token ? { token } : {}) }, null, 2));
    else {
      const text = `${renderVerified(v)}\n\n${renderAppraisal(result)}`;
      if (token) {
        writeErr(text);
        writeOut(token);
      } else writeOut(text);
    }
    return exitForTier(result.status);
  } finally {
    await store?.close();
  }
}
