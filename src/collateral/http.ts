/**
 * Fetching vendor endorsements: an injected Fetcher, a cache, retries with exponential backoff,
 * HTTP 429/503 Retry-After honoured, and an offline mode that only reads the cache.
 */
import { CollateralUnavailable, type CollateralCache, type CollateralCacheEntry, type Fetcher } from '../core/index.ts';

export interface FetchPolicy {
  fetcher?: Fetcher;
  cache?: CollateralCache;
  /** Offline: never call the fetcher; cache hits (even stale) are used. */
  offline?: boolean;
  now: Date;
  retries?: number;
  /** Base backoff in ms (doubled each attempt). */
  backoffMs?: number;
  /** Upper bound for any single wait, including Retry-After. */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Per-attempt time limit in ms (default 15 s): a server that never answers must not hang verification. */
  timeoutMs?: number;
}

export interface Fetched {
  body: Uint8Array;
  headers: Record<string, string>;
  fromCache: boolean;
  url: string;
}

/** Races a promise against a timer (fetchers that ignore the abort signal still cannot hang us). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timer = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function retryAfterMs(value: string | null, now: Date): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/**
 * GETs `url` (cache key = url). `expiresAt` computes when a fresh body goes stale (e.g. a CRL's
 * nextUpdate); without it, entries never expire (certificates are immutable by URL).
 */
export async function fetchCollateral(
  what: string,
  url: string,
  policy: FetchPolicy,
  expiresAt?: (body: Uint8Array, headers: Record<string, string>) => Date | undefined,
  headerNames: string[] = [],
): Promise<Fetched> {
  const cached = policy.cache ? await policy.cache.get(url) : undefined;
  const fresh = (e: CollateralCacheEntry): boolean => !e.expiresAt || new Date(e.expiresAt) > policy.now;
  if (cached && (fresh(cached) || policy.offline || !policy.fetcher)) {
    return { body: cached.body, headers: cached.headers, fromCache: true, url };
  }
  if (policy.offline || !policy.fetcher) {
    throw new CollateralUnavailable(what, url, policy.offline ? 'offline mode and not in the cache' : 'no network fetcher configured and not in the cache');
  }
  const retries = policy.retries ?? 3;
  const sleep = policy.sleep ?? defaultSleep;
  const maxWait = policy.maxWaitMs ?? 30_000;
  let lastReason = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    let wait = (policy.backoffMs ?? 250) * 2 ** attempt;
    try {
      const res = await withTimeout(policy.fetcher(url, { signal: AbortSignal.timeout(policy.timeoutMs ?? 15_000) }), policy.timeoutMs ?? 15_000);
      const status = res.status;
      if (status === 200) {
        const body = new Uint8Array(await res.arrayBuffer());
        const headers: Record<string, string> = {};
        for (const h of headerNames) {
          const v = res.headers.get(h);
          if (v !== null) headers[h.toLowerCase()] = v;
        }
        const exp = expiresAt?.(body, headers);
        if (policy.cache) {
          await policy.cache.set(url, { body, headers, fetchedAt: policy.now.toISOString(), ...(exp ? { expiresAt: exp.toISOString() } : {}) });
        }
        return { body, headers, fromCache: false, url };
      }
      lastReason = `HTTP ${status}`;
      if (status === 429 || status === 503) {
        wait = retryAfterMs(res.headers.get('retry-after'), policy.now) ?? wait;
      } else if (status >= 400 && status < 500) {
        break; // 404 and friends are final
      }
    } catch (e) {
      lastReason = (e as Error).message;
    }
    if (attempt < retries) await sleep(Math.min(wait, maxWait));
  }
  if (cached) return { body: cached.body, headers: cached.headers, fromCache: true, url };
  throw new CollateralUnavailable(what, url, `${lastReason} after ${retries + 1} attempt(s)`);
}
