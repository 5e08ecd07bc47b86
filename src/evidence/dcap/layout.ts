/**
 * Frozen layouts of the Intel DCAP ECDSA quote (Intel SGX ECDSA Quote Library Reference, "Quote
 * Format" appendix; Intel TDX DCAP Quoting Library API, "TD Quote Format" v4/v5). All integers are
 * little-endian. Offsets are relative to the start of their structure.
 */
import type { FieldLayout } from '../../core/index.ts';

export const TEE = 'dcap';

export const HEADER_SIZE = 48;
/** Intel QE vendor id 939A7233-F79C-4CA9-940A-0DB3957F0607. */
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
export const ATT_KEY_ECDSA_P256 = 2;
export const TEE_TYPE_SGX = 0x00000000;
export const TEE_TYPE_TDX = 0x00000081;

/** Quote header (48 bytes). In v3 bytes 4..8 are reserved (zero, i.e. SGX); in v4/v5 they are TEE_TYPE. */
export const HEADER_LAYOUT: readonly FieldLayout[] = Object.freeze([
  { name: 'VERSION', offset: 0, size: 2 },
  { name: 'ATT_KEY_TYPE', offset: 2, size: 2 },
  { name: 'TEE_TYPE', offset: 4, size: 4 },
  { name: 'QE_SVN', offset: 8, size: 2 },
  { name: 'PCE_SVN', offset: 10, size: 2 },
  { name: 'QE_VENDOR_ID', offset: 12, size: 16 },
  { name: 'USER_DATA', offset: 28, size: 20 },
]);

export const ENCLAVE_REPORT_SIZE = 384;
/** SGX REPORTBODY (SDM Vol. 3D, Table 38-21 / SGX ECDSA QuoteLibReference "Enclave Report"). */
export const ENCLAVE_REPORT_LAYOUT: readonly FieldLayout[] = Object.freeze([
  { name: 'CPUSVN', offset: 0, size: 16 },
  { name: 'MISCSELECT', offset: 16, size: 4 },
  { name: 'RESERVED1', offset: 20, size: 12 },
  { name: 'ISVEXTPRODID', offset: 32, size: 16 },
  { name: 'ATTRIBUTES', offset: 48, size: 16 },
  { name: 'MRENCLAVE', offset: 64, size: 32 },
  { name: 'RESERVED2', offset: 96, size: 32 },
  { name: 'MRSIGNER', offset: 128, size: 32 },
  { name: 'RESERVED3', offset: 160, size: 32 },
  { name: 'CONFIGID', offset: 192, size: 64 },
  { name: 'ISVPRODID', offset: 256, size: 2 },
  { name: 'ISVSVN', offset: 258, size: 2 },
  { name: 'CONFIGSVN', offset: 260, size: 2 },
  { name: 'RESERVED4', offset: 262, size: 42 },
  { name: 'ISVFAMILYID', offset: 304, size: 16 },
  { name: 'REPORTDATA', offset: 320, size: 64 },
]);

export const TD10_REPORT_SIZE = 584;
export const TD15_REPORT_SIZE = 648;
/** TD Quote Body (TDX DCAP Quoting Library API, Table "TD Quote Body"); TD 1.5 appends two fields. */
export const TD_REPORT_LAYOUT: readonly FieldLayout[] = Object.freeze([
  { name: 'TEE_TCB_SVN', offset: 0, size: 16 },
  { name: 'MRSEAM', offset: 16, size: 48 },
  { name: 'MRSIGNERSEAM', offset: 64, size: 48 },
  { name: 'SEAMATTRIBUTES', offset: 112, size: 8 },
  { name: 'TDATTRIBUTES', offset: 120, size: 8 },
  { name: 'XFAM', offset: 128, size: 8 },
  { name: 'MRTD', offset: 136, size: 48 },
  { name: 'MRCONFIGID', offset: 184, size: 48 },
  { name: 'MROWNER', offset: 232, size: 48 },
  { name: 'MROWNERCONFIG', offset: 280, size: 48 },
  { name: 'RTMR0', offset: 328, size: 48 },
  { name: 'RTMR1', offset: 376, size: 48 },
  { name: 'RTMR2', offset: 424, size: 48 },
  { name: 'RTMR3', offset: 472, size: 48 },
  { name: 'REPORTDATA', offset: 520, size: 64 },
  { name: 'TEE_TCB_SVN2', offset: 584, size: 16 },
  { name: 'MRSERVICETD', offset: 600, size: 48 },
]);

/** v5 body descriptor: TYPE u16 + SIZE u32 between the header and the body. */
export const BODY_TYPE_SGX = 1;
export const BODY_TYPE_TD10 = 2;
export const BODY_TYPE_TD15 = 3;
export const BODY_DESCRIPTOR_SIZE = 6;

/** Certification data types (QuoteLibReference "Certification Data Type"). */
export const CERT_TYPE_PCK_CHAIN = 5;
export const CERT_TYPE_QE_REPORT = 6;

export const ECDSA_SIG_SIZE = 64;
export const ECDSA_KEY_SIZE = 64;
