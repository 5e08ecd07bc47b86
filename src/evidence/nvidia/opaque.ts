/**
 * NVIDIA's opaque-data TLV types in the MEASUREMENTS response (nvtrust local GPU verifier
 * "OpaqueDataField" ids; the same ids Trustee decodes). Decoding is best-effort per field: known
 * fields become readable values, unknown ones stay hex. Field ids are stable across Hopper drivers.
 */
import { EvidenceMalformed, toHex, type JsonValue } from '../../core/index.ts';
import { TEE, type OpaqueField } from './spdm.ts';

export const OPAQUE = {
  CERT_ISSUER_NAME: 1,
  CERT_AUTHORITY_KEY_IDENTIFIER: 2,
  DRIVER_VERSION: 3,
  GPU_INFO: 4,
  SKU: 5,
  VBIOS_VERSION: 6,
  MANUFACTURER_ID: 7,
  TAMPER_DETECTION: 8,
  SMC: 9,
  VPR: 10,
  NVDEC0_STATUS: 11,
  MSRSCNT: 12,
  CPRINFO: 13,
  BOARD_ID: 14,
  CHIP_SKU: 15,
  CHIP_SKU_MOD: 16,
  PROJECT: 17,
  PROJECT_SKU: 18,
  PROJECT_SKU_MOD: 19,
  FWID: 20,
  PROTECTED_PCIE_STATUS: 21,
  SWITCH_PDI: 22,
  FLOORSWEPT_PORTS: 23,
  POSITION_ID: 24,
  LOCK_SWITCH_STATUS: 25,
  GPU_LINK_CONN: 32,
  SYS_ENABLE_STATUS: 33,
  OPAQUE_DATA_VERSION: 34,
} as const;

const NAMES: Record<number, string> = {
  1: 'cert_issuer_name',
  2: 'cert_authority_key_identifier',
  3: 'driver_version',
  4: 'gpu_info',
  5: 'sku',
  6: 'vbios_version',
  7: 'manufacturer_id',
  8: 'tamper_detection',
  9: 'smc',
  10: 'vpr',
  11: 'nvdec0_status',
  12: 'measurement_count',
  13: 'cpr_info',
  14: 'board_id',
  15: 'chip_sku',
  16: 'chip_sku_mod',
  17: 'project',
  18: 'project_sku',
  19: 'project_sku_mod',
  20: 'fwid',
  21: 'protected_pcie_status',
  22: 'switch_pdi',
  23: 'floorswept_ports',
  24: 'position_id',
  25: 'lock_switch_status',
  32: 'gpu_link_conn',
  33: 'sys_enable_status',
  34: 'opaque_data_version',
};

/** The FWID is a SHA-384 digest of the GSP FMC firmware. */
export const FWID_LEN = 48;

/** A NUL-terminated (or NUL-padded) ASCII string. */
function cString(v: Uint8Array, type: number): string {
  let end = v.indexOf(0);
  if (end < 0) end = v.length;
  for (let i = 0; i < end; i++) {
    if (v[i]! < 0x20 || v[i]! > 0x7e) throw new EvidenceMalformed(TEE, `opaque field ${NAMES[type] ?? type}`, undefined, 'not printable ASCII');
  }
  return String.fromCharCode(...v.subarray(0, end));
}

/** VBIOS version: u32 LE major part as four dotted bytes (high to low), then byte 4: "96.00.9f.00.01". */
function vbios(v: Uint8Array): string {
  if (v.length < 5) throw new EvidenceMalformed(TEE, 'opaque field vbios_version', undefined, `${v.length} bytes, need at least 5`);
  const h = (b: number): string => b.toString(16).padStart(2, '0');
  return `${h(v[3]!)}.${h(v[2]!)}.${h(v[1]!)}.${h(v[0]!)}.${h(v[4]!)}`;
}

/** Per-block measurement counters: u32 LE each, block index i+1 ↔ position i. */
function counts(v: Uint8Array): Record<string, number> {
  if (v.length % 4 !== 0) throw new EvidenceMalformed(TEE, 'opaque field measurement_count', undefined, `${v.length} bytes is not a whole number of u32 counters`);
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out: Record<string, number> = {};
  for (let i = 0; i < v.length / 4; i++) out[String(i + 1)] = dv.getUint32(i * 4, true);
  return out;
}

/**
 * Decodes the opaque fields into named values: strings for versions and SKU names, a counter map
 * for the measurement counts, lowercase hex for everything else. Duplicate field ids are malformed.
 */
export function decodeOpaque(fields: readonly OpaqueField[]): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  const seen = new Set<number>();
  for (const f of fields) {
    if (seen.has(f.type)) throw new EvidenceMalformed(TEE, 'opaque data', undefined, `field type ${f.type} appears twice`);
    seen.add(f.type);
    const name = NAMES[f.type] ?? `type_${f.type}`;
    switch (f.type) {
      case OPAQUE.DRIVER_VERSION:
      case OPAQUE.CHIP_SKU:
      case OPAQUE.CHIP_SKU_MOD:
      case OPAQUE.PROJECT:
      case OPAQUE.PROJECT_SKU:
      case OPAQUE.NVDEC0_STATUS:
      case OPAQUE.PROTECTED_PCIE_STATUS:
        out[name] = cString(f.value, f.type);
        break;
      case OPAQUE.VBIOS_VERSION:
        out[name] = vbios(f.value);
        break;
      case OPAQUE.MSRSCNT:
        out[name] = counts(f.value);
        break;
      case OPAQUE.FWID:
        if (f.value.length !== FWID_LEN) throw new EvidenceMalformed(TEE, 'opaque field fwid', undefined, `${f.value.length} bytes, expected ${FWID_LEN}`);
        out[name] = toHex(f.value);
        break;
      default:
        out[name] = toHex(f.value);
    }
  }
  return out;
}

export function opaqueField(fields: readonly OpaqueField[], type: number): Uint8Array | undefined {
  return fields.find((f) => f.type === type)?.value;
}
