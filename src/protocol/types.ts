/**
 * Wire types and validators of the Confidential Containers KBS protocol (RCAR, version 0.4.0),
 * as Trustee's code and the `kbs-types` crate define them (Trustee's prose docs are older than the
 * code): Request → Challenge → Attestation → token, then Response (a flattened JWE) per resource.
 * Browser-safe: shared by the server, the Node client and pages.
 */
import { z } from 'zod';

export const KBS_PROTOCOL_VERSION = '0.4.0';
export const KBS_PREFIX = '/kbs/v0';
export const KBS_SESSION_COOKIE = 'kbs-session-id';

/** extra-params is free JSON in Trustee: "" (empty string) or an object. */
const extraParams = z.union([z.string(), z.record(z.string(), z.unknown()), z.null()]).optional();

export const RequestSchema = z.object({
  version: z.string().min(1).max(32),
  tee: z.string().min(1).max(32),
  'extra-params': extraParams,
});
export type KbsRequest = z.infer<typeof RequestSchema>;

export const ChallengeSchema = z.object({
  nonce: z.string().min(1).max(1024),
  'extra-params': extraParams,
});
export type KbsChallenge = z.infer<typeof ChallengeSchema>;

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'base64url');

/** kbs_types::TeePubKey: a public JWK tagged by kty; `alg` names the key-management algorithm. */
export const TeePubKeySchema = z.discriminatedUnion('kty', [
  z.object({ kty: z.literal('RSA'), alg: z.string().max(32).optional(), n: b64url.max(1400), e: b64url.max(16) }),
  z.object({ kty: z.literal('EC'), alg: z.string().max(32).optional(), crv: z.enum(['P-256', 'P-384', 'P-521']), x: b64url.max(100), y: b64url.max(100) }),
]);
export type TeePubKey = z.infer<typeof TeePubKeySchema>;

export const RuntimeDataSchema = z.object({
  nonce: z.string().min(1).max(1024),
  'tee-pubkey': TeePubKeySchema,
});
export type RuntimeData = z.infer<typeof RuntimeDataSchema>;

export const InitDataSchema = z.object({ format: z.string().max(32), body: z.string().max(64 * 1024) });
export type InitData = z.infer<typeof InitDataSchema>;

/**
 * kbs_types::CompositeEvidence. `primary_evidence` is JSON in Trustee (each attester picks its own
 * shape); teataster accepts a JSON object/array (handed to the platform parser as UTF-8 JSON bytes)
 * or a string holding base64 of the raw evidence bytes. `additional_evidence` is a JSON string
 * (a map tee → evidence) or "" and is bound into the primary report data as given.
 */
export const CompositeEvidenceSchema = z.object({
  primary_evidence: z.unknown().refine((v) => v !== undefined && v !== null, 'primary_evidence is required'),
  additional_evidence: z.string().max(1024 * 1024).default(''),
});
export type CompositeEvidence = z.infer<typeof CompositeEvidenceSchema>;

export const AttestationSchema = z.object({
  'init-data': InitDataSchema.nullish(),
  'runtime-data': RuntimeDataSchema,
  'tee-evidence': CompositeEvidenceSchema,
});
export type KbsAttestation = z.infer<typeof AttestationSchema>;

export const AttestResponseSchema = z.object({ token: z.string().min(1) });

/** kbs_types::Response — a JWE in flattened JSON serialization (RFC 7516 §7.2.2). */
export const ResponseSchema = z.object({
  protected: b64url,
  encrypted_key: z.string(),
  iv: b64url,
  ciphertext: z.string(),
  tag: b64url,
  aad: z.string().optional(),
});
export type KbsResponse = z.infer<typeof ResponseSchema>;

/** RFC 7807 problem details; `type`+`detail` also satisfy kbs_types::ErrorInformation. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code?: string;
  instance?: string;
  /** Per-rule explanations of a denial (rule id and a sentence), never secret values. */
  violations?: { rule: string; message: string }[];
  [extra: string]: unknown;
}

export const PROBLEM_BASE = 'https://teataster.dev/problems/';

/** A resource path "repository/type/tag"; each segment non-empty and without '/' or "..". */
/** Same alphabet as the store's validateResourcePath. */
export const RESOURCE_SEGMENT = /^[A-Za-z0-9._+=@:~-]{1,128}$/;
export function parseResourcePath(path: string): { repository: string; type: string; tag: string } | null {
  const parts = path.split('/');
  if (parts.length !== 3) return null;
  const [repository, type, tag] = parts as [string, string, string];
  for (const p of parts) if (!RESOURCE_SEGMENT.test(p) || p === '.' || p === '..') return null;
  return { repository, type, tag };
}
