/**
 * `teataster verify` — the CLI contract of issue 2 (keep stable; extend compatibly):
 *   teataster verify <evidence-file> [--platform p] [--collateral <file-or-dir>]... [--at <ISO>]
 *     [--report-data <hex>] [--allow-debug] [--offline] [--require-crl] [--json]
 *     [--policy <file|default> [--refs <file>] [--token [--token-key <jwk-file>]]]   (appraisal, issue 5)
 * Exit: 0 verified, 1 rejected, 2 usage error / unreadable file.
 * With --policy: 0 affirming, 3 warning, 1 rejected or contraindicated (or none), 2 usage / invalid policy.
 */
import type { Command } from 'commander';
import { classifyCollateral, emptyCollateral } from '../../collateral/index.ts';
import { AttestError, fromHex, isAttestError, type PlatformId } from '../../core/index.ts';
import { platforms, resolveEvidence } from '../../platform/index.ts';
import type { Verified, VerifyContext } from '../../verify/index.ts';
import { FsCollateralCache } from '../../store/fs-cache.ts';
import { Exit, UsageError } from '../exit.ts';
import { parseAtOption, parseTrustRoots, readCollateralPaths, readInput, writeOut } from '../io.ts';
import { renderFailure, renderVerified } from '../render.ts';
import { applyAppraisal, addAppraisalOptions, prepareAppraisal, type AppraisalCliOptions } from './appraise.ts';

export interface VerifyCliOptions {
  eventLog?: string;
  platform?: string;
  collateral: string[];
  at?: string;
  reportData?: string;
  nonce?: string;
  userData?: string;
  publicKey?: string;
  allowDebug?: boolean;
  offline?: boolean;
  requireCrl?: boolean;
  allowExpiredCollateral?: boolean;
  maxAge?: string;
  product?: string;
  kdsUrl?: string;
  pcsUrl?: string;
  cacheDir?: string;
  cache?: boolean;
  trustRoot: string[];
  json?: boolean;
}

/** The `--json` object (public contract). */
export interface VerifyJson {
  verified: boolean;
  platform: string | null;
  tcb: { status: string; advisoryIds: string[]; date?: string } | null;
  claims: Record<string, unknown>;
  chain: Verified['chain'];
  warnings: string[];
  error: { code: string; message: string; details?: Record<string, unknown> } | null;
  [extra: string]: unknown;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function hexOpt(name: string, v: string | undefined): Uint8Array | undefined {
  if (v === undefined) return undefined;
  try {
    return fromHex(v);
  } catch {
    throw new UsageError(`--${name} must be hex, got ${JSON.stringify(v)}`);
  }
}

export async function buildVerifyContext(opts: VerifyCliOptions): Promise<VerifyContext> {
  const now = parseAtOption(opts.at);
  const collateral = classifyCollateral(await readCollateralPaths(opts.collateral), emptyCollateral());
  let maxAgeSeconds: number | undefined;
  if (opts.maxAge !== undefined) {
    maxAgeSeconds = Number(opts.maxAge);
    if (!Number.isFinite(maxAgeSeconds) || maxAgeSeconds <= 0) throw new UsageError(`--max-age must be a positive number of seconds`);
  }
  const extraRoots = parseTrustRoots(opts.trustRoot);
  const expected = {
    reportData: hexOpt('report-data', opts.reportData),
    nonce: hexOpt('nonce', opts.nonce),
    userData: hexOpt('user-data', opts.userData),
    publicKey: hexOpt('public-key', opts.publicKey),
  };
  return {
    now,
    collateral,
    ...(opts.offline ? { offline: true } : { fetcher: (url, init) => fetch(url, init) }),
    ...(opts.cache === false ? {} : { cache: new FsCollateralCache(opts.cacheDir) }),
    endpoints: { ...(opts.kdsUrl ? { amdKds: opts.kdsUrl } : {}), ...(opts.pcsUrl ? { intelPcs: opts.pcsUrl } : {}) },
    expected: Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== undefined)),
    options: {
      allowDebug: !!opts.allowDebug,
      requireCrl: !!opts.requireCrl,
      allowExpiredCollateral: !!opts.allowExpiredCollateral,
      ...(maxAgeSeconds !== undefined ? { maxAgeSeconds } : {}),
      ...(opts.product ? { product: opts.product } : {}),
    },
    extraRoots,
  };
}

export interface VerifyOutcome {
  json: VerifyJson;
  verified?: Verified;
  error?: AttestError;
}

