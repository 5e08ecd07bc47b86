/**
 * The AttestationEngine over src/policy: appraisal with the stored (or built-in default) policy
 * and the store's reference values, EAR tokens signed by the key ring kept in the store (shared by
 * every replica), and EAR verification for passport mode (this KBS or configured trusted issuers).
 */
import { createHash } from 'node:crypto';
import { decodeJwt, type JWK } from 'jose';
import { AttestError, ErrorCode, type JsonValue, type PlatformId } from '../core/index.ts';
import { appraise, defaultPolicy, issueEar, KeyRing, parsePolicy, verifyEarToken, type AppraisalResult, type CompiledPolicy, type VerifiedEar } from '../policy/index.ts';
import { TeePubKeySchema, type TeePubKey } from '../protocol/index.ts';
import type { Store } from '../store/index.ts';
import type { Verified } from '../verify/index.ts';
import type { KbsConfig } from './config.ts';
import type { AppraisalOutcome, AttestationEngine, EarStatus, TokenFacts } from './engine.ts';
import { jwtPayload, teePubKeySpki, withNodeSign } from './node-crypto.ts';

interface TrustedIssuer {
  issuer: string;
  jwks: () => Promise<{ keys: JWK[] }>;
}

/** Replaces reference values (expected side of a failed rule) in a message the caller will see. */
export function redactExpected(message: string, expected: unknown): string {
  const secrets: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string' && v.length >= 8) secrets.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(expected);
  let out = message;
  for (const s of secrets.sort((a, b) => b.length - a.length)) out = out.split(s).join('[reference value]');
  return out;
}

