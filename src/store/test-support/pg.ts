/**
 * Test helpers for a real PostgreSQL (`TEATASTER_TEST_PG_URL`): a throwaway database per test
 * run so parallel runs and other engineers' suites never collide. Usable by any module's tests.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

interface PgClient {
  connect(): Promise<void>;
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  end(): Promise<void>;
}
interface PgModule {
  Client: new (config: { connectionString: string }) => PgClient;
}

function pg(): PgModule {
  const mod = createRequire(import.meta.url)('pg') as PgModule & { default?: PgModule };
  return mod.default ?? mod;
}

export const TEST_PG_URL_ENV = 'TEATASTER_TEST_PG_URL';

export function testPgUrl(): string | undefined {
  const v = process.env[TEST_PG_URL_ENV];
  return v && v.length > 0 ? v : undefined;
}

/** Runs one statement on a fresh connection. */
export async function pgQuery(url: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const c = new (pg().Client)({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export interface TempPgDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** CREATE DATABASE teataster_test_<random> next to `baseUrl`'s database; `drop()` removes it. */
export async function createTempPgDatabase(baseUrl: string, prefix = 'teataster_test'): Promise<TempPgDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad temp database name ${name}`);
  await pgQuery(baseUrl, `CREATE DATABASE ${name}`);
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: () => pgQuery(baseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined),
  };
}
