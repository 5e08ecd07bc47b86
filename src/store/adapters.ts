/**
 * The store's repositories as the interfaces src/policy defines. The shapes already match; these
 * functions make the compiler check that they keep matching.
 */
import type { KeyRingStorage, ReferenceValueStore } from '../policy/index.ts';
import type { StoreRepositories } from './types.ts';

/** For `new KeyRing(keyRingStorage(store))`: private JWKs are decrypted on list, encrypted on put. */
export function keyRingStorage(store: Pick<StoreRepositories, 'signingKeys'>): KeyRingStorage {
  return store.signingKeys;
}

/** For appraisal lookups (`ReferenceValueSource`) and the refs CLI / admin API (`ReferenceValueStore`). */
export function referenceValueStore(store: Pick<StoreRepositories, 'referenceValues'>): ReferenceValueStore {
  return store.referenceValues;
}
