/**
 * AMD root of trust for SEV-SNP: the ARK (AMD Root Key) of each product line, pinned by the
 * SHA-256 of its DER certificate. The ARK is self-signed, so trusting one "because the chain
 * says so" would trust anybody: only these fingerprints (plus any the caller adds explicitly via
 * VerifyContext.extraRoots.amd) are roots.
 *
 * Values: the certificates AMD KDS serves at /vcek/v1/{product}/cert_chain (identical copies ship
 * in go-sev-guest, trustee and virtee/sev); each fingerprint is recomputed from the corpus in
 * roots.test.ts.
 */
import type { SnpCpuid } from '../../evidence/snp/index.ts';

/** Product lines AMD KDS serves SNP endorsements for (the {product} path segment). */
export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';
export const SNP_PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin'];

export const AMD_ARK_SHA256: Readonly<Record<SnpProduct, string>> = Object.freeze({
  /** CN=ARK-Milan, valid 2020-10-22 .. 2045-10-22 */
  Milan: '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd',
  /** CN=ARK-Genoa, valid 2022-01-26 .. 2047-01-26 */
  Genoa: '4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1',
  /** CN=ARK-Turin, valid 2023-05-15 .. 2048-05-15 */
  Turin: '1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a',
});

/**
 * Product line from the report's CPUID family/model (report version 3+), as trustee
 * get_processor_generation and go-sev-guest kds.ProductLineFromFms map them (NOTES 2.4):
 * family 19h models 00–0Fh Milan; 10–1Fh and A0–AFh Genoa (Genoa, Bergamo, Siena share the
 * Genoa ARK); family 1Ah models 00–11h Turin.
 */
export function productFromCpuid(cpuid: SnpCpuid): SnpProduct | undefined {
  const { family, model } = cpuid;
  if (family === 0x19) {
    if (model <= 0x0f) return 'Milan';
    if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)) return 'Genoa';
    return undefined;
  }
  if (family === 0x1a && model <= 0x11) return 'Turin';
  return undefined;
}

/**
 * Product line from a name: the VCEK productName extension ("Milan-B0", "Genoa", "Turin"), an
 * issuer CN ("SEV-Milan", "SEV-VLEK-Genoa", "ARK-Turin") or a user option ("milan").
 */
export function productFromName(name: string | undefined): SnpProduct | undefined {
  if (!name) return undefined;
  const n = name.trim().toLowerCase().replace(/^(sev-vlek-|sev-|ark-)/, '');
  for (const p of SNP_PRODUCTS) {
    const q = p.toLowerCase();
    if (n === q || n.startsWith(`${q}-`)) return p;
  }
  // Bergamo and Siena are Genoa-class parts endorsed under the Genoa ARK.
  if (n === 'bergamo' || n === 'siena' || n.startsWith('bergamo-') || n.startsWith('siena-')) return 'Genoa';
  return undefined;
}
