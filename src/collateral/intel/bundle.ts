/**
 * Turns user-supplied and fetched collateral into Intel candidates, detected by content: PCS v4
 * response bodies ({"tcbInfo"|"enclaveIdentity": {...}, "signature": "..."}), the dcap-qvl
 * QuoteCollateralV3 JSON bundle, issuer-chain PEM files (also URL-encoded, as the PCS headers are
 * served), certificates and CRLs (DER, PEM, or hex inside the bundle). Several candidates of one
 * kind may coexist; the verifier picks the newest valid one and names it in the claims.
 */
import { CollateralInvalid, fromHex, fromUtf8, parseCertificates, parseCrl, type X509Certificate, type X509Crl } from '../../core/index.ts';
import type { CollateralSet } from '../input.ts';
import { rawMembers } from './signed-json.ts';

export type SignedJsonKind = 'tcbInfo' | 'enclaveIdentity';

export interface SignedJsonCandidate {
  kind: SignedJsonKind;
  /** Where it came from (file name, URL, "bundle:<name>"). */
  source: string;
  /** The exact signed text of the inner object. */
  text: string;
  /** Parsed inner object. */
  value: unknown;
  /** Raw ECDSA P-256 r‖s. */
  signature: Uint8Array;
  /** Issuer chain delivered with it (PCS header or bundle field); may be empty. */
  issuerChain: X509Certificate[];
}

export interface CrlCandidate {
  crl: X509Crl;
  source: string;
}

export interface IntelCollateral {
  tcbInfos: SignedJsonCandidate[];
  qeIdentities: SignedJsonCandidate[];
  crls: CrlCandidate[];
  certificates: X509Certificate[];
}

export function emptyIntelCollateral(): IntelCollateral {
  return { tcbInfos: [], qeIdentities: [], crls: [], certificates: [] };
}

function signatureHex(text: string | undefined, what: string): Uint8Array {
  if (text === undefined) throw new CollateralInvalid(what, 'signature missing');
  let sig: Uint8Array;
  try {
    sig = fromHex(JSON.parse(text) as string);
  } catch {
    throw new CollateralInvalid(what, 'signature is not a hex string');
  }
  if (sig.length !== 64) throw new CollateralInvalid(what, `signature is ${sig.length} bytes, expected 64 (P-256 r||s)`);
  return sig;
}

/** Parses one PCS response body. Returns undefined when the JSON is not a PCS TCB Info / Identity body. */
export function parsePcsBody(text: string, source: string, issuerChain: X509Certificate[] = []): SignedJsonCandidate | undefined {
  let members: Map<string, string>;
  try {
    members = rawMembers(text, source);
  } catch {
    return undefined;
  }
  const kind: SignedJsonKind | undefined = members.has('tcbInfo') ? 'tcbInfo' : members.has('enclaveIdentity') ? 'enclaveIdentity' : undefined;
  if (!kind) return undefined;
  const what = `${kind === 'tcbInfo' ? 'TCB Info' : 'QE Identity'} (${source})`;
  const inner = members.get(kind)!;
  let value: unknown;
  try {
    value = JSON.parse(inner);
  } catch (e) {
    throw new CollateralInvalid(what, `does not parse: ${(e as Error).message}`);
  }
  return { kind, source, text: inner, value, signature: signatureHex(members.get('signature'), what), issuerChain };
}

/** URL-decodes a PCS issuer-chain header value (or returns PEM text as is) and parses it. */
export function parseIssuerChain(text: string, what: string): X509Certificate[] {
  let decoded = text;
  if (!text.includes('-----BEGIN ') && text.includes('%')) {
    try {
      decoded = decodeURIComponent(text);
    } catch {
      throw new CollateralInvalid(what, 'issuer chain is neither PEM nor URL-encoded PEM');
    }
  }
  try {
    return parseCertificates(decoded, what);
  } catch (e) {
    if (e instanceof CollateralInvalid || (e as { code?: string }).code) throw e;
    throw new CollateralInvalid(what, `PEM does not decode: ${(e as Error).message}`);
  }
}

