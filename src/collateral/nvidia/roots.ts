/**
 * NVIDIA GPU device-identity trust anchor. The certificate chain comes with the evidence (the
 * driver returns it next to the report; the CLI takes it with --collateral), but its root is
 * trusted only because its SHA-256 fingerprint is pinned here, or added by the operator through
 * ctx.extraRoots.nvidia / --trust-root nvidia:<sha256>.
 *
 * "CN=NVIDIA Device Identity CA, O=NVIDIA", ECDSA P-384, valid 2021-11-05 .. 9999-12-31: the root
 * that nvtrust's local GPU verifier ships as certs/verifier_device_root.pem and Trustee as
 * deps/verifier/src/nvidia/nvidia_device_root.pem (Trustee pins it by SHA-1; the SHA-256 of its DER
 * below was checked against the corpus copy nvidia/roots/nvidia_device_identity_ca.pem).
 */
import type { PinnedRoots } from '../../core/index.ts';

export const NVIDIA_TRUST_FAMILY = 'nvidia';
export const NVIDIA_DEVICE_IDENTITY_CA_SHA256 = '102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48';
export const NVIDIA_ROOT_LABEL = 'NVIDIA Device Identity CA';

export const NVIDIA_PINNED_ROOTS: PinnedRoots = Object.freeze({
  label: NVIDIA_ROOT_LABEL,
  fingerprints: new Set([NVIDIA_DEVICE_IDENTITY_CA_SHA256]) as ReadonlySet<string>,
});

/** TCG DICE TcbInfo-style FWID extension carried by the GSP FMC leaf (last 48 bytes = FWID). */
export const NVIDIA_FWID_OID = '2.23.133.5.4.1';
