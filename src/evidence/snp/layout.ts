/**
 * The AMD SEV-SNP ATTESTATION_REPORT layout, frozen. Source: AMD "SEV Secure Nested Paging
 * Firmware ABI Specification" (pub. 56860): ATTESTATION_REPORT Structure (Table 21 in rev 1.51,
 * Table 23 in rev 1.55+ where version 3 adds the CPUID bytes, and the rev 1.58 table where
 * version 5 adds the mitigation vectors); TCB_VERSION Structure (Table 3, and its family 1Ah
 * variant with FMC_SPL for Turin); the "ECDSA P-384 with SHA-384 Signature Format" table (R and S as
 * 72-byte little-endian integers). Cross-checked with go-sev-guest
 * abi.ReportToProto and virtee/sev firmware/guest/types/snp.rs (NOTES 2.1).
 */
import type { FieldLayout } from '../../core/index.ts';

/** Total size of every report version we accept (0x4A0). */
export const SNP_REPORT_SIZE = 0x4a0;
/** The signature covers bytes [0, 0x2A0). */
export const SNP_SIGNED_END = 0x2a0;
export const SNP_SIGNATURE_OFFSET = 0x2a0;
/** Each ECDSA component is a 72-byte little-endian integer (P-384 uses the low 48 bytes). */
export const SNP_SIG_COMPONENT_SIZE = 72;
export const SNP_SUPPORTED_VERSIONS: readonly number[] = [2, 3, 5];
/** SIGNATURE_ALGO 1 = ECDSA P-384 with SHA-384 (ABI spec, "Signature Algorithm" table). */
export const SNP_SIG_ALGO_ECDSA_P384_SHA384 = 1;

const f = (name: string, offset: number, size: number): FieldLayout => Object.freeze({ name, offset, size });

/** Every field and reserved range of the 1184-byte report, in order, covering it exactly. */
export const SNP_REPORT_LAYOUT: readonly FieldLayout[] = Object.freeze([
  f('VERSION', 0x000, 4),
  f('GUEST_SVN', 0x004, 4),
  f('POLICY', 0x008, 8),
  f('FAMILY_ID', 0x010, 16),
  f('IMAGE_ID', 0x020, 16),
  f('VMPL', 0x030, 4),
  f('SIGNATURE_ALGO', 0x034, 4),
  f('CURRENT_TCB', 0x038, 8),
  f('PLATFORM_INFO', 0x040, 8),
  /** bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY, bits 31:5 reserved (MBZ). */
  f('SIGNER_INFO', 0x048, 4),
  f('RESERVED_04C', 0x04c, 4),
  f('REPORT_DATA', 0x050, 64),
  f('MEASUREMENT', 0x090, 48),
  f('HOST_DATA', 0x0c0, 32),
  f('ID_KEY_DIGEST', 0x0e0, 48),
  f('AUTHOR_KEY_DIGEST', 0x110, 48),
  f('REPORT_ID', 0x140, 32),
  f('REPORT_ID_MA', 0x160, 32),
  f('REPORTED_TCB', 0x180, 8),
  /** Version 3+: CPUID Fn0000_0001_EAX family (extended + base), model, stepping. Zero (reserved) in v2. */
  f('CPUID_FAM_ID', 0x188, 1),
  f('CPUID_MOD_ID', 0x189, 1),
  f('CPUID_STEP', 0x18a, 1),
  f('RESERVED_18B', 0x18b, 0x15),
  f('CHIP_ID', 0x1a0, 64),
  f('COMMITTED_TCB', 0x1e0, 8),
  f('CURRENT_BUILD', 0x1e8, 1),
  f('CURRENT_MINOR', 0x1e9, 1),
  f('CURRENT_MAJOR', 0x1ea, 1),
  f('RESERVED_1EB', 0x1eb, 1),
  f('COMMITTED_BUILD', 0x1ec, 1),
  f('COMMITTED_MINOR', 0x1ed, 1),
  f('COMMITTED_MAJOR', 0x1ee, 1),
  f('RESERVED_1EF', 0x1ef, 1),
  f('LAUNCH_TCB', 0x1f0, 8),
  /** Version 5+: mitigation vectors. Reserved (MBZ) before. */
  f('LAUNCH_MIT_VECTOR', 0x1f8, 8),
  f('CURRENT_MIT_VECTOR', 0x200, 8),
  f('RESERVED_208', 0x208, 0x98),
  f('SIGNATURE_R', 0x2a0, 72),
  f('SIGNATURE_S', 0x2e8, 72),
  f('RESERVED_SIGNATURE', 0x330, 0x170),
]);

export function snpField(name: string): FieldLayout {
  const l = SNP_REPORT_LAYOUT.find((x) => x.name === name);
  if (!l) throw new RangeError(`no SNP report field ${name}`);
  return l;
}

/** GUEST POLICY bits (ABI spec "Guest Policy Structure"; go-sev-guest abi.go policy*Bit). */
export const SNP_POLICY_BITS = Object.freeze({
  smt: 16,
  /** Reserved, must be one. */
  reservedMustBeOne: 17,
  migrateMa: 18,
  debug: 19,
  singleSocket: 20,
  cxlAllow: 21,
  memAes256Xts: 22,
  raplDis: 23,
  ciphertextHiding: 24,
  pageSwapDisable: 25,
});

/** PLATFORM_INFO bits (ABI spec "PLATFORM_INFO Field"). */
export const SNP_PLATFORM_INFO_BITS = Object.freeze({
  smtEnabled: 0,
  tsmeEnabled: 1,
  eccEnabled: 2,
  raplDisabled: 3,
  ciphertextHidingEnabled: 4,
  aliasCheckComplete: 5,
  tioEnabled: 7,
});

/** SIGNING_KEY values (bits 4:2 of SIGNER_INFO); 2..6 are reserved. */
export const SNP_SIGNING_KEY = Object.freeze({ vcek: 0, vlek: 1, none: 7 });

/** CPUID family of Zen 5 (Turin), whose TCB_VERSION has the FMC byte first. */
export const CPUID_FAMILY_TURIN = 0x1a;
