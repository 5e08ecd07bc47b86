/**
 * The extended-report certificate table that SNP_GET_EXT_REPORT and configfs-tsm's `auxblob`
 * return: entries { GUID (16 bytes, RFC 4122 byte order), offset u32le, length u32le } terminated
 * by an all-zero entry, followed by the certificates the offsets point at (offsets are from the
 * start of the table). GUIDs from the AMD GHCB specification (pub. 56421, "MSG_REPORT_REQ"
 * certificate table), as go-sev-guest abi.go and virtee/sev define them.
 */
import { ByteReader, ByteWriter, EvidenceMalformed, fromHex, isAllZero, toHex } from '../../core/index.ts';

const TEE = 'snp';

export const SNP_CERT_GUIDS = Object.freeze({
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  /** Also used for the ASVK when the table carries a VLEK chain. */
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
});

export type SnpCertKind = 'vcek' | 'vlek' | 'ask' | 'ark' | 'other';

export interface SnpCertTableEntry {
  guid: string;
  kind: SnpCertKind;
  offset: number;
  length: number;
  /** The certificate bytes (DER as the hosts provide them). */
  data: Uint8Array;
}

const ENTRY_SIZE = 24;
/** The kernel caps the table at 16 KiB pages; be generous but bounded against hostile input. */
const MAX_ENTRIES = 64;

export function guidToString(b: Uint8Array): string {
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function guidFromString(s: string): Uint8Array {
  const h = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new RangeError(`not a GUID: ${s}`);
  return fromHex(h);
}

function kindOf(guid: string): SnpCertKind {
  for (const [k, g] of Object.entries(SNP_CERT_GUIDS)) if (g === guid) return k as SnpCertKind;
  return 'other';
}

/**
 * Parses a certificate table. An empty input is an empty table (hosts without certificates);
 * trailing zero padding after the certificates is allowed (the kernel hands back whole pages).
 */
export function parseSnpCertTable(bytes: Uint8Array): SnpCertTableEntry[] {
  if (bytes.length === 0) return [];
  const r = new ByteReader(bytes, TEE);
  const headers: { guid: string; offset: number; length: number }[] = [];
  for (;;) {
    if (headers.length > MAX_ENTRIES) throw new EvidenceMalformed(TEE, 'certificate table', r.offset, `more than ${MAX_ENTRIES} entries without a terminator`);
    const guidBytes = r.take(16, 'certificate table GUID');
    const offset = r.u32le('certificate table offset');
    const length = r.u32le('certificate table length');
    if (offset === 0 && length === 0 && isAllZero(guidBytes)) break;
    headers.push({ guid: guidToString(guidBytes), offset, length });
  }
  const headerEnd = r.offset;
  return headers.map((h, i) => {
    if (h.offset < headerEnd || h.offset + h.length > bytes.length) {
      throw new EvidenceMalformed(TEE, `certificate table entry ${i} (${h.guid})`, i * ENTRY_SIZE, `range [${h.offset}, ${h.offset + h.length}) is outside the ${bytes.length}-byte data after the ${headerEnd}-byte header`);
    }
    return { ...h, kind: kindOf(h.guid), data: bytes.slice(h.offset, h.offset + h.length) };
  });
}

/** Encodes a certificate table (entries in order, data packed after the terminator). */
export function encodeSnpCertTable(entries: { guid: string; data: Uint8Array }[]): Uint8Array {
  const w = new ByteWriter();
  let cursor = (entries.length + 1) * ENTRY_SIZE;
  for (const e of entries) {
    w.bytes(guidFromString(e.guid)).u32le(cursor).u32le(e.data.length);
    cursor += e.data.length;
  }
  w.zeros(ENTRY_SIZE);
  for (const e of entries) w.bytes(e.data);
  return w.finish();
}

/** Cheap check used to recognise a table among unlabelled collateral files. Never throws. */
export function looksLikeSnpCertTable(bytes: Uint8Array): boolean {
  if (bytes.length < ENTRY_SIZE * 2) return false;
  const g = guidToString(bytes.subarray(0, 16));
  return kindOf(g) !== 'other';
}
