/**
 * The neutral claims model (issue 5, "Claims"): one JSON-safe shape for every platform, so that
 * policies, EAR tokens and the KBS never import a TEE folder. Byte values are lowercase hex,
 * 64-bit integers are decimal strings, times are ISO-8601.
 */

export type PlatformId = 'snp' | 'tdx' | 'sgx' | 'nitro' | 'tpm' | 'az-snp-vtpm' | 'az-tdx-vtpm' | 'sim' | 'nvidia';

export const PLATFORM_IDS: readonly PlatformId[] = ['snp', 'tdx', 'sgx', 'nitro', 'tpm', 'az-snp-vtpm', 'az-tdx-vtpm', 'sim', 'nvidia'];

/**
 * Intel's TCB statuses plus the ones other platforms need. SNP has no vendor-published status:
 * a verified SNP report is 'UpToDate' with respect to its VCEK, and policies compare SVNs.
 */
export type TcbStatus =
  | 'UpToDate'
  | 'SWHardeningNeeded'
  | 'ConfigurationNeeded'
  | 'ConfigurationAndSWHardeningNeeded'
  | 'OutOfDate'
  | 'OutOfDateConfigurationNeeded'
  | 'Revoked'
  | 'NotApplicable';

export interface TcbClaims {
  status: TcbStatus;
  advisoryIds: string[];
  /** Intel tcbDate of the matched level, when there is one. */
  date?: string;
  /** Component versions by name, e.g. { bootloader: 2, tee: 0, snp: 5, microcode: 68 } or { pcesvn: 13, 'sgx.0': 2 }. */
  versions: Record<string, number>;
}

export type RevocationState = 'checked' | 'absent' | 'not-applicable';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export interface Claims {
  platform: PlatformId;
  /** True when the TEE runs in a debug mode that lets the host read its memory. */
  debug: boolean;
  /** True only for the software-simulated TEE. */
  simulated?: boolean;
  /**
   * Measurements by stable names: 'snp.measurement', 'tdx.mrtd', 'tdx.rtmr0'..'tdx.rtmr3',
   * 'sgx.mrenclave', 'sgx.mrsigner', 'nitro.pcr0'.., 'tpm.sha256.pcr0'.., 'sim.measurement'.
   */
  measurements: Record<string, string>;
  tcb: TcbClaims;
  reportData?: string;
  hostData?: string;
  initData?: string;
  /** Signer identities: 'sgx.mrsigner', 'snp.author_key_digest', 'snp.id_key_digest', 'tdx.mrsignerseam'. */
  signers: Record<string, string>;
  /** Hardware or instance identity: chip id, Nitro module id, TPM EK/AK name. */
  instanceId?: string;
  /** Evidence creation time when the evidence carries one (Nitro timestamp). */
  evidenceTime?: string;
  /** The time the verification was made "as of". */
  verifiedAt: string;
  revocation: RevocationState;
  /** Full platform-specific claims (JSON-safe). */
  platformClaims: Record<string, JsonValue>;
}

export interface ChainSummary {
  role: string;
  subject: string;
  notAfter: string;
  sha256: string;
}
