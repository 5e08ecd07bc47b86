/**
 * openStore: picks the dialect from the URL, migrates, checks the master key against the
 * database and returns the repositories (docs/store.md).
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, sql, type PostgresPool } from 'kysely';
import { AttestError, ErrorCode } from '../core/errors.ts';
import { auditRepository } from './audit.ts';
import { codecFor } from './codec.ts';
import type { RepoContext } from './context.ts';
import { aadFor, Envelope } from './envelope.ts';
import { toMasterKeyProvider } from './master-key.ts';
import { migrate } from './migrations.ts';
import { kvRepository, webhookOutboxRepository } from './outbox.ts';
import { attestationPolicyRepository, referenceValueRepository, resourcePolicyRepository } from './policies.ts';
import { resourceAad, resourceRepository } from './resources.ts';
import type { Database } from './schema.ts';
import { sessionRepository } from './sessions.ts';
import { signingKeyAad, signingKeyRepository } from './signing-keys.ts';
import { openNodeSqlite, type NodeSqliteHandle } from './sqlite-adapter.ts';
import type { OpenStoreOptions, Store, StoreDialect, StoreRepositories } from './types.ts';

export type DatabaseTarget = { dialect: 'postgres'; url: string } | { dialect: 'sqlite'; path: string };

/** `postgres://…` / `postgresql://…` → PostgreSQL; anything else is a SQLite file path or ':memory:'. */
export function parseDatabaseUrl(url: string | { path: string }): DatabaseTarget {
  if (typeof url !== 'string') return { dialect: 'sqlite', path: url.path };
  if (/^postgres(ql)?:\/\//i.test(url)) return { dialect: 'postgres', url };
  const path = url.replace(/^sqlite:(\/\/)?/i, '');
  if (path === '') throw new AttestError(ErrorCode.ConfigInvalid, 'empty database path');
  return { dialect: 'sqlite', path };
}

/** The URL without its password, for logs and errors. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://<unparseable>';
  }
}

// --- pg, typed just enough (the package ships no types) --------------------------------------
interface PgPool {
  on(event: 'error', fn: (err: Error) => void): void;
  end(): Promise<void>;
}
interface PgModule {
  Pool: new (config: Record<string, unknown>) => PgPool;
  types: { getTypeParser(oid: number, format?: string): (v: string) => unknown };
}
const PG_INT8_OID = 20;

function pgModule(): PgModule {
  const req = createRequire(import.meta.url);
  const mod = req('pg') as PgModule & { default?: PgModule };
  return mod.default ?? mod;
}

const SESSION_KEY_NAME = 'sessions';

interface Opened {
  db: Kysely<Database>;
  dialect: StoreDialect;
  description: string;
  sqlite?: NodeSqliteHandle;
  /** Set when migrations already ran for this (shared) connection. */
  migrated?: boolean;
  /** Closes (or, for a shared SQLite connection, releases) the database. */
  release?: () => Promise<void>;
}

