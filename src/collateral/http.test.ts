import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AttestError, ErrorCode, MemoryCollateralCache } from '../core/index.ts';
import { fetchCollateral } from './index.ts';

test('fetchCollateral retries, honours Retry-After, caches, and works offline from the cache', async () => {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (req.url === '/flaky' && hits < 3) {
      res.writeHead(429, { 'retry-after': '0' }).end();
      return;
    }
    if (req.url === '/missing') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'x-chain': 'abc' }).end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const cache = new MemoryCollateralCache();
    const sleeps: number[] = [];
    const policy = { fetcher: (u: string) => fetch(u), cache, now: new Date(), sleep: async (ms: number) => void sleeps.push(ms) };
    const got = await fetchCollateral('thing', `${base}/flaky`, policy, undefined, ['x-chain']);
    assert.equal(new TextDecoder().decode(got.body), 'hello');
    assert.equal(got.headers['x-chain'], 'abc');
    assert.equal(hits, 3);
    assert.deepEqual(sleeps, [0, 0]);
    const again = await fetchCollateral('thing', `${base}/flaky`, { ...policy, offline: true });
    assert.equal(again.fromCache, true);
    hits = 0;
    await assert.rejects(fetchCollateral('thing', `${base}/missing`, policy), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralUnavailable);
    assert.equal(hits, 1, '404 is final, not retried');
    await assert.rejects(fetchCollateral('thing', `${base}/other`, { ...policy, offline: true }), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralUnavailable);
  } finally {
    server.close();
  }
});

test('fetchCollateral gives up on a server that never answers (per-attempt timeout), without hanging', async () => {
  const server = createServer(() => {
    /* accept the request and never respond */
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow`;
  try {
    const t0 = Date.now();
    await assert.rejects(
      fetchCollateral('thing', url, { fetcher: (u, init) => fetch(u, init), now: new Date(), retries: 1, timeoutMs: 200, sleep: async () => {} }),
      (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralUnavailable,
    );
    assert.ok(Date.now() - t0 < 5_000);
    // a fetcher that ignores the abort signal is bounded too
    await assert.rejects(
      fetchCollateral('thing', url, { fetcher: () => new Promise(() => {}), now: new Date(), retries: 0, timeoutMs: 100 }),
      (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralUnavailable,
    );
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
