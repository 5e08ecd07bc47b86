/**
 * The storage interface of teataster (SQLite file by default, PostgreSQL for several replicas).
 * Everything the KBS, the appraisal and the Keep need to share between processes lives behind
 * these repositories: sessions and nonces, resources (encrypted at rest), resource and
 * attestation policies, reference values with provenance, token signing keys (private half
 * encrypted at rest), the audit log and the webhook outbox.
 *
 * Conventions: every method is async; times are `Date`; "not found" on a read is `undefined`
 * (callers decide whether that is a 404); a delete returns whether a row went away. Errors are
 * `AttestError`s: ERR_CONFIG_INVALID (bad URL, wrong master key), ERR_NOT_FOUND (update of a
 * missing row), ERR_INTERNAL with `details.reason === 'integrity'` (ciphertext or row tampered),
 * ERR_LIMIT_EXCEEDED (value too large), ERR_WORKLOAD_INVALID is never used here.
 */

import type { JsonValue } from '../core/index.ts';
import type { NewReferenceValue, ReferenceValue } from '../policy/refs.ts';
import type { Jwk, StoredKey } from '../policy/keyring.ts';

export type { JsonValue, Jwk };
export type JsonObject = { [key: string]: JsonValue };


/** pino-compatible subset. */
export interface StoreLogger {
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * The key that wraps every per-secret data key. Plug-in point for PKCS#11 / cloud KMS: implement
 * `wrap`/`unwrap` with the HSM's or KMS's encrypt/decrypt, passing `aad` as its associated data
 * (KMS "encryption context"), and give a stable `id` (e.g. the KMS key ARN + version).
 */
export interface MasterKeyProvider {
  /** Stable identifier stored beside every wrapped key (rotation: rows say which key wrapped them). */
  readonly id: string;
  wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** Must throw if `wrapped` or `aad` was altered or the key is wrong. */
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}

export interface OpenStoreOptions {
  /** 32 raw bytes (AES-256) or a provider (HSM / KMS). */
  masterKey: Uint8Array | MasterKeyProvider;
  /** Older master keys still accepted for unwrapping during a rotation (see `Store.rewrapSecrets`). */
  previousMasterKeys?: (Uint8Array | MasterKeyProvider)[];
  logger?: StoreLogger;
  /** Run migrations on open (default true). */
  migrate?: boolean;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
  /** SQLite busy timeout in ms (default 5000). */
  busyTimeoutMs?: number;
}

export type StoreDialect = 'sqlite' | 'postgres';

// ---------------------------------------------------------------------------------------------
// sessions (KBS RCAR handshake)

export interface NewSession {
  id: string;
  /** base64 of 32 random bytes, as sent to the client. */
  nonce: string;
  tee: string;
  /** 'sha384' (default), 'sha256', 'sha512': negotiated from `supported-hash-algorithms`. */
  hashAlgorithm: string;
  expiresAt: Date;
  extraParams?: JsonValue;
  createdAt?: Date;
}

export interface SessionAttestation {
  /** The EAR JWT issued for this session (stored encrypted). */
  token: string;
  /** Token id (`jti`) if the issuer set one, for the audit log. */
  tokenId?: string | null;
  teePubKey: Jwk;
  claims: JsonValue;
  expiresAt: Date;
  attestedAt: Date;
}

export interface SessionRecord {
  id: string;
  nonce: string;
  tee: string;
  hashAlgorithm: string;
  extraParams: JsonValue;
  createdAt: Date;
  expiresAt: Date;
  nonceUsed: boolean;
  attestation: SessionAttestation | null;
}

export type ConsumeNonceResult =
  | { ok: true; session: SessionRecord }
  | { ok: false; reason: 'not-found' | 'expired' | 'nonce-mismatch' | 'already-used'; session?: SessionRecord };

export interface SessionRepository {
  create(s: NewSession): Promise<SessionRecord>;
  get(id: string): Promise<SessionRecord | undefined>;
  /**
   * Atomically marks the nonce used: exactly one caller (across processes and replicas sharing
   * the database) gets `ok: true` for a given session. Expired sessions never succeed.
   */
  consumeNonce(id: string, nonce: string, now: Date): Promise<ConsumeNonceResult>;
  /** Throws ERR_NOT_FOUND if the session does not exist. */
  markAttested(id: string, a: Omit<SessionAttestation, 'attestedAt'> & { attestedAt?: Date }): Promise<void>;
  delete(id: string): Promise<boolean>;
  /** Deletes sessions whose `expiresAt` and attestation expiry are both <= now; returns the count. */
  purgeExpired(now: Date): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// resources (secrets), encrypted at rest

export interface ResourceInfo {
  /** 'repository/type/tag' */
  path: string;
  /** Starts at 1, +1 on every put; part of the ciphertext's AAD. */
  version: number;
  contentType: string | null;
  size: number;
  createdAt: Date;
  createdBy: string;
  updatedAt: Date;
  updatedBy: string;
  /** Id of the master key that wrapped this resource's data key. */
  keyId: string;
}

export interface ResourceValue extends ResourceInfo {
  value: Uint8Array;
}

export interface ResourceRepository {
  /** Insert or replace. Path is validated (3 segments, no '.'/'..', no control chars). */
  put(path: string, value: Uint8Array, meta: { contentType?: string; createdBy: string; at?: Date }): Promise<ResourceInfo>;
  /** Decrypts; throws ERR_CONFIG_INVALID (wrong master key) or ERR_INTERNAL/integrity (tampered). */
  get(path: string): Promise<ResourceValue | undefined>;
  info(path: string): Promise<ResourceInfo | undefined>;
  /** Metadata only, sorted by path; `prefix` is a plain string prefix such as 'default/key/'. */
  list(prefix?: string): Promise<ResourceInfo[]>;
  delete(path: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// policies

export interface ResourcePolicyRecord {
  /** Glob over resource paths ('default/*\/*', 'prod/key/**'). Matching is the KBS's job. */
  glob: string;
  /** CEL source over the EAR claims. */
  cel: string;
  description: string | null;
  updatedBy: string;
  updatedAt: Date;
  version: number;
}

export interface ResourcePolicyRepository {
  set(glob: string, celSource: string, meta: { description?: string; updatedBy: string; at?: Date }): Promise<ResourcePolicyRecord>;
  get(glob: string): Promise<ResourcePolicyRecord | undefined>;
  /** Sorted by glob. */
  list(): Promise<ResourcePolicyRecord[]>;
  delete(glob: string): Promise<boolean>;
}

export interface AttestationPolicyRecord {
  /** A platform id ('snp', 'tdx', 'sim', …) or 'default'. */
  tee: string;
  /** The policy document as text (YAML or JSON), validated by src/policy, not here. */
  document: string;
  updatedBy: string;
  updatedAt: Date;
  version: number;
}

export interface AttestationPolicyRepository {
  set(tee: string, documentText: string, updatedBy: string, at?: Date): Promise<AttestationPolicyRecord>;
  /** Exact match only; falling back to 'default' is the caller's decision. */
  get(tee: string): Promise<AttestationPolicyRecord | undefined>;
  list(): Promise<AttestationPolicyRecord[]>;
  delete(tee: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// reference values (issue 5), with provenance

/** The record is the appraisal layer's ReferenceValue: one shape from the CLI through the store to policies. */
export type { ReferenceValueKind } from '../policy/refs.ts';
export type { NewReferenceValue };
export type ReferenceValueRecord = ReferenceValue;

export interface ReferenceValueRepository {
  /** Insert or replace (by name). */
  put(rv: NewReferenceValue): Promise<ReferenceValueRecord>;
  get(name: string): Promise<ReferenceValueRecord | undefined>;
  /** Sorted by name. With `now`, values whose expiresAt <= now are left out. */
  list(opts?: { prefix?: string; now?: Date }): Promise<ReferenceValueRecord[]>;
  delete(name: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// token signing keys (EAR), private half encrypted at rest

/** The key ring's StoredKey (src/policy/keyring.ts), persisted with the private half encrypted. */
export type SigningKeyRecord = StoredKey;

export type NewSigningKey = Omit<SigningKeyRecord, 'retiredAt'> & { retiredAt?: Date | null };

export interface SigningKeyRepository {
  /** All keys (retired ones too, so tokens they signed still verify), oldest first, private JWKs decrypted. */
  list(): Promise<SigningKeyRecord[]>;
  get(kid: string): Promise<SigningKeyRecord | undefined>;
  /** Insert; ERR_CONFIG_INVALID if the kid exists. */
  put(k: NewSigningKey): Promise<void>;
  /** Throws ERR_NOT_FOUND if absent. */
  retire(kid: string, at: Date): Promise<void>;
  delete(kid: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// audit log

export type AuditKind = 'attestation' | 'release' | 'refusal' | 'admin';

export interface NewAuditEvent {
  kind: AuditKind;
  at: Date;
  platform?: string | null;
  /** 'affirming' | 'warning' | 'contraindicated' | 'none' | 'released' | 'denied' | … */
  verdict?: string | null;
  reasons?: JsonValue;
  /** hex SHA-256 (or similar) of the evidence bytes. */
  evidenceDigest?: string | null;
  /** Client address. */
  client?: string | null;
  resource?: string | null;
  tokenId?: string | null;
  ruleResults?: JsonValue;
  /** Admin subject for 'admin' events. */
  actor?: string | null;
  /** Free-form extras (admin action name, session id…). Never secrets. */
  detail?: JsonValue;
}

export interface AuditEvent {
  /** Monotonic per database. */
  id: number;
  kind: AuditKind;
  at: Date;
  platform: string | null;
  verdict: string | null;
  reasons: JsonValue;
  evidenceDigest: string | null;
  client: string | null;
  resource: string | null;
  tokenId: string | null;
  ruleResults: JsonValue;
  actor: string | null;
  detail: JsonValue;
}

export interface AuditFilter {
  /** Inclusive. */
  since?: Date;
  /** Exclusive. */
  until?: Date;
  kind?: AuditKind | AuditKind[];
  platform?: string;
  resource?: string;
  verdict?: string;
  /** Default 100, max 10000 for `query`; no default for `exportJsonLines`. */
  limit?: number;
  /** Only events with id < beforeId (pagination, newest first). */
  beforeId?: number;
}

export interface AuditRepository {
  append(e: NewAuditEvent): Promise<number>;
  /** Newest first (by time, then id). */
  query(filter?: AuditFilter): Promise<AuditEvent[]>;
  /** Each item is one JSON object followed by '\n', newest first; streams in pages. */
  exportJsonLines(filter?: AuditFilter): AsyncIterable<string>;
}

// ---------------------------------------------------------------------------------------------
// webhook outbox (signed, retried notifications: the dispatcher signs and posts; this stores)

export interface NewOutboxEvent {
  /** e.g. 'attestation.failed', 'resource.denied' */
  event: string;
  payload: JsonValue;
  /** Target URL; null = every configured webhook (dispatcher's choice). */
  url?: string | null;
  /** Earliest delivery time (default now). */
  at?: Date;
  /** Give up (status 'dead') after this many failed attempts (default 10). */
  maxAttempts?: number;
}

export type OutboxStatus = 'pending' | 'done' | 'dead';

export interface OutboxItem {
  id: number;
  event: string;
  payload: JsonValue;
  url: string | null;
  status: OutboxStatus;
  /** Attempts started so far (claimDue increments it). */
  attempts: number;
  maxAttempts: number;
  createdAt: Date;
  nextAttemptAt: Date;
  lastError: string | null;
}

export interface WebhookOutboxRepository {
  enqueue(e: NewOutboxEvent): Promise<number>;
  /**
   * Claims up to `limit` pending items with nextAttemptAt <= now and leases them for `leaseMs`
   * (default 60 s: nextAttemptAt moves to now + lease, so a crashed worker's items come back).
   * Concurrent claimers never receive the same item (FOR UPDATE SKIP LOCKED on PostgreSQL).
   */
  claimDue(now: Date, limit: number, opts?: { leaseMs?: number }): Promise<OutboxItem[]>;
  markDone(id: number, at?: Date): Promise<void>;
  /**
   * Records the failure; next attempt at now + backoffMs, or status 'dead' when attempts have
   * reached maxAttempts. Returns the new status.
   */
  markFailed(id: number, error: string, backoffMs: number, now: Date): Promise<OutboxStatus>;
  get(id: number): Promise<OutboxItem | undefined>;
  /** Deletes 'done' and 'dead' items older than `before`. */
  purge(before: Date): Promise<number>;
}

/** Small shared key/value state (JSON), e.g. leader leases, install ids. Not for secrets. */
export interface KvRepository {
  get(key: string): Promise<JsonValue | undefined>;
  set(key: string, value: JsonValue, at?: Date): Promise<void>;
  /** Insert only if absent; returns true if this call inserted it (atomic across replicas). */
  setIfAbsent(key: string, value: JsonValue, at?: Date): Promise<boolean>;
  delete(key: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------

export interface StoreRepositories {
  sessions: SessionRepository;
  resources: ResourceRepository;
  resourcePolicies: ResourcePolicyRepository;
  attestationPolicies: AttestationPolicyRepository;
  referenceValues: ReferenceValueRepository;
  signingKeys: SigningKeyRepository;
  audit: AuditRepository;
  webhookOutbox: WebhookOutboxRepository;
  kv: KvRepository;
}

export interface Store extends StoreRepositories {
  readonly dialect: StoreDialect;
  /** Redacted description (no password) for logs. */
  readonly description: string;
  /** Runs `fn` in one database transaction; nested calls join the outer one. */
  transaction<T>(fn: (tx: StoreRepositories) => Promise<T>): Promise<T>;
  /** Readiness probe: a trivial query. */
  ping(): Promise<void>;
  /** Re-wraps every data key not wrapped by the current master key; returns the count per table. */
  rewrapSecrets(): Promise<{ resources: number; signingKeys: number; meta: number }>;
  close(): Promise<void>;
}
