/** Keeps: confidential WebAssembly workloads delivered only to an attested TEE (docs/keep.md). */
export { canonicalJson } from '../core/index.ts';
export { WorkloadInvalid, LimitExceeded } from './errors.ts';
export { ManifestSchema, ManifestInvalid, parseKeepToml, validateManifest, preopenDirs, keepResourcePaths, type Manifest, type ManifestInput } from './manifest.ts';
export { generateTenantKey, loadTenantKey, tenantThumbprint, TENANT_ALGS, type TenantAlg, type TenantKey } from './tenant-key.ts';
export {
  BUNDLE_FORMAT, BUNDLE_VERSION, SIGNATURE_TYP, MAX_MODULE_BYTES, packageKeep, encodeBundle, bundleSignerJwk, parseBundle, verifyBundle, openModule, parseWorkloadKey, manifestDigest,
  type KeepBundle, type WorkloadKeyJwk, type SignedPayload, type VerifiedBundle,
} from './bundle.ts';
export { capMemory, moduleImports, pagesFor, WASM_PAGE, type MemoryLimits } from './wasm-module.ts';
export { runWasm, TRAP_EXIT_CODE, type RunOptions, type RunResult, type RunLimits } from './runner.ts';
export { registerKeepCa, issueKeepCertificate, keepAttestationValue, KEEP_CERTIFICATE_ROUTE, KEEP_ATTESTATION_OID, DEFAULT_CERT_TTL_SECONDS, type KeepCaOptions, type KeepTokenFacts, type IssuedKeepCertificate } from './ca-plugin.ts';
export { keepCaOptions, keepCaPlugin, type KeepCaKbsDeps } from './kbs-ca.ts';
export { attestWithKey, obtainKeepIdentity, type KeepIdentity } from './identity.ts';
export { parseKeepRef, keepRef, releasePolicy, deployKeep, runKeep, evidenceSourceFor, type KeepRef, type DeployOptions, type DeployResult, type MeasurementRequirement, type RunKeepOptions, type KeepRunResult } from './delivery.ts';
