/**
 * NVIDIA H100 report verifications per second (parse + chain + FWID + signature + claims; the
 * chain's certificate links are memoised by core/pki after the first report), next to the raw
 * floor measured in the same run: one ECDSA P-384 / SHA-384 verify of the same signed bytes with a
 * pre-imported key — no parsing, no chain logic.
 *
 *   node bench/nvidia.ts [--seconds 2]
 */
import { emptyCollateral } from '../src/collateral/index.ts';
import { fromHex, parseCertificates, subtle } from '../src/core/index.ts';
import { parseNvidiaReport } from '../src/evidence/nvidia/index.ts';
import { verifyNvidia } from '../src/verify/nvidia/index.ts';
import { corpusFile, corpusText } from '../test/support/corpus.ts';
import { numberArg } from './support.ts';

const SECONDS = numberArg('--seconds', 2);

const raw = corpusFile('nvidia/hopper/hopperAttestationReport.hex.txt');
const chain = parseCertificates(corpusText('nvidia/hopper/hopper_cert_chain_case1_valid.pem'));
const collateral = emptyCollateral();
collateral.certificates.push(...chain);
const nonce = fromHex('931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb');
const ctx = { now: new Date('2025-01-01T00:00:00Z'), collateral, expected: { nonce } };

async function ops(fn: () => Promise<unknown>, ms: number): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() < t0 + ms) {
    await fn();
    n++;
  }
  return (n * 1000) / (performance.now() - t0);
}

const report = parseNvidiaReport(raw);
const key = await subtle().importKey('spki', chain[0]!.publicKey.rawData, { name: 'ECDSA', namedCurve: 'P-384' }, false, ['verify']);
const floor = () => subtle().verify({ name: 'ECDSA', hash: 'SHA-384' }, key, report.response.signature as Uint8Array<ArrayBuffer>, report.signed as Uint8Array<ArrayBuffer>);
if (!(await floor())) throw new Error('floor signature does not verify');
const full = () => verifyNvidia(parseNvidiaReport(raw), ctx);
await full(); // warm: certificate links memoised
const ms = SECONDS * 1000;
const f = await ops(floor, ms);
const v = await ops(full, ms);
console.log(`nvidia H100 report (hex, 4117 B, 64 blocks): verify ${v.toFixed(0)} ops/s`);
console.log(`raw floor (1× ECDSA P-384 verify, pre-imported key): ${f.toFixed(0)} ops/s`);
console.log(`ratio verify/floor: ${(v / f).toFixed(2)}`);
