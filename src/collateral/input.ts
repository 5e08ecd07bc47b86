/**
 * User-supplied collateral (`--collateral` files, a trust-bundle directory): each item's kind is
 * detected from its content, never its name. Certificates and CRLs are parsed once here; JSON
 * items are handed to the platform verifiers that know their shapes (PCS bodies, QuoteCollateralV3).
 */
import { fromUtf8, parseCertificates, parseCrl, pemBlocks, x509, type X509Certificate, type X509Crl } from '../core/index.ts';

export interface CollateralItem {
  /** Where it came from (a file path, a URL): for messages only. */
  name: string;
  bytes: Uint8Array;
}

export interface JsonCollateral {
  name: string;
  /** The exact text (signatures over PCS JSON are over the served bytes). */
  text: string;
  value: unknown;
}

export interface CollateralSet {
  certificates: X509Certificate[];
  crls: X509Crl[];
  json: JsonCollateral[];
  /** Items that are none of the above; platforms may still recognise them (e.g. PCS chain headers). */
  other: CollateralItem[];
  /** Per-item parse problems, reported as warnings rather than silently ignored. */
  problems: string[];
}

export function emptyCollateral(): CollateralSet {
  return { certificates: [], crls: [], json: [], other: [], problems: [] };
}

function tryDerCert(bytes: Uint8Array): X509Certificate | undefined {
  try {
    return new x509.X509Certificate(bytes as Uint8Array<ArrayBuffer>);
  } catch {
    return undefined;
  }
}
function tryDerCrl(bytes: Uint8Array): X509Crl | undefined {
  try {
    return new x509.X509Crl(bytes as Uint8Array<ArrayBuffer>);
  } catch {
    return undefined;
  }
}

export function classifyCollateral(items: CollateralItem[], into: CollateralSet = emptyCollateral()): CollateralSet {
  for (const item of items) {
    const bytes = item.bytes;
    const head = fromUtf8(bytes.subarray(0, Math.min(bytes.length, 64)), false).trimStart();
    // JSON first: JSON bundles (dcap-qvl QuoteCollateralV3) carry PEM chains inside strings.
    const jsonLike = head.startsWith('{') || head.startsWith('[');
    if (head.startsWith('-----BEGIN') || (!jsonLike && fromUtf8(bytes.subarray(0, Math.min(bytes.length, 8192)), false).includes('-----BEGIN '))) {
      const text = fromUtf8(bytes, false);
      const blocks = pemBlocks(text);
      if (blocks.some((b) => b.label === 'CERTIFICATE')) {
        try {
          into.certificates.push(...parseCertificates(text, item.name));
        } catch (e) {
          into.problems.push(`${item.name}: ${(e as Error).message}`);
        }
      }
      for (const b of blocks.filter((b) => b.label === 'X509 CRL')) {
        try {
          into.crls.push(parseCrl(b.der, item.name));
        } catch (e) {
          into.problems.push(`${item.name}: ${(e as Error).message}`);
        }
      }
      if (!blocks.some((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CRL')) into.other.push(item);
      continue;
    }
    if (head.startsWith('{') || head.startsWith('[')) {
      const text = fromUtf8(bytes, false);
      try {
        into.json.push({ name: item.name, text, value: JSON.parse(text) });
      } catch (e) {
        into.problems.push(`${item.name}: looks like JSON but does not parse: ${(e as Error).message}`);
      }
      continue;
    }
    if (bytes[0] === 0x30) {
      const cert = tryDerCert(bytes);
      if (cert) {
        into.certificates.push(cert);
        continue;
      }
      const crl = tryDerCrl(bytes);
      if (crl) {
        into.crls.push(crl);
        continue;
      }
      into.problems.push(`${item.name}: DER data that is neither a certificate nor a CRL`);
      continue;
    }
    into.other.push(item);
  }
  return into;
}
