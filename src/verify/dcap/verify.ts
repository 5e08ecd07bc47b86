/**
 * DCAP quote verification shared by the 'tdx' and 'sgx' platforms (Intel SGX/TDX DCAP Quote
 * Verification Library flow; dcap-qvl `verify_impl`; go-tdx-guest `verify`): PCK chain to the pinned
 * Intel root, CRLs, QE report signature and binding of the attestation key, quote signature, TCB
 * Info and QE Identity signed by the TCB Signing certificate over the exact served JSON, TCB level
 * matching and status convergence, debug policy, report-data binding → neutral claims.
 */
import {
  AttestError,
  CertificateInvalid,
  assertNotRevoked,
  CollateralExpired,
  CollateralInvalid,
  CollateralUnavailable,
  DebugNotAllowed,
  EvidenceMalformed,
  SignatureInvalid,
  TcbUnacceptable,
  bytesEqual,
  concatBytes,
  importEcPublicRaw,
  isAllZero,
  iso,
  parseCertificates,
  sha256,
  subtle,
  toHex,
  type ChainLink,
  type Claims,
  type JsonValue,
  type TcbClaims,
  type X509Certificate,
} from '../../core/index.ts';
import type { FetchPolicy } from '../../collateral/index.ts';
import {
  INTEL_ROOT_FINGERPRINTS,
  INTEL_TRUST_FAMILY,
  fetchPckCrl,
  fetchQeIdentity,
  fetchRootCaCrl,
  fetchTcbInfo,
  gatherIntelCollateral,
  parsePckExtensions,
  parseQeIdentity,
  parseTcbInfo,
  type IntelCollateral,
  type IntelTcbStatus,
  type PckExtensions,
  type QeIdentity,
  type SignedJsonCandidate,
  type TcbInfo,
} from '../../collateral/intel/index.ts';
import type { CollateralSet } from '../../collateral/index.ts';
import { INTEL_QE_VENDOR_ID, type DcapQuote, type EnclaveReport, type QeCertificationData, type TdReport } from '../../evidence/dcap/index.ts';
import type { EventLog } from '../../evidence/eventlog/index.ts';
import { checkBinding, rootFingerprints } from '../binding.ts';
import { parseCcel, replayCcel } from './ccel.ts';
import type { Verified, VerifyContext } from '../types.ts';
import { chooseCrl, chooseSignedJson, crlEntryCount, describeMemo, fingerprintOf, isoOf, issuerOf, publicKeyOf, subjectOf, verifyPinnedChain, type ChosenCrl } from './select.ts';
import { convergeStatus, matchPlatformTcb, matchQeTcb, matchTdxModule, type LevelMatch, type ModuleMatch } from './tcb.ts';

export type DcapPlatform = 'tdx' | 'sgx';

const chainMemo = new Map<string, X509Certificate[]>();
const pckExtMemo = new WeakMap<X509Certificate, PckExtensions>();
const tcbMemo = new WeakMap<SignedJsonCandidate, TcbInfo>();
const qeIdMemo = new WeakMap<SignedJsonCandidate, QeIdentity>();
/**
 * The QE report certifies the attestation key; a platform's QE keeps one attestation key, so every
 * quote from it carries the same (PCK, QE report, signature, key, auth data). Like a certificate
 * link, a verified one stays verified: it is memoised per PCK leaf certificate object, with copies
 * of the exact bytes it covered (compared in full on every quote) and the imported attestation key.
 */
interface QeLink {
  qeReport: Uint8Array;
  qeReportSignature: Uint8Array;
  attestationKey: Uint8Array;
  qeAuthData: Uint8Array;
  key: CryptoKey;
}
const qeLinkMemo = new WeakMap<X509Certificate, QeLink[]>();
const QE_LINKS_PER_PCK = 8;
/** Self-signed certificates among the supplied collateral, with fingerprints, per gathered set. */
const selfSignedMemo = new WeakMap<IntelCollateral, { cert: X509Certificate; fp: string; subject: string }[]>();
const caKindMemo = new WeakMap<X509Certificate, 'platform' | 'processor'>();
const DEFAULT_PINS = rootFingerprints(INTEL_ROOT_FINGERPRINTS, undefined, INTEL_TRUST_FAMILY);
const gatherMemo = new WeakMap<CollateralSet, IntelCollateral>();

/**
 * The last PCK chains looked up: most quotes come from a few platforms, and comparing the PEM text
 * with a recent one is cheaper than hashing a fresh multi-KB string for the map.
 */
const recentChains: { pem: string; chain: X509Certificate[] }[] = [];

