/**
 * TPM evidence verifications per second on the GCE COS-85 sample (go-tpm-tools protobuf: 3 quotes,
 * AK certificate chain to the pinned GCE root, event-log replay of ~45 events × 3 banks), next to
 * the raw floor measured in the same run: the three RSASSA-PKCS1-v1_5/SHA-256 verifications the
 * quotes need, with a pre-imported key. Also: event-log parse+replay alone, per log.
 *
 *   node bench/tpm.ts [--seconds 2]
 */
import { classifyCollateral } from '../src/collateral/index.ts';
import { subtle } from '../src/core/index.ts';
import { parseEventLog, replayEventLog } from '../src/evidence/eventlog/index.ts';
import { parseTpmEvidence, tpmPublicToJwk } from '../src/evidence/tpm/index.ts';
import { tpmPlatform } from '../src/verify/tpm/index.ts';
import { corpusFile } from '../test/support/corpus.ts';
import { numberArg } from './support.ts';

const SECONDS = numberArg('--seconds', 2);

async function rate(name: string, f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 5; i++) await f();
  let n = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    await f();
    n++;
  }
  const r = n / ((performance.now() - start) / 1000);
  console.log(`${name.padEnd(58)} ${r.toFixed(1).padStart(10)} ops/s`);
  return r;
}

const pb = corpusFile('tpm/go-tpm-tools/gce-cos-85/gce-cos-85-no-nonce.pb');
const collateral = classifyCollateral(['tpm/roots/tpm_ek_root_1.cer.der', 'tpm/roots/tpm_ek_intermediate_2.crt.der'].map((f) => ({ name: f, bytes: corpusFile(f) })));
const ctx = { now: new Date('2025-01-01T00:00:00Z'), collateral };
const ev = parseTpmEvidence(pb);
const key = await subtle().importKey('jwk', { ...tpmPublicToJwk(ev.akPublic), ext: true } as JsonWebKey, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
const sigs = ev.quotes.map((q) => ({ data: q.attest.raw, sig: (q.signature as { sig: Uint8Array }).sig }));

console.log(`TPM verification, ${SECONDS}s per row (node ${process.version})`);
const full = await rate('tpm: parse + verify GCE attestation (3 quotes, chain, log)', async () => tpmPlatform.verify(tpmPlatform.parse(pb), ctx));
const floor = await rate('floor: 3 × RSASSA-PKCS1-v1_5 SHA-256 verify (pre-imported)', async () => {
  for (const s of sigs) await subtle().verify('RSASSA-PKCS1-v1_5', key, s.sig as Uint8Array<ArrayBuffer>, s.data as Uint8Array<ArrayBuffer>);
});
console.log(`ratio tpm/floor: ${(full / floor).toFixed(2)}×`);
const log = corpusFile('tpm/go-tpm-tools/eventlogs/ubuntu-2104-no-secure-boot.bin');
await rate('eventlog: parse + replay all banks (ubuntu-2104, 106 events)', async () => replayEventLog(parseEventLog(log)));
