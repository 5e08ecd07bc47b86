/**
 * Replays an event log into PCR (or RTMR) values per bank: PCR_new = H(PCR_old ‖ digest) for every
 * measured event (TPM 2.0 Part 1 §17.2 "PCR Extend"). EV_NO_ACTION events are informational and
 * not extended (PFP §10.4.1); a StartupLocality EV_NO_ACTION event in PCR 0 sets PCR 0's initial
 * value to 0…0‖locality (PFP §10.4.5.3).
 */
import { concatBytes, digest, EvidenceMalformed, fromUtf8, toHex } from '../../core/index.ts';
import { hashAlgName, hashSize, webCryptoHash } from './algorithms.ts';
import { EV } from './event-types.ts';
import { eventLogBanks, type EventLog } from './parse.ts';

export interface ReplayedBank {
  alg: number;
  bank: string;
  /** Final value of every register at least one event touched (or StartupLocality initialised). */
  pcrs: Map<number, Uint8Array>;
}

export interface ReplayResult {
  banks: Map<number, ReplayedBank>;
  /** Banks present in the log that this runtime cannot hash (SM3, SHA-3): not replayed. */
  unsupported: number[];
}

const STARTUP_LOCALITY = 'StartupLocality';

/** The locality of a StartupLocality event, or undefined when `data` is not one. */
export function startupLocality(data: Uint8Array): number | undefined {
  if (data.length !== 17 || data[15] !== 0) return undefined;
  if (fromUtf8(data.subarray(0, 15), false) !== STARTUP_LOCALITY) return undefined;
  return data[16];
}

export interface ReplayOptions {
  /** Only these banks (TPM_ALG_IDs); default every bank of the log. */
  banks?: number[];
}

export async function replayEventLog(log: EventLog, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const wanted = opts.banks ?? eventLogBanks(log);
  const banks = new Map<number, ReplayedBank>();
  const unsupported: number[] = [];
  for (const alg of wanted) {
    const hash = webCryptoHash(alg);
    const size = hashSize(alg);
    if (!hash || size === undefined) {
      unsupported.push(alg);
      continue;
    }
    const pcrs = new Map<number, Uint8Array>();
    // Registers are independent hash chains: collect each chain in log order, then hash the
    // chains concurrently (WebCrypto digests are async; sequential awaits dominate otherwise).
    const chains = new Map<number, Uint8Array[]>();
    for (const ev of log.events) {
      if (ev.eventType === EV.NO_ACTION) {
        const loc = startupLocality(ev.data);
        if (loc !== undefined && ev.pcrIndex === 0) {
          const init = new Uint8Array(size);
          init[size - 1] = loc;
          pcrs.set(0, init);
        }
        continue;
      }
      const d = ev.digests.find((x) => x.alg === alg);
      if (!d) throw new EvidenceMalformed('eventlog', `event ${ev.seq} digests`, ev.offset, `no ${hashAlgName(alg)} digest, so the ${hashAlgName(alg)} bank cannot be replayed`);
      let chain = chains.get(ev.pcrIndex);
      if (!chain) chains.set(ev.pcrIndex, (chain = []));
      chain.push(d.digest);
    }
    await Promise.all(
      [...chains].map(async ([index, digests]) => {
        let v = pcrs.get(index) ?? new Uint8Array(size);
        for (const d of digests) v = await digest(hash, concatBytes(v, d));
        pcrs.set(index, v);
      }),
    );
    banks.set(alg, { alg, bank: hashAlgName(alg), pcrs });
  }
  return { banks, unsupported };
}

/** Replayed registers as { 'sha256': { '0': hex, … } } (JSON-safe, for claims and tests). */
export function replayToJson(result: ReplayResult): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const b of result.banks.values()) {
    const pcrs: Record<string, string> = {};
    for (const [i, v] of [...b.pcrs].sort((x, y) => x[0] - y[0])) pcrs[String(i)] = toHex(v);
    out[b.bank] = pcrs;
  }
  return out;
}
