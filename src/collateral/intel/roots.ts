/**
 * The Intel SGX Root CA, pinned by the SHA-256 of its DER encoding (Intel PCS documentation; same
 * root for SGX and TDX DCAP, valid 2018-05-21..2049-12-31). The root carried in a quote or a PCS
 * issuer-chain header is only accepted when it hashes to this value (or to a caller-added test root).
 */
export const INTEL_SGX_ROOT_CA_SHA256 = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';
export const INTEL_ROOT_FINGERPRINTS: readonly string[] = [INTEL_SGX_ROOT_CA_SHA256];
/** Trust family key for VerifyContext.extraRoots. */
export const INTEL_TRUST_FAMILY = 'intel';

/** OIDs of the Intel SGX PCK certificate extension (Intel SGX PCK Certificate and CRL Profile). */
export const OID_SGX_EXTENSIONS = '1.2.840.113741.1.13.1';
export const OID_PPID = '1.2.840.113741.1.13.1.1';
export const OID_TCB = '1.2.840.113741.1.13.1.2';
export const OID_PCESVN = '1.2.840.113741.1.13.1.2.17';
export const OID_CPUSVN = '1.2.840.113741.1.13.1.2.18';
export const OID_PCEID = '1.2.840.113741.1.13.1.3';
export const OID_FMSPC = '1.2.840.113741.1.13.1.4';
export const OID_SGX_TYPE = '1.2.840.113741.1.13.1.5';
export const OID_PLATFORM_INSTANCE_ID = '1.2.840.113741.1.13.1.6';
export const OID_CONFIGURATION = '1.2.840.113741.1.13.1.7';
