/**
 * Network comes in as a parameter (DESIGN.md). A Fetcher is the subset of WHATWG fetch the
 * collateral layer uses, so `globalThis.fetch` is one, and tests pass one aimed at a loopback server.
 */
export interface FetchResponseLike {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
}
export type Fetcher = (url: string, init?: { headers?: Record<string, string>; signal?: AbortSignal }) => Promise<FetchResponseLike>;

/** A persistent cache for collateral (an on-disk one lives in src/store; tests use memory). */
export interface CollateralCacheEntry {
  body: Uint8Array;
  headers: Record<string, string>;
  fetchedAt: string;
  /** After this time the entry is stale and must be refetched (when online). */
  expiresAt?: string;
}
export interface CollateralCache {
  get(key: string): Promise<CollateralCacheEntry | undefined>;
  set(key: string, entry: CollateralCacheEntry): Promise<void>;
}

export class MemoryCollateralCache implements CollateralCache {
  private readonly map = new Map<string, CollateralCacheEntry>();
  async get(key: string): Promise<CollateralCacheEntry | undefined> {
    return this.map.get(key);
  }
  async set(key: string, entry: CollateralCacheEntry): Promise<void> {
    this.map.set(key, entry);
  }
}
