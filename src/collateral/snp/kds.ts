/**
 * AMD Key Distribution Service (KDS) endorsements for SEV-SNP: URL builders and fetchers (through
 * the injected Fetcher, cache, retries, Retry-After and offline mode of fetchCollateral).
 *
 * Endpoints (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface
 * Specification", pub. 57230; go-sev-guest kds.go):
 *   GET {base}/vcek/v1/{product}/{hwid}?blSPL=&teeSPL=&snpSPL=&ucodeSPL=   VCEK, DER
 *       Turin: hwid = first 8 bytes of CHIP_ID, and fmcSPL= comes first
 *   GET {base}/vcek/v1/{product}/cert_chain                                 ASK then ARK, PEM
 *   GET {base}/vlek/v1/{product}/cert_chain                                 ASVK then ARK, PEM
 *   GET {base}/vcek/v1/{product}/crl  (and /vlek/v1/{product}/crl)          CRL, DER, ARK-signed
 * A VLEK itself is not downloadable (AMD provisions it to the cloud provider, who must supply it).
 */
import { CollateralInvalid, parseCertificate, parseCertificates, parseCrl, toHex, type X509Certificate, type X509Crl } from '../../core/index.ts';
import type { SnpTcbVersion } from '../../evidence/snp/index.ts';
import { fetchCollateral, type FetchPolicy } from '../http.ts';
import type { SnpProduct } from './roots.ts';

export const AMD_KDS_DEFAULT_BASE = 'https://kdsintf.amd.com';

export type SnpEndorsementKind = 'vcek' | 'vlek';

function trimBase(base: string | undefined): string {
  return (base ?? AMD_KDS_DEFAULT_BASE).replace(/\/+$/, '');
}

/** The hwID KDS indexes VCEKs by: all 64 bytes of CHIP_ID, or the first 8 on Turin. */
export function kdsHwId(product: SnpProduct, chipId: Uint8Array): string {
  return toHex(product === 'Turin' ? chipId.subarray(0, 8) : chipId);
}

/** VCEK URL for a chip at the report's REPORTED_TCB. */
export function kdsVcekUrl(base: string | undefined, product: SnpProduct, chipId: Uint8Array, tcb: SnpTcbVersion): string {
  const spl =
    product === 'Turin'
      ? `fmcSPL=${tcb.fmc ?? 0}&blSPL=${tcb.bootloader}&teeSPL=${tcb.tee}&snpSPL=${tcb.snp}&ucodeSPL=${tcb.microcode}`
      : `blSPL=${tcb.bootloader}&teeSPL=${tcb.tee}&snpSPL=${tcb.snp}&ucodeSPL=${tcb.microcode}`;
  return `${trimBase(base)}/vcek/v1/${product}/${kdsHwId(product, chipId)}?${spl}`;
}

export function kdsCertChainUrl(base: string | undefined, product: SnpProduct, kind: SnpEndorsementKind): string {
  return `${trimBase(base)}/${kind}/v1/${product}/cert_chain`;
}

export function kdsCrlUrl(base: string | undefined, product: SnpProduct, kind: SnpEndorsementKind): string {
  return `${trimBase(base)}/${kind}/v1/${product}/crl`;
}

/** Fetches (or reads from the cache) the VCEK for a chip + TCB. VCEKs are immutable per URL. */
export async function fetchVcek(policy: FetchPolicy, base: string | undefined, product: SnpProduct, chipId: Uint8Array, tcb: SnpTcbVersion): Promise<X509Certificate> {
  const url = kdsVcekUrl(base, product, chipId, tcb);
  const got = await fetchCollateral(`AMD VCEK (${product})`, url, policy);
  return parseCertificate(got.body, 'vcek');
}

export interface SnpCertChain {
  /** ASK (for VCEKs) or ASVK (for VLEKs). */
  intermediate: X509Certificate;
  ark: X509Certificate;
}

/** Splits a KDS cert_chain body (PEM: intermediate first, then the ARK). */
export function parseKdsCertChain(body: Uint8Array | string, what = 'AMD cert_chain'): SnpCertChain {
  const certs = parseCertificates(body, what);
  if (certs.length !== 2) throw new CollateralInvalid(what, `expected 2 certificates (ASK/ASVK then ARK), found ${certs.length}`);
  const [intermediate, ark] = certs as [X509Certificate, X509Certificate];
  if (ark.subject !== ark.issuer) throw new CollateralInvalid(what, `second certificate "${ark.subject}" is not self-signed`);
  return { intermediate, ark };
}

export async function fetchCertChain(policy: FetchPolicy, base: string | undefined, product: SnpProduct, kind: SnpEndorsementKind): Promise<SnpCertChain> {
  const url = kdsCertChainUrl(base, product, kind);
  const got = await fetchCollateral(`AMD ${kind === 'vcek' ? 'ASK' : 'ASVK'}/ARK cert_chain (${product})`, url, policy);
  return parseKdsCertChain(got.body, url);
}

/** Fetches the product's CRL; the cache treats it as stale after its nextUpdate. */
export async function fetchCrl(policy: FetchPolicy, base: string | undefined, product: SnpProduct, kind: SnpEndorsementKind): Promise<X509Crl> {
  const url = kdsCrlUrl(base, product, kind);
  const got = await fetchCollateral(`AMD CRL (${product})`, url, policy, (body) => {
    try {
      return parseCrl(body).nextUpdate ?? undefined;
    } catch {
      return undefined;
    }
  });
  return parseCrl(got.body, `AMD CRL (${product}) from ${url}`);
}
