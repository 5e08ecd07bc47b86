/**
 * Best-effort decoding of event data into JSON-safe descriptions (for claims and `teataster`
 * output). Decoding never decides trust: the digests are what is replayed, and the event data of
 * most event types is not what was hashed. A decoding failure is reported in the description,
 * never thrown.
 */
import { ByteReader, fromUtf8, toHex, type JsonValue } from '../../core/index.ts';
import { EV } from './event-types.ts';
import type { TcgEvent } from './parse.ts';
import { startupLocality } from './replay.ts';

/** EFI_GUID text form (Data1 u32le, Data2 u16le, Data3 u16le, Data4[8]). */
export function guidToString(b: Uint8Array): string {
  const h = (x: Uint8Array): string => toHex(x);
  const rev = (x: Uint8Array): Uint8Array => x.slice().reverse();
  return `${h(rev(b.subarray(0, 4)))}-${h(rev(b.subarray(4, 6)))}-${h(rev(b.subarray(6, 8)))}-${h(b.subarray(8, 10))}-${h(b.subarray(10, 16))}`;
}

function utf16le(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i + 1 < b.length; i += 2) {
    const c = b[i]! | (b[i + 1]! << 8);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

function printable(b: Uint8Array): string | undefined {
  const end = b.length > 0 && b[b.length - 1] === 0 ? b.length - 1 : b.length;
  for (let i = 0; i < end; i++) {
    const c = b[i]!;
    if (c < 0x09 || (c > 0x0d && c < 0x20) || c > 0x7e) return undefined;
  }
  return fromUtf8(b.subarray(0, end), false);
}

/** Walks an EFI_DEVICE_PATH_PROTOCOL list (UEFI spec §10.3) into a readable path. */
export function describeDevicePath(dp: Uint8Array): string {
  const parts: string[] = [];
  let p = 0;
  while (p + 4 <= dp.length) {
    const type = dp[p]!;
    const sub = dp[p + 1]!;
    const len = dp[p + 2]! | (dp[p + 3]! << 8);
    if (len < 4 || p + len > dp.length) {
      parts.push('<truncated>');
      break;
    }
    const body = dp.subarray(p + 4, p + len);
    if (type === 0x7f && sub === 0xff) break;
    if (type === 0x04 && sub === 0x04) parts.push(utf16le(body));
    else if (type === 0x04 && sub === 0x01 && body.length >= 38) parts.push(`HD(${body[0]! | (body[1]! << 8)},${guidToString(body.subarray(20, 36))})`);
    else if (type === 0x04 && sub === 0x06 && body.length >= 16) parts.push(`FvFile(${guidToString(body.subarray(0, 16))})`);
    else if (type === 0x04 && sub === 0x07 && body.length >= 16) parts.push(`Fv(${guidToString(body.subarray(0, 16))})`);
    else parts.push(`Node(${type},${sub})`);
    p += len;
  }
  return parts.join('/');
}

function u64(r: ByteReader, field: string): string {
  return r.u64le(field).toString();
}

function decodeData(ev: TcgEvent): Record<string, JsonValue> {
  const d = ev.data;
  const r = new ByteReader(d, 'eventlog');
  switch (ev.eventType) {
    case EV.EFI_VARIABLE_DRIVER_CONFIG:
    case EV.EFI_VARIABLE_BOOT:
    case EV.EFI_VARIABLE_BOOT2:
    case EV.EFI_VARIABLE_AUTHORITY: {
      // UEFI_VARIABLE_DATA (PFP §10.4.6, Table 22)
      const guid = guidToString(r.bytesView(16, 'VariableName'));
      const nameLen = Number(r.u64le('UnicodeNameLength'));
      const dataLen = Number(r.u64le('VariableDataLength'));
      const name = utf16le(r.bytesView(nameLen * 2, 'UnicodeName'));
      const value = r.bytesView(Math.min(dataLen, r.remaining), 'VariableData');
      const out: Record<string, JsonValue> = { variableGuid: guid, variableName: name, dataLength: dataLen };
      if (dataLen === 1) out.value = value[0]!;
      else if (/^Boot[0-9A-F]{4}$/.test(name) && value.length >= 6) {
        const desc = utf16le(value.subarray(6));
        out.description = desc;
      }
      return out;
    }
    case EV.EFI_BOOT_SERVICES_APPLICATION:
    case EV.EFI_BOOT_SERVICES_DRIVER:
    case EV.EFI_RUNTIME_SERVICES_DRIVER: {
      // UEFI_IMAGE_LOAD_EVENT (PFP §10.4.3, Table 16)
      const imageLocation = u64(r, 'ImageLocationInMemory');
      const imageLength = u64(r, 'ImageLengthInMemory');
      const linkTimeAddress = u64(r, 'ImageLinkTimeAddress');
      const dpLen = Number(r.u64le('LengthOfDevicePath'));
      const dp = r.bytesView(Math.min(dpLen, r.remaining), 'DevicePath');
      return { imageLocation, imageLength, linkTimeAddress, devicePath: describeDevicePath(dp) };
    }
    case EV.EFI_PLATFORM_FIRMWARE_BLOB:
      return { blobBase: u64(r, 'BlobBase'), blobLength: u64(r, 'BlobLength') };
    case EV.EFI_PLATFORM_FIRMWARE_BLOB2: {
      const n = r.u8('BlobDescriptionSize');
      const desc = printable(r.bytesView(n, 'BlobDescription')) ?? '';
      return { description: desc, blobBase: u64(r, 'BlobBase'), blobLength: u64(r, 'BlobLength') };
    }
    case EV.SEPARATOR:
      return { value: toHex(d), error: d.length === 4 && d.every((x) => x === 0xff) };
    case EV.S_CRTM_VERSION:
      return { text: utf16le(d) };
    case EV.NO_ACTION: {
      const loc = startupLocality(d);
      if (loc !== undefined) return { startupLocality: loc };
      const sig = d.indexOf(0);
      const head = printable(d.subarray(0, sig < 0 ? Math.min(d.length, 24) : sig));
      return head ? { signature: head } : { length: d.length };
    }
    case EV.EFI_GPT_EVENT:
    case EV.EFI_GPT_EVENT2: {
      // UEFI_GPT_DATA: EFI_PARTITION_TABLE_HEADER (92 bytes) then NumberOfPartitions u64 (PFP §10.4.4)
      r.bytesView(92, 'UEFIPartitionHeader');
      return { partitions: Number(r.u64le('NumberOfPartitions')) };
    }
    default: {
      const text = d.length > 0 ? printable(d) : undefined;
      return text !== undefined ? { text } : { length: d.length };
    }
  }
}

/** A JSON-safe description of one event: index, type, digests per bank and decoded data. */
export function describeEvent(ev: TcgEvent): Record<string, JsonValue> {
  let details: Record<string, JsonValue>;
  try {
    details = decodeData(ev);
  } catch (e) {
    details = { decodeError: (e as Error).message };
  }
  const digests: Record<string, JsonValue> = {};
  for (const x of ev.digests) digests[x.bank] = toHex(x.digest);
  return { seq: ev.seq, pcr: ev.pcrIndex, type: ev.typeName, digests, ...details };
}
