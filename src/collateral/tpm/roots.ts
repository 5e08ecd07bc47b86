/**
 * TPM trust anchors and operator trust inputs.
 *
 * Pinned roots (SHA-256 of the DER certificate) for cloud vTPMs whose AK/EK certificates chain to a
 * published CA. Root certificates themselves are supplied as collateral (--collateral), and are
 * trusted only because their fingerprint is pinned here or added through ctx.extraRoots.tpm
 * (--trust-root tpm:<sha256>), e.g. for a TPM manufacturer's EK CA or a private swtpm CA.
 *
 * - GCE "tpm_ek_v1_cloud_host_root" (go-tpm-tools server/ca-certs/tpm_ek_root_1.cer; GceEKRoots);
 *   issues tpm_ek_intermediate_2/3 which issue GCE Shielded VM AK and EK certificates.
 * - GCP "EK/AK CA Root" (go-tpm-tools server/ca-certs/gcp_ek_ak_ca_root.crt), the newer root with
 *   "EK/AK CA Intermediate v3".
 * Fingerprints checked against the corpus copies (tpm/roots/, MANIFEST entry tpm-gcp-roots).
 */
import type { CollateralSet } from '../index.ts';

export const TPM_TRUST_FAMILY = 'tpm';
export const GCE_EK_ROOT_1_SHA256 = '9bd5285f8fb18502a7947e621ffd470266f49fcd3b73e19a190f690ad32a7caf';
export const GCP_EK_AK_CA_ROOT_SHA256 = '594759594b9b61524f6c8ef668f7177f7b9066bc0674f2f49fe9e052be78beb2';
export const TPM_PINNED_ROOTS: readonly string[] = [GCE_EK_ROOT_1_SHA256, GCP_EK_AK_CA_ROOT_SHA256];
export const TPM_ROOT_LABEL = 'TPM AK/EK CA (GCE vTPM roots or --trust-root tpm:)';

/**
 * Operator trust for individual AKs, supplied as a JSON collateral item:
 *   { "format": "teataster.tpm-trust/v1",
 *     "akNames": ["000b…"],                                  // pinned AK Names (hex)
 *     "activations": [{ "akName": "000b…", "ekCertSha256": "…", "at": "…" }] }  // finishActivation records
 */
export const TPM_TRUST_FORMAT = 'teataster.tpm-trust/v1';

export interface ActivationRecord {
  /** Name of the AK whose credential was activated (hex). */
  akName: string;
  /** SHA-256 of the EK certificate the credential was encrypted to (hex), when one was used. */
  ekCertSha256?: string;
  /** When the activation completed (ISO-8601). */
  at?: string;
}

export interface TpmTrust {
  akNames: Set<string>;
  activations: ActivationRecord[];
  problems: string[];
}

const HEX = /^[0-9a-f]+$/;

/** Collects every teataster.tpm-trust/v1 item of the collateral set. Malformed items are problems. */
export function tpmTrustFromCollateral(set: CollateralSet): TpmTrust {
  const out: TpmTrust = { akNames: new Set(), activations: [], problems: [] };
  for (const item of set.json) {
    const v = item.value as Record<string, unknown> | null;
    if (!v || typeof v !== 'object' || v.format !== TPM_TRUST_FORMAT) continue;
    for (const n of Array.isArray(v.akNames) ? v.akNames : []) {
      if (typeof n === 'string' && HEX.test(n.toLowerCase())) out.akNames.add(n.toLowerCase());
      else out.problems.push(`${item.name}: akNames entry ${JSON.stringify(n)} is not hex`);
    }
    for (const a of Array.isArray(v.activations) ? v.activations : []) {
      const r = a as Record<string, unknown>;
      if (typeof r?.akName !== 'string' || !HEX.test(r.akName.toLowerCase())) {
        out.problems.push(`${item.name}: activation record without a hex akName`);
        continue;
      }
      out.activations.push({
        akName: r.akName.toLowerCase(),
        ...(typeof r.ekCertSha256 === 'string' ? { ekCertSha256: r.ekCertSha256.toLowerCase() } : {}),
        ...(typeof r.at === 'string' ? { at: r.at } : {}),
      });
    }
  }
  return out;
}
