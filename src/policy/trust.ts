/**
 * AR4SI trustworthiness tiers, claims and their named values (draft-ietf-rats-ar4si §2.3, as
 * serialised by draft-ietf-rats-ear: JSON keys are the claim names, values are -128..127).
 * Tier of a value (ar4si §2.3.1): none = -1..1, affirming = 2..31 and -32..-2,
 * warning = 32..95 and -96..-33, contraindicated = 96..127 and -128..-97.
 */

export type TrustTier = 'none' | 'affirming' | 'warning' | 'contraindicated';

/** Tier code points (ar4si "trustworthiness-tier" JSON/CBOR labels). */
export const TIER_VALUE: Readonly<Record<TrustTier, number>> = { none: 0, affirming: 2, warning: 32, contraindicated: 96 };

export const TRUST_TIERS: readonly TrustTier[] = ['none', 'affirming', 'warning', 'contraindicated'];

/** Order from most to least trustworthy outcome when combining ("worst wins"); none is absence of a claim. */
const TIER_RANK: Readonly<Record<TrustTier, number>> = { none: 0, affirming: 1, warning: 2, contraindicated: 3 };

export const TRUST_CLAIMS = ['instance-identity', 'configuration', 'executables', 'file-system', 'hardware', 'runtime-opaque', 'storage-opaque', 'sourced-data'] as const;
export type TrustClaim = (typeof TRUST_CLAIMS)[number];

export type TrustVector = Partial<Record<TrustClaim, number>>;

export function isTrustClaim(s: string): s is TrustClaim {
  return (TRUST_CLAIMS as readonly string[]).includes(s);
}

export function isTrustTier(s: unknown): s is TrustTier {
  return typeof s === 'string' && (TRUST_TIERS as readonly string[]).includes(s);
}

export function tierOf(value: number): TrustTier {
  if (!Number.isInteger(value) || value < -128 || value > 127) throw new RangeError(`trustworthiness claim ${value} is outside -128..127`);
  const v = Math.abs(value);
  if (v <= 1) return 'none';
  if (v <= 31 || (value < 0 && v <= 32)) return 'affirming';
  if (v <= 95 || (value < 0 && v <= 96)) return 'warning';
  return 'contraindicated';
}

export function worseTier(a: TrustTier, b: TrustTier): TrustTier {
  return TIER_RANK[b] > TIER_RANK[a] ? b : a;
}

export function tierRank(t: TrustTier): number {
  return TIER_RANK[t];
}

/** ar4si §2.3.2..: named values per claim (the values Veraison's EAR libraries use too). */
export const AR4SI = {
  verifierMalfunction: -1,
  noClaim: 0,
  unexpectedEvidence: 1,
  cryptoValidationFailed: 99,
  'instance-identity': { trustworthy: 2, untrustworthy: 96, unrecognized: 97 },
  configuration: { approved: 2, noKnownVulnerabilities: 3, unsafe: 32, unsupportable: 96 },
  executables: { approvedRuntime: 2, approvedBoot: 3, unsafe: 32, unrecognized: 33, contraindicated: 96 },
  'file-system': { approved: 2, unrecognized: 32, contraindicated: 96 },
  hardware: { genuine: 2, unsafe: 32, contraindicated: 96, unrecognized: 97 },
  'runtime-opaque': { encryptedMemory: 2, isolatedMemory: 32, visibleMemory: 96 },
  'storage-opaque': { hwKeysEncryptedSecrets: 2, swKeysEncryptedSecrets: 32, unencryptedSecrets: 96 },
  'sourced-data': { trusted: 2, untrusted: 32, contraindicated: 96 },
} as const;

const DESCRIPTIONS: Record<TrustClaim, Record<number, string>> = {
  'instance-identity': { 2: 'recognized and not compromised', 96: 'recognized but not trustworthy', 97: 'not recognized' },
  configuration: { 2: 'all recognized and approved', 3: 'no known vulnerabilities', 32: 'known vulnerabilities', 96: 'unacceptable security vulnerabilities' },
  executables: { 2: 'recognized and approved boot- and run-time', 3: 'recognized and approved boot-time', 32: 'recognized but known bugs or vulnerabilities', 33: 'unrecognized run-time', 96: 'contraindicated run-time' },
  'file-system': { 2: 'all recognized and approved', 32: 'unrecognized item(s) found', 96: 'contraindicated item(s) found' },
  hardware: { 2: 'genuine', 32: 'genuine but known bugs or vulnerabilities', 96: 'genuine but contraindicated', 97: 'unrecognized' },
  'runtime-opaque': { 2: 'memory encryption', 32: 'memory isolation', 96: 'visible' },
  'storage-opaque': { 2: 'encrypted secrets with HW-backed keys', 32: 'encrypted secrets with non HW-backed keys', 96: 'unencrypted secrets' },
  'sourced-data': { 2: 'from attesters in the affirming tier', 32: 'from unattested sources or attesters in the warning tier', 96: 'from attesters in the contraindicated tier' },
};

/** Short human description of a claim value ("genuine but known bugs or vulnerabilities"). */
export function describeClaimValue(claim: TrustClaim, value: number): string {
  if (value === -1) return 'verifier malfunction';
  if (value === 0) return 'no claim';
  if (value === 1) return 'unexpected evidence';
  if (value === 99) return 'cryptographic validation failed';
  return DESCRIPTIONS[claim][value] ?? `${tierOf(value)} (code point ${value})`;
}

/** The canonical value of `claim` for a tier, used when a rule names only a tier. */
export function valueForTier(claim: TrustClaim, tier: TrustTier): number {
  if (tier === 'none') return 0;
  if (tier === 'affirming') return 2;
  if (tier === 'warning') return 32;
  return 96;
}

/**
 * The status of a vector: the worst tier among its claims (EAR: the status MUST NOT be of higher
 * trust than the worst claim), combined with tiers raised directly by checks that have no vector
 * slot. Nothing at all → 'none'.
 */
export function statusOf(vector: TrustVector, extra: TrustTier[] = []): TrustTier {
  let worst: TrustTier = 'none';
  for (const v of Object.values(vector)) if (v !== undefined) worst = worseTier(worst, tierOf(v));
  for (const t of extra) worst = worseTier(worst, t);
  return worst;
}
