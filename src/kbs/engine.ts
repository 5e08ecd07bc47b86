/**
 * What the KBS needs from the Trust stage (src/policy): appraise verified evidence under the
 * platform's attestation policy, issue an EAR token bound to the handshake's runtime data, and
 * verify EAR tokens presented later (passport mode, also from trusted issuer KBSs).
 */
import type { PlatformId } from '../core/index.ts';
import type { TeePubKey } from '../protocol/index.ts';
import type { Verified } from '../verify/index.ts';

export type EarStatus = 'affirming' | 'warning' | 'contraindicated' | 'none';

export interface AppraisalOutcome {
  status: EarStatus;
  /** Failed rules in words (safe to show the caller). */
  violations: { rule: string; message: string }[];
  /** The full per-rule table for the audit log (may include expected/actual values). */
  rules: unknown;
  policyId: string;
  /** The appraisal result object the EAR token is built from (engine-specific). */
  result: unknown;
}

export interface TokenFacts {
  payload: Record<string, unknown>;
  status: EarStatus;
  platform: string;
  teePubkey: TeePubKey | null;
  claims: unknown;
  jti: string | null;
  expiresAt: Date;
  issuer: string;
}

export interface AttestationEngine {
  appraise(verified: Verified, policy: { tee: string; text: string } | null, platform: PlatformId, now: Date): Promise<AppraisalOutcome>;
  issueToken(input: { verified: Verified; outcome: AppraisalOutcome; nonce: string; teePubkey: TeePubKey; initData?: unknown; ttlSeconds: number; now: Date }): Promise<{ token: string; jti: string; expiresAt: Date }>;
  /** Throws an AttestError (ERR_TOKEN_INVALID) on any problem. */
  verifyToken(token: string, now: Date): Promise<TokenFacts>;
  jwks(): Promise<{ keys: Record<string, unknown>[] }>;
}
