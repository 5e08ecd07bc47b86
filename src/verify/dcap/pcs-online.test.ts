/**
 * Online collateral through a local Intel PCS v4 stand-in (127.0.0.1): the real 2023 go-tdx-guest
 * PCS responses served with their issuer-chain headers (URL-encoded PEM, as PCS sends them), then
 * the cache (until nextUpdate) and offline mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AttestError, ErrorCode, MemoryCollateralCache } from '../../core/index.ts';
import { emptyCollateral } from '../../collateral/index.ts';
import { pcsUrls } from '../../collateral/intel/index.ts';
import { corpusAvailable, corpusFile, corpusText } from '../../../test/support/corpus.ts';
import { tdxPlatform } from '../tdx/index.ts';

const skip = !corpusAvailable() && 'corpus not available';

test('fetches TCB Info, TD_QE Identity, PCK and root CRLs from a PCS v4 stand-in, caches them, and works offline', { skip }, async () => {
  const hits: string[] = [];
  const enc = (f: string): string => encodeURIComponent(corpusText(f));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.push(url.pathname + url.search);
    if (url.pathname === '/tdx/certification/v4/tcb' && url.searchParams.get('fmspc') === '50806F000000') {
      res.writeHead(200, { 'content-type': 'application/json', 'TCB-Info-Issuer-Chain': enc('tdx/go-tdx-guest/tcbinfo_issuer_chain.pem') }).end(corpusFile('tdx/go-tdx-guest/sample_tcbInfo_response'));
    } else if (url.pathname === '/tdx/certification/v4/qe/identity') {
      res.writeHead(200, { 'content-type': 'application/json', 'SGX-Enclave-Identity-Issuer-Chain': enc('tdx/go-tdx-guest/qeidentity_issuer_chain.pem') }).end(corpusFile('tdx/go-tdx-guest/sample_qeIdentity_response'));
    } else if (url.pathname === '/sgx/certification/v4/pckcrl' && url.searchParams.get('ca') === 'platform' && url.searchParams.get('encoding') === 'der') {
      res.writeHead(200, { 'content-type': 'application/pkix-crl', 'SGX-PCK-CRL-Issuer-Chain': enc('tdx/go-tdx-guest/pckcrl_issuer_chain.pem') }).end(corpusFile('tdx/go-tdx-guest/pckcrl'));
    } else if (url.pathname === '/sgx/certification/v4/rootcacrl') {
      res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(corpusFile('tdx/go-tdx-guest/rootcrl.der'));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal(pcsUrls.tcbInfo('tdx', '50806f000000', base), `${base}/tdx/certification/v4/tcb?fmspc=50806F000000`);
    const quote = corpusFile('tdx/trustee/tdx_quote_4.dat');
    const cache = new MemoryCollateralCache();
    const now = new Date('2023-07-01T01:00:00Z');
    const ctx = { now, collateral: emptyCollateral(), fetcher: (u: string) => fetch(u), cache, endpoints: { intelPcs: base }, options: { allowDebug: true } };
    const v = await tdxPlatform.verify(tdxPlatform.parse(quote), ctx);
    assert.equal(v.tcb?.status, 'UpToDate');
    assert.equal(v.claims.revocation, 'checked');
    const coll = v.claims.platformClaims.collateral as Record<string, Record<string, unknown>>;
    assert.equal(coll.tcbInfo!.source, `${base}/tdx/certification/v4/tcb?fmspc=50806F000000`);
    assert.equal(hits.length, 4, hits.join(' '));
    // Cached until nextUpdate: a second verification makes no request.
    await tdxPlatform.verify(tdxPlatform.parse(quote), ctx);
    assert.equal(hits.length, 4);
    // Offline with the cache: no request either.
    const off = await tdxPlatform.verify(tdxPlatform.parse(quote), { ...ctx, fetcher: undefined, offline: true });
    assert.equal(off.tcb?.status, 'UpToDate');
    assert.equal(hits.length, 4);
    // Offline with an empty cache: TCB Info is unavailable; nothing is fetched.
    await assert.rejects(tdxPlatform.verify(tdxPlatform.parse(quote), { ...ctx, cache: new MemoryCollateralCache(), offline: true }), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralUnavailable);
    assert.equal(hits.length, 4);
    // Online past nextUpdate: the cache entries are stale, so they are fetched again (and the
    // re-served 2023 TCB Info is then rejected as expired).
    await assert.rejects(tdxPlatform.verify(tdxPlatform.parse(quote), { ...ctx, now: new Date('2023-08-01T00:00:00Z') }), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralExpired);
    assert.ok(hits.length > 4);
  } finally {
    server.close();
  }
});
