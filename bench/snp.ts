/**
 * SEV-SNP report verifications per second with the AMD chain already verified (the ARK→ASK→VCEK
 * links and the imported VCEK key are memoised after the first report), next to the raw floor
 * measured in the same run: one ECDSA P-384/SHA-384 verification with a pre-imported key over the
 * pre-extracted 672 signed bytes — no parsing, no chain, no claims. Target: ≥ 0.8× the floor.
 *
 *   node bench/snp.ts [--seconds 2]
 *
 * Fixtures: the virtee-sev peer fixture (report_milan.hex + vcek_milan.der + cert_chain_milan from
 * /work/shared/bench-fixtures/peers/virtee-sev) and corpus samples (Genoa v3 VCEK, Milan v3 VLEK).
 * Offline, roots from the fixtures; the CRL is absent (a warning), as in the conformance tests.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { classifyCollateral, type CollateralItem } from '../src/collateral/index.ts';
import { fromHex, parseCertificate, subtle } from '../src/core/index.ts';
import { snpSignatureToRaw } from '../src/evidence/snp/index.ts';
import { snpPlatform } from '../src/verify/snp/index.ts';
import type { VerifyContext } from '../src/verify/index.ts';
import { BENCH_FIXTURES_DIR, CORPUS_DIR } from '../test/support/corpus.ts';
import { numberArg } from './support.ts';

const SECONDS = numberArg('--seconds', 2);

interface Fixture {
  name: string;
  report: Uint8Array;
  leaf: Uint8Array;
  collateral: CollateralItem[];
  at: Date;
}

const file = (p: string): Uint8Array => new Uint8Array(readFileSync(p));
const roots = (): CollateralItem[] => {
  const dir = join(CORPUS_DIR, 'snp', 'roots');
  return existsSync(dir) ? readdirSync(dir).map((f) => ({ name: f, bytes: file(join(dir, f)) })) : [];
};

const fixtures: Fixture[] = [];
const virtee = join(BENCH_FIXTURES_DIR, 'peers', 'virtee-sev');
if (existsSync(join(virtee, 'report_milan.hex'))) {
  const leaf = file(join(virtee, 'vcek_milan.der'));
  fixtures.push({
    name: 'virtee-sev peer: Milan v2 (VCEK)',
    report: fromHex(readFileSync(join(virtee, 'report_milan.hex'), 'utf8').trim()),
    leaf,
    collateral: [{ name: 'vcek', bytes: leaf }, { name: 'cert_chain_milan', bytes: file(join(virtee, 'cert_chain_milan')) }],
    at: new Date('2024-01-01T00:00:00Z'),
  });
}
const corpus = (name: string, rep: string, leafPath: string, at: string): void => {
  const r = join(CORPUS_DIR, rep);
  const l = join(CORPUS_DIR, leafPath);
  if (!existsSync(r) || !existsSync(l)) return;
  fixtures.push({ name, report: file(r), leaf: file(l), collateral: [{ name: 'leaf', bytes: file(l) }, ...roots()], at: new Date(at) });
};
corpus('corpus trustee-e2e: Genoa v3 (VCEK)', 'snp/trustee-e2e/genoa_v3_report.bin', 'snp/trustee-e2e/genoa_v3_report_vcek.der', '2025-06-01T00:00:00Z');
corpus('corpus trustee: Milan v3 (VLEK, AWS)', 'snp/trustee/test-vlek-report.bin', 'snp/trustee/test-vlek.der', '2025-06-01T00:00:00Z');
if (!fixtures.length) {
  console.error(`no SNP fixtures found under ${virtee} or ${CORPUS_DIR}`);
  process.exit(2);
}

/**
 * Interleaved batches (raw, full, raw, full, …) for SECONDS, so load from other processes hits
 * both sides alike; returns ops/s of each.
 */
async function measure(raw: () => Promise<unknown>, full: () => Promise<unknown>): Promise<{ raw: number; full: number }> {
  for (let i = 0; i < 50; i++) {
    await raw();
    await full(); // warm-up: JIT, chain and key caches
  }
  const BATCH = 20;
  let tRaw = 0;
  let tFull = 0;
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    let t = performance.now();
    for (let i = 0; i < BATCH; i++) await raw();
    tRaw += performance.now() - t;
    t = performance.now();
    for (let i = 0; i < BATCH; i++) await full();
    tFull += performance.now() - t;
    n += BATCH;
  }
  return { raw: (n * 1000) / tRaw, full: (n * 1000) / tFull };
}

console.log(`SEV-SNP verification, ${SECONDS}s per fixture (interleaved batches), Node ${process.version}\n`);
const rows: string[][] = [['fixture', 'teataster verify/s', 'raw ECDSA P-384 verify/s', 'ratio']];
for (const f of fixtures) {
  const ctx: VerifyContext = { now: f.at, collateral: classifyCollateral(f.collateral), offline: true };
  const first = await snpPlatform.verify(snpPlatform.parse(f.report), ctx);
  if (first.platform !== 'snp') throw new Error('unexpected platform');

  const parsed = snpPlatform.parse(f.report);
  const key = await subtle().importKey('spki', new Uint8Array(parseCertificate(f.leaf).publicKey.rawData), { name: 'ECDSA', namedCurve: 'P-384' }, false, ['verify']);
  const sig = snpSignatureToRaw(parsed.report.signature)! as Uint8Array<ArrayBuffer>;
  const msg = parsed.report.signed.slice() as Uint8Array<ArrayBuffer>;
  if (!(await subtle().verify({ name: 'ECDSA', hash: 'SHA-384' }, key, sig, msg))) throw new Error('raw floor signature does not verify');

  const { raw, full } = await measure(
    () => subtle().verify({ name: 'ECDSA', hash: 'SHA-384' }, key, sig, msg),
    () => snpPlatform.verify(snpPlatform.parse(f.report), ctx),
  );
  rows.push([f.name, full.toFixed(0), raw.toFixed(0), `${(full / raw).toFixed(2)}×`]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
console.log('\nteataster verify = parse + chain (memoised links, validity at `at`) + VCEK/VLEK binding + report signature + claims.');
console.log('Target: ratio ≥ 0.80. JS peers for SNP (LIT sev-snp-utils wasm) are not installed here; see docs/snp.md.');