async function connect(target: DatabaseTarget, opts: OpenStoreOptions): Promise<Opened> {
  if (target.dialect === 'postgres') {
    const pg = pgModule();
    const description = redactDatabaseUrl(target.url);
    const pool = new pg.Pool({
      connectionString: target.url,
      max: opts.poolSize ?? 10,
      // Per-pool parser: ids and counts (int8) as numbers, without touching pg's global parsers.
      types: {
        getTypeParser: (oid: number, format?: string) => (oid === PG_INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)),
      },
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', (err) => opts.logger?.error({ err: err.message, database: description }, 'postgres pool error'));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: pool as unknown as PostgresPool }) });
    try {
      await sql`select 1`.execute(db);
    } catch (e) {
      await db.destroy().catch(() => undefined);
      throw new AttestError(ErrorCode.ConfigInvalid, `cannot connect to PostgreSQL at ${description}: ${(e as Error).message}`, { database: description, reason: 'unreachable' }, { cause: e });
    }
    return { db, dialect: 'postgres', description };
  }
  const path = target.path === ':memory:' ? ':memory:' : resolve(target.path);
  if (path === ':memory:') return openSqlite(path, opts);
  // One connection per file per process: node:sqlite is synchronous, so a second connection in
  // the same process waiting on the first one's write lock would block the event loop that the
  // first one needs to finish (a self-deadlock until busy_timeout). Stores opened on the same file
  // in one process share the connection and kysely's mutex; other processes use their own.
  let shared = sqliteShared.get(path);
  if (!shared) {
    const entry: SharedSqlite = { refs: 0, opened: openSqlite(path, opts).then(async (o) => {
      try {
        if (opts.migrate !== false) await runMigrations(o, opts);
      } catch (e) {
        await o.db.destroy().catch(() => undefined);
        throw e;
      }
      return { ...o, migrated: true };
    }) };
    entry.opened.catch(() => sqliteShared.delete(path));
    sqliteShared.set(path, entry);
    shared = entry;
  }
  shared.refs++;
  const entry = shared;
  let o: Opened;
  try {
    o = await entry.opened;
  } catch (e) {
    entry.refs--;
    throw e;
  }
  return {
    ...o,
    release: async () => {
      if (--entry.refs === 0) {
        sqliteShared.delete(path);
        await o.db.destroy();
      }
    },
  };
}

interface SharedSqlite {
  refs: number;
  opened: Promise<Opened>;
}
const sqliteShared = new Map<string, SharedSqlite>();

async function openSqlite(path: string, opts: OpenStoreOptions): Promise<Opened> {
  let handle: NodeSqliteHandle;
  try {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Create the file owner-only before SQLite does (its -wal/-shm files inherit the mode).
      closeSync(openSync(path, 'a', 0o600));
    }
    handle = openNodeSqlite(path, { busyTimeoutMs: opts.busyTimeoutMs ?? 5000 });
  } catch (e) {
    throw new AttestError(ErrorCode.ConfigInvalid, `cannot open SQLite database ${path}: ${(e as Error).message}`, { database: path }, { cause: e });
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: handle }) });
  return { db, dialect: 'sqlite', description: `sqlite:${path}`, sqlite: handle };
}

async function runMigrations(o: Opened, opts: OpenStoreOptions): Promise<void> {
  if (o.sqlite) {
    // kysely migrates SQLite without a transaction and without a lock; BEGIN IMMEDIATE makes a
    // second process opening the same file wait, then find the migrations applied.
    const raw = o.sqlite.raw;
    raw.exec('BEGIN IMMEDIATE');
    try {
      await migrate(o.db as unknown as Kysely<unknown>, o.dialect, opts.logger);
      raw.exec('COMMIT');
    } catch (e) {
      if (raw.isTransaction) raw.exec('ROLLBACK');
      throw e;
    }
    return;
  }
  await migrate(o.db as unknown as Kysely<unknown>, o.dialect, opts.logger);
}

/**
 * Loads (creating on first open) the internal data key for session rows. Unwrapping it doubles as
 * the master key check: a wrong key fails here, at startup, with ERR_CONFIG_INVALID.
 */
