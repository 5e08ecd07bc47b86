/**
 * EAT Attestation Results (draft-ietf-rats-ear) as JWTs signed with ES256 / ES384 / EdDSA (jose).
 *
 * Two spellings exist. Veraison and Trustee (and their relying parties, e.g. Trustee's KBS
 * policies reading `submods.cpu0["ear.veraison.annotated-evidence"]`) use the dotted names of
 * draft-fv-rats-ear and the profile "tag:github.com,2023:veraison/ear"; draft-ietf-rats-ear-04
 * renamed them with underscores (ear_status, ear_trustworthiness_vector,
 * ear_appraisal_policy_ids [list], ear_verifier_id, ear_attester_claims, ear_verifier_claims,
 * ear_veraison_key_attestation) under the profile "tag:ietf.org,2026:rats/ear#04".
 * We EMIT the dotted spelling by default (what consumers read today; `spelling: 'underscore'`
 * emits the -04 names) and ACCEPT both when verifying.
 */
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';
import { randomBytes, toBase64Url, toHex, utf8, type JsonValue } from '../core/index.ts';
import type { AppraisalResult } from './appraise.ts';
import { TokenInvalid } from './errors.ts';
import { isTrustClaim, isTrustTier, statusOf, tierRank, worseTier, type TrustTier, type TrustVector } from './trust.ts';

