/**
 * TDX CCEL (Confidential Computing Event Log, ACPI "CCEL" table area): a TCG crypto-agile event log
 * with SHA-384 digests whose register index i = 1..4 measures RTMR[i-1] (index 0 is MRTD, built by
 * the TDX module, not replayed). RTMR[i] = SHA-384(RTMR[i] ‖ digest) from zero (TDX Guest-Hypervisor
 * Communication Interface §2.4.2; go-tdx-guest rtmr/ccel). Parsing is evidence/eventlog's.
 */
import { BindingMismatch, EvidenceMalformed, bytesEqual, toHex, type JsonValue } from '../../core/index.ts';
import { TPM_ALG, describeEvent, eventLogBanks, parseEventLog, replayEventLog, type EventLog } from '../../evidence/eventlog/index.ts';
import type { TdReport } from '../../evidence/dcap/index.ts';

export interface CcelReplay {
  /** Replayed RTMR0..3 (hex); a register without events is all zero. */
  rtmr: [string, string, string, string];
  /** RTMRs the log covers and that were compared with the quote. */
  compared: number[];
  events: JsonValue[];
  eventCount: number;
}

/** Parses a CCEL and checks it is crypto-agile with a SHA-384 bank (throws EvidenceMalformed). */
export function parseCcel(bytes: Uint8Array): EventLog {
  const log = parseEventLog(bytes);
  if (log.format !== 'crypto-agile' || !eventLogBanks(log).includes(TPM_ALG.SHA384)) {
    throw new EvidenceMalformed('ccel', 'SpecIdEvent', 0, 'a TDX CCEL must be a crypto-agile log with a SHA-384 bank');
  }
  return log;
}

/**
 * Replays the CCEL and compares RTMR0..2 with the TD report (RTMR3 too when the log has index-4
 * events; otherwise RTMR3 is left to runtime logs such as dstack's). Throws BindingMismatch.
 */
export async function replayCcel(log: EventLog, td: TdReport): Promise<CcelReplay> {
  const { banks } = await replayEventLog(log, { banks: [TPM_ALG.SHA384] });
  const bank = banks.get(TPM_ALG.SHA384)!;
  const rtmr: string[] = [];
  const compared: number[] = [];
  for (let i = 0; i < 4; i++) {
    const v = bank.pcrs.get(i + 1) ?? new Uint8Array(48);
    rtmr.push(toHex(v));
    if (i < 3 || bank.pcrs.has(4)) {
      compared.push(i);
      if (!bytesEqual(v, td.rtmr[i]!)) throw new BindingMismatch(`tdx.rtmr${i}`, `${toHex(v)} (CCEL replay)`, toHex(td.rtmr[i]!));
    }
  }
  const measured = log.events.filter((e) => e.pcrIndex >= 1 && e.pcrIndex <= 4);
  return {
    rtmr: rtmr as CcelReplay['rtmr'],
    compared,
    events: measured.map((e) => ({ ...(describeEvent(e) as Record<string, JsonValue>), rtmr: e.pcrIndex - 1 })),
    eventCount: measured.length,
  };
}