async function internalKey(db: Kysely<Database>, ctx: Pick<RepoContext, 'codec' | 'envelope'>, name: string, description: string): Promise<Uint8Array> {
  const { codec, envelope } = ctx;
  const aad = aadFor('internal-key', name);
  let row = await db.selectFrom('tt_keys').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) {
    const fresh = randomBytes(32);
    const wrapped = await envelope.current.wrap(new Uint8Array(fresh), aad);
    fresh.fill(0);
    const now = codec.time(new Date());
    await db
      .insertInto('tt_keys')
      .values({ name, key_id: envelope.current.id, wrapped_key: codec.bytes(wrapped), created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    row = await db.selectFrom('tt_keys').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
  }
  try {
    return await envelope.unwrapKey(codec.fromBytes(row.wrapped_key), row.key_id, aad, `internal key '${name}'`);
  } catch (e) {
    if (e instanceof AttestError && e.code === ErrorCode.ConfigInvalid) {
      throw new AttestError(ErrorCode.ConfigInvalid, `the master key does not match database ${description}: ${e.message}`, { ...e.details, database: description, reason: 'wrong-master-key' }, { cause: e });
    }
    throw new AttestError(ErrorCode.ConfigInvalid, `the master key cannot unwrap the keys of database ${description} (wrong key with the same id, or the key table was altered)`, { database: description, keyId: row.key_id, reason: 'wrong-master-key' }, { cause: e });
  }
}

function repositories(ctx: RepoContext): StoreRepositories {
  return {
    sessions: sessionRepository(ctx),
    resources: resourceRepository(ctx),
    resourcePolicies: resourcePolicyRepository(ctx),
    attestationPolicies: attestationPolicyRepository(ctx),
    referenceValues: referenceValueRepository(ctx),
    signingKeys: signingKeyRepository(ctx),
    audit: auditRepository(ctx),
    webhookOutbox: webhookOutboxRepository(ctx),
    kv: kvRepository(ctx),
  };
}

/**
 * Opens (and by default migrates) the store.
 * @param database `postgres://user@host:5432/db` (or `postgresql://`), else a SQLite file path,
 *   `sqlite:<path>`, `{ path }`, or `':memory:'`.
 */
export async function openStore(database: string | { path: string }, opts: OpenStoreOptions): Promise<Store> {
  if (!opts || !opts.masterKey) throw new AttestError(ErrorCode.ConfigInvalid, 'openStore needs a master key (32 bytes or a MasterKeyProvider)');
  const target = parseDatabaseUrl(database);
  const envelope = new Envelope(toMasterKeyProvider(opts.masterKey), (opts.previousMasterKeys ?? []).map(toMasterKeyProvider));
  const o = await connect(target, opts);
  const codec = codecFor(o.dialect);
  let sessionKey: KeyObject;
  try {
    if (opts.migrate !== false && !o.migrated) await runMigrations(o, opts);
    const raw = await internalKey(o.db, { codec, envelope }, SESSION_KEY_NAME, o.description);
    sessionKey = createSecretKey(raw);
    raw.fill(0);
  } catch (e) {
    await (o.release ? o.release() : o.db.destroy()).catch(() => undefined);
    throw e;
  }
  const ctx: RepoContext = { db: o.db, codec, envelope, sessionKey, ...(opts.logger ? { logger: opts.logger } : {}) };
  const repos = repositories(ctx);
  let closed = false;

  return {
    ...repos,
    dialect: o.dialect,
    description: o.description,

    transaction<T>(fn: (tx: StoreRepositories) => Promise<T>): Promise<T> {
      return o.db.transaction().execute((trx) => fn(repositories({ ...ctx, db: trx })));
    },

    async ping() {
      await sql`select 1`.execute(o.db);
    },

    async rewrapSecrets() {
      const current = envelope.current.id;
      let resources = 0;
      let signingKeys = 0;
      let meta = 0;
      const res = await o.db.selectFrom('tt_resources').select(['path', 'version', 'wrapped_key', 'key_id']).where('key_id', '!=', current).execute();
      for (const r of res) {
        const version = codec.fromInt(r.version);
        const w = await envelope.rewrap(codec.fromBytes(r.wrapped_key), r.key_id, resourceAad(r.path, version), `resource ${r.path}`);
        const u = await o.db
          .updateTable('tt_resources')
          .set({ wrapped_key: codec.bytes(w.wrappedKey), key_id: w.keyId })
          .where('path', '=', r.path)
          .where('version', '=', version)
          .where('key_id', '=', r.key_id)
          .executeTakeFirst();
        resources += Number(u.numUpdatedRows);
      }
      const keys = await o.db.selectFrom('tt_signing_keys').select(['kid', 'wrapped_key', 'key_id']).where('key_id', '!=', current).execute();
      for (const k of keys) {
        const w = await envelope.rewrap(codec.fromBytes(k.wrapped_key), k.key_id, signingKeyAad(k.kid), `signing key ${k.kid}`);
        const u = await o.db.updateTable('tt_signing_keys').set({ wrapped_key: codec.bytes(w.wrappedKey), key_id: w.keyId }).where('kid', '=', k.kid).where('key_id', '=', k.key_id).executeTakeFirst();
        signingKeys += Number(u.numUpdatedRows);
      }
      const internal = await o.db.selectFrom('tt_keys').selectAll().where('key_id', '!=', current).execute();
      for (const k of internal) {
        const w = await envelope.rewrap(codec.fromBytes(k.wrapped_key), k.key_id, aadFor('internal-key', k.name), `internal key '${k.name}'`);
        const u = await o.db
          .updateTable('tt_keys')
          .set({ wrapped_key: codec.bytes(w.wrappedKey), key_id: w.keyId, updated_at: codec.time(new Date()) })
          .where('name', '=', k.name)
          .where('key_id', '=', k.key_id)
          .executeTakeFirst();
        meta += Number(u.numUpdatedRows);
      }
      opts.logger?.info({ resources, signingKeys, meta, keyId: current }, 'store secrets re-wrapped under the current master key');
      return { resources, signingKeys, meta };
    },

    async close() {
      if (closed) return;
      closed = true;
      await (o.release ? o.release() : o.db.destroy());
    },
  };
}
