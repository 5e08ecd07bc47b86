/**
 * `teataster token …` — EAR attestation tokens (docs/policy.md "Tokens"):
 *   token verify <jwt|file|-> --jwks <url|file> [--at <ISO>] [--issuer <iss>] [--audience <aud>] [--max-age <s>] [--json]
 *       exit 0 affirming, 3 warning, 1 contraindicated / none / invalid token, 2 usage
 *   token jwks     the public keys of the signing key ring (what a KBS serves to relying parties)
 *   token keys     key states and expiry warnings        token rotate [--alg ES256|ES384|EdDSA]
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { iso, isAttestError } from '../../core/index.ts';
import { describeClaimValue, EAR_ALGORITHMS, KeyRing, tierOf, TRUST_CLAIMS, verifyEarToken, type EarAlgorithm, type VerifiedEar } from '../../policy/index.ts';
import { Exit, UsageError } from '../exit.ts';
import { parseAtOption, readInput, readText, writeOut } from '../io.ts';
import { addStoreOptions, withStore, type StoreCliOptions } from './policy-store.ts';

/** Exit status for a trust tier (the verify/token contract). */
export function exitForTier(tier: string): number {
  return tier === 'affirming' ? Exit.Ok : tier === 'warning' ? Exit.Warning : Exit.Rejected;
}

async function readToken(arg: string): Promise<string> {
  if (arg === '-' || (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(arg.trim()) && existsSync(arg))) {
    return new TextDecoder().decode(await readInput(arg, 'token')).trim();
  }
  return arg.trim();
}

/** Loads a JWKS from a URL or file; accepts { keys: [...] }, one JWK, or a list of JWKs. */
export async function loadJwks(src: string, fetchImpl: typeof fetch = fetch): Promise<{ keys: Record<string, unknown>[] }> {
  let text: string;
  if (/^https?:\/\//i.test(src)) {
    let res: Response;
    try {
      res = await fetchImpl(src, { signal: AbortSignal.timeout(10_000), headers: { accept: 'application/jwk-set+json, application/json' } });
    } catch (e) {
      throw new UsageError(`cannot fetch JWKS ${src}: ${(e as Error).message}`);
    }
    if (!res.ok) throw new UsageError(`cannot fetch JWKS ${src}: HTTP ${res.status}`);
    text = await res.text();
  } else {
    text = await readText(src, 'JWKS');
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new UsageError(`${src} is not JSON`);
  }
  const keys = Array.isArray(data) ? data : data && typeof data === 'object' && Array.isArray((data as { keys?: unknown }).keys) ? (data as { keys: unknown[] }).keys : data && typeof data === 'object' && 'kty' in data ? [data] : undefined;
  if (!keys || keys.length === 0) throw new UsageError(`${src} holds no JWKs`);
  return { keys: keys as Record<string, unknown>[] };
}

export function renderEar(v: VerifiedEar): string {
  const lines = [`TOKEN VALID  status ${v.status.toUpperCase()}  (${v.header.alg}${v.header.kid ? `, kid ${v.header.kid}` : ''}; ${v.spelling} claim names, profile ${v.profile})`];
  lines.push(`  issued ${iso(new Date(v.iat * 1000))}${v.exp ? `, expires ${iso(new Date(v.exp * 1000))}` : ', no expiry'}  by ${v.verifierId.developer} (${v.verifierId.build})`);
  if (v.nonce) lines.push(`  nonce ${v.nonce}`);
  for (const [name, s] of Object.entries(v.submods)) {
    lines.push('', `submod ${name}: ${s.status}${s.policyIds.length ? `  policy ${s.policyIds.join(', ')}` : ''}`);
    for (const c of TRUST_CLAIMS) {
      const x = s.trustVector[c];
      if (x !== undefined) lines.push(`  ${c.padEnd(18)} ${String(x).padEnd(4)} ${tierOf(x).padEnd(16)} ${describeClaimValue(c, x)}`);
    }
    const viol = (s.policyClaims?.violations as { rule?: string; tier?: string; message?: string }[] | undefined) ?? [];
    for (const x of viol) lines.push(`  ✗ [${x.tier}] ${x.rule}: ${x.message}`);
    if (s.keyAttestation) lines.push(`  attested key (SPKI) ${s.keyAttestation.akpub.slice(0, 48)}…`);
  }
  return lines.join('\n');
}

interface VerifyTokenOptions {
  jwks: string;
  at?: string;
  issuer?: string;
  audience?: string;
  maxAge?: string;
  json?: boolean;
}