export async function createPolicyEngine(store: Store, config: KbsConfig, fetchImpl: typeof fetch = fetch): Promise<AttestationEngine & { checkPolicy(text: string, tee: string): Promise<void>; keyRing: KeyRing }> {
  const ring = new KeyRing(store.signingKeys, { alg: config.token.alg, maxTokenTtlSeconds: Math.max(3600, config.token.ttlSeconds) });
  const policies = new Map<string, Promise<CompiledPolicy>>();
  const compile = (text: string): Promise<CompiledPolicy> => {
    const k = createHash('sha256').update(text).digest('hex');
    let p = policies.get(k);
    if (!p) {
      p = parsePolicy(text);
      p.catch(() => policies.delete(k));
      if (policies.size > 256) policies.clear();
      policies.set(k, p);
    }
    return p;
  };

  // The signing key and the JWKS are read from the store (decrypting private keys) — cache them
  // briefly; an unknown kid forces a refresh so a peer replica's new key is picked up at once.
  let signerCache: { at: number; s: Awaited<ReturnType<KeyRing['signer']>> } | null = null;
  const signer = async (now: Date) => {
    if (!signerCache || now.getTime() - signerCache.at > 60_000 || now.getTime() < signerCache.at) {
      const s = await ring.signer(now);
      const stored = await store.signingKeys.get(s.kid);
      signerCache = { at: now.getTime(), s: withNodeSign(s, stored?.privateJwk) };
    }
    return signerCache.s;
  };
  let jwksCache: { at: number; jwks: { keys: JWK[] } } | null = null;
  const ownJwks = async (now: Date, fresh = false) => {
    if (fresh || !jwksCache || Date.now() - jwksCache.at > 10_000) jwksCache = { at: Date.now(), jwks: (await ring.jwks(now)) as { keys: JWK[] } };
    return jwksCache.jwks;
  };

  const trusted: TrustedIssuer[] = config.trustedIssuers.map((t) => {
    let cached: { at: number; v: { keys: JWK[] } } | null = null;
    return {
      issuer: t.issuer,
      jwks: async () => {
        if (t.jwks) return t.jwks as { keys: JWK[] };
        if (cached && Date.now() - cached.at < 300_000) return cached.v;
        let v: { keys: JWK[] };
        if (t.jwksFile) {
          const { readFile } = await import('node:fs/promises');
          v = JSON.parse(await readFile(t.jwksFile, 'utf8')) as { keys: JWK[] };
        } else {
          const res = await fetchImpl(t.jwksUrl!, { signal: AbortSignal.timeout(10_000) });
          if (!res.ok) throw new AttestError(ErrorCode.CollateralUnavailable, `JWKS of ${t.issuer} unavailable: HTTP ${res.status}`);
          v = (await res.json()) as { keys: JWK[] };
        }
        cached = { at: Date.now(), v };
        return v;
      },
    };
  });

  function facts(v: VerifiedEar): TokenFacts {
    const sub = v.submods.cpu0 ?? Object.values(v.submods)[0];
    const annotated = (sub?.annotatedEvidence ?? {}) as Record<string, unknown>;
    const platform = Object.keys(annotated).find((k) => k !== 'runtime_data_claims') ?? 'unknown';
    const runtime = (annotated.runtime_data_claims ?? {}) as Record<string, unknown>;
    const pk = TeePubKeySchema.safeParse(runtime['tee-pubkey']);
    const payload = v.claims;
    return {
      payload,
      status: v.status as EarStatus,
      platform,
      teePubkey: pk.success ? (pk.data as TeePubKey) : null,
      claims: annotated[platform] ?? {},
      jti: typeof payload.jti === 'string' ? payload.jti : null,
      expiresAt: new Date((v.exp ?? v.iat) * 1000),
      issuer: typeof payload.iss === 'string' ? payload.iss : '',
    };
  }

  return {
    keyRing: ring,
    async checkPolicy(text: string): Promise<void> {
      await compile(text);
    },
    async appraise(verified: Verified, policy: { tee: string; text: string } | null, platform: PlatformId, now: Date): Promise<AppraisalOutcome> {
      const compiled = policy ? await compile(policy.text) : await defaultPolicy(platform);
      const result: AppraisalResult = await appraise(verified.claims, { policy: compiled, refs: store.referenceValues, now, warnings: verified.warnings });
      return {
        status: result.status as EarStatus,
        violations: result.violations.map((v) => ({ rule: v.rule, message: redactExpected(v.message, v.expected) })),
        rules: result.rules as unknown,
        policyId: `${result.policy.id}@${result.policy.revision ?? result.policy.digest.slice(0, 16)}`,
        result,
      };
    },
    async issueToken(input): Promise<{ token: string; jti: string; expiresAt: Date }> {
      const spki = teePubKeySpki(input.teePubkey);
      const token = await issueEar(
        {
          appraisal: input.outcome.result as AppraisalResult,
          runtimeData: { nonce: input.nonce },
          teePubKey: input.teePubkey as unknown as JWK,
          ...(spki ? { teePubKeySpki: spki } : {}),
          platformClaims: input.verified.claims as unknown as Record<string, JsonValue>,
        },
        { signer: await signer(input.now), now: input.now, ttlSeconds: input.ttlSeconds, issuer: config.token.issuer, nonce: input.nonce },
      );
      const p = jwtPayload(token);
      return { token, jti: String(p.jti ?? ''), expiresAt: new Date((typeof p.exp === 'number' ? p.exp : 0) * 1000) };
    },
    async verifyToken(token: string, now: Date): Promise<TokenFacts> {
      let iss: string | undefined;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        throw new AttestError(ErrorCode.TokenInvalid, 'not a JWT');
      }
      if (iss === config.token.issuer || iss === undefined) {
        try {
          return facts(await verifyEarToken(token, { jwks: await ownJwks(now), now, issuer: config.token.issuer }));
        } catch (e) {
          if ((e as AttestError).details?.reason !== 'unknown-key') throw e;
          return facts(await verifyEarToken(token, { jwks: await ownJwks(now, true), now, issuer: config.token.issuer }));
        }
      }
      const t = trusted.find((x) => x.issuer === iss);
      if (!t) throw new AttestError(ErrorCode.TokenInvalid, `token issuer ${JSON.stringify(iss)} is not trusted by this KBS`);
      return facts(await verifyEarToken(token, { jwks: await t.jwks(), now, issuer: t.issuer }));
    },
    async jwks() {
      return ring.jwks(new Date()) as Promise<{ keys: Record<string, unknown>[] }>;
    },
  };
}
