import type { OpenStoreOptions, Store } from './types.ts';

export type DatabaseTarget = { dialect: 'postgres'; url: string } | { dialect: 'sqlite'; path: string };

/** `postgres://…` / `postgresql://…` → PostgreSQL; anything else is a SQLite file path or ':memory:'. */
export function parseDatabaseUrl(url: string | { path: string }): DatabaseTarget {
  if (typeof url !== 'string') return { dialect: 'sqlite', path: url.path };
  if (/^postgres(ql)?:\/\//i.test(url)) return { dialect: 'postgres', url };
  return { dialect: 'sqlite', path: url.replace(/^sqlite:(\/\/)?/i, '') };
}

/** Opens (and migrates) the store. Implementation lands in the next commit. */
export async function openStore(database: string | { path: string }, opts: OpenStoreOptions): Promise<Store> {
  void parseDatabaseUrl(database);
  void opts;
  throw new Error('openStore: implementation in progress');
}
