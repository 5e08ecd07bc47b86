/**
 * node:sqlite (built into Node 24) shaped as the `SqliteDatabase` kysely's SqliteDialect expects.
 * better-sqlite3 needs a native prebuilt download; node:sqlite needs nothing.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

const STATEMENT_CACHE = 256;

type SqliteParam = null | number | bigint | string | Uint8Array;

function toParam(v: unknown): SqliteParam {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return v;
  if (v instanceof Date) return v.getTime();
  throw new TypeError(`unsupported SQLite parameter type ${Object.prototype.toString.call(v)}`);
}

function params(p: ReadonlyArray<unknown>): SqliteParam[] {
  return p.map(toParam);
}

class Statement implements SqliteStatement {
  readonly reader: boolean;
  private readonly stmt: StatementSync;
  constructor(stmt: StatementSync) {
    this.stmt = stmt;
    this.reader = stmt.columns().length > 0;
  }
  all(p: ReadonlyArray<unknown>): unknown[] {
    return this.stmt.all(...params(p));
  }
  run(p: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    const r = this.stmt.run(...params(p));
    return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
  }
  iterate(p: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.stmt.iterate(...params(p));
  }
}

export interface NodeSqliteHandle extends SqliteDatabase {
  /** The underlying connection, for PRAGMAs and the migration lock. */
  readonly raw: DatabaseSync;
}

/**
 * Opens the file with WAL, a busy timeout and foreign keys on. Kysely begins transactions with a
 * plain `begin`, which in SQLite is DEFERRED: a transaction that reads and then writes can fail
 * with SQLITE_BUSY when another process wrote in between, without waiting. We rewrite it to
 * `begin immediate` so a transaction takes the write lock up front and waits busy_timeout for it.
 */
export function openNodeSqlite(path: string, opts: { busyTimeoutMs: number }): NodeSqliteHandle {
  const db = new DatabaseSync(path, { enableForeignKeyConstraints: true, timeout: opts.busyTimeoutMs });
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs))}`);
  if (path !== ':memory:' && path !== '') {
    db.exec('PRAGMA journal_mode = WAL');
    // WAL + NORMAL: durable across process crashes; an OS crash can lose the last commits.
    db.exec('PRAGMA synchronous = NORMAL');
  }
  db.exec('PRAGMA foreign_keys = ON');
  const cache = new Map<string, Statement>();
  return {
    raw: db,
    close() {
      cache.clear();
      if (db.isOpen) db.close();
    },
    prepare(sql: string): SqliteStatement {
      const key = /^\s*begin\s*;?\s*$/i.test(sql) ? 'begin immediate' : sql;
      const hit = cache.get(key);
      if (hit) {
        // refresh LRU position
        cache.delete(key);
        cache.set(key, hit);
        return hit;
      }
      const s = new Statement(db.prepare(key));
      cache.set(key, s);
      if (cache.size > STATEMENT_CACHE) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      return s;
    },
  };
}
