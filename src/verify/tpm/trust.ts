/**
 * Why an AK is trusted, three ways (docs/tpm.md "AK trust"):
 *
 * 1. pinned: the AK's Name is listed in a teataster.tpm-trust/v1 collateral item (akNames);
 * 2. activated: a credential-activation record for the AK's Name (finishActivation output) in the
 *    same item, and the EK certificate it was made for chains to a pinned/configured CA;
 * 3. certificate: the AK certificate chains (through supplied intermediates) to a pinned root
 *    (GCE roots, or ctx.extraRoots.tpm), and its public key equals the AK public area.
 *
 * The explicit operator choices (1, 2) are consulted first; otherwise the certificate path decides
 * and its error (CertificateInvalid / RootNotTrusted) is what the caller sees.
 */
import {
  AttestError,
  CertificateInvalid,
  ErrorCode,
  fingerprint,
  parseCertificate,
  subtle,
  toHex,
  verifyChain,
  verifyIssuedBy,
  type ChainLink,
  type X509Certificate,
} from '../../core/index.ts';
import { TPM_PINNED_ROOTS, TPM_ROOT_LABEL, TPM_TRUST_FAMILY, tpmTrustFromCollateral, type ActivationRecord } from '../../collateral/tpm/index.ts';
import { objectName, tpmPublicToJwk, type PublicJwk, type TpmEvidence, type TpmtPublic } from '../../evidence/tpm/index.ts';
import { rootFingerprints } from '../binding.ts';
import type { VerifyContext } from '../types.ts';

export type AkTrustMode = 'pinned' | 'activated' | 'certificate';

export interface AkTrust {
  mode: AkTrustMode;
  akName: Uint8Array;
  chain: ChainLink[];
  akCertSubject?: string;
  activation?: ActivationRecord;
}

async function certJwk(cert: X509Certificate, role: string): Promise<JsonWebKey> {
  try {
    const key = await cert.publicKey.export();
    return await subtle().exportKey('jwk', key);
  } catch (e) {
    throw new CertificateInvalid(role, `public key cannot be read: ${(e as Error).message}`, { subject: cert.subject });
  }
}

/** True when the certificate's key is the TPM public key (RSA n/e or EC curve/x/y). */
export async function certMatchesTpmPublic(cert: X509Certificate, pub: TpmtPublic, role: string): Promise<boolean> {
  const a = await certJwk(cert, role);
  const b: PublicJwk = tpmPublicToJwk(pub);
  if (b.kty === 'RSA') return a.kty === 'RSA' && a.n === b.n && a.e === b.e;
  return a.kty === 'EC' && a.crv === b.crv && a.x === b.x && a.y === b.y;
}

/**
 * Builds leaf → … → pinned root from a pool (evidence intermediates + collateral certificates) and
 * verifies it at ctx.now. Throws RootNotTrusted when no pinned root is reached.
 */
export async function verifyTpmCertChain(leaf: X509Certificate, pool: X509Certificate[], ctx: VerifyContext, leafRole: string): Promise<ChainLink[]> {
  const pins = { label: TPM_ROOT_LABEL, fingerprints: rootFingerprints(TPM_PINNED_ROOTS, ctx.extraRoots, TPM_TRUST_FAMILY) };
  const chain: X509Certificate[] = [leaf];
  for (let depth = 0; depth < 6; depth++) {
    const cur = chain[chain.length - 1]!;
    if (pins.fingerprints.has(await fingerprint(cur)) && cur.subject === cur.issuer) break;
    let parent: X509Certificate | undefined;
    for (const c of pool) {
      if (c.subject !== cur.issuer || chain.includes(c)) continue;
      try {
        await verifyIssuedBy(cur, c, depth === 0 ? leafRole : 'intermediate');
        parent = c;
        break;
      } catch {
        // another certificate with the same subject may be the real issuer
      }
    }
    if (!parent) break;
    chain.push(parent);
  }
  const roles = chain.map((_, i) => (i === 0 ? leafRole : i === chain.length - 1 ? 'root' : 'intermediate'));
  if (chain.length === 1) {
    throw new AttestError(ErrorCode.RootNotTrusted, `${leafRole} certificate "${leaf.subject}" does not chain to a supplied ${TPM_ROOT_LABEL} (issuer "${leaf.issuer}" not found in the evidence or collateral)`, { subject: leaf.subject, issuer: leaf.issuer });
  }
  return verifyChain(chain, pins, ctx.now, roles);
}

function collateralPool(evidence: TpmEvidence, ctx: VerifyContext): X509Certificate[] {
  const pool = evidence.intermediates.map((d, i) => parseCertificate(d, `intermediate ${i}`));
  return [...pool, ...ctx.collateral.certificates];
}

/** Verifies an EK certificate against the configured manufacturer CAs and the EK public area. */
export async function verifyEkCertificate(ekCert: Uint8Array, ekPublic: TpmtPublic | undefined, ctx: VerifyContext, pool: X509Certificate[] = ctx.collateral.certificates): Promise<ChainLink[]> {
  const cert = parseCertificate(ekCert, 'EK');
  const chain = await verifyTpmCertChain(cert, pool, ctx, 'EK');
  if (ekPublic && !(await certMatchesTpmPublic(cert, ekPublic, 'EK'))) throw new CertificateInvalid('EK', 'certificate key differs from the EK public area', { subject: cert.subject });
  return chain;
}

export async function establishAkTrust(evidence: TpmEvidence, ctx: VerifyContext): Promise<AkTrust> {
  const akName = await objectName(evidence.akPublic);
  const nameHex = toHex(akName);
  const trust = tpmTrustFromCollateral(ctx.collateral);
  if (trust.akNames.has(nameHex)) return { mode: 'pinned', akName, chain: [] };
  const activation = trust.activations.find((a) => a.akName === nameHex);
  if (activation) {
    if (!evidence.ekCert) throw new CertificateInvalid('EK', 'the AK was activated, but the evidence carries no EK certificate to tie it to a manufacturer CA');
    const fp = toHex(new Uint8Array(await subtle().digest('SHA-256', evidence.ekCert.slice())));
    if (activation.ekCertSha256 && activation.ekCertSha256 !== fp) throw new CertificateInvalid('EK', `EK certificate ${fp} is not the one the credential was activated with (${activation.ekCertSha256})`);
    const chain = await verifyEkCertificate(evidence.ekCert, evidence.ekPublic, ctx, collateralPool(evidence, ctx));
    return { mode: 'activated', akName, chain, activation };
  }
  if (!evidence.akCert) {
    throw new AttestError(ErrorCode.RootNotTrusted, `TPM AK ${nameHex} is not trusted: no AK certificate, no pinned AK Name and no credential-activation record`, { akName: nameHex });
  }
  const cert = parseCertificate(evidence.akCert, 'AK');
  const chain = await verifyTpmCertChain(cert, collateralPool(evidence, ctx), ctx, 'AK');
  if (!(await certMatchesTpmPublic(cert, evidence.akPublic, 'AK'))) throw new CertificateInvalid('AK', 'certificate key differs from the AK public area', { subject: cert.subject });
  return { mode: 'certificate', akName, chain, akCertSubject: cert.subject };
}

