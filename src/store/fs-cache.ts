/** On-disk collateral cache: one JSON file per URL (body base64), written atomically. */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { homedir } from 'node:os';
import type { CollateralCache, CollateralCacheEntry } from '../core/index.ts';

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'teataster', 'collateral');
}

export class FsCollateralCache implements CollateralCache {
  private readonly dir: string;
  constructor(dir: string = defaultCacheDir()) {
    this.dir = dir;
  }
  private file(key: string): string {
    return join(this.dir, `${createHash('sha256').update(key).digest('hex')}.json`);
  }
  async get(key: string): Promise<CollateralCacheEntry | undefined> {
    try {
      const j = JSON.parse(await readFile(this.file(key), 'utf8')) as { key: string; body: string; headers: Record<string, string>; fetchedAt: string; expiresAt?: string };
      if (j.key !== key) return undefined;
      return { body: new Uint8Array(Buffer.from(j.body, 'base64')), headers: j.headers, fetchedAt: j.fetchedAt, ...(j.expiresAt ? { expiresAt: j.expiresAt } : {}) };
    } catch {
      return undefined;
    }
  }
  async set(key: string, entry: CollateralCacheEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const f = this.file(key);
    const tmp = `${f}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, JSON.stringify({ key, body: Buffer.from(entry.body).toString('base64'), headers: entry.headers, fetchedAt: entry.fetchedAt, expiresAt: entry.expiresAt }));
    await rename(tmp, f);
  }
}
