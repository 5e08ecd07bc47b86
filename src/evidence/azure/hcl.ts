/**
 * Azure confidential-VM "HCL report" (the paravisor's attestation report), as produced by the
 * vTPM NV index 0x01400001 on Azure SEV-SNP and TDX CVMs. Layout (az-cvm-vtpm `hcl` module, used by
 * Trustee `az_snp_vtpm` / `az_tdx_vtpm`; all integers little-endian):
 *
 *   0x000  "HCLA" signature, version u32, report_size u32, request_type u32, status u32, 3×u32 reserved
 *   0x020  hardware report: SNP ATTESTATION_REPORT (1184 B) or a TDREPORT (1024 B) in that region
 *   0x4C0  IGVM request data: data_size u32, version u32, report_type u32 (2 = SNP, 4 = TDX),
 *          report_data_hash_type u32 (1 = SHA-256, 2 = SHA-384, 3 = SHA-512), variable_data_size u32
 *   0x4D4  variable data: the runtime-claims JSON ({"keys":[{"kid":"HCLAkPub",…}], "user-data": hex, …})
 *
 * The hardware report's REPORT_DATA[0:32] is SHA-256(variable data): that is what ties the vTPM's
 * attestation key (HCLAkPub) to the hardware-signed report.
 */
import { ByteReader, EvidenceMalformed, UnsupportedVersion, fromUtf8, type FieldLayout } from '../../core/index.ts';

const TEE = 'azure-hcl';

export const HCL_LAYOUT: readonly FieldLayout[] = Object.freeze([
  { name: 'signature', offset: 0x000, size: 4 },
  { name: 'version', offset: 0x004, size: 4 },
  { name: 'report_size', offset: 0x008, size: 4 },
  { name: 'request_type', offset: 0x00c, size: 4 },
  { name: 'status', offset: 0x010, size: 4 },
  { name: 'hw_report', offset: 0x020, size: 1184 },
  { name: 'igvm.data_size', offset: 0x4c0, size: 4 },
  { name: 'igvm.version', offset: 0x4c4, size: 4 },
  { name: 'igvm.report_type', offset: 0x4c8, size: 4 },
  { name: 'igvm.report_data_hash_type', offset: 0x4cc, size: 4 },
  { name: 'igvm.variable_data_size', offset: 0x4d0, size: 4 },
  { name: 'igvm.variable_data', offset: 0x4d4, size: 0 },
]);

export const HCL_MAGIC = 0x414c4348; // "HCLA" little-endian
export const HCL_REPORT_TYPE = { SNP: 2, TDX: 4 } as const;
export const SNP_REPORT_SIZE = 1184;
export const TDREPORT_SIZE = 1024;
/** Upper bound for the runtime-claims JSON; real ones are ~1-2 KiB. */
const MAX_VAR_DATA = 64 * 1024;

export interface HclAkJwk {
  kid: string;
  kty: 'RSA';
  n: string;
  e: string;
}

export interface HclReport {
  version: number;
  reportSize: number;
  requestType: number;
  status: number;
  reportType: 'snp' | 'tdx';
  /** 1 = SHA-256, 2 = SHA-384, 3 = SHA-512 (the hash of the variable data in REPORT_DATA). */
  hashType: number;
  /** The SNP report (1184 bytes) or TDREPORT (1024 bytes). */
  hwReport: Uint8Array;
  /** The exact runtime-claims bytes whose hash the hardware report carries. */
  varData: Uint8Array;
  runtimeClaims: Record<string, unknown>;
  /** The vTPM attestation key, from runtimeClaims.keys[kid = HCLAkPub]. */
  akPub: HclAkJwk;
  /** runtimeClaims["user-data"] (hex), when present. */
  userData?: string;
  raw: Uint8Array;
}

export function isHclReport(bytes: Uint8Array): boolean {
  return bytes.length >= 0x4d4 && bytes[0] === 0x48 && bytes[1] === 0x43 && bytes[2] === 0x4c && bytes[3] === 0x41;
}

export function parseHclReport(bytes: Uint8Array): HclReport {
  const r = new ByteReader(bytes, TEE);
  const magic = r.u32le('signature');
  if (magic !== HCL_MAGIC) throw new EvidenceMalformed(TEE, 'signature', 0, `expected "HCLA", got 0x${magic.toString(16)}`);
  const version = r.u32le('version');
  const reportSize = r.u32le('report_size');
  const requestType = r.u32le('request_type');
  const status = r.u32le('status');
  if (version < 1 || version > 2) throw new UnsupportedVersion(TEE, 'version', version, [1, 2]);
  r.seek(0x4c0, 'igvm request data');
  const dataSize = r.u32le('igvm.data_size');
  const igvmVersion = r.u32le('igvm.version');
  const reportTypeRaw = r.u32le('igvm.report_type');
  const hashType = r.u32le('igvm.report_data_hash_type');
  const varSize = r.u32le('igvm.variable_data_size');
  if (igvmVersion !== 1) throw new UnsupportedVersion(TEE, 'igvm.version', igvmVersion, [1]);
  let reportType: 'snp' | 'tdx';
  if (reportTypeRaw === HCL_REPORT_TYPE.SNP) reportType = 'snp';
  else if (reportTypeRaw === HCL_REPORT_TYPE.TDX) reportType = 'tdx';
  else throw new UnsupportedVersion(TEE, 'igvm.report_type', reportTypeRaw, [HCL_REPORT_TYPE.SNP, HCL_REPORT_TYPE.TDX]);
  if (hashType < 1 || hashType > 3) throw new UnsupportedVersion(TEE, 'igvm.report_data_hash_type', hashType, [1, 2, 3]);
  if (varSize === 0 || varSize > MAX_VAR_DATA) throw new EvidenceMalformed(TEE, 'igvm.variable_data_size', 0x4d0, `${varSize} bytes is outside 1..${MAX_VAR_DATA}`);
  if (dataSize !== 20 + varSize) throw new EvidenceMalformed(TEE, 'igvm.data_size', 0x4c0, `${dataSize} does not equal the 20-byte header plus ${varSize} bytes of variable data`);
  const varData = r.at(0x4d4, varSize, 'igvm.variable_data');
  const hwReport = r.at(0x20, reportType === 'snp' ? SNP_REPORT_SIZE : TDREPORT_SIZE, 'hw_report');

  let runtimeClaims: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(fromUtf8(varData));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    runtimeClaims = v as Record<string, unknown>;
  } catch (e) {
    throw new EvidenceMalformed(TEE, 'igvm.variable_data', 0x4d4, `runtime claims are not valid JSON: ${(e as Error).message}`);
  }
  const keys = runtimeClaims.keys;
  const ak = Array.isArray(keys) ? (keys as Record<string, unknown>[]).find((k) => k && k.kid === 'HCLAkPub') : undefined;
  if (!ak || ak.kty !== 'RSA' || typeof ak.n !== 'string' || typeof ak.e !== 'string') {
    throw new EvidenceMalformed(TEE, 'runtime_claims.keys[HCLAkPub]', 0x4d4, 'no RSA key with kid "HCLAkPub" (the vTPM attestation key) in the runtime claims');
  }
  const userData = typeof runtimeClaims['user-data'] === 'string' ? (runtimeClaims['user-data'] as string).toLowerCase() : undefined;
  return {
    version,
    reportSize,
    requestType,
    status,
    reportType,
    hashType,
    hwReport,
    varData,
    runtimeClaims,
    akPub: { kid: 'HCLAkPub', kty: 'RSA', n: ak.n, e: ak.e },
    ...(userData !== undefined ? { userData } : {}),
    raw: bytes,
  };
}