function parsePckChain(pem: string): X509Certificate[] {
  for (const c of recentChains) if (c.pem === pem) return c.chain;
  const chain = parsePckChainMemo(pem);
  if (recentChains.length >= 4) recentChains.pop();
  recentChains.unshift({ pem, chain });
  return chain;
}

function parsePckChainMemo(pem: string): X509Certificate[] {
  let chain = chainMemo.get(pem);
  if (!chain) {
    try {
      chain = parseCertificates(pem, 'pck-chain');
    } catch (e) {
      // Corrupted PEM armour (bad base64) surfaces as a plain TypeError from the PEM decoder.
      if (e instanceof AttestError) throw e;
      throw new CertificateInvalid('pck-chain', `the quote's PCK chain PEM does not decode: ${(e as Error).message}`);
    }
    if (chainMemo.size >= 256) chainMemo.clear();
    chainMemo.set(pem, chain);
  }
  return chain;
}

/** Gathered Intel candidates are memoised per CollateralSet object (treat a set as immutable once verifying). */
function intelCollateral(set: CollateralSet): IntelCollateral {
  let c = gatherMemo.get(set);
  if (!c) {
    c = gatherIntelCollateral(set);
    gatherMemo.set(set, c);
  }
  return c;
}

function isPlatformCa(ca: X509Certificate): 'platform' | 'processor' {
  let kind = caKindMemo.get(ca);
  if (!kind) caKindMemo.set(ca, (kind = platformCaKind(ca)));
  return kind;
}

function platformCaKind(ca: X509Certificate): 'platform' | 'processor' {
  const subject = subjectOf(ca);
  if (/CN=Intel SGX PCK Platform CA\b/.test(subject)) return 'platform';
  if (/CN=Intel SGX PCK Processor CA\b/.test(subject)) return 'processor';
  throw new CertificateInvalid('pck-ca', `"${subject}" is neither the Intel SGX PCK Platform CA nor the Processor CA`);
}

