import type { KeyObject } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
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
