/**
 * AMD's VCEK/VLEK certificate extensions (KDS interface spec pub. 57230, "VCEK Certificate
 * Extensions"; go-sev-guest kds.go Oid*; trustee snp/mod.rs; NOTES 2.6):
 *   1.3.6.1.4.1.3704.1.1        structVersion  INTEGER
 *   1.3.6.1.4.1.3704.1.2        productName    IA5String ("Milan-B0", "Genoa", "Turin")
 *   1.3.6.1.4.1.3704.1.3.1..8   blSPL, teeSPL, snpSPL, spl4..spl7, ucodeSPL  INTEGER
 *   1.3.6.1.4.1.3704.1.3.9      fmcSPL (Turin) INTEGER
 *   1.3.6.1.4.1.3704.1.4        hwID: raw bytes (64, or 8 on Turin) or a DER OCTET STRING of them
 *   1.3.6.1.4.1.3704.1.5        cspID (VLEK)   IA5String
 */
import { CertificateInvalid, type X509Certificate } from '../../core/index.ts';

export const AMD_OID = Object.freeze({
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSpl: '1.3.6.1.4.1.3704.1.3.1',
  teeSpl: '1.3.6.1.4.1.3704.1.3.2',
  snpSpl: '1.3.6.1.4.1.3704.1.3.3',
  spl4: '1.3.6.1.4.1.3704.1.3.4',
  spl5: '1.3.6.1.4.1.3704.1.3.5',
  spl6: '1.3.6.1.4.1.3704.1.3.6',
  spl7: '1.3.6.1.4.1.3704.1.3.7',
  ucodeSpl: '1.3.6.1.4.1.3704.1.3.8',
  fmcSpl: '1.3.6.1.4.1.3704.1.3.9',
  hwId: '1.3.6.1.4.1.3704.1.4',
  cspId: '1.3.6.1.4.1.3704.1.5',
});

export interface AmdCertExtensions {
  structVersion?: number;
  productName?: string;
  blSpl?: number;
  teeSpl?: number;
  snpSpl?: number;
  ucodeSpl?: number;
  fmcSpl?: number;
  /** The chip identity (VCEK only). */
  hwId?: Uint8Array;
  /** Which encoding the hwID used: 'raw' (legacy) or 'octet-string' (current KDS). */
  hwIdEncoding?: 'raw' | 'octet-string';
  /** Cloud provider identity (VLEK only). */
  cspId?: string;
}

/** Reads one DER TLV with the expected tag that must span all of `b`. */
function derValue(b: Uint8Array, tag: number, what: string): Uint8Array {
  if (b.length < 2 || b[0] !== tag) throw new Error(`${what}: expected DER tag 0x${tag.toString(16)}`);
  let len = b[1]!;
  let p = 2;
  if (len & 0x80) {
    const k = len & 0x7f;
    if (k === 0 || k > 2 || b.length < 2 + k) throw new Error(`${what}: bad DER length`);
    len = 0;
    for (let i = 0; i < k; i++) len = (len << 8) | b[p++]!;
  }
  if (p + len !== b.length) throw new Error(`${what}: DER length ${len} does not match the ${b.length - p} bytes present`);
  return b.subarray(p);
}

/** A small non-negative DER INTEGER (SPLs are bytes; "02 02 00 a9" is 169). */
function derSmallUint(b: Uint8Array, what: string): number {
  const v = derValue(b, 0x02, what);
  if (v.length === 0 || v.length > 5 || v[0]! & 0x80) throw new Error(`${what}: not a small non-negative INTEGER`);
  let n = 0;
  for (const x of v) n = n * 256 + x;
  return n;
}

function derIa5(b: Uint8Array, what: string): string {
  const v = derValue(b, 0x16, what);
  let s = '';
  for (const c of v) {
    if (c > 0x7f) throw new Error(`${what}: not IA5 text`);
    s += String.fromCharCode(c);
  }
  return s;
}

const cache = new WeakMap<X509Certificate, AmdCertExtensions>();

/** Parses AMD's extensions of a VCEK/VLEK (memoised per certificate object). */
export function parseAmdExtensions(cert: X509Certificate, role = 'vcek'): AmdCertExtensions {
  const hit = cache.get(cert);
  if (hit) return hit;
  const out: AmdCertExtensions = {};
  for (const ext of cert.extensions) {
    const v = new Uint8Array(ext.value);
    try {
      switch (ext.type) {
        case AMD_OID.structVersion:
          out.structVersion = derSmallUint(v, 'structVersion');
          break;
        case AMD_OID.productName:
          out.productName = derIa5(v, 'productName');
          break;
        case AMD_OID.blSpl:
          out.blSpl = derSmallUint(v, 'blSPL');
          break;
        case AMD_OID.teeSpl:
          out.teeSpl = derSmallUint(v, 'teeSPL');
          break;
        case AMD_OID.snpSpl:
          out.snpSpl = derSmallUint(v, 'snpSPL');
          break;
        case AMD_OID.ucodeSpl:
          out.ucodeSpl = derSmallUint(v, 'ucodeSPL');
          break;
        case AMD_OID.fmcSpl:
          out.fmcSpl = derSmallUint(v, 'fmcSPL');
          break;
        case AMD_OID.hwId:
          // Raw is 64 (or 8) bytes; the DER form is 66 (or 10) bytes "04 40 …" / "04 08 …".
          if (v.length >= 2 && v[0] === 0x04 && v[1] === v.length - 2 && (v.length - 2 === 64 || v.length - 2 === 8)) {
            out.hwId = v.slice(2);
            out.hwIdEncoding = 'octet-string';
          } else {
            out.hwId = v.slice();
            out.hwIdEncoding = 'raw';
          }
          break;
        case AMD_OID.cspId:
          out.cspId = derIa5(v, 'cspID');
          break;
        default:
          break;
      }
    } catch (e) {
      throw new CertificateInvalid(role, `AMD extension ${ext.type}: ${(e as Error).message}`, { subject: cert.subject });
    }
  }
  cache.set(cert, out);
  return out;
}

const cnCache = new Map<string, string | undefined>();

/** The CN of an X.509 name string ("…, CN=SEV-VCEK"); memoised (the same few names recur). */
export function commonName(name: string): string | undefined {
  if (cnCache.has(name)) return cnCache.get(name);
  const m = /(?:^|,\s*)CN=([^,]+)/.exec(name);
  const cn = m?.[1]?.trim();
  if (cnCache.size >= 4096) cnCache.clear();
  cnCache.set(name, cn);
  return cn;
}
