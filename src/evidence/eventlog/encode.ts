/**
 * The inverse of parseEventLog (for tests and synthetic logs): writes TCG_PCR_EVENT /
 * TCG_PCR_EVENT2 records exactly as parsed, so encode(parse(x)) == x for any well-formed log.
 */
import { ByteWriter, utf8 } from '../../core/index.ts';
import type { EventLog, SpecIdEvent, TcgEvent } from './parse.ts';

/** TCG_EfiSpecIDEvent bytes (PFP §10.4.5.1, Table 20). */
export function encodeSpecId(s: SpecIdEvent): Uint8Array {
  const w = new ByteWriter();
  w.fixed(utf8(s.signature), 16);
  w.u32le(s.platformClass).u8(s.specVersionMinor).u8(s.specVersionMajor).u8(s.specErrata).u8(s.uintnSize);
  w.u32le(s.algorithms.length);
  for (const a of s.algorithms) w.u16le(a.alg).u16le(a.digestSize);
  w.u8(s.vendorInfo.length).bytes(s.vendorInfo);
  return w.finish();
}

function legacy(w: ByteWriter, ev: TcgEvent): void {
  const d = ev.digests[0]?.digest ?? new Uint8Array(20);
  w.u32le(ev.pcrIndex).u32le(ev.eventType).fixed(d, 20).u32le(ev.data.length).bytes(ev.data);
}

export function encodeEventLog(log: Pick<EventLog, 'format' | 'events'> & { paddingBytes?: number; padByte?: number }): Uint8Array {
  const w = new ByteWriter(4096);
  log.events.forEach((ev, i) => {
    if (log.format === 'sha1' || i === 0) return legacy(w, ev);
    w.u32le(ev.pcrIndex).u32le(ev.eventType).u32le(ev.digests.length);
    for (const d of ev.digests) w.u16le(d.alg).bytes(d.digest);
    w.u32le(ev.data.length).bytes(ev.data);
  });
  const pad = log.paddingBytes ?? 0;
  for (let i = 0; i < pad; i++) w.u8(log.padByte ?? 0xff);
  return w.finish();
}
