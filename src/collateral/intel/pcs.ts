/**
 * Intel PCS v4 (and PCCS, which serves the same paths) through the injected fetcher, with the
 * issuer chains taken from the response headers and responses cached until their nextUpdate.
 * Reference: Intel SGX and TDX PCS API v4 documentation (api.portal.trustedservices.intel.com).
 */
import { CollateralInvalid, fromHex, fromUtf8, parseCrl, parseTime, type X509Crl } from '../../core/index.ts';
import { fetchCollateral, type FetchPolicy } from '../http.ts';
import { parseIssuerChain, parsePcsBody, type SignedJsonCandidate } from './bundle.ts';

export const DEFAULT_PCS_BASE = 'https://api.trustedservices.intel.com';

export type DcapTee = 'sgx' | 'tdx';
export type PckCa = 'platform' | 'processor';

/** Response headers carrying URL-encoded PEM issuer chains (v4 names, plus the v3 TCB name). */
export const HEADER_TCB_INFO_CHAIN = 'TCB-Info-Issuer-Chain';
export const HEADER_TCB_INFO_CHAIN_V3 = 'SGX-TCB-Info-Issuer-Chain';
export const HEADER_IDENTITY_CHAIN = 'SGX-Enclave-Identity-Issuer-Chain';
export const HEADER_PCK_CRL_CHAIN = 'SGX-PCK-CRL-Issuer-Chain';

function base(b: string | undefined): string {
  return (b ?? DEFAULT_PCS_BASE).replace(/\/+$/, '');
}

export const pcsUrls = {
  tcbInfo: (tee: DcapTee, fmspc: string, b?: string): string => `${base(b)}/${tee}/certification/v4/tcb?fmspc=${fmspc.toUpperCase()}`,
  qeIdentity: (tee: DcapTee, b?: string): string => `${base(b)}/${tee}/certification/v4/qe/identity`,
  pckCrl: (ca: PckCa, b?: string): string => `${base(b)}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`,
  rootCaCrl: (b?: string): string => `${base(b)}/sgx/certification/v4/rootcacrl`,
};

/** nextUpdate of a PCS JSON body, for the cache. */
function jsonNextUpdate(body: Uint8Array): Date | undefined {
  try {
    const v = JSON.parse(fromUtf8(body, false)) as Record<string, { nextUpdate?: string }>;
    const inner = v.tcbInfo ?? v.enclaveIdentity;
    return inner?.nextUpdate ? parseTime(inner.nextUpdate) : undefined;
  } catch {
    return undefined;
  }
}

/** A CRL body may be DER, PEM, or (PCCS rootcacrl) hex text. */
export function parseCrlBody(body: Uint8Array, what: string): X509Crl {
  if (body[0] === 0x30) return parseCrl(body, what);
  const text = fromUtf8(body, false).trim();
  if (text.includes('-----BEGIN')) return parseCrl(text, what);
  try {
    return parseCrl(fromHex(text), what);
  } catch (e) {
    if (e instanceof CollateralInvalid) throw e;
    throw new CollateralInvalid(what, 'body is neither DER, PEM nor hex');
  }
}

function crlNextUpdate(body: Uint8Array): Date | undefined {
  try {
    return parseCrlBody(body, 'CRL').nextUpdate ?? undefined;
  } catch {
    return undefined;
  }
}

export async function fetchSignedJson(what: string, url: string, policy: FetchPolicy, chainHeaders: string[]): Promise<SignedJsonCandidate> {
  const got = await fetchCollateral(what, url, policy, jsonNextUpdate, chainHeaders);
  const header = chainHeaders.map((h) => got.headers[h.toLowerCase()]).find((v) => v !== undefined);
  const chain = header ? parseIssuerChain(header, `${what} issuer chain (${url})`) : [];
  const c = parsePcsBody(fromUtf8(got.body, false), url, chain);
  if (!c) throw new CollateralInvalid(what, `${url} did not return a PCS ${what} body`);
  return c;
}

export function fetchTcbInfo(tee: DcapTee, fmspc: string, policy: FetchPolicy, baseUrl?: string): Promise<SignedJsonCandidate> {
  return fetchSignedJson(`${tee.toUpperCase()} TCB Info`, pcsUrls.tcbInfo(tee, fmspc, baseUrl), policy, [HEADER_TCB_INFO_CHAIN, HEADER_TCB_INFO_CHAIN_V3]);
}

export function fetchQeIdentity(tee: DcapTee, policy: FetchPolicy, baseUrl?: string): Promise<SignedJsonCandidate> {
  return fetchSignedJson(`${tee === 'tdx' ? 'TD_QE' : 'QE'} Identity`, pcsUrls.qeIdentity(tee, baseUrl), policy, [HEADER_IDENTITY_CHAIN]);
}

export async function fetchPckCrl(ca: PckCa, policy: FetchPolicy, baseUrl?: string): Promise<{ crl: X509Crl; chain: ReturnType<typeof parseIssuerChain>; source: string }> {
  const url = pcsUrls.pckCrl(ca, baseUrl);
  const got = await fetchCollateral(`PCK ${ca} CRL`, url, policy, crlNextUpdate, [HEADER_PCK_CRL_CHAIN]);
  const header = got.headers[HEADER_PCK_CRL_CHAIN.toLowerCase()];
  return { crl: parseCrlBody(got.body, `PCK ${ca} CRL (${url})`), chain: header ? parseIssuerChain(header, `PCK CRL issuer chain (${url})`) : [], source: url };
}

export async function fetchRootCaCrl(policy: FetchPolicy, baseUrl?: string): Promise<{ crl: X509Crl; source: string }> {
  const url = pcsUrls.rootCaCrl(baseUrl);
  const got = await fetchCollateral('Intel SGX Root CA CRL', url, policy, crlNextUpdate);
  return { crl: parseCrlBody(got.body, `root CA CRL (${url})`), source: url };
}
