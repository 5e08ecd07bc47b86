/**
 * Intel DCAP (TDX / SGX) quote verifications per second with collateral and chains cached (the
 * collateral set is classified once; PCK chain parsing, chain links, TCB Info / QE Identity
 * signatures and CRL signatures are memoised after the first quote), next to the raw floor
 * measured in the same run: the two ECDSA P-256/SHA-256 verifications every quote needs (quote
 * signature by the attestation key over the signed region, QE report signature by the PCK key),
 * with pre-imported keys — no parsing, no chain, no TCB evaluation, no claims. Target: ≥ 0.7×.
 * The third column is @phala/dcap-qvl (pure JS) on the same quote and QuoteCollateralV3 JSON, when
 * it is installed (a devDependency of the benchmark only; otherwise reported as not installed).
 *
 *   node bench/dcap.ts [--seconds 2]
 *
 * Fixtures: /work/shared/bench-fixtures/peers/phala (dcap-qvl samples + collateral), verified
 * offline at a time inside the collateral window.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classifyCollateral } from '../src/collateral/index.ts';
import { parseCertificates, subtle } from '../src/core/index.ts';
import { parseQuote } from '../src/evidence/dcap/index.ts';
import { sgxPlatform } from '../src/verify/sgx/index.ts';
import { tdxPlatform } from '../src/verify/tdx/index.ts';
import type { Platform, VerifyContext } from '../src/verify/index.ts';
import { BENCH_FIXTURES_DIR } from '../test/support/corpus.ts';
import { numberArg } from './support.ts';

const SECONDS = numberArg('--seconds', 2);
const DIR = join(BENCH_FIXTURES_DIR, 'peers', 'phala');

interface Fixture {
  name: string;
  quote: Uint8Array;
  collateralFile: string;
  at: Date;
  platform: Platform;
}

const file = (p: string): Uint8Array => new Uint8Array(readFileSync(p));
const fixtures: Fixture[] = [];
if (existsSync(join(DIR, 'tdx_quote'))) {
  fixtures.push({ name: 'phala tdx_quote (v4, UpToDate)', quote: file(join(DIR, 'tdx_quote')), collateralFile: join(DIR, 'tdx_quote_collateral.json'), at: new Date('2025-07-19T10:00:34Z'), platform: tdxPlatform as Platform });
  fixtures.push({ name: 'phala sgx_quote (v3, ConfigAndSWHardening)', quote: file(join(DIR, 'sgx_quote')), collateralFile: join(DIR, 'sgx_quote_collateral.json'), at: new Date('2025-07-19T10:01:17Z'), platform: sgxPlatform as Platform });
}
if (!fixtures.length) {
  console.error(`no DCAP fixtures found under ${DIR}`);
  process.exit(2);
}

interface Rate {
  /** Operations per wall-clock second. */
  ops: number;
  /** Process CPU time (all threads: WebCrypto runs on the libuv pool) per operation, µs. */
  cpuUs: number;
}

async function measure(fn: () => Promise<unknown>): Promise<Rate> {
  for (let i = 0; i < 50; i++) await fn(); // warm-up: JIT and the memo caches
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() < end) {
    await fn();
    n++;
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { ops: (n * 1000) / wall, cpuUs: (cpu.user + cpu.system) / n };
}

const mean = (rs: Rate[]): Rate => ({ ops: rs.reduce((a, r) => a + r.ops, 0) / rs.length, cpuUs: rs.reduce((a, r) => a + r.cpuUs, 0) / rs.length });

type PeerVerify = (quote: Uint8Array, collateral: unknown, now: number) => Promise<{ status?: string }> | { status?: string };
let peer: PeerVerify | undefined;
let peerNote = 'not installed (add @phala/dcap-qvl as a devDependency to run this column)';
try {
  const name = '@phala/dcap-qvl';
  const mod = (await import(name)) as { verify?: PeerVerify };
  if (typeof mod.verify === 'function') {
    peer = mod.verify;
    peerNote = '@phala/dcap-qvl verify(quote, QuoteCollateralV3, nowSeconds)';
  } else peerNote = '@phala/dcap-qvl installed but exports no verify()';
} catch {
  // not installed
}

