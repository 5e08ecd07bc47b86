/**
 * TPMT_PUBLIC ↔ JSON Web Key (RFC 7517/7518), so verifiers can import the key with WebCrypto and
 * compare it with certificates. Pure conversion; no crypto here.
 */
import { CURVE_BYTES, EvidenceMalformed, fixedWidth, toBase64Url, UnsupportedVersion } from '../../core/index.ts';
import { TPM_ALG } from '../eventlog/index.ts';
import { curveName, type TpmtPublic } from './structures.ts';

export type PublicJwk = { kty: 'RSA'; n: string; e: string } | { kty: 'EC'; crv: 'P-256' | 'P-384' | 'P-521'; x: string; y: string };

function exponentBytes(e: number): Uint8Array {
  const v = e === 0 ? 65537 : e;
  const b = [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  while (b.length > 1 && b[0] === 0) b.shift();
  return new Uint8Array(b);
}

export function tpmPublicToJwk(pub: TpmtPublic): PublicJwk {
  if (pub.type === TPM_ALG.RSA) {
    if (pub.unique.length === 0) throw new EvidenceMalformed('tpm', 'TPM2B_PUBLIC_KEY_RSA', undefined, 'empty modulus (a template, not a key)');
    return { kty: 'RSA', n: toBase64Url(pub.unique), e: toBase64Url(exponentBytes(pub.rsa.exponent)) };
  }
  if (pub.type === TPM_ALG.ECC) {
    const crv = curveName(pub.ecc.curveId);
    if (!crv) throw new UnsupportedVersion('tpm', 'TPMS_ECC_PARMS.curveID', `0x${pub.ecc.curveId.toString(16)}`, ['NIST P-256', 'NIST P-384', 'NIST P-521']);
    const n = CURVE_BYTES[crv];
    if (pub.x.length === 0 || pub.x.length > n || pub.y.length === 0 || pub.y.length > n) throw new EvidenceMalformed('tpm', 'TPMS_ECC_POINT', undefined, `coordinates of ${pub.x.length}/${pub.y.length} bytes for ${crv}`);
    return { kty: 'EC', crv, x: toBase64Url(fixedWidth(pub.x, n)), y: toBase64Url(fixedWidth(pub.y, n)) };
  }
  throw new UnsupportedVersion('tpm', 'TPMT_PUBLIC.type', `0x${pub.type.toString(16)}`, ['RSA', 'ECC']);
}
