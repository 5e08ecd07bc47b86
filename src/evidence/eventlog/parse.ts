/**
 * TCG PC Client event logs, both formats (TCG PC Client Platform Firmware Profile, §10.2):
 *
 * - legacy SHA-1 log: a sequence of TCG_PCR_EVENT {pcrIndex u32, eventType u32, digest[20],
 *   eventSize u32, event[eventSize]} (PFP §10.2.1, Table 7);
 * - crypto-agile log: the first event is a TCG_PCR_EVENT of type EV_NO_ACTION whose data is a
 *   TCG_EfiSpecIDEvent starting "Spec ID Event03" (PFP §10.4.5.1, Table 20) listing each
 *   (algorithmId u16, digestSize u16); every later event is a TCG_PCR_EVENT2 {pcrIndex u32,
 *   eventType u32, TPML_DIGEST_VALUES {count u32, (hashAlg u16, digest)…}, eventSize u32, event}
 *   (PFP §10.2.2, Table 8).
 *
 * All integers are little-endian. The same format carries the TDX CCEL (ACPI CCEL table), where
 * pcrIndex is the CC measurement-register index (0 = MRTD, 1..4 = RTMR0..3) and the log area is
 * padded with 0xFF to its allocated size.
 */
import { ByteReader, EvidenceMalformed, fromUtf8 } from '../../core/index.ts';
import { hashAlgName, TPM_ALG } from './algorithms.ts';
import { EV, eventTypeName } from './event-types.ts';

const TEE = 'eventlog';
const SPEC_ID_03 = 'Spec ID Event03';
const SPEC_ID_00 = 'Spec ID Event00';

export interface EventDigest {
  /** TPM_ALG_ID of the bank. */
  alg: number;
  /** 'sha1', 'sha256', … */
  bank: string;
  digest: Uint8Array;
}

export interface TcgEvent {
  /** Position in the log (0 = first record, including the Spec ID header event). */
  seq: number;
  /** Byte offset of the record in the log. */
  offset: number;
  /** PCRIndex (for CCEL: the measurement-register index). */
  pcrIndex: number;
  eventType: number;
  /** 'EV_SEPARATOR', 'EV_EFI_VARIABLE_BOOT', … */
  typeName: string;
  digests: EventDigest[];
  /** The event data (TCG "Event" field), as logged. */
  data: Uint8Array;
}

/** TCG_EfiSpecIDEvent (PFP §10.4.5.1, Table 20). */
export interface SpecIdEvent {
  signature: string;
  platformClass: number;
  specVersionMajor: number;
  specVersionMinor: number;
  specErrata: number;
  uintnSize: number;
  algorithms: { alg: number; bank: string; digestSize: number }[];
  vendorInfo: Uint8Array;
}

export interface EventLog {
  format: 'sha1' | 'crypto-agile';
  specId?: SpecIdEvent;
  /** Every record, the header event included (as seq 0 in crypto-agile logs). */
  events: TcgEvent[];
  /** Number of trailing 0xFF / 0x00 fill bytes after the last event (CCEL areas are padded). */
  paddingBytes: number;
  raw: Uint8Array;
}

export interface ParseEventLogOptions {
  /** Accept trailing all-0xFF or all-0x00 fill after the last event (default true). */
  allowPadding?: boolean;
  /** Upper bound on the number of events (default 65536). */
  maxEvents?: number;
  /** Upper bound on one event's data size (default 16 MiB). */
  maxEventSize?: number;
}

function isFill(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  const b = bytes[0];
  if (b !== 0xff && b !== 0x00) return false;
  for (const x of bytes) if (x !== b) return false;
  return true;
}

function parseSpecId(data: Uint8Array, base: number): SpecIdEvent {
  const r = new ByteReader(data, TEE, base);
  const sig = r.bytesView(16, 'SpecIdEvent.signature');
  const nul = sig.indexOf(0);
  const signature = fromUtf8(sig.subarray(0, nul < 0 ? 16 : nul), false);
  if (signature !== SPEC_ID_03) {
    throw new EvidenceMalformed(TEE, 'SpecIdEvent.signature', base, `expected "${SPEC_ID_03}", got ${JSON.stringify(signature)}`);
  }
  const platformClass = r.u32le('SpecIdEvent.platformClass');
  const specVersionMinor = r.u8('SpecIdEvent.specVersionMinor');
  const specVersionMajor = r.u8('SpecIdEvent.specVersionMajor');
  const specErrata = r.u8('SpecIdEvent.specErrata');
  const uintnSize = r.u8('SpecIdEvent.uintnSize');
  const n = r.u32le('SpecIdEvent.numberOfAlgorithms');
  if (n === 0 || n > 16) throw new EvidenceMalformed(TEE, 'SpecIdEvent.numberOfAlgorithms', base + r.offset - 4, `${n} algorithms (expected 1..16)`);
  const algorithms: SpecIdEvent['algorithms'] = [];
  for (let i = 0; i < n; i++) {
    const at = r.offset;
    const alg = r.u16le('SpecIdEvent.digestSizes.algorithmId');
    const digestSize = r.u16le('SpecIdEvent.digestSizes.digestSize');
    if (digestSize === 0 || digestSize > 128) throw new EvidenceMalformed(TEE, 'SpecIdEvent.digestSizes.digestSize', base + at, `digest size ${digestSize} for ${hashAlgName(alg)}`);
    if (algorithms.some((a) => a.alg === alg)) throw new EvidenceMalformed(TEE, 'SpecIdEvent.digestSizes.algorithmId', base + at, `${hashAlgName(alg)} listed twice`);
    algorithms.push({ alg, bank: hashAlgName(alg), digestSize });
  }
  const vendorInfoSize = r.u8('SpecIdEvent.vendorInfoSize');
  const vendorInfo = r.take(vendorInfoSize, 'SpecIdEvent.vendorInfo');
  r.expectEnd('SpecIdEvent trailing data');
  return { signature, platformClass, specVersionMajor, specVersionMinor, specErrata, uintnSize, algorithms, vendorInfo };
}

