/**
 * Schema migrations, inline (no migration folder to ship), one list for both dialects with the
 * dialect-specific column types chosen by `types(dialect)`. Append new migrations; never edit an
 * applied one (kysely refuses missing or reordered migrations).
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { AttestError, ErrorCode } from '../core/errors.ts';
import type { StoreDialect, StoreLogger } from './types.ts';

export const MIGRATION_TABLE = 'tt_migration';
export const MIGRATION_LOCK_TABLE = 'tt_migration_lock';

interface ColTypes {
  time: 'timestamptz' | 'integer';
  bool: 'boolean' | 'integer';
  json: 'jsonb' | 'text';
  bytes: 'bytea' | 'blob';
  int: 'integer';
}

function types(dialect: StoreDialect): ColTypes {
  return dialect === 'postgres'
    ? { time: 'timestamptz', bool: 'boolean', json: 'jsonb', bytes: 'bytea', int: 'integer' }
    : { time: 'integer', bool: 'integer', json: 'text', bytes: 'blob', int: 'integer' };
}

// kysely's schema builder is untyped with respect to our Database, so migrations take Kysely<unknown>.
type Db = Kysely<unknown>;

function initial(dialect: StoreDialect): Migration {
  const t = types(dialect);
  const pg = dialect === 'postgres';
  return {
    async up(db: Db) {
      await db.schema
        .createTable('tt_keys')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('wrapped_key', t.bytes, (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('tt_sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('tee', 'text', (c) => c.notNull())
        .addColumn('hash_alg', 'text', (c) => c.notNull())
        .addColumn('extra_params', t.json, (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('expires_at', t.time, (c) => c.notNull())
        .addColumn('nonce_used', t.bool, (c) => c.notNull().defaultTo(pg ? sql`false` : 0))
        .addColumn('attested_at', t.time)
        .addColumn('token_ct', t.bytes)
        .addColumn('token_id', 'text')
        .addColumn('tee_pubkey', t.json)
        .addColumn('claims', t.json)
        .addColumn('attestation_expires_at', t.time)
        .execute();
      await db.schema.createIndex('tt_sessions_expires_at').on('tt_sessions').column('expires_at').execute();

      await db.schema
        .createTable('tt_resources')
        .addColumn('path', 'text', (c) => c.primaryKey())
        .addColumn('version', t.int, (c) => c.notNull())
        .addColumn('content_type', 'text')
        .addColumn('size', t.int, (c) => c.notNull())
        .addColumn('ciphertext', t.bytes, (c) => c.notNull())
        .addColumn('wrapped_key', t.bytes, (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('tt_resource_policies')
        .addColumn('glob', 'text', (c) => c.primaryKey())
        .addColumn('cel', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .addColumn('version', t.int, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('tt_attestation_policies')
        .addColumn('tee', 'text', (c) => c.primaryKey())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .addColumn('version', t.int, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('tt_reference_values')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value', t.json, (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('added_by', 'text', (c) => c.notNull())
        .addColumn('added_at', t.time, (c) => c.notNull())
        .addColumn('expires_at', t.time)
        .addColumn('description', 'text')
        .execute();

      await db.schema
        .createTable('tt_signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('public_jwk', t.json, (c) => c.notNull())
        .addColumn('private_ct', t.bytes, (c) => c.notNull())
        .addColumn('wrapped_key', t.bytes, (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('not_after', t.time)
        .addColumn('retired_at', t.time)
        .execute();

      await db.schema
        .createTable('tt_audit')
        .addColumn('id', pg ? 'bigint' : 'integer', (c) => (pg ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement()))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('at', t.time, (c) => c.notNull())
        .addColumn('platform', 'text')
        .addColumn('verdict', 'text')
        .addColumn('reasons', t.json, (c) => c.notNull())
        .addColumn('evidence_digest', 'text')
        .addColumn('client', 'text')
        .addColumn('resource', 'text')
        .addColumn('token_id', 'text')
        .addColumn('rule_results', t.json, (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('detail', t.json, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tt_audit_at').on('tt_audit').columns(['at', 'id']).execute();
      await db.schema.createIndex('tt_audit_kind_at').on('tt_audit').columns(['kind', 'at']).execute();

      await db.schema
        .createTable('tt_webhook_outbox')
        .addColumn('id', pg ? 'bigint' : 'integer', (c) => (pg ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement()))
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('payload', t.json, (c) => c.notNull())
        .addColumn('url', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', t.int, (c) => c.notNull())
        .addColumn('max_attempts', t.int, (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('next_attempt_at', t.time, (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('done_at', t.time)
        .execute();
      await db.schema.createIndex('tt_webhook_outbox_due').on('tt_webhook_outbox').columns(['status', 'next_attempt_at']).execute();

      await db.schema
        .createTable('tt_kv')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', t.json, (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .execute();
    },
  };
}

export function migrationsFor(dialect: StoreDialect): Record<string, Migration> {
  return { '0001_initial': initial(dialect) };
}

/**
 * Brings the schema to the latest version. PostgreSQL: kysely holds a session advisory lock and
 * runs the migrations in one transaction, so replicas starting together migrate once. SQLite:
 * the caller wraps this in BEGIN IMMEDIATE (kysely runs SQLite migrations without a transaction).
 */
export async function migrate(db: Db, dialect: StoreDialect, logger?: StoreLogger): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(dialect) };
  const migrator = new Migrator({ db, provider, migrationTableName: MIGRATION_TABLE, migrationLockTableName: MIGRATION_LOCK_TABLE });
  const { error, results } = await migrator.migrateToLatest();
  const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (applied.length > 0) logger?.info({ applied, dialect }, 'store migrations applied');
  if (error) {
    const failed = (results ?? []).find((r) => r.status === 'Error')?.migrationName;
    throw new AttestError(ErrorCode.Internal, `store migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`, { reason: 'migration', migration: failed ?? null }, { cause: error });
  }
  return applied;
}