/** Reads, detects, parses and verifies; never throws an AttestError (it becomes the outcome). */
export async function runVerify(file: string, opts: VerifyCliOptions): Promise<VerifyOutcome> {
  const bytes = await readInput(file, 'evidence');
  const ctx = await buildVerifyContext(opts);
  const eventLog = opts.eventLog ? { name: opts.eventLog, bytes: await readInput(opts.eventLog, 'event log') } : undefined;
  let platformId: string | null = opts.platform ?? null;
  try {
    const { platform, bytes: input } = resolveEvidence(bytes, opts.platform as PlatformId | undefined);
    platformId = platform.id;
    if (eventLog && !platform.acceptsEventLog) throw new UsageError(`--event-log does not apply to ${platform.id} evidence (it applies to: ${platforms.filter((p) => p.acceptsEventLog).map((p) => p.id).join(', ')})`);
    const verified = await platform.verify(platform.parse(input), eventLog ? { ...ctx, eventLog } : ctx);
    const warnings = [...ctx.collateral.problems.map((p) => `collateral: ${p}`), ...verified.warnings];
    return {
      verified: { ...verified, warnings },
      json: { verified: true, platform: verified.platform, tcb: verified.tcb ? { status: verified.tcb.status, advisoryIds: verified.tcb.advisoryIds, ...(verified.tcb.date ? { date: verified.tcb.date } : {}) } : null, claims: verified.claims as unknown as Record<string, unknown>, chain: verified.chain, warnings, error: null },
    };
  } catch (e) {
    if (!isAttestError(e)) throw e;
    return {
      error: e,
      json: { verified: false, platform: platformId, tcb: null, claims: {}, chain: [], warnings: ctx.collateral.problems.map((p) => `collateral: ${p}`), error: { code: e.code, message: e.message, details: e.details } },
    };
  }
}

export function addVerifyOptions(cmd: Command): Command {
  return cmd
    .option('--platform <id>', 'evidence platform (default: detected from the content)')
    .option('--collateral <file-or-dir>', 'certificates, CRLs or JSON collateral; repeatable; directories are read recursively', collect, [])
    .option('--at <iso-time>', 'verify as of this time (default: now)')
    .option('--report-data <hex>', 'expected REPORT_DATA (shorter values are a prefix; the rest must be zero)')
    .option('--nonce <hex>', 'expected nonce (Nitro nonce, TPM extraData)')
    .option('--user-data <hex>', 'expected user data (Nitro)')
    .option('--public-key <hex>', 'expected public key (Nitro)')
    .option('--event-log <file>', 'TDX: a CCEL event log to replay against RTMR0..2 (must match)')
    .option('--allow-debug', 'accept debug TEEs')
    .option('--offline', 'never use the network; only supplied and cached collateral')
    .option('--require-crl', 'fail when revocation cannot be checked')
    .option('--allow-expired-collateral', 'treat expired TCB info / QE identity as a warning')
    .option('--max-age <seconds>', 'maximum evidence age (evidence with a timestamp)')
    .option('--product <name>', 'SNP product line when the report does not say (Milan, Genoa, Turin)')
    .option('--kds-url <url>', 'AMD KDS base URL (default https://kdsintf.amd.com)')
    .option('--pcs-url <url>', 'Intel PCS/PCCS base URL (default https://api.trustedservices.intel.com)')
    .option('--cache-dir <dir>', 'collateral cache directory (default ~/.cache/teataster/collateral)')
    .option('--no-cache', 'do not read or write the collateral cache')
    .option('--trust-root <family:sha256>', 'trust an extra root by fingerprint (families: amd, intel, aws-nitro, tpm, nvidia, sim); repeatable', collect, [])
    .option('--json', 'print one JSON object');
}

export function registerVerify(program: Command): void {
  addAppraisalOptions(addVerifyOptions(program.command('verify <evidence-file>').description('verify TEE evidence cryptographically and print its claims; with --policy, appraise them'))).action(
    async (file: string, opts: VerifyCliOptions & AppraisalCliOptions) => {
      // Appraisal: load the policy first (an invalid policy is a usage error), and let the policy
      // rather than the verifier decide about debug TEEs so the result explains it.
      const prepared = await prepareAppraisal(opts);
      const outcome = await runVerify(file, prepared ? { ...opts, allowDebug: true } : opts);
      if (prepared) {
        process.exitCode = await applyAppraisal(outcome, prepared, opts);
        return;
      }
      if (opts.json) writeOut(JSON.stringify(outcome.json, null, 2));
      else writeOut(outcome.verified ? renderVerified(outcome.verified) : renderFailure(outcome.json));
      process.exitCode = outcome.verified ? Exit.Ok : Exit.Rejected;
    },
  );
}