/** Parses a TCG PC Client event log (either format). Throws EvidenceMalformed. */
export function parseEventLog(bytes: Uint8Array, opts: ParseEventLogOptions = {}): EventLog {
  const allowPadding = opts.allowPadding ?? true;
  const maxEvents = opts.maxEvents ?? 65536;
  const maxEventSize = opts.maxEventSize ?? 16 * 1024 * 1024;
  const r = new ByteReader(bytes, TEE);
  if (bytes.length === 0) throw new EvidenceMalformed(TEE, 'log', 0, 'empty event log');
  const events: TcgEvent[] = [];

  // The first record is always in the SHA-1 format (PFP §10.2.1).
  const readLegacy = (seq: number): TcgEvent => {
    const offset = r.offset;
    const pcrIndex = r.u32le('TCG_PCR_EVENT.pcrIndex');
    const eventType = r.u32le('TCG_PCR_EVENT.eventType');
    const digest = r.take(20, 'TCG_PCR_EVENT.digest');
    const size = r.u32le('TCG_PCR_EVENT.eventSize');
    if (size > maxEventSize) throw new EvidenceMalformed(TEE, 'TCG_PCR_EVENT.eventSize', offset + 28, `event of ${size} bytes exceeds the ${maxEventSize}-byte limit`);
    const data = r.take(size, 'TCG_PCR_EVENT.event');
    return { seq, offset, pcrIndex, eventType, typeName: eventTypeName(eventType), digests: [{ alg: TPM_ALG.SHA1, bank: 'sha1', digest }], data };
  };

  const first = readLegacy(0);
  events.push(first);
  let specId: SpecIdEvent | undefined;
  // PFP puts the header in PCR 0; the TDX CCEL logs it with register index 1, so the index is not checked.
  if (first.eventType === EV.NO_ACTION && first.data.length >= 16) {
    const sig = fromUtf8(first.data.subarray(0, 15), false);
    if (sig === SPEC_ID_03) specId = parseSpecId(first.data, first.offset + 32);
    else if (sig === SPEC_ID_00) throw new EvidenceMalformed(TEE, 'SpecIdEvent.signature', first.offset + 32, 'TCG 1.2 "Spec ID Event00" header with a non-SHA-1 log is not supported');
  }
  const sizes = new Map((specId?.algorithms ?? []).map((a) => [a.alg, a.digestSize]));

  let paddingBytes = 0;
  while (r.remaining > 0) {
    const rest = bytes.subarray(r.offset);
    if (isFill(rest)) {
      if (!allowPadding) throw new EvidenceMalformed(TEE, 'trailing data', r.offset, `${rest.length} fill bytes after the last event`);
      paddingBytes = rest.length;
      break;
    }
    if (events.length >= maxEvents) throw new EvidenceMalformed(TEE, 'events', r.offset, `more than ${maxEvents} events`);
    if (!specId) {
      events.push(readLegacy(events.length));
      continue;
    }
    const offset = r.offset;
    const pcrIndex = r.u32le('TCG_PCR_EVENT2.pcrIndex');
    const eventType = r.u32le('TCG_PCR_EVENT2.eventType');
    const count = r.u32le('TCG_PCR_EVENT2.digests.count');
    if (count > sizes.size) throw new EvidenceMalformed(TEE, 'TCG_PCR_EVENT2.digests.count', offset + 8, `${count} digests but the Spec ID header lists ${sizes.size} algorithms`);
    const digests: EventDigest[] = [];
    for (let i = 0; i < count; i++) {
      const at = r.offset;
      const alg = r.u16le('TCG_PCR_EVENT2.digests.hashAlg');
      const size = sizes.get(alg);
      if (size === undefined) throw new EvidenceMalformed(TEE, 'TCG_PCR_EVENT2.digests.hashAlg', at, `${hashAlgName(alg)} is not listed in the Spec ID header`);
      if (digests.some((d) => d.alg === alg)) throw new EvidenceMalformed(TEE, 'TCG_PCR_EVENT2.digests.hashAlg', at, `${hashAlgName(alg)} appears twice in one event`);
      digests.push({ alg, bank: hashAlgName(alg), digest: r.take(size, 'TCG_PCR_EVENT2.digests.digest') });
    }
    const sizeAt = r.offset;
    const size = r.u32le('TCG_PCR_EVENT2.eventSize');
    if (size > maxEventSize) throw new EvidenceMalformed(TEE, 'TCG_PCR_EVENT2.eventSize', sizeAt, `event of ${size} bytes exceeds the ${maxEventSize}-byte limit`);
    const data = r.take(size, 'TCG_PCR_EVENT2.event');
    events.push({ seq: events.length, offset, pcrIndex, eventType, typeName: eventTypeName(eventType), digests, data });
  }
  return { format: specId ? 'crypto-agile' : 'sha1', ...(specId ? { specId } : {}), events, paddingBytes, raw: bytes };
}

/** The banks (TPM_ALG_IDs) a log carries digests for. */
export function eventLogBanks(log: EventLog): number[] {
  return log.specId ? log.specId.algorithms.map((a) => a.alg) : [TPM_ALG.SHA1];
}
