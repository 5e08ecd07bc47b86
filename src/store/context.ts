import type { KeyObject } from 'node:crypto';
import { CompiledQuery, sql, type Kysely, type QueryResult, type RawBuilder } from 'kysely';
import type { StoreDialect } from './types.ts';
import type { Codec } from './codec.ts';
import type { Envelope } from './envelope.ts';
import type { Database } from './schema.ts';
import type { StoreLogger } from './types.ts';

/** What every repository is built from; `db` is the pool or, inside `transaction`, the transaction. */
export interface RepoContext {
  db: Kysely<Database>;
  codec: Codec;
  envelope: Envelope;
  /** Data key for short-lived session rows (unwrapped once at open, see open.ts). */
  sessionKey: KeyObject;
  logger?: StoreLogger;
}

/** kysely reports affected rows as bigint. */
export function affected(n: bigint | number | undefined): number {
  return n === undefined ? 0 : Number(n);
}

/**
 * `column` starts with `prefix`, literally: no LIKE (whose '_' and '%' are wildcards) and no
 * range scan (PostgreSQL collations do not order bytewise). substr/length exist in both dialects.
 */
export function startsWith(column: string, prefix: string): RawBuilder<boolean> {
  return sql<boolean>`substr(${sql.ref(column)}, 1, length(cast(${prefix} as text))) = cast(${prefix} as text)`;
}

/**
 * A hand-written statement for the per-handshake hot path, skipping kysely's query building and
 * compilation (about half of a simple query's cost on SQLite). Written with `?` placeholders;
 * PostgreSQL gets `$1…$n`. Only for statements whose text is the same in both dialects.
 */
export function hotQuery<R>(text: string): (dialect: StoreDialect) => (db: Kysely<Database>, params: readonly unknown[]) => Promise<QueryResult<R>> {
  let n = 0;
  const pg = text.replace(/\?/g, () => `$${++n}`);
  return (dialect) => {
    const t = dialect === 'postgres' ? pg : text;
    return (db, params) => db.executeQuery<R>(CompiledQuery.raw(t, [...params]));
  };
}