function ringOf(o: { maxTokenTtl?: string; alg?: string }, store: Parameters<Parameters<typeof withStore>[1]>[0]): KeyRing {
  const ttl = o.maxTokenTtl ? Number(o.maxTokenTtl) : 3600;
  if (!Number.isInteger(ttl) || ttl <= 0) throw new UsageError('--max-token-ttl must be a positive number of seconds');
  if (o.alg && !(EAR_ALGORITHMS as readonly string[]).includes(o.alg)) throw new UsageError(`--alg must be one of ${EAR_ALGORITHMS.join(', ')}`);
  return new KeyRing(store.signingKeys, { ...(o.alg ? { alg: o.alg as EarAlgorithm } : {}), maxTokenTtlSeconds: ttl });
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('EAR attestation tokens: verify them, and manage the signing keys');

  token
    .command('verify <jwt>')
    .description('verify an EAR token (a JWT, a file holding one, or - for stdin) and print its appraisal')
    .requiredOption('--jwks <url-or-file>', "the issuer's JWKS (URL or file)")
    .option('--at <iso-time>', 'verify as of this time (default: now)')
    .option('--issuer <iss>', 'require this iss')
    .option('--audience <aud>', 'require this aud')
    .option('--max-age <seconds>', 'reject tokens issued longer ago')
    .option('--json', 'print JSON')
    .action(async (jwtArg: string, o: VerifyTokenOptions) => {
      const now = parseAtOption(o.at);
      const maxAge = o.maxAge !== undefined ? Number(o.maxAge) : undefined;
      if (maxAge !== undefined && (!Number.isFinite(maxAge) || maxAge <= 0)) throw new UsageError('--max-age must be a positive number of seconds');
      const jwt = await readToken(jwtArg);
      const jwks = await loadJwks(o.jwks);
      try {
        const v = await verifyEarToken(jwt, { jwks: jwks as never, now, ...(o.issuer ? { issuer: o.issuer } : {}), ...(o.audience ? { audience: o.audience } : {}), ...(maxAge ? { maxAgeSeconds: maxAge } : {}) });
        if (o.json) writeOut(JSON.stringify({ valid: true, status: v.status, spelling: v.spelling, profile: v.profile, header: v.header, iat: v.iat, exp: v.exp ?? null, verifierId: v.verifierId, submods: v.submods, claims: v.claims, error: null }, null, 2));
        else writeOut(renderEar(v));
        process.exitCode = exitForTier(v.status);
      } catch (e) {
        if (!isAttestError(e)) throw e;
        if (o.json) writeOut(JSON.stringify({ valid: false, status: null, error: { code: e.code, message: e.message, details: e.details } }, null, 2));
        else writeOut(`TOKEN INVALID\n\n  ${e.code}: ${e.message}`);
        process.exitCode = Exit.Rejected;
      }
    });

  addStoreOptions(token.command('jwks').description('print the JWKS of the signing key ring (keys whose tokens can still be valid)').option('--max-token-ttl <seconds>', 'overlap window (default 3600)')).action(
    async (o: StoreCliOptions & { maxTokenTtl?: string }) => {
      const jwks = await withStore(o, (s) => ringOf(o, s).jwks(new Date()));
      writeOut(JSON.stringify(jwks, null, 2));
    },
  );

  addStoreOptions(token.command('keys').description('list signing keys with their state and expiry warnings').option('--max-token-ttl <seconds>', 'overlap window (default 3600)').option('--json', 'print JSON')).action(
    async (o: StoreCliOptions & { maxTokenTtl?: string; json?: boolean }) => {
      const st = await withStore(o, (s) => ringOf(o, s).status(new Date()));
      if (o.json) writeOut(JSON.stringify(st, null, 2));
      else {
        if (st.keys.length === 0) writeOut('no signing keys yet (one is generated on the first token)');
        for (const k of st.keys) writeOut(`${k.state.padEnd(8)} ${k.kid}  ${k.alg.padEnd(6)} created ${k.createdAt}  not after ${k.notAfter ?? 'never'}${k.retiredAt ? `  retired ${k.retiredAt}` : ''}  verifiable until ${k.verifiableUntil ?? 'forever'}`);
        for (const w of st.warnings) writeOut(`! ${w}`);
      }
    },
  );

  addStoreOptions(token.command('rotate').description('make a new signing key active; the old one keeps verifying until its tokens expire').option('--alg <alg>', 'ES256 (default), ES384 or EdDSA').option('--max-token-ttl <seconds>', 'overlap window (default 3600)')).action(
    async (o: StoreCliOptions & { alg?: string; maxTokenTtl?: string }) => {
      const k = await withStore(o, (s) => ringOf(o, s).rotate(new Date()));
      writeOut(`new signing key ${k.kid} (${k.alg}), active until ${k.notAfter ? iso(k.notAfter) : 'revoked'}`);
    },
  );
}
