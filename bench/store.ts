/**
 * Storage throughput for the KBS hot path, SQLite (temp file, WAL) and PostgreSQL (when
 * TEATASTER_TEST_PG_URL is set; a throwaway database), next to the floor measured in the same run:
 *  - handshake: sessions.create + consumeNonce + markAttested + get (the four store calls of one
 *    RCAR auth/attest/resource round), run by `--concurrency` workers;
 *  - resource get: one envelope-decrypted secret read (row + unwrap + AES-GCM);
 *  - floor: the same crypto without a database (AES-256-GCM unwrap of the data key + decrypt of a
 *    32-byte secret, and the session token seal/open), so the database cost is the difference.
 *
 *   node bench/store.ts [--seconds 2] [--concurrency 16]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateMasterKey, localMasterKey, openStore, type Store } from '../src/store/index.ts';
import { Envelope, aadFor, gcmOpen, gcmSeal } from '../src/store/envelope.ts';
import { createTempPgDatabase, testPgUrl } from '../src/store/test-support/pg.ts';
import { numberArg } from './support.ts';

const SECONDS = numberArg('--seconds', 2);
const CONCURRENCY = numberArg('--concurrency', 16);

async function rate(label: string, concurrency: number, op: (i: number) => Promise<void>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const i = n++;
        const t = performance.now();
        await op(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  const ops = lat.length / SECONDS;
  const pct = (p: number) => (lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0).toFixed(2);
  console.log(`${label.padEnd(44)} ${ops.toFixed(0).padStart(8)} ops/s   p50 ${pct(0.5)} ms   p99 ${pct(0.99)} ms`);
  return ops;
}

async function benchStore(name: string, store: Store): Promise<void> {
  const run = randomBytes(4).toString('hex');
  const pub = { kty: 'EC', crv: 'P-256', x: 'x'.repeat(43), y: 'y'.repeat(43) };
  await rate(`${name}: handshake (4 store calls) x${CONCURRENCY}`, CONCURRENCY, async (i) => {
    const id = `${run}-${i}`;
    const now = new Date();
    await store.sessions.create({ id, nonce: `n${i}`, tee: 'sim', hashAlgorithm: 'sha384', expiresAt: new Date(now.getTime() + 300_000), extraParams: '' });
    const r = await store.sessions.consumeNonce(id, `n${i}`, now);
    if (!r.ok) throw new Error(`consume failed: ${r.reason}`);
    await store.sessions.markAttested(id, { token: 'e'.repeat(900), teePubKey: pub, claims: { status: 'affirming' }, expiresAt: new Date(now.getTime() + 300_000) });
    if (!(await store.sessions.get(id))?.attestation) throw new Error('not attested');
  });
  await store.resources.put('bench/key/one', randomBytes(32), { createdBy: 'bench' });
  await rate(`${name}: resources.get x${CONCURRENCY}`, CONCURRENCY, async () => {
    if (!(await store.resources.get('bench/key/one'))) throw new Error('missing');
  });
  await rate(`${name}: audit.append x${CONCURRENCY}`, CONCURRENCY, async (i) => {
    await store.audit.append({ kind: 'release', at: new Date(), resource: 'bench/key/one', tokenId: `t${i}`, ruleResults: [{ rule: 'r', pass: true }] });
  });
  console.log(`${name}: purged ${await store.sessions.purgeExpired(new Date(Date.now() + 10_000_000))} sessions`);
}

async function floor(): Promise<void> {
  const env = new Envelope(localMasterKey(generateMasterKey()));
  const aad = aadFor('resource', 'bench/key/one', 1);
  const sealed = await env.seal(randomBytes(32), aad);
  await rate('floor: envelope open (unwrap + decrypt) x1', 1, async () => {
    await env.open(sealed, aad, 'x');
  });
  const k = randomBytes(32);
  const tokenAad = aadFor('session-token', 'h');
  const token = new TextEncoder().encode('e'.repeat(900));
  await rate('floor: session token seal + open x1', 1, async () => {
    gcmOpen(k, gcmSeal(k, token, tokenAad), tokenAad, 'x');
  });
}

console.log(`store benchmark, ${SECONDS}s per row, Node ${process.version}`);
await floor();
const dir = await mkdtemp(join(tmpdir(), 'teataster-bench-store-'));
try {
  const s = await openStore(join(dir, 'bench.db'), { masterKey: generateMasterKey() });
  await benchStore('sqlite', s);
  await s.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
const pg = testPgUrl();
if (pg) {
  const db = await createTempPgDatabase(pg, 'teataster_bench');
  try {
    const s = await openStore(db.url, { masterKey: generateMasterKey(), poolSize: CONCURRENCY });
    await benchStore('postgres', s);
    await s.close();
  } finally {
    await db.drop();
  }
} else {
  console.log('postgres: skipped (set TEATASTER_TEST_PG_URL)');
}
