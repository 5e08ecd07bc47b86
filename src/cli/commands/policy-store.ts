/**
 * Opens the storage layer for the appraisal commands (`refs`, `token`, `verify --token`): the
 * same database the KBS uses, so reference values and signing keys added here are the KBS's.
 *   database:   --database, else $TEATASTER_DATABASE, else ./.teataster/kbs.sqlite (the dev KBS file)
 *   master key: --master-key-file, else $TEATASTER_MASTER_KEY, else ./.teataster/master-key
 *               (created on first use, mode 0600; reference values are not secret, signing keys are
 *               encrypted with it at rest)
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { ensureMasterKeyFile, masterKeyFromEnv, masterKeyFromFile, openStore, type Store } from '../../store/index.ts';

export const CLI_STATE_DIR = '.teataster';

export interface StoreCliOptions {
  database?: string;
  masterKeyFile?: string;
}

export function addStoreOptions(cmd: Command): Command {
  return cmd
    .option('--database <url>', `SQLite path or postgres:// URL (default $TEATASTER_DATABASE or ${join(CLI_STATE_DIR, 'kbs.sqlite')})`)
    .option('--master-key-file <file>', `master key file (default $TEATASTER_MASTER_KEY or ${join(CLI_STATE_DIR, 'master-key')}, created on first use)`);
}

export async function openCliStore(o: StoreCliOptions): Promise<Store> {
  const database = o.database ?? process.env.TEATASTER_DATABASE ?? join(CLI_STATE_DIR, 'kbs.sqlite');
  const masterKey = o.masterKeyFile ? await masterKeyFromFile(o.masterKeyFile) : (masterKeyFromEnv(process.env) ?? (await ensureMasterKeyFile(join(CLI_STATE_DIR, 'master-key'))));
  return openStore(database, { masterKey });
}

/** Runs `fn` with an open store and always closes it. */
export async function withStore<T>(o: StoreCliOptions, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openCliStore(o);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