async function ecdsaP256Verify(key: CryptoKey, sig: Uint8Array, data: Uint8Array): Promise<boolean> {
  try {
    return await subtle().verify({ name: 'ECDSA', hash: 'SHA-256' }, key, sig as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}

function fetchPolicy(ctx: VerifyContext): FetchPolicy | undefined {
  if (!ctx.fetcher && !ctx.cache) return undefined;
  return { ...(ctx.offline ? {} : ctx.fetcher ? { fetcher: ctx.fetcher } : {}), ...(ctx.cache ? { cache: ctx.cache } : {}), offline: !!ctx.offline, now: ctx.now };
}

const TD_DEBUG_BIT = 0x01; // TDATTRIBUTES bit 0 (TUD.DEBUG)
const SEPT_VE_DISABLE_BIT = 28;
const SGX_DEBUG_BIT = 0x02; // ATTRIBUTES.DEBUG (SDM: bit 1 of the first byte)

function bit(bytes: Uint8Array, n: number): boolean {
  return ((bytes[n >> 3] ?? 0) >> (n & 7)) & 1 ? true : false;
}

function levelJson(m: LevelMatch | ModuleMatch | undefined): JsonValue {
  if (!m) return null;
  const out: Record<string, JsonValue> = {};
  if ('identity' in m) out['identity'] = m.identity;
  if (m.status !== undefined) out['status'] = m.status;
  if (m.tcbDate !== undefined) out['tcbDate'] = m.tcbDate;
  if (m.advisoryIds !== undefined) out['advisoryIds'] = [...m.advisoryIds];
  if (m.index !== undefined) out['index'] = m.index;
  return out;
}

async function selfSignedCollateral(coll: IntelCollateral): Promise<{ cert: X509Certificate; fp: string; subject: string }[]> {
  let list = selfSignedMemo.get(coll);
  if (!list) {
    list = [];
    for (const c of coll.certificates) if (subjectOf(c) === issuerOf(c)) list.push({ cert: c, fp: await fingerprintOf(c), subject: subjectOf(c) });
    selfSignedMemo.set(coll, list);
  }
  return list;
}

/** The verified QE link for exactly these bytes under this PCK leaf, if any. */
function knownQeLink(leaf: X509Certificate, qe: QeCertificationData, attestationKey: Uint8Array): QeLink | undefined {
  const links = qeLinkMemo.get(leaf);
  if (!links) return undefined;
  for (const l of links) {
    if (bytesEqual(l.qeReportSignature, qe.qeReportSignature) && bytesEqual(l.attestationKey, attestationKey) && bytesEqual(l.qeReport, qe.qeReport.raw) && bytesEqual(l.qeAuthData, qe.qeAuthData)) return l;
  }
  return undefined;
}

function rememberQeLink(leaf: X509Certificate, link: QeLink): void {
  let links = qeLinkMemo.get(leaf);
  if (!links) qeLinkMemo.set(leaf, (links = []));
  if (links.length >= QE_LINKS_PER_PCK) links.shift();
  links.push(link);
}

const ccelMemo = new WeakMap<Uint8Array, EventLog | null>();

/** Event logs among the unclassified collateral items (binary, detected by parsing). */
function suppliedEventLogs(set: CollateralSet): { name: string; log: EventLog }[] {
  const out: { name: string; log: EventLog }[] = [];
  for (const item of set.other) {
    let log = ccelMemo.get(item.bytes);
    if (log === undefined) {
      try {
        log = parseCcel(item.bytes);
      } catch {
        log = null;
      }
      ccelMemo.set(item.bytes, log);
    }
    if (log) out.push({ name: item.name, log });
  }
  return out;
}

async function checkEventLogs(logs: { name: string; log: EventLog }[], td: TdReport, warnings: string[]): Promise<JsonValue> {
  let firstErr: AttestError | undefined;
  for (const l of logs) {
    try {
      const r = await replayCcel(l.log, td);
      for (const other of logs) if (other !== l) warnings.push(`event log ${other.name} was supplied too but not used (it does not replay to this TD's RTMRs)`);
      return { source: l.name, rtmr: r.rtmr, compared: r.compared, eventCount: r.eventCount, events: r.events };
    } catch (e) {
      if (!(e instanceof AttestError)) throw e;
      firstErr ??= e;
    }
  }
  throw firstErr!;
}

export async function verifyDcapQuote(q: DcapQuote, ctx: VerifyContext, platform: DcapPlatform): Promise<Verified> {
  const now = ctx.now;
  const opts = ctx.options ?? {};
  const warnings: string[] = [];
  const isTdx = q.body.kind !== 'sgx';
  if ((platform === 'tdx') !== isTdx) throw new EvidenceMalformed(platform, 'TEE_TYPE', 4, `quote carries a ${isTdx ? 'TD' : 'SGX enclave'} report, not ${platform.toUpperCase()}`);
  if (toHex(q.header.qeVendorId) !== INTEL_QE_VENDOR_ID) throw new EvidenceMalformed(platform, 'QE_VENDOR_ID', 12, `${toHex(q.header.qeVendorId)} is not the Intel QE vendor id ${INTEL_QE_VENDOR_ID}`);
  if (q.trailingBytes > 0 && !q.trailingZero) warnings.push(`${q.trailingBytes} non-zero bytes after the declared quote end were ignored (not signed)`);

  // 1. PCK chain: leaf → Platform/Processor CA → root pinned by fingerprint.
  const chain = parsePckChain(q.pckChainPem);
  if (chain.length !== 3) throw new CertificateInvalid('pck-chain', `the quote's PCK chain has ${chain.length} certificates, expected 3 (PCK, PCK CA, root)`);
  const pins = { label: 'Intel SGX Root CA', fingerprints: ctx.extraRoots?.[INTEL_TRUST_FAMILY]?.length ? rootFingerprints(INTEL_ROOT_FINGERPRINTS, ctx.extraRoots, INTEL_TRUST_FAMILY) : DEFAULT_PINS };
  const [leaf, pckCa, root] = chain as [X509Certificate, X509Certificate, X509Certificate];
  const chainLinks: ChainLink[] = await verifyPinnedChain(chain, pins, now, ['pck-leaf', 'pck-ca', 'root']);
  const caKind = isPlatformCa(pckCa);
  let pck = pckExtMemo.get(leaf);
  if (!pck) pckExtMemo.set(leaf, (pck = parsePckExtensions(leaf)));

  // 2. QE report signed by the PCK key; QE report data binds the attestation key and auth data.
  const qe = q.signature.qe;
  let link = knownQeLink(leaf, qe, q.signature.attestationKey);
  if (!link) {
    if (!(await ecdsaP256Verify(await publicKeyOf(leaf), qe.qeReportSignature, qe.qeReport.raw))) throw new SignatureInvalid('QE report signature (by the PCK key)');
    const expectHash = await sha256(concatBytes(q.signature.attestationKey, qe.qeAuthData));
    if (!bytesEqual(qe.qeReport.reportData.subarray(0, 32), expectHash) || !isAllZero(qe.qeReport.reportData.subarray(32))) {
      throw new SignatureInvalid('attestation key binding', `QE report data ${toHex(qe.qeReport.reportData)} is not SHA-256(attestation key || QE auth data) ${toHex(expectHash)} followed by 32 zero bytes`);
    }
    // 3a. The attestation key must be a P-256 point.
    let key: CryptoKey;
    try {
      key = await importEcPublicRaw(q.signature.attestationKey, 'P-256');
    } catch (e) {
      throw new SignatureInvalid('quote signature', `attestation key is not a P-256 point: ${(e as Error).message}`);
    }
    link = { qeReport: qe.qeReport.raw.slice(), qeReportSignature: qe.qeReportSignature.slice(), attestationKey: q.signature.attestationKey.slice(), qeAuthData: qe.qeAuthData.slice(), key };
    rememberQeLink(leaf, link);
  }
  // 3. Quote signature by the attestation key over header + (descriptor +) body.
  const signatureOk = ecdsaP256Verify(link.key, q.signature.isvSignature, q.signed);
  const badSignature = (): SignatureInvalid => new SignatureInvalid('quote signature (by the attestation key)');
  const stage: Stage = { q, ctx, platform, now, opts, warnings, isTdx, chain, pins, leaf, pckCa, root, chainLinks, caKind, pck, qe };
  if (fetchPolicy(ctx)?.fetcher) {
    // Collateral may be fetched over the network: only for a quote whose signature verified.
    if (!(await signatureOk)) throw badSignature();
    return appraise(stage);
  }
  // Offline (supplied or cached collateral only): the signature check runs on WebCrypto while the
  // rest is evaluated, and it still decides first — an invalid signature is reported as such
  // whatever else fails, and nothing is returned before it verified.
  let result: Verified | undefined;
  let failure: { error: unknown } | undefined;
  try {
    result = await appraise(stage);
  } catch (error) {
    failure = { error };
  }
  if (!(await signatureOk)) throw badSignature();
  if (failure) throw failure.error;
  return result!;
}

interface Stage {
  q: DcapQuote;
  ctx: VerifyContext;
  platform: DcapPlatform;
  now: Date;
  opts: NonNullable<VerifyContext['options']>;
  warnings: string[];
  isTdx: boolean;
  chain: X509Certificate[];
  pins: { label: string; fingerprints: ReadonlySet<string> };
  leaf: X509Certificate;
  pckCa: X509Certificate;
  root: X509Certificate;
  chainLinks: ChainLink[];
  caKind: 'platform' | 'processor';
  pck: PckExtensions;
  qe: QeCertificationData;
}

/** Steps 4–9, after the PCK chain and the QE link: debug, binding, CCEL, collateral, TCB, claims. */
async function appraise(stage: Stage): Promise<Verified> {
  const { q, ctx, platform, now, opts, warnings, isTdx, chain, pins, leaf, pckCa, root, chainLinks, caKind, pck, qe } = stage;
  // 4. Debug TEEs.
  const body = q.body;
  const debug = body.kind === 'sgx' ? ((body.attributes[0] ?? 0) & SGX_DEBUG_BIT) !== 0 : ((body.tdAttributes[0] ?? 0) & TD_DEBUG_BIT) !== 0;
  if (debug) {
    if (!opts.allowDebug) throw new DebugNotAllowed(platform, body.kind === 'sgx' ? 'the enclave (ATTRIBUTES.DEBUG set)' : 'the TD (TDATTRIBUTES.DEBUG set)');
    warnings.push(`DEBUG ${platform.toUpperCase()}: the host can read and modify its memory; accepted only because debug is allowed`);
  }
  // 5. Report-data binding.
  checkBinding('reportData', ctx.expected?.reportData, body.reportData);

  // 5b. TDX CCEL replay, when an event log is given or supplied among the collateral.
  let ccel: JsonValue = null;
  if (body.kind !== 'sgx') {
    // An explicit log (ctx.eventLog, TDX CCEL) must replay; otherwise one found among the collateral.
    const logs = ctx.eventLog ? [{ name: ctx.eventLog.name, log: parseCcel(ctx.eventLog.bytes) }] : suppliedEventLogs(ctx.collateral);
    if (logs.length > 0) ccel = await checkEventLogs(logs, body, warnings);
  }

  // 6. Collateral.
  const coll = intelCollateral(ctx.collateral);
  const policy = fetchPolicy(ctx);
  const pcsBase = ctx.endpoints?.intelPcs;
  const crls = [...coll.crls];
  const pool = [...coll.certificates, ...chain];
  const roots: X509Certificate[] = [root];
  for (const c of await selfSignedCollateral(coll)) if (c.subject !== subjectOf(root) && pins.fingerprints.has(c.fp)) roots.push(c.cert);

  // 6a. CRLs: root CA CRL (PCK CA, TCB Signing), PCK CA CRL (PCK leaf).
  const crlChoice = async (issuer: X509Certificate, what: string, fetchIt: () => Promise<void>): Promise<ChosenCrl | undefined> => {
    let chosen = await chooseCrl(crls, issuer, now, what);
    if (!chosen && policy) {
      try {
        await fetchIt();
        chosen = await chooseCrl(crls, issuer, now, what);
      } catch (e) {
        if (!(e instanceof AttestError) || opts.requireCrl) throw e;
        warnings.push(`${what} could not be fetched: ${e.message}`);
      }
    }
    if (!chosen) {
      if (opts.requireCrl) throw new CollateralUnavailable(what, undefined, 'no CRL supplied and revocation checking is required (--require-crl)');
      warnings.push(`${what} not available: revocation of ${what.startsWith('root') ? 'the PCK CA and TCB Signing certificates' : 'the PCK certificate'} NOT checked`);
    }
    return chosen;
  };
  const rootCrl = await crlChoice(root, 'root CA CRL', async () => {
    const got = await fetchRootCaCrl(policy!, pcsBase);
    crls.push(got);
  });
  if (rootCrl) {
    // dcap-qvl step 1: the root itself must not be listed, then the PCK CA.
    assertNotRevoked(rootCrl.crl, root, 'root');
    assertNotRevoked(rootCrl.crl, pckCa, 'pck-ca');
  }
  const pckCrl = await crlChoice(pckCa, `PCK ${caKind} CA CRL`, async () => {
    const got = await fetchPckCrl(caKind, policy!, pcsBase);
    crls.push({ crl: got.crl, source: got.source });
  });
  if (pckCrl) {
    assertNotRevoked(pckCrl.crl, leaf, 'pck-leaf');
  }
  const signerCheck = (signer: X509Certificate): void => {
    if (rootCrl) assertNotRevoked(rootCrl.crl, signer, 'tcb-signer');
  };

  // 6b. TCB Info for this FMSPC.
  const tcbId = isTdx ? 'TDX' : 'SGX';
  const parsedTcb = (cs: SignedJsonCandidate[]): { candidate: SignedJsonCandidate; parsed: TcbInfo }[] =>
    cs.map((candidate) => {
      let parsed = tcbMemo.get(candidate);
      if (!parsed) tcbMemo.set(candidate, (parsed = parseTcbInfo(candidate.value, `TCB Info (${candidate.source})`)));
      return { candidate, parsed };
    });
  const allTcb = parsedTcb(coll.tcbInfos).filter((c) => c.parsed.id === tcbId);
  let tcbCands = allTcb.filter((c) => c.parsed.fmspc === pck.fmspc);
  if (tcbCands.length === 0 && policy) tcbCands = parsedTcb([await fetchTcbInfo(platform, pck.fmspc, policy, pcsBase)]).filter((c) => c.parsed.id === tcbId);
  if (tcbCands.length === 0) {
    if (allTcb.length > 0) throw new CollateralInvalid(`${tcbId} TCB Info`, `supplied TCB Info is for FMSPC ${[...new Set(allTcb.map((c) => c.parsed.fmspc))].join(', ')}, but the PCK certificate's FMSPC is ${pck.fmspc}`);
    throw new CollateralUnavailable(`${tcbId} TCB Info for FMSPC ${pck.fmspc}`, undefined, 'none supplied and no network/cache (pass --collateral or go online)');
  }
  /**
   * Supplied items that are all out of date are replaced by a fresh fetch when the network is
   * available (a growing collateral directory must not pin a verifier to stale data); offline, or
   * when the fetch fails, the original CollateralExpired stands.
   */
  const withRefresh = async <T extends { issueDate: Date; nextUpdate: Date }>(
    cands: { candidate: SignedJsonCandidate; parsed: T }[],
    what: string,
    refetch: () => Promise<{ candidate: SignedJsonCandidate; parsed: T }[]>,
  ): Promise<Awaited<ReturnType<typeof chooseSignedJson<T>>>> => {
    try {
      return await chooseSignedJson(cands, pool, roots, now, what, !!opts.allowExpiredCollateral, signerCheck);
    } catch (e) {
      if (!(e instanceof CollateralExpired) || !policy?.fetcher || cands.some((c) => c.candidate.source.startsWith('http'))) throw e;
      let fresh: { candidate: SignedJsonCandidate; parsed: T }[];
      try {
        fresh = await refetch();
      } catch {
        throw e;
      }
      if (fresh.length === 0) throw e;
      warnings.push(`supplied ${what} is out of date at ${iso(now)}; a fresh copy was fetched from ${fresh[0]!.candidate.source}`);
      return chooseSignedJson(fresh, pool, roots, now, what, !!opts.allowExpiredCollateral, signerCheck);
    }
  };
  const tcb = await withRefresh(tcbCands, `${tcbId} TCB Info`, async () => parsedTcb([await fetchTcbInfo(platform, pck.fmspc, policy!, pcsBase)]).filter((c) => c.parsed.id === tcbId && c.parsed.fmspc === pck.fmspc));
  if (tcb.parsed.fmspc !== pck.fmspc) throw new CollateralInvalid('TCB Info', `FMSPC ${tcb.parsed.fmspc} does not match the PCK FMSPC ${pck.fmspc}`);
  if (tcb.parsed.pceId !== pck.pceId) throw new CollateralInvalid('TCB Info', `PCE-ID ${tcb.parsed.pceId} does not match the PCK PCE-ID ${pck.pceId}`);
  if (tcb.expired) warnings.push(`EXPIRED COLLATERAL accepted (--allow-expired-collateral): ${tcb.expired.message}`);

  // 6c. QE Identity (QE for SGX, TD_QE for TDX).
  const qeId = isTdx ? 'TD_QE' : 'QE';
  const parsedQe = (cs: SignedJsonCandidate[]): { candidate: SignedJsonCandidate; parsed: QeIdentity }[] =>
    cs.map((candidate) => {
      let parsed = qeIdMemo.get(candidate);
      if (!parsed) qeIdMemo.set(candidate, (parsed = parseQeIdentity(candidate.value, `QE Identity (${candidate.source})`)));
      return { candidate, parsed };
    });
  let qeCands = parsedQe(coll.qeIdentities).filter((c) => c.parsed.id === qeId);
  if (qeCands.length === 0 && policy) qeCands = parsedQe([await fetchQeIdentity(platform, policy, pcsBase)]).filter((c) => c.parsed.id === qeId);
  if (qeCands.length === 0) throw new CollateralUnavailable(`${qeId} Identity`, undefined, 'none supplied and no network/cache (pass --collateral or go online)');
  const qeIdent = await withRefresh(qeCands, `${qeId} Identity`, async () => parsedQe([await fetchQeIdentity(platform, policy!, pcsBase)]).filter((c) => c.parsed.id === qeId));
  if (qeIdent.expired) warnings.push(`EXPIRED COLLATERAL accepted (--allow-expired-collateral): ${qeIdent.expired.message}`);

  // 7. QE report against the QE Identity.
  const qi = qeIdent.parsed;
  const qr: EnclaveReport = qe.qeReport;
  const mismatch = (what: string, exp: string, act: string): never => {
    throw new TcbUnacceptable('QeIdentityMismatch', `QE report ${what} ${act} does not match ${qeId} Identity ${exp}`);
  };
  if (!bytesEqual(qr.mrSigner, qi.mrSigner)) mismatch('MRSIGNER', toHex(qi.mrSigner), toHex(qr.mrSigner));
  if (qr.isvProdId !== qi.isvProdId) mismatch('ISVPRODID', String(qi.isvProdId), String(qr.isvProdId));
  if (((qr.miscSelect & qi.miscSelectMask) >>> 0) !== ((qi.miscSelect & qi.miscSelectMask) >>> 0)) mismatch('MISCSELECT', qi.miscSelect.toString(16), qr.miscSelect.toString(16));
  for (let i = 0; i < 16; i++) {
    if (((qr.attributes[i] ?? 0) & qi.attributesMask[i]!) !== (qi.attributes[i]! & qi.attributesMask[i]!)) mismatch('ATTRIBUTES', toHex(qi.attributes), toHex(qr.attributes));
  }
  const qeLevel = matchQeTcb(qi, qr.isvSvn);

  // 8. Platform TCB level, TDX module, convergence.
  const td = isTdx ? (body as TdReport) : undefined;
  const platformLevel = matchPlatformTcb(tcb.parsed, { cpuSvnComponents: pck.cpuSvnComponents, pceSvn: pck.pceSvn, ...(td ? { teeTcbSvn: td.teeTcbSvn } : {}) });
  const moduleMatch = td ? matchTdxModule(tcb.parsed, td.teeTcbSvn, td.mrSignerSeam, td.seamAttributes) : undefined;
  let status: IntelTcbStatus = platformLevel.status;
  if (moduleMatch?.status) status = convergeStatus(status, moduleMatch.status);
  status = convergeStatus(status, qeLevel.status);
  const advisoryIds = [...new Set([...platformLevel.advisoryIds, ...(moduleMatch?.advisoryIds ?? []), ...qeLevel.advisoryIds])].sort();
  const dates = [platformLevel.tcbDate, qeLevel.tcbDate, ...(moduleMatch?.tcbDate ? [moduleMatch.tcbDate] : [])].filter(Boolean).sort();
  const tcbDate = dates[0];
  if (status === 'Revoked') throw new TcbUnacceptable('Revoked', `the ${platformLevel.status === 'Revoked' ? 'platform TCB level' : moduleMatch?.status === 'Revoked' ? 'TDX module TCB level' : 'QE TCB level'} is Revoked`, { advisoryIds });
  if (status === 'OutOfDate' || status === 'OutOfDateConfigurationNeeded') {
    warnings.push(`TCB ${status.toUpperCase()}: the platform is missing security updates${advisoryIds.length ? ` (${advisoryIds.join(', ')})` : ''}; verified, but a policy should decide whether to accept it`);
  } else if (status !== 'UpToDate') {
    warnings.push(`TCB status ${status}${advisoryIds.length ? ` (${advisoryIds.join(', ')})` : ''}: the platform needs ${status.includes('Configuration') ? 'configuration changes' : 'software hardening'} to be fully up to date`);
  }
  if (td) {
    if (!bit(td.tdAttributes, SEPT_VE_DISABLE_BIT)) warnings.push('TDATTRIBUTES.SEPT_VE_DISABLE is not set: the TD may receive #VE on EPT violations');
    if (td.mrServiceTd && !isAllZero(td.mrServiceTd)) warnings.push(`MRSERVICETD is non-zero (${toHex(td.mrServiceTd)}): the TD is bound to a service TD`);
  }

  // 9. Claims.
  const versions: Record<string, number> = { pcesvn: pck.pceSvn, 'qe.isvsvn': qr.isvSvn };
  pck.cpuSvnComponents.forEach((v, i) => (versions[`sgx.${i}`] = v));
  if (td) td.teeTcbSvn.forEach((v, i) => (versions[`tdx.${i}`] = v));
  const tcbClaims: TcbClaims = { status, advisoryIds, ...(tcbDate ? { date: tcbDate } : {}), versions };
  const revocation = rootCrl && pckCrl ? 'checked' : 'absent';
  const measurements: Record<string, string> = {};
  const signers: Record<string, string> = {};
  if (td) {
    measurements['tdx.mrtd'] = toHex(td.mrTd);
    td.rtmr.forEach((r, i) => (measurements[`tdx.rtmr${i}`] = toHex(r)));
    measurements['tdx.mrseam'] = toHex(td.mrSeam);
    measurements['tdx.mrconfigid'] = toHex(td.mrConfigId);
    signers['tdx.mrsignerseam'] = toHex(td.mrSignerSeam);
  } else {
    const e = body as EnclaveReport;
    measurements['sgx.mrenclave'] = toHex(e.mrEnclave);
    signers['sgx.mrsigner'] = toHex(e.mrSigner);
  }
  const signerDesc = async (c: { signer: X509Certificate; candidate: SignedJsonCandidate; ignored: number }, extra: Record<string, JsonValue>): Promise<JsonValue> => ({
    source: c.candidate.source,
    ...extra,
    ignoredCandidates: c.ignored,
    signer: { subject: subjectOf(c.signer), serial: c.signer.serialNumber, notBefore: isoOf(c.signer.notBefore), notAfter: isoOf(c.signer.notAfter), sha256: await fingerprintOf(c.signer) },
  });
  const crlDesc = (c: ChosenCrl | undefined): JsonValue =>
    c ? { source: c.source, issuer: issuerOf(c.crl), thisUpdate: isoOf(c.crl.thisUpdate), nextUpdate: c.crl.nextUpdate ? isoOf(c.crl.nextUpdate) : null, entries: crlEntryCount(c.crl), ignoredCandidates: c.ignored } : null;
  const platformClaims: Record<string, JsonValue> = {
    quote: { version: q.header.version, teeType: `0x${q.header.teeType.toString(16)}`, bodyType: q.body.kind, attKeyType: q.header.attKeyType, qeVendorId: toHex(q.header.qeVendorId), userData: toHex(q.header.userData), trailingBytes: q.trailingBytes },
    body: bodyClaims(body),
    qe: { mrEnclave: toHex(qr.mrEnclave), mrSigner: toHex(qr.mrSigner), isvProdId: qr.isvProdId, isvSvn: qr.isvSvn, attributes: toHex(qr.attributes), miscSelect: qr.miscSelect, authDataSize: qe.qeAuthData.length },
    pck: { ca: caKind, fmspc: pck.fmspc, pceId: pck.pceId, pceSvn: pck.pceSvn, cpuSvn: pck.cpuSvn, cpuSvnComponents: pck.cpuSvnComponents, sgxType: pck.sgxType, ppid: pck.ppid, ...(pck.platformInstanceId ? { platformInstanceId: pck.platformInstanceId } : {}), ...(pck.configuration ? { configuration: pck.configuration } : {}) },
    collateral: {
      tcbInfo: await signerDesc(tcb, { id: tcb.parsed.id, version: tcb.parsed.version, fmspc: tcb.parsed.fmspc, issueDate: isoOf(tcb.parsed.issueDate), nextUpdate: isoOf(tcb.parsed.nextUpdate), tcbEvaluationDataNumber: tcb.parsed.tcbEvaluationDataNumber, expired: !!tcb.expired }),
      qeIdentity: await signerDesc(qeIdent, { id: qi.id, version: qi.version, issueDate: isoOf(qi.issueDate), nextUpdate: isoOf(qi.nextUpdate), tcbEvaluationDataNumber: qi.tcbEvaluationDataNumber, expired: !!qeIdent.expired }),
      rootCaCrl: crlDesc(rootCrl),
      pckCrl: crlDesc(pckCrl),
    },
    tcbEvaluation: { platform: levelJson(platformLevel), tdxModule: levelJson(moduleMatch), qe: levelJson(qeLevel) },
    ...(ccel ? { ccel } : {}),
  };
  const claims: Claims = {
    platform,
    debug,
    measurements,
    tcb: tcbClaims,
    reportData: toHex(body.reportData),
    signers,
    verifiedAt: isoOf(now),
    revocation,
    platformClaims,
  };
  const tcbSignerLink = await describeMemo(tcb.signer, 'tcb-signer');
  return { platform, claims, tcb: tcbClaims, warnings, chain: [...chainLinks, tcbSignerLink] };
}

function bodyClaims(b: EnclaveReport | TdReport): JsonValue {
  if (b.kind === 'sgx') {
    return {
      kind: 'sgx',
      cpuSvn: toHex(b.cpuSvn),
      miscSelect: b.miscSelect,
      attributes: toHex(b.attributes),
      debug: ((b.attributes[0] ?? 0) & SGX_DEBUG_BIT) !== 0,
      mode64: ((b.attributes[0] ?? 0) & 0x04) !== 0,
      mrEnclave: toHex(b.mrEnclave),
      mrSigner: toHex(b.mrSigner),
      isvProdId: b.isvProdId,
      isvSvn: b.isvSvn,
      configId: toHex(b.configId),
      configSvn: b.configSvn,
      isvExtProdId: toHex(b.isvExtProdId),
      isvFamilyId: toHex(b.isvFamilyId),
      reportData: toHex(b.reportData),
    };
  }
  return {
    kind: b.kind,
    teeTcbSvn: toHex(b.teeTcbSvn),
    mrSeam: toHex(b.mrSeam),
    mrSignerSeam: toHex(b.mrSignerSeam),
    seamAttributes: toHex(b.seamAttributes),
    tdAttributes: toHex(b.tdAttributes),
    tdAttributesDecoded: { debug: bit(b.tdAttributes, 0), septVeDisable: bit(b.tdAttributes, SEPT_VE_DISABLE_BIT), pks: bit(b.tdAttributes, 30), kl: bit(b.tdAttributes, 31), perfmon: bit(b.tdAttributes, 63) },
    xfam: toHex(b.xfam),
    mrTd: toHex(b.mrTd),
    mrConfigId: toHex(b.mrConfigId),
    mrOwner: toHex(b.mrOwner),
    mrOwnerConfig: toHex(b.mrOwnerConfig),
    rtmr0: toHex(b.rtmr[0]),
    rtmr1: toHex(b.rtmr[1]),
    rtmr2: toHex(b.rtmr[2]),
    rtmr3: toHex(b.rtmr[3]),
    reportData: toHex(b.reportData),
    ...(b.teeTcbSvn2 ? { teeTcbSvn2: toHex(b.teeTcbSvn2) } : {}),
    ...(b.mrServiceTd ? { mrServiceTd: toHex(b.mrServiceTd) } : {}),
  };
}
