/**
 * A local HTTP server on 127.0.0.1 stands in for AMD KDS (serving corpus files, and a fake PKI's
 * CRL): VCEK lookup by chip + TCB, cert_chain, CRL, 429/Retry-After retries, cache, offline.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AttestError, ErrorCode, MemoryCollateralCache, toPem } from '../../core/index.ts';
import { emptyCollateral } from '../../collateral/index.ts';
import { kdsVcekUrl } from '../../collateral/snp/index.ts';
import { parseSnpReport } from '../../evidence/snp/index.ts';
import { corpusAvailable, corpusFile } from '../../../test/support/corpus.ts';
import { mintCrl } from '../../../test/support/pki.ts';
import { snpPlatform } from './verify.ts';
import { CHIP_ID, TCB, mintFakeAmd, mintLeaf, reportFields, signReport } from './test-support/synthetic.ts';
import type { VerifyContext } from '../types.ts';

const skip = !corpusAvailable() && 'corpus not available';

type Route = { status: number; body?: Uint8Array | string; headers?: Record<string, string> }[];
const routes = new Map<string, Route>();
const hits: string[] = [];
let server: Server;
let base = '';

before(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const queue = routes.get(req.url ?? '');
    const next = queue && (queue.length > 1 ? queue.shift()! : queue[0]!);
    if (!next) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(next.status, next.headers ?? {}).end(next.body ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

const path = (url: string): string => url.slice(base.length);

function ctx(extra: Partial<VerifyContext>): VerifyContext {
  return { now: new Date('2025-06-01T00:00:00Z'), collateral: emptyCollateral(), fetcher: (u, i) => fetch(u, i), endpoints: { amdKds: base }, ...extra };
}

const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'verified';
  } catch (e) {
    assert.ok(e instanceof AttestError, String(e));
    return e.code;
  }
};

test('real Genoa report: VCEK and cert_chain fetched from the stand-in KDS (after a 429), then cached and usable offline', { skip }, async () => {
  routes.clear();
  hits.length = 0;
  const bytes = corpusFile('snp/trustee-e2e/genoa_v3_report.bin');
  const report = parseSnpReport(bytes);
  const vcekUrl = kdsVcekUrl(base, 'Genoa', report.chipId, report.reportedTcb);
  assert.match(vcekUrl, /\?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=25$/);
  routes.set(path(vcekUrl), [{ status: 429, headers: { 'retry-after': '0' } }, { status: 200, body: corpusFile('snp/trustee-e2e/genoa_v3_report_vcek.der') }]);
  routes.set('/vcek/v1/Genoa/cert_chain', [{ status: 503, headers: { 'retry-after': '0' } }, { status: 200, body: corpusFile('snp/go-sev-guest/ask_ark_genoa.pem') }]);
  const cache = new MemoryCollateralCache();
  const v = await snpPlatform.verify({ report }, ctx({ cache }));
  assert.equal((v.claims.platformClaims.signer as Record<string, unknown>).source, 'kds');
  assert.deepEqual(v.chain.map((c) => c.role), ['vcek', 'ask', 'ark']);
  assert.ok(v.warnings.some((w) => w.includes('revocation not checked')), 'KDS 404 on /crl → warning');
  assert.equal(hits.filter((h) => h === path(vcekUrl)).length, 2, 'one 429 then success');
  assert.equal(hits.filter((h) => h === '/vcek/v1/Genoa/crl').length, 1, '404 is final');

  // Offline: served from the cache without touching the server.
  const before = hits.length;
  const again = await snpPlatform.verify({ report }, ctx({ cache, offline: true }));
  assert.equal(again.claims.measurements['snp.measurement'], v.claims.measurements['snp.measurement']);
  assert.equal(hits.length, before);

  // Offline with an empty cache: unavailable.
  assert.equal(await code(snpPlatform.verify({ report }, ctx({ cache: new MemoryCollateralCache(), offline: true }))), ErrorCode.CollateralUnavailable);
  // --require-crl with KDS not serving one: failure.
  assert.equal(await code(snpPlatform.verify({ report }, ctx({ cache, options: { requireCrl: true } }))), ErrorCode.CollateralUnavailable);
});

test('tinfoil report: KDS has no VCEK for it → ERR_COLLATERAL_UNAVAILABLE (online and offline)', { skip }, async () => {
  routes.clear();
  const report = parseSnpReport(corpusFile('snp/tinfoil/genoa_v3_report.bin'));
  assert.equal(await code(snpPlatform.verify({ report }, ctx({ cache: new MemoryCollateralCache() }))), ErrorCode.CollateralUnavailable);
  assert.equal(await code(snpPlatform.verify({ report }, ctx({ offline: true }))), ErrorCode.CollateralUnavailable);
});

test('fake PKI: the CRL is fetched, ARK-checked, cached until nextUpdate, and a revoked VCEK is rejected', async () => {
  routes.clear();
  hits.length = 0;
  const amd = await mintFakeAmd('Milan');
  const vcek = await mintLeaf(amd, { tcb: TCB, hwId: CHIP_ID, serial: '0a' });
  const bytes = await signReport(reportFields({ tcb: TCB, chipId: CHIP_ID }), vcek.keys.privateKey);
  const report = parseSnpReport(bytes);
  const chain = toPem(new Uint8Array(amd.ask.cert.rawData)) + toPem(new Uint8Array(amd.ark.cert.rawData));
  routes.set(path(kdsVcekUrl(base, 'Milan', CHIP_ID, report.reportedTcb)), [{ status: 200, body: new Uint8Array(vcek.cert.rawData) }]);
  routes.set('/vcek/v1/Milan/cert_chain', [{ status: 200, body: chain }]);
  const crl = await mintCrl(amd.ark, { thisUpdate: new Date('2025-05-01Z'), nextUpdate: new Date('2025-07-01Z'), revokedSerials: ['99'] });
  routes.set('/vcek/v1/Milan/crl', [{ status: 200, body: new Uint8Array(crl.rawData) }]);
  const cache = new MemoryCollateralCache();
  const extraRoots = { amd: [amd.ark.fingerprint] };
  const v = await snpPlatform.verify({ report }, ctx({ cache, extraRoots }));
  assert.equal(v.claims.revocation, 'checked');
  const entry = await cache.get(`${base}/vcek/v1/Milan/crl`);
  assert.equal(entry?.expiresAt, '2025-07-01T00:00:00.000Z');

  // After nextUpdate the cached CRL is stale: it is refetched, and the new one revokes the VCEK.
  const revoking = await mintCrl(amd.ark, { thisUpdate: new Date('2025-07-01Z'), nextUpdate: new Date('2025-09-01Z'), revokedSerials: ['0a'] });
  routes.set('/vcek/v1/Milan/crl', [{ status: 200, body: new Uint8Array(revoking.rawData) }]);
  assert.equal(await code(snpPlatform.verify({ report }, ctx({ cache, extraRoots, now: new Date('2025-08-01Z') }))), ErrorCode.CertificateRevoked);
  // Without the pin for the fake ARK the same chain is untrusted.
  assert.equal(await code(snpPlatform.verify({ report }, ctx({ cache }))), ErrorCode.RootNotTrusted);
});
