/**
 * Table shapes as kysely sees them. Column representations differ per dialect (docs/store.md
 * "Schema"): times are timestamptz on PostgreSQL and integer milliseconds on SQLite, booleans
 * boolean vs 0/1, JSON jsonb vs text, bytes bytea vs blob. `Codec` converts at the edges.
 */
import type { Generated } from 'kysely';

/** Date (PostgreSQL) or epoch milliseconds (SQLite). */
export type DbTime = Date | number;
export type DbBool = boolean | number;
/** Written as a JSON string; read as parsed JSON (jsonb) or a string (SQLite). */
export type DbJson = unknown;
export type DbBytes = Uint8Array;

export interface KeysTable {
  name: string;
  key_id: string;
  wrapped_key: DbBytes;
  created_at: DbTime;
  updated_at: DbTime;
}

export interface SessionsTable {
  /** hex SHA-256 of the session id: the cookie value itself never reaches the database. */
  id_hash: string;
  nonce: string;
  tee: string;
  hash_alg: string;
  extra_params: DbJson;
  created_at: DbTime;
  expires_at: DbTime;
  nonce_used: DbBool;
  attested_at: DbTime | null;
  token_ct: DbBytes | null;
  token_id: string | null;
  tee_pubkey: DbJson | null;
  claims: DbJson | null;
  attestation_expires_at: DbTime | null;
}

export interface ResourcesTable {
  path: string;
  version: number;
  content_type: string | null;
  size: number;
  ciphertext: DbBytes;
  wrapped_key: DbBytes;
  key_id: string;
  created_at: DbTime;
  created_by: string;
  updated_at: DbTime;
  updated_by: string;
}

export interface ResourcePoliciesTable {
  glob: string;
  cel: string;
  description: string | null;
  updated_by: string;
  updated_at: DbTime;
  version: number;
}

export interface AttestationPoliciesTable {
  tee: string;
  document: string;
  updated_by: string;
  updated_at: DbTime;
  version: number;
}

export interface ReferenceValuesTable {
  name: string;
  kind: string;
  value: DbJson;
  source: string;
  added_by: string;
  added_at: DbTime;
  expires_at: DbTime | null;
  description: string | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: DbJson;
  private_ct: DbBytes;
  wrapped_key: DbBytes;
  key_id: string;
  created_at: DbTime;
  not_after: DbTime | null;
  retired_at: DbTime | null;
}

export interface AuditTable {
  id: Generated<number>;
  kind: string;
  at: DbTime;
  platform: string | null;
  verdict: string | null;
  reasons: DbJson;
  evidence_digest: string | null;
  client: string | null;
  resource: string | null;
  token_id: string | null;
  rule_results: DbJson;
  actor: string | null;
  detail: DbJson;
}

export interface OutboxTable {
  id: Generated<number>;
  event: string;
  payload: DbJson;
  url: string | null;
  status: string;
  attempts: number;
  max_attempts: number;
  created_at: DbTime;
  next_attempt_at: DbTime;
  last_error: string | null;
  done_at: DbTime | null;
}

export interface KvTable {
  key: string;
  value: DbJson;
  updated_at: DbTime;
}

export interface Database {
  tt_keys: KeysTable;
  tt_sessions: SessionsTable;
  tt_resources: ResourcesTable;
  tt_resource_policies: ResourcePoliciesTable;
  tt_attestation_policies: AttestationPoliciesTable;
  tt_reference_values: ReferenceValuesTable;
  tt_signing_keys: SigningKeysTable;
  tt_audit: AuditTable;
  tt_webhook_outbox: OutboxTable;
  tt_kv: KvTable;
}