console.log(`Intel DCAP quote verification, ${SECONDS}s per measurement, Node ${process.version}\n`);
const rows: string[][] = [['fixture', 'teataster verify/s', 'raw 2×ECDSA P-256/s', 'ratio', 'CPU µs/op (ours / raw)', 'CPU ratio', '@phala/dcap-qvl verify/s']];
for (const f of fixtures) {
  const collateral = classifyCollateral([{ name: f.collateralFile, bytes: file(f.collateralFile) }]);
  const ctx: VerifyContext = { now: f.at, collateral, offline: true };
  const first = await f.platform.verify(f.platform.parse(f.quote), ctx);
  const status = first.tcb?.status ?? '?';

  // Raw floor: the two required signatures with keys imported once.
  const q = parseQuote(f.quote);
  const attKey = await subtle().importKey('raw', new Uint8Array([4, ...q.signature.attestationKey]), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const pck = parseCertificates(q.pckChainPem)[0]!;
  const pckKey = await subtle().importKey('spki', new Uint8Array(pck.publicKey.rawData), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const alg = { name: 'ECDSA', hash: 'SHA-256' };
  const s1 = q.signature.isvSignature.slice() as Uint8Array<ArrayBuffer>;
  const m1 = q.signed.slice() as Uint8Array<ArrayBuffer>;
  const s2 = q.signature.qe.qeReportSignature.slice() as Uint8Array<ArrayBuffer>;
  const m2 = q.signature.qe.qeReport.raw.slice() as Uint8Array<ArrayBuffer>;
  if (!(await subtle().verify(alg, attKey, s1, m1)) || !(await subtle().verify(alg, pckKey, s2, m2))) throw new Error('raw floor signatures do not verify');
  const floor = async (): Promise<void> => {
    await subtle().verify(alg, attKey, s1, m1);
    await subtle().verify(alg, pckKey, s2, m2);
  };
  const full = (): Promise<unknown> => f.platform.verify(f.platform.parse(f.quote), ctx);

  let peerCol = 'not installed';
  let peerFn: (() => Promise<{ status?: string }>) | undefined;
  if (peer) {
    const coll = JSON.parse(readFileSync(f.collateralFile, 'utf8')) as unknown;
    const now = Math.floor(f.at.getTime() / 1000);
    peerFn = async () => peer!(f.quote, coll, now);
    try {
      const r = await peerFn();
      peerCol = `status ${r.status ?? '?'}`;
    } catch (e) {
      peerCol = `error: ${(e as Error).message.slice(0, 60)}`;
      peerFn = undefined;
    }
  }
  // Interleave so that machine noise hits every column alike.
  const raws: Rate[] = [];
  const fulls: Rate[] = [];
  const peers: Rate[] = [];
  for (let round = 0; round < 2; round++) {
    raws.push(await measure(floor));
    fulls.push(await measure(full));
    if (peerFn) peers.push(await measure(peerFn));
  }
  const raw = mean(raws);
  const ours = mean(fulls);
  if (peerFn) peerCol = mean(peers).ops.toFixed(0);
  rows.push([`${f.name} [${status}]`, ours.ops.toFixed(0), raw.ops.toFixed(0), `${(ours.ops / raw.ops).toFixed(2)}×`, `${ours.cpuUs.toFixed(0)} / ${raw.cpuUs.toFixed(0)}`, `${(raw.cpuUs / ours.cpuUs).toFixed(2)}×`, peerCol]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
console.log('\nteataster verify = parse + PCK chain (memoised links, validity at `at`) + CRLs + QE report signature + attestation-key binding');
console.log('  + quote signature + TCB Info / QE Identity (memoised signatures, validity) + TCB matching + claims.');
console.log('ratio = teataster verify/s ÷ raw floor/s (wall clock, interleaved); CPU ratio = raw CPU time per op ÷ ours (process');
console.log('  CPU time, every thread: less sensitive to other load on the machine).');
console.log(`Target: ratio ≥ 0.70. Peer column: ${peerNote}.`);
