/** Public face of the storage layer (docs/store.md). Node-only: SQLite (node:sqlite) or PostgreSQL. */
export type * from './types.ts';
export { openStore, parseDatabaseUrl } from './open.ts';
export type { DatabaseTarget } from './open.ts';
export {
  MASTER_KEY_ENV,
  localMasterKey,
  localKeyId,
  toMasterKeyProvider,
  parseMasterKey,
  masterKeyFromEnv,
  masterKeyFromFile,
  ensureMasterKeyFile,
  loadMasterKey,
  generateMasterKey,
} from './master-key.ts';
export { validateResourcePath } from './resource-path.ts';
export { FsCollateralCache, defaultCacheDir } from './fs-cache.ts';
export { keyRingStorage, referenceValueStore } from './adapters.ts';