function isQuoteCollateralV3(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && 'tcb_info' in v && 'tcb_info_signature' in v && 'qe_identity' in v;
}

function hexOrPemCrl(v: unknown, what: string): X509Crl {
  if (typeof v !== 'string') throw new CollateralInvalid(what, 'not a string');
  if (v.includes('-----BEGIN')) return parseCrl(v, what);
  let der: Uint8Array;
  try {
    der = fromHex(v.trim());
  } catch {
    throw new CollateralInvalid(what, 'neither PEM nor hex DER');
  }
  return parseCrl(der, what);
}

function strField(o: Record<string, unknown>, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new CollateralInvalid(what, `${k} is missing or not a string`);
  return v;
}

/** dcap-qvl's QuoteCollateralV3 ({tcb_info, tcb_info_signature, qe_identity, ..., pck_crl, root_ca_crl}). */
export function addQuoteCollateralV3(into: IntelCollateral, o: Record<string, unknown>, name: string): void {
  const what = `QuoteCollateralV3 (${name})`;
  const chain = (k: string): X509Certificate[] => (typeof o[k] === 'string' && o[k] !== '' ? parseIssuerChain(o[k], `${what} ${k}`) : []);
  const sig = (k: string): Uint8Array => {
    const v = strField(o, k, what);
    let b: Uint8Array;
    try {
      b = fromHex(v);
    } catch {
      throw new CollateralInvalid(what, `${k} is not hex`);
    }
    if (b.length !== 64) throw new CollateralInvalid(what, `${k} is ${b.length} bytes, expected 64`);
    return b;
  };
  const json = (k: string): { text: string; value: unknown } => {
    const text = strField(o, k, what);
    try {
      return { text, value: JSON.parse(text) };
    } catch (e) {
      throw new CollateralInvalid(what, `${k} does not parse: ${(e as Error).message}`);
    }
  };
  const tcbChain = chain('tcb_info_issuer_chain');
  const ti = json('tcb_info');
  into.tcbInfos.push({ kind: 'tcbInfo', source: `${name}#tcb_info`, ...ti, signature: sig('tcb_info_signature'), issuerChain: tcbChain });
  const qi = json('qe_identity');
  into.qeIdentities.push({ kind: 'enclaveIdentity', source: `${name}#qe_identity`, ...qi, signature: sig('qe_identity_signature'), issuerChain: chain('qe_identity_issuer_chain') });
  into.certificates.push(...tcbChain, ...chain('pck_crl_issuer_chain'));
  for (const k of ['root_ca_crl', 'pck_crl']) {
    if (o[k] === undefined || o[k] === null || o[k] === '') continue;
    into.crls.push({ crl: hexOrPemCrl(o[k], `${what} ${k}`), source: `${name}#${k}` });
  }
}

/**
 * Collects Intel candidates from the generic collateral set. A JSON item that claims to be Intel
 * collateral but is broken throws CollateralInvalid: supplied collateral is never ignored silently.
 */
export function gatherIntelCollateral(set: CollateralSet): IntelCollateral {
  const out = emptyIntelCollateral();
  out.certificates.push(...set.certificates);
  for (const crl of set.crls) out.crls.push({ crl, source: 'supplied CRL' });
  for (const j of set.json) {
    if (isQuoteCollateralV3(j.value)) {
      addQuoteCollateralV3(out, j.value, j.name);
      continue;
    }
    const c = parsePcsBody(j.text, j.name);
    if (!c) continue;
    (c.kind === 'tcbInfo' ? out.tcbInfos : out.qeIdentities).push(c);
  }
  for (const item of set.other) {
    // URL-encoded issuer-chain header values saved to a file (tinfoil's *_chain.txt).
    const text = fromUtf8(item.bytes.subarray(0, Math.min(item.bytes.length, 1 << 20)), false).trim();
    if (text.startsWith('-----BEGIN%20')) {
      try {
        out.certificates.push(...parseIssuerChain(text, item.name));
      } catch {
        // not a chain after all; the generic layer already reports unrecognised items
      }
    }
  }
  return out;
}
