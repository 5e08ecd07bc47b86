/**
 * AWS Nitro Enclaves trust anchor. Documents carry the root as cabundle[0], but a root is trusted
 * only because its SHA-256 fingerprint is pinned here (or added by the operator through
 * ctx.extraRoots['aws-nitro'] / --trust-root aws-nitro:<sha256>), never because it is present.
 *
 * AWS Nitro Enclaves Root-G1, "C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves", ECDSA P-384,
 * valid 2019-10-28 .. 2049-10-28, published at AWS_NITRO_ROOT_G1_URL (AWS Nitro Enclaves User
 * Guide, "Verifying the root of trust"). The fingerprint below is the SHA-256 of its DER and was
 * checked against the AWS download and the corpus copy (nitro/roots/aws_nitro_enclaves_root_G1.pem).
 */
import { fingerprint, parseCertificates, type X509Certificate } from '../../core/index.ts';
import type { CollateralSet } from '../index.ts';

export const AWS_NITRO_TRUST_FAMILY = 'aws-nitro';
export const AWS_NITRO_ROOT_G1_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';
export const AWS_NITRO_PINNED_ROOTS: readonly string[] = [AWS_NITRO_ROOT_G1_SHA256];
export const AWS_NITRO_ROOT_LABEL = 'AWS Nitro Enclaves Root-G1';
export const AWS_NITRO_ROOT_G1_URL = 'https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip';

/**
 * A pinned root from supplied collateral that issued `issuerDn`, for documents whose cabundle[0]
 * is not (byte-for-byte) a pinned root. Returns undefined when none is supplied.
 */
export async function findPinnedRoot(collateral: CollateralSet, pins: ReadonlySet<string>, issuerDn: string): Promise<X509Certificate | undefined> {
  for (const c of collateral.certificates) {
    if (c.subject === issuerDn && pins.has(await fingerprint(c))) return c;
  }
  return undefined;
}

/** Parses a PEM/DER root file (operator-supplied) and returns its pin. */
export async function rootPin(input: Uint8Array | string): Promise<string> {
  const [cert] = parseCertificates(input, 'root');
  return fingerprint(cert!);
}
