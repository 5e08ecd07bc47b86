/**
 * The one interface a TEE plugs in through (DESIGN.md "Plugging in a TEE"), and the context every
 * verifier receives. Time, network and trust inputs are parameters, never globals.
 */
import type { ChainLink, Claims, CollateralCache, Fetcher, PlatformId, TcbClaims } from '../core/index.ts';
import type { CollateralSet } from '../collateral/index.ts';

export interface VerifyOptions {
  /** Accept debug TEEs (default false: DebugNotAllowed). */
  allowDebug?: boolean;
  /** Missing revocation data is a failure instead of a warning. */
  requireCrl?: boolean;
  /** Downgrade CollateralExpired (stale TCB info / QE identity) to a warning. */
  allowExpiredCollateral?: boolean;
  /** Maximum evidence age in seconds, for evidence that carries a timestamp (Nitro). */
  maxAgeSeconds?: number;
  /** Product line override for evidence that does not name it (SNP v2: 'Milan' | 'Genoa' | 'Turin'). */
  product?: string;
}

/**
 * Expected binding values. Byte fields that are shorter than the evidence field are compared as a
 * prefix and the rest of the evidence field must be zero (how Trustee and the KBS protocol place a
 * 32/48-byte hash into 64-byte REPORT_DATA).
 */
export interface ExpectedBinding {
  reportData?: Uint8Array;
  nonce?: Uint8Array;
  userData?: Uint8Array;
  publicKey?: Uint8Array;
}

export interface VerifyContext {
  now: Date;
  collateral: CollateralSet;
  /** Network access for vendor endorsements; absent = no network. */
  fetcher?: Fetcher;
  cache?: CollateralCache;
  offline?: boolean;
  /** Base URLs of vendor services (AMD KDS, Intel PCS/PCCS), for proxies and tests. */
  endpoints?: { amdKds?: string; intelPcs?: string };
  expected?: ExpectedBinding;
  options?: VerifyOptions;
  /**
   * Extra root fingerprints (lowercase hex SHA-256) trusted in addition to the ones pinned in code,
   * keyed by trust family ('amd', 'intel', 'aws-nitro', 'tpm', 'sim'). For private test PKIs and for
   * operators with their own CA (TPM manufacturers); the CLI exposes it as --trust-root.
   */
  extraRoots?: Partial<Record<string, string[]>>;
  /**
   * An explicit event log the evidence must replay to (TDX: a CCEL against RTMR0..2). A mismatch is
   * a rejection. Only platforms with `acceptsEventLog` use it; verifyEvidence refuses it elsewhere.
   */
  eventLog?: { name: string; bytes: Uint8Array };
}

export interface Verified {
  platform: PlatformId;
  claims: Claims;
  tcb: TcbClaims | null;
  warnings: string[];
  chain: ChainLink[];
}

export interface Platform<E = unknown> {
  id: PlatformId;
  /** One line for `teataster platforms` and help text. */
  description: string;
  /** Whether verify() uses ctx.eventLog (absent: it would be ignored, so callers must not pass one). */
  acceptsEventLog?: boolean;
  /** Content sniffing for the CLI; must be cheap and must not throw. */
  detect(bytes: Uint8Array): boolean;
  /** Pure parse; throws EvidenceMalformed / UnsupportedVersion. */
  parse(bytes: Uint8Array): E;
  verify(evidence: E, ctx: VerifyContext): Promise<Verified>;
}