export const EAR_PROFILE_VERAISON = 'tag:github.com,2023:veraison/ear';
export const EAR_PROFILE_IETF_04 = 'tag:ietf.org,2026:rats/ear#04';
/** Profiles accepted when verifying (the Veraison one and the IETF draft tags). */
export function isEarProfile(p: unknown): boolean {
  return p === EAR_PROFILE_VERAISON || (typeof p === 'string' && /^tag:ietf\.org,\d{4}(-\d{2})?:(rats\/)?ear(#\d{2})?$/.test(p));
}

export type EarSpelling = 'dotted' | 'underscore';
export const EAR_ALGORITHMS = ['ES256', 'ES384', 'EdDSA'] as const;
export type EarAlgorithm = (typeof EAR_ALGORITHMS)[number];

const NAMES = {
  dotted: { verifierId: 'ear.verifier-id', rawEvidence: 'ear.raw-evidence', status: 'ear.status', vector: 'ear.trustworthiness-vector', policyId: 'ear.appraisal-policy-id', annotated: 'ear.veraison.annotated-evidence', policyClaims: 'ear.veraison.policy-claims', keyAttestation: 'ear.veraison.key-attestation' },
  underscore: { verifierId: 'ear_verifier_id', rawEvidence: 'ear_raw_evidence', status: 'ear_status', vector: 'ear_trustworthiness_vector', policyId: 'ear_appraisal_policy_ids', annotated: 'ear_attester_claims', policyClaims: 'ear_verifier_claims', keyAttestation: 'ear_veraison_key_attestation' },
} as const;

export interface EarSigner {
  kid: string;
  alg: EarAlgorithm;
  key: CryptoKey;
  /**
   * Optional faster signature over the JWS signing input with the same key (e.g. node:crypto on
   * a server); must produce the JWS form (r||s for ECDSA). Default: WebCrypto with `key`.
   */
  sign?: (input: Uint8Array) => Uint8Array | Promise<Uint8Array>;
}

/** Something that hands out the current signing key (a KeyRing, or a fixed key). */
export interface EarSignerSource {
  signer(now: Date): Promise<EarSigner>;
  /** Longest token lifetime the source allows (the key ring's overlap window). */
  maxTokenTtlSeconds?: number;
}

export interface EarSubmodInput {
  appraisal: AppraisalResult;
  /** Runtime data bound into the evidence (hex/base64 strings), e.g. { nonce, 'tee-pubkey': JWK }. */
  runtimeData?: Record<string, JsonValue>;
  /** The TEE's public key (JWK) the relying party will encrypt to: runtime data + key attestation. */
  teePubKey?: JWK;
  /** Extra annotated claims (platform-specific, JSON-safe). */
  platformClaims?: Record<string, JsonValue>;
  /**
   * base64url SPKI of teePubKey when the caller already computed it (e.g. with node:crypto);
   * otherwise it is derived here with WebCrypto. Must be the SPKI of teePubKey.
   */
  teePubKeySpki?: string;
}

export interface IssueEarOptions {
  signer: EarSigner | EarSignerSource;
  now: Date;
  /** Token lifetime (default 300 s; capped by the signer source's maxTokenTtlSeconds). */
  ttlSeconds?: number;
  verifierId?: { developer: string; build: string };
  issuer?: string;
  audience?: string | string[];
  /** EAT nonce (the challenge the evidence answered), carried as `eat_nonce`. */
  nonce?: string;
  spelling?: EarSpelling;
  /** Raw evidence to embed (base64url), optional and usually omitted. */
  rawEvidence?: Uint8Array;
}

export const DEFAULT_VERIFIER_ID = { developer: 'https://github.com/teataster/teataster', build: 'teataster 0.1.0' };

function appraisalPolicyId(a: AppraisalResult): string {
  return `policy:${a.policy.id}@${a.policy.revision ?? `sha256:${a.policy.digest.slice(0, 16)}`}`;
}

async function spkiOf(jwk: JWK): Promise<string | undefined> {
  const tries: AlgorithmIdentifier[] | (RsaHashedImportParams | EcKeyImportParams)[] =
    jwk.kty === 'RSA' ? [{ name: 'RSA-OAEP', hash: 'SHA-256' }] : jwk.kty === 'EC' ? [{ name: 'ECDSA', namedCurve: String(jwk.crv) }] : jwk.kty === 'OKP' ? [{ name: String(jwk.crv) } as AlgorithmIdentifier] : [];
  for (const alg of tries) {
    try {
      const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, key_ops: _ops, use: _use, alg: _alg, ...pub } = jwk;
      const k = await globalThis.crypto.subtle.importKey('jwk', pub as JsonWebKey, alg, true, jwk.kty === 'RSA' ? ['encrypt'] : jwk.kty === 'EC' ? ['verify'] : ['verify']);
      return toBase64Url(new Uint8Array(await globalThis.crypto.subtle.exportKey('spki', k)));
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Builds the EAR claims set for one or more submods (cpu0, gpu0, …). Pure apart from the key-attestation SPKI export. */
export async function buildEarClaims(submods: Record<string, EarSubmodInput>, opts: Omit<IssueEarOptions, 'signer'> & { ttlSeconds: number }): Promise<Record<string, unknown>> {
  const spelling = opts.spelling ?? 'dotted';
  const n = NAMES[spelling];
  const iat = Math.floor(opts.now.getTime() / 1000);
  const out: Record<string, unknown> = {
    eat_profile: spelling === 'dotted' ? EAR_PROFILE_VERAISON : EAR_PROFILE_IETF_04,
    iat,
    exp: iat + Math.floor(opts.ttlSeconds),
    jti: toHex(randomBytes(16)),
    [n.verifierId]: opts.verifierId ?? DEFAULT_VERIFIER_ID,
  };
  if (opts.issuer) out.iss = opts.issuer;
  if (opts.audience) out.aud = opts.audience;
  if (opts.nonce) out.eat_nonce = opts.nonce;
  if (opts.rawEvidence) out[n.rawEvidence] = toBase64Url(opts.rawEvidence);
  const subs: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(submods)) {
    const a = s.appraisal;
    const runtime: Record<string, JsonValue> = { ...(s.runtimeData ?? {}) };
    if (s.teePubKey) runtime['tee-pubkey'] = s.teePubKey as unknown as JsonValue;
    const annotated: Record<string, JsonValue> = { [a.platform]: (s.platformClaims ?? {}) as JsonValue };
    if (Object.keys(runtime).length) annotated.runtime_data_claims = runtime;
    const sub: Record<string, unknown> = {
      [n.status]: a.status,
      [n.vector]: a.trustVector,
      [n.policyId]: spelling === 'dotted' ? appraisalPolicyId(a) : [appraisalPolicyId(a)],
      [n.annotated]: annotated,
      [n.policyClaims]: {
        policy_id: a.policy.id,
        policy_version: a.policy.version,
        ...(a.policy.revision ? { policy_revision: a.policy.revision } : {}),
        policy_digest: a.policy.digest,
        violations: a.violations.map((v) => ({ rule: v.rule, tier: v.tier, message: v.message })),
        rules: a.rules.map((r) => ({ id: r.id, outcome: r.outcome, tier: r.tier })),
        ...(a.referenceValues.length ? { reference_values: a.referenceValues.map((r) => r.name) } : {}),
      },
    };
    if (s.teePubKey) {
      const akpub = s.teePubKeySpki ?? (await spkiOf(s.teePubKey));
      if (akpub) sub[n.keyAttestation] = { akpub };
    }
    subs[name] = sub;
  }
  out.submods = subs;
  return out;
}

function isSource(s: EarSigner | EarSignerSource): s is EarSignerSource {
  return typeof (s as EarSignerSource).signer === 'function';
}

/** Signs an EAR for one appraisal (submod `cpu0`) or several (`{ cpu0: …, gpu0: … }`). */
export async function issueEar(input: EarSubmodInput | Record<string, EarSubmodInput>, opts: IssueEarOptions): Promise<string> {
  const one = input as EarSubmodInput;
  const submods = one.appraisal && typeof one.appraisal === 'object' && 'status' in one.appraisal ? { cpu0: one } : (input as Record<string, EarSubmodInput>);
  const signer = isSource(opts.signer) ? await opts.signer.signer(opts.now) : opts.signer;
  const cap = isSource(opts.signer) ? opts.signer.maxTokenTtlSeconds : undefined;
  const ttl = Math.min(opts.ttlSeconds ?? 300, cap ?? Infinity);
  const claims = await buildEarClaims(submods, { ...opts, ttlSeconds: ttl });
  return signCompactJws({ alg: signer.alg, kid: signer.kid, typ: 'JWT' }, claims, signer);
}

const SIGN_PARAMS: Record<EarAlgorithm, AlgorithmIdentifier | EcdsaParams> = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
  ES384: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams,
  EdDSA: { name: 'Ed25519' },
};

/**
 * RFC 7515 compact serialisation signed directly with WebCrypto (whose ECDSA output is already
 * the JWS r||s form, RFC 7518 §3.4). Verification goes through jose; the tests cross-check.
 */
async function signCompactJws(header: Record<string, string>, payload: Record<string, unknown>, signer: EarSigner): Promise<string> {
  const input = `${toBase64Url(utf8(JSON.stringify(header)))}.${toBase64Url(utf8(JSON.stringify(payload)))}`;
  const key = signer.key;
  const alg = SIGN_PARAMS[signer.alg];
  const curve = (key.algorithm as EcKeyAlgorithm).namedCurve;
  const fits = signer.alg === 'EdDSA' ? key.algorithm.name === 'Ed25519' : key.algorithm.name === 'ECDSA' && curve === (signer.alg === 'ES256' ? 'P-256' : 'P-384');
  if (!alg || !fits || key.type !== 'private') throw new TokenInvalid('key', `a ${key.algorithm.name}${curve ? ` ${curve}` : ''} ${key.type} key cannot sign ${signer.alg}`);
  const data = utf8(input) as Uint8Array<ArrayBuffer>;
  const sig = signer.sign ? await signer.sign(data) : new Uint8Array(await globalThis.crypto.subtle.sign(alg, key, data));
  return `${input}.${toBase64Url(sig)}`;
}

export interface EarSubmod {
  status: TrustTier;
  trustVector: TrustVector;
  policyIds: string[];
  annotatedEvidence?: Record<string, unknown>;
  policyClaims?: Record<string, unknown>;
  keyAttestation?: { akpub: string };
}

export interface VerifiedEar {
  header: { alg: string; kid?: string };
  profile: string;
  spelling: EarSpelling;
  iat: number;
  exp?: number;
  verifierId: { developer: string; build: string };
  nonce?: string;
  submods: Record<string, EarSubmod>;
  /** Worst status across submods. */
  status: TrustTier;
  claims: Record<string, unknown>;
}

export interface VerifyEarOptions {
  /** A JWKS document ({ keys: [...] }) or a list of public JWKs. Imported keys are cached per object: pass a new object when the keys change. */
  jwks?: JSONWebKeySet | JWK[];
  /** Alias of `jwks` for a plain list of public keys. */
  keys?: JWK[];
  now: Date;
  issuer?: string;
  audience?: string;
  /** Accepted clock skew in seconds (default 60). */
  clockToleranceSeconds?: number;
  /** Reject tokens without `exp` (default true). */
  requireExp?: boolean;
  /** Also reject tokens issued more than this long ago. */
  maxAgeSeconds?: number;
}

const pick = (o: Record<string, unknown>, dotted: string, underscore: string, path: string): unknown => {
  const a = o[dotted];
  const b = o[underscore];
  if (a !== undefined && b !== undefined && JSON.stringify(a) !== JSON.stringify(b)) throw new TokenInvalid('claims', `${path}: both ${dotted} and ${underscore} present with different values`);
  return a ?? b;
};

function asRecord(v: unknown, what: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TokenInvalid('claims', `${what} must be an object`);
  return v as Record<string, unknown>;
}

/** Checks the structure of an EAR claims set (both spellings) and normalises it. */
export function parseEarClaims(payload: Record<string, unknown>): Omit<VerifiedEar, 'header'> {
  if (!isEarProfile(payload.eat_profile)) throw new TokenInvalid('profile', `eat_profile ${JSON.stringify(payload.eat_profile)} is not an EAR profile (expected ${EAR_PROFILE_VERAISON} or ${EAR_PROFILE_IETF_04})`);
  if (typeof payload.iat !== 'number' || !Number.isInteger(payload.iat)) throw new TokenInvalid('claims', 'iat must be an integer (EAR forbids floating-point times)');
  if (payload.exp !== undefined && (typeof payload.exp !== 'number' || !Number.isInteger(payload.exp))) throw new TokenInvalid('claims', 'exp must be an integer');
  const dottedSeen = Object.keys(payload).some((k) => k.startsWith('ear.'));
  const vid = asRecord(pick(payload, 'ear.verifier-id', 'ear_verifier_id', 'token'), 'ear verifier id');
  if (typeof vid.developer !== 'string' || typeof vid.build !== 'string') throw new TokenInvalid('claims', 'verifier id needs developer and build strings');
  const subsIn = asRecord(payload.submods, 'submods');
  if (Object.keys(subsIn).length === 0) throw new TokenInvalid('claims', 'submods must not be empty');
  const submods: Record<string, EarSubmod> = {};
  let underscoreSeen = Object.keys(payload).some((k) => k.startsWith('ear_'));
  let worst: TrustTier = 'none';
  for (const [name, raw] of Object.entries(subsIn)) {
    const s = asRecord(raw, `submods.${name}`);
    if (Object.keys(s).some((k) => k.startsWith('ear_'))) underscoreSeen = true;
    const status = pick(s, 'ear.status', 'ear_status', `submods.${name}`);
    if (!isTrustTier(status)) throw new TokenInvalid('claims', `submods.${name}: status ${JSON.stringify(status)} is not a trust tier`);
    const vecRaw = pick(s, 'ear.trustworthiness-vector', 'ear_trustworthiness_vector', `submods.${name}`);
    const trustVector: TrustVector = {};
    if (vecRaw !== undefined) {
      for (const [k, v] of Object.entries(asRecord(vecRaw, `submods.${name} trustworthiness vector`))) {
        if (!isTrustClaim(k)) throw new TokenInvalid('claims', `submods.${name}: unknown trustworthiness claim ${k}`);
        if (typeof v !== 'number' || !Number.isInteger(v) || v < -128 || v > 127) throw new TokenInvalid('claims', `submods.${name}: ${k} must be an integer in -128..127`);
        trustVector[k] = v;
      }
    }
    // draft-ietf-rats-ear §3.1: the status is no more trustworthy than the worst claim
    const floor = statusOf(trustVector);
    if (tierRank(status) < tierRank(floor)) throw new TokenInvalid('claims', `submods.${name}: status ${status} is more trustworthy than its trust vector allows (${floor})`);
    const single = s['ear.appraisal-policy-id'];
    const many = s.ear_appraisal_policy_ids ?? s['ear.appraisal-policy-ids'];
    const policyIds = [...(typeof single === 'string' ? [single] : []), ...(Array.isArray(many) ? many.filter((x): x is string => typeof x === 'string') : [])];
    const annotated = pick(s, 'ear.veraison.annotated-evidence', 'ear_attester_claims', `submods.${name}`);
    const policyClaims = pick(s, 'ear.veraison.policy-claims', 'ear_verifier_claims', `submods.${name}`);
    const ka = pick(s, 'ear.veraison.key-attestation', 'ear_veraison_key_attestation', `submods.${name}`);
    submods[name] = {
      status,
      trustVector,
      policyIds: [...new Set(policyIds)],
      ...(annotated !== undefined ? { annotatedEvidence: asRecord(annotated, 'annotated evidence') } : {}),
      ...(policyClaims !== undefined ? { policyClaims: asRecord(policyClaims, 'policy claims') } : {}),
      ...(ka !== undefined && typeof (ka as { akpub?: unknown }).akpub === 'string' ? { keyAttestation: { akpub: (ka as { akpub: string }).akpub } } : {}),
    };
    worst = worseTier(worst, status);
  }
  return {
    profile: payload.eat_profile as string,
    spelling: underscoreSeen && !dottedSeen ? 'underscore' : 'dotted',
    iat: payload.iat,
    ...(payload.exp !== undefined ? { exp: payload.exp as number } : {}),
    verifierId: { developer: vid.developer, build: vid.build },
    ...(typeof payload.eat_nonce === 'string' ? { nonce: payload.eat_nonce } : {}),
    submods,
    status: worst,
    claims: payload,
  };
}

/**
 * Verifies an EAR JWT for a relying party: signature under one of the given keys (ES256, ES384,
 * EdDSA only), times (iat/nbf/exp with skew), optional issuer/audience, then the EAR structure.
 * Throws TokenInvalid (ERR_TOKEN_INVALID) with `details.reason`.
 */
export async function verifyEarToken(jwt: string, opts: VerifyEarOptions): Promise<VerifiedEar> {
  if (typeof jwt !== 'string' || jwt.split('.').length !== 3) throw new TokenInvalid('malformed', 'not a compact JWS (three dot-separated parts)');
  let header: { alg?: string; kid?: string };
  try {
    header = decodeProtectedHeader(jwt) as { alg?: string; kid?: string };
  } catch (e) {
    throw new TokenInvalid('malformed', `header: ${(e as Error).message}`);
  }
  if (!header.alg || !(EAR_ALGORITHMS as readonly string[]).includes(header.alg)) throw new TokenInvalid('algorithm', `alg ${JSON.stringify(header.alg)} is not accepted (ES256, ES384, EdDSA)`);
  const source = opts.jwks ?? opts.keys;
  const keys = Array.isArray(source) ? { keys: source } : source;
  if (!keys || !Array.isArray(keys.keys) || keys.keys.length === 0) throw new TokenInvalid('key', 'no verification keys given');
  const tolerance = opts.clockToleranceSeconds ?? 60;
  let payload: JWTPayload;
  try {
    const set = keySetFor(source!, keys as JSONWebKeySet);
    const r = await jwtVerify(jwt, set, {
      algorithms: [...EAR_ALGORITHMS],
      currentDate: opts.now,
      clockTolerance: tolerance,
      ...(opts.issuer ? { issuer: opts.issuer } : {}),
      ...(opts.audience ? { audience: opts.audience } : {}),
      ...(opts.maxAgeSeconds ? { maxTokenAge: opts.maxAgeSeconds } : {}),
      requiredClaims: opts.requireExp === false ? ['iat'] : ['iat', 'exp'],
    });
    payload = r.payload;
  } catch (e) {
    throw mapJoseError(e);
  }
  const iat = payload.iat;
  if (typeof iat === 'number' && iat > opts.now.getTime() / 1000 + tolerance) throw new TokenInvalid('not-yet-valid', `issued in the future (iat ${iat})`);
  const parsed = parseEarClaims(payload as Record<string, unknown>);
  return { header: { alg: header.alg, ...(header.kid ? { kid: header.kid } : {}) }, ...parsed };
}

/** One jose key set per JWKS object: jose caches imported keys inside it, so repeated verifications skip the import. */
const keySets = new WeakMap<object, ReturnType<typeof createLocalJWKSet>>();
function keySetFor(source: object, jwks: JSONWebKeySet): ReturnType<typeof createLocalJWKSet> {
  let set = keySets.get(source);
  if (!set) {
    set = createLocalJWKSet(jwks);
    keySets.set(source, set);
  }
  return set;
}

function mapJoseError(e: unknown): TokenInvalid {
  if (e instanceof TokenInvalid) return e;
  const msg = (e as Error)?.message ?? String(e);
  if (e instanceof joseErrors.JWTExpired) return new TokenInvalid('expired', msg);
  if (e instanceof joseErrors.JWTClaimValidationFailed) return new TokenInvalid(/nbf|not active/i.test(msg) ? 'not-yet-valid' : 'claims', msg, { claim: (e as { claim?: string }).claim });
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenInvalid('signature', 'signature does not verify');
  if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys) return new TokenInvalid('unknown-key', msg);
  if (e instanceof joseErrors.JOSEAlgNotAllowed || e instanceof joseErrors.JOSENotSupported) return new TokenInvalid('algorithm', msg);
  if (e instanceof joseErrors.JWKSInvalid) return new TokenInvalid('key', msg);
  return new TokenInvalid('malformed', msg);
}

/** Imports a private JWK as a signer (e.g. `--token-key key.jwk`). */
export async function signerFromJwk(jwk: JWK): Promise<EarSigner> {
  const alg = (jwk.alg ?? (jwk.kty === 'OKP' ? 'EdDSA' : jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-256' ? 'ES256' : undefined)) as EarAlgorithm | undefined;
  if (!alg || !(EAR_ALGORITHMS as readonly string[]).includes(alg)) throw new TokenInvalid('key', `signing key must be ES256 (P-256), ES384 (P-384) or EdDSA (Ed25519); got kty=${jwk.kty} crv=${jwk.crv} alg=${jwk.alg}`);
  if (!jwk.d) throw new TokenInvalid('key', 'signing key JWK has no private part (d)');
  const key = (await importJWK(jwk, alg)) as CryptoKey;
  const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk, 'sha256'));
  return { kid, alg, key };
}
