/**
 * SEV-SNP verification (NOTES 2.3–2.8): report → VCEK (chip + REPORTED_TCB) or VLEK → ASK/ASVK →
 * ARK pinned per product line, RSASSA-PSS-SHA384 links, AMD CRL, ECDSA P-384/SHA-384 report
 * signature over [0, 0x2A0), then debug policy and REPORT_DATA binding → neutral Claims.
 *
 * Order of checks (each throws; nothing is skipped to continue):
 *   1. SIGNING_KEY must name a key (VCEK or VLEK).
 *   2. Endorsement key: from the supplied collateral or the extended-report certificate table if
 *      one matches the report (hwID = CHIP_ID, SPLs = REPORTED_TCB), else from KDS / the cache.
 *   3. Product line: CPUID (v3+), else options.product, else the endorsement key's productName.
 *   4. Chain to the pinned ARK at ctx.now; then the CRL (ARK-signed) unless unavailable.
 *   5. The endorsement key must match the report: every SPL equal to REPORTED_TCB, hwID equal to
 *      CHIP_ID (VCEK, unless MASK_CHIP_ID). Failure = ERR_CERTIFICATE_INVALID (the key is not
 *      this report's key), with field, expected and actual in the details.
 *   6. The report signature; 7. debug policy; 8. expected REPORT_DATA.
 */
import {
  BindingMismatch,
  CertificateInvalid,
  CollateralExpired,
  CollateralUnavailable,
  DebugNotAllowed,
  SignatureInvalid,
  UnsupportedVersion,
  assertNotRevoked,
  bytesEqual,
  checkValidity,
  ecdsaVerify,
  fingerprint,
  isAllZero,
  iso,
  parseCertificate,
  subtle,
  toHex,
  verifyChain,
  verifyCrl,
  type ChainLink,
  type Claims,
  type JsonValue,
  type PinnedRoots,
  type TcbClaims,
  type X509Certificate,
  type X509Crl,
} from '../../core/index.ts';
import { AMD_ARK_SHA256, AMD_KDS_DEFAULT_BASE, fetchCertChain, fetchCrl, fetchVcek, kdsCrlUrl, productFromCpuid, productFromName, type SnpProduct } from '../../collateral/snp/index.ts';
import type { FetchPolicy } from '../../collateral/index.ts';
import {
  looksLikeSnpCertTable,
  looksLikeSnpReport,
  parseSnpCertTable,
  parseSnpReport,
  snpSignatureToRaw,
  type SnpCertTableEntry,
  type SnpReport,
  type SnpTcbVersion,
} from '../../evidence/snp/index.ts';
import { checkBinding, rootFingerprints } from '../binding.ts';
import type { Platform, Verified, VerifyContext } from '../types.ts';
import { commonName, parseAmdExtensions, type AmdCertExtensions } from './extensions.ts';

/** A report plus, optionally, the certificate table of an extended report (auxblob). */
export interface SnpEvidence {
  report: SnpReport;
  certTable?: SnpCertTableEntry[];
}

export function parseSnpEvidence(report: Uint8Array, certTable?: Uint8Array): SnpEvidence {
  const parsed = parseSnpReport(report);
  return certTable && certTable.length > 0 ? { report: parsed, certTable: parseSnpCertTable(certTable) } : { report: parsed };
}

type Kind = 'vcek' | 'vlek';

const keyCache = new Map<string, CryptoKey>();
const KEY_CACHE_MAX = 1024;

async function leafKey(leaf: X509Certificate, role: Kind): Promise<CryptoKey> {
  const fp = await fingerprint(leaf);
  const hit = keyCache.get(fp);
  if (hit) return hit;
  let key: CryptoKey;
  try {
    key = await subtle().importKey('spki', new Uint8Array(leaf.publicKey.rawData), { name: 'ECDSA', namedCurve: 'P-384' }, false, ['verify']);
  } catch (e) {
    throw new CertificateInvalid(role, `public key is not an ECDSA P-384 key: ${(e as Error).message}`, { subject: leaf.subject });
  }
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(fp, key);
  return key;
}

interface Mismatch {
  field: string;
  expected: string;
  actual: string;
}

/** Differences between an endorsement key's extensions and the report (empty = it is this report's key). */
function leafMismatches(ext: AmdCertExtensions, report: SnpReport, kind: Kind): Mismatch[] {
  const out: Mismatch[] = [];
  const t = report.reportedTcb;
  const cmp = (field: string, certVal: number | undefined, reportVal: number): void => {
    if (certVal !== reportVal) out.push({ field, expected: String(reportVal), actual: certVal === undefined ? 'absent' : String(certVal) });
  };
  if (t.layout === 'turin') cmp('fmcSPL', ext.fmcSpl, t.fmc ?? 0);
  else if (ext.fmcSpl !== undefined) out.push({ field: 'fmcSPL', expected: 'absent (pre-Turin TCB layout)', actual: String(ext.fmcSpl) });
  cmp('blSPL', ext.blSpl, t.bootloader);
  cmp('teeSPL', ext.teeSpl, t.tee);
  cmp('snpSPL', ext.snpSpl, t.snp);
  cmp('ucodeSPL', ext.ucodeSpl, t.microcode);
  if (kind === 'vcek' && !report.signerInfo.maskChipId) {
    const hw = ext.hwId;
    const chip = hw && hw.length === 8 ? report.chipId.subarray(0, 8) : report.chipId;
    if (!hw || !bytesEqual(hw, chip)) out.push({ field: 'hwID', expected: toHex(chip), actual: hw ? toHex(hw) : 'absent' });
  }
  return out;
}

function tableCertificates(tables: SnpCertTableEntry[][], warnings: string[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const t of tables) {
    for (const e of t) {
      if (e.kind === 'other') continue;
      try {
        out.push(parseCertificate(e.data, e.kind));
      } catch (err) {
        warnings.push(`certificate table ${e.kind} entry (${e.guid}) does not parse: ${(err as Error).message}`);
      }
    }
  }
  return out;
}

function fetchPolicy(ctx: VerifyContext): FetchPolicy {
  return { now: ctx.now, ...(ctx.cache ? { cache: ctx.cache } : {}), ...(ctx.offline ? { offline: true } : ctx.fetcher ? { fetcher: ctx.fetcher } : {}) };
}

function reportProduct(report: SnpReport, ctx: VerifyContext, warnings: string[]): SnpProduct | undefined {
  const opt = ctx.options?.product;
  const optProduct = opt ? productFromName(opt) : undefined;
  if (opt && !optProduct) throw new UnsupportedVersion('snp', 'product', opt, ['Milan', 'Genoa', 'Turin']);
  if (report.cpuid) {
    const p = productFromCpuid(report.cpuid);
    if (!p) {
      const fms = `family 0x${report.cpuid.family.toString(16)} model 0x${report.cpuid.model.toString(16)}`;
      if (optProduct) {
        warnings.push(`CPUID ${fms} is not a known SNP product line; using --product ${optProduct}`);
        return optProduct;
      }
      throw new UnsupportedVersion('snp', 'CPUID family/model', fms, ['Milan (19h 00-0F)', 'Genoa (19h 10-1F, A0-AF)', 'Turin (1Ah 00-11)']);
    }
    if (optProduct && optProduct !== p) throw new BindingMismatch('product', optProduct, `${p} (report CPUID)`);
    return p;
  }
  return optProduct;
}

function leafProduct(leaf: X509Certificate, ext: AmdCertExtensions): SnpProduct | undefined {
  return productFromName(ext.productName) ?? productFromName(commonName(leaf.issuer));
}

function u64(v: bigint): string {
  return v.toString(10);
}

function tcbJson(t: SnpTcbVersion): Record<string, JsonValue> {
  return {
    raw: u64(t.raw),
    hex: `0x${t.raw.toString(16).padStart(16, '0')}`,
    layout: t.layout,
    ...(t.fmc !== undefined ? { fmc: t.fmc } : {}),
    bootloader: t.bootloader,
    tee: t.tee,
    snp: t.snp,
    microcode: t.microcode,
  };
}

/** Every report field, JSON-safe (bytes hex, u64 decimal strings, flags decoded). */
export function snpReportClaims(r: SnpReport): Record<string, JsonValue> {
  const { raw: policyRaw, ...policyBits } = r.policy;
  const { raw: piRaw, ...piBits } = r.platformInfo;
  return {
    version: r.version,
    guestSvn: r.guestSvn,
    policy: { raw: u64(policyRaw), hex: `0x${policyRaw.toString(16)}`, ...policyBits },
    familyId: toHex(r.familyId),
    imageId: toHex(r.imageId),
    vmpl: r.vmpl,
    signatureAlgo: r.signatureAlgo,
    currentTcb: tcbJson(r.currentTcb),
    platformInfo: { raw: u64(piRaw), hex: `0x${piRaw.toString(16)}`, ...piBits },
    signerInfo: { raw: r.signerInfo.raw, authorKeyEn: r.signerInfo.authorKeyEn, maskChipId: r.signerInfo.maskChipId, signingKey: r.signerInfo.signingKey },
    reportData: toHex(r.reportData),
    measurement: toHex(r.measurement),
    hostData: toHex(r.hostData),
    idKeyDigest: toHex(r.idKeyDigest),
    authorKeyDigest: toHex(r.authorKeyDigest),
    reportId: toHex(r.reportId),
    reportIdMa: toHex(r.reportIdMa),
    reportedTcb: tcbJson(r.reportedTcb),
    cpuid: r.cpuid ? { family: r.cpuid.family, model: r.cpuid.model, stepping: r.cpuid.stepping } : null,
    chipId: toHex(r.chipId),
    committedTcb: tcbJson(r.committedTcb),
    currentVersion: { ...r.currentVersion, text: `${r.currentVersion.major}.${r.currentVersion.minor}.${r.currentVersion.build}` },
    committedVersion: { ...r.committedVersion, text: `${r.committedVersion.major}.${r.committedVersion.minor}.${r.committedVersion.build}` },
    launchTcb: tcbJson(r.launchTcb),
    launchMitVector: r.launchMitVector !== undefined ? u64(r.launchMitVector) : null,
    currentMitVector: r.currentMitVector !== undefined ? u64(r.currentMitVector) : null,
    signature: { r: toHex(r.signature.r), s: toHex(r.signature.s) },
  };
}

export async function verifySnp(e: SnpEvidence, ctx: VerifyContext): Promise<Verified> {
  const report = e.report;
  const at = ctx.now;
  const warnings: string[] = [];
  const kind = report.signerInfo.signingKey;
  if (kind === 'none') throw new SignatureInvalid('SNP report', 'SIGNING_KEY is 7 (none): the firmware did not sign this report');
  const base = ctx.endpoints?.amdKds ?? AMD_KDS_DEFAULT_BASE;
  const policy = fetchPolicy(ctx);

  // Candidate certificates: supplied collateral first, then the extended report's table(s).
  const tables: SnpCertTableEntry[][] = [];
  if (e.certTable) tables.push(e.certTable);
  for (const item of ctx.collateral.other) {
    if (!looksLikeSnpCertTable(item.bytes)) continue;
    try {
      tables.push(parseSnpCertTable(item.bytes));
    } catch (err) {
      warnings.push(`${item.name}: not a usable SNP certificate table: ${(err as Error).message}`);
    }
  }
  const pool = [...ctx.collateral.certificates, ...tableCertificates(tables, warnings)];

  // 2. The endorsement key.
  const leafCn = kind === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK';
  const candidates = pool.filter((c) => commonName(c.subject) === leafCn);
  let product = reportProduct(report, ctx, warnings);
  let leaf = candidates.find((c) => leafMismatches(parseAmdExtensions(c, kind), report, kind).length === 0);
  let leafSource = 'collateral';
  if (!leaf && kind === 'vcek' && !report.signerInfo.maskChipId && product) {
    try {
      leaf = await fetchVcek(policy, base, product, report.chipId, report.reportedTcb);
      leafSource = 'kds';
    } catch (err) {
      if (!(err instanceof CollateralUnavailable) || candidates.length === 0) throw err;
    }
  }
  leaf ??= candidates[0];
  if (!leaf) {
    const why =
      kind === 'vlek'
        ? 'the report is VLEK-signed; supply the VLEK (cloud providers publish it; KDS does not serve it publicly)'
        : report.signerInfo.maskChipId
          ? 'CHIP_ID is masked, so the VCEK cannot be looked up in KDS; supply it'
          : !product
            ? 'a version 2 report does not name its product line: pass the product (--product Milan|Genoa|Turin) or supply the VCEK'
            : 'no VCEK supplied and none could be fetched';
    throw new CollateralUnavailable(kind.toUpperCase(), undefined, why);
  }
  const ext = parseAmdExtensions(leaf, kind);

  // 3. Product line.
  const fromLeaf = leafProduct(leaf, ext);
  if (!product) {
    product = fromLeaf;
    if (!product) throw new CertificateInvalid(kind, `cannot tell the product line: productName ${JSON.stringify(ext.productName ?? null)}, issuer "${leaf.issuer}"`, { subject: leaf.subject });
    warnings.push(`report version ${report.version} has no CPUID; product line ${product} taken from the ${kind.toUpperCase()}`);
  } else if (fromLeaf && fromLeaf !== product) {
    throw new CertificateInvalid(kind, `issued for ${fromLeaf} but the report is from a ${product} processor`, { subject: leaf.subject, expected: product, actual: fromLeaf });
  }

  // 4. Chain to the pinned ARK.
  const interRole = kind === 'vcek' ? 'ask' : 'asvk';
  const interCn = kind === 'vcek' ? `SEV-${product}` : `SEV-VLEK-${product}`;
  if (commonName(leaf.issuer) !== interCn) {
    throw new CertificateInvalid(kind, `issuer CN is ${JSON.stringify(commonName(leaf.issuer) ?? null)}; a ${product} ${kind.toUpperCase()} is issued by ${interCn}`, { subject: leaf.subject, expected: interCn, actual: commonName(leaf.issuer) ?? null });
  }
  const pins = { label: `AMD ARK-${product}`, fingerprints: rootFingerprints([AMD_ARK_SHA256[product]], ctx.extraRoots, 'amd') };
  let inter = pool.find((c) => c.subject === leaf.issuer);
  let ark = inter ? await pickArk(pool, inter.issuer, pins.fingerprints) : undefined;
  if (!inter || !ark) {
    try {
      const chain = await fetchCertChain(policy, base, product, kind);
      inter ??= chain.intermediate;
      ark ??= chain.ark;
    } catch (err) {
      if (!(err instanceof CollateralUnavailable)) throw err;
      throw new CollateralUnavailable(`AMD ${interRole.toUpperCase()}/ARK for ${product}`, err.details.url as string | undefined, `not supplied (pass the KDS cert_chain or the roots as collateral) and ${err.message}`);
    }
  }
  const chain = await verifyChainCached(leaf, inter, ark, pins, at, [kind, interRole, 'ark']);

  // Revocation: AMD's per-product CRL, signed by the ARK.
  let crls: X509Crl[] = ctx.collateral.crls.filter((c) => c.issuer === ark.subject);
  if (crls.length === 0 && (policy.fetcher || policy.cache)) {
    try {
      crls = [await fetchCrl(policy, base, product, kind)];
    } catch (err) {
      if (!(err instanceof CollateralUnavailable)) throw err;
    }
  }
  if (crls.length === 0) {
    const url = kdsCrlUrl(base, product, kind);
    if (ctx.options?.requireCrl) throw new CollateralUnavailable(`AMD CRL for ${product}`, url, 'revocation is required but no CRL was supplied, cached or fetchable');
    warnings.push(`revocation not checked: no AMD CRL for ${product} was supplied or could be fetched (${url}); pass it as collateral or go online`);
  }
  for (const crl of crls) {
    try {
      await verifyCrl(crl, ark, at, `AMD CRL (${product})`);
    } catch (err) {
      if (!(err instanceof CollateralExpired) || !ctx.options?.allowExpiredCollateral) throw err;
      warnings.push(`${err.message} (accepted: allowExpiredCollateral)`);
    }
    assertNotRevoked(crl, inter, interRole);
    assertNotRevoked(crl, leaf, kind);
  }

  // 5. The endorsement key must be this report's key.
  const mism = leafMismatches(ext, report, kind);
  if (mism.length > 0) {
    const m = mism[0]!;
    throw new CertificateInvalid(kind, `does not match the report: ${mism.map((x) => `certificate ${x.field} is ${x.actual} but the report (${x.field === 'hwID' ? 'CHIP_ID' : 'REPORTED_TCB'}) has ${x.expected}`).join('; ')}`, {
      subject: leaf.subject,
      field: m.field,
      expected: m.expected,
      actual: m.actual,
      mismatches: mism.map((x) => ({ ...x })),
    });
  }
  if (kind === 'vcek' && report.signerInfo.maskChipId) warnings.push('CHIP_ID is masked (MASK_CHIP_KEY): the VCEK hwID could not be compared with the report');

  // 6. The report signature.
  const rawSig = snpSignatureToRaw(report.signature);
  if (!rawSig) throw new SignatureInvalid('SNP report', 'R or S has non-zero bytes above the 48-byte P-384 range');
  const key = await leafKey(leaf, kind);
  if (!(await ecdsaVerify(key, 'SHA-384', rawSig, report.signed))) {
    throw new SignatureInvalid('SNP report', `ECDSA P-384/SHA-384 signature over bytes 0x000-0x29F does not verify under the ${kind.toUpperCase()} "${leaf.subject}"`);
  }

  // 7. Debug policy.
  if (report.policy.debug && !ctx.options?.allowDebug) throw new DebugNotAllowed('snp', 'the guest (guest policy DEBUG bit 19 set: the host can decrypt its memory)');
  if (report.policy.debug) warnings.push('debug guest accepted (allowDebug): the host can read its memory');

  // 8. Binding.
  const exp = ctx.expected ?? {};
  checkBinding('reportData', exp.reportData, report.reportData);
  checkBinding('nonce (REPORT_DATA)', exp.nonce, report.reportData);
  if (exp.userData) throw new BindingMismatch('userData', toHex(exp.userData), 'SNP reports carry no separate user data; bind it into REPORT_DATA');
  if (exp.publicKey) throw new BindingMismatch('publicKey', toHex(exp.publicKey), 'SNP reports carry no separate public key; bind it into REPORT_DATA');

  const t = report.reportedTcb;
  const tcb: TcbClaims = {
    status: 'UpToDate',
    advisoryIds: [],
    versions: { ...(t.fmc !== undefined ? { fmc: t.fmc } : {}), bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode },
  };
  const revocation = crls.length > 0 ? 'checked' : 'absent';
  const signer: Record<string, JsonValue> = {
    kind,
    source: leafSource,
    subject: leaf.subject,
    serial: leaf.serialNumber,
    sha256: await fingerprint(leaf),
    productName: ext.productName ?? null,
    ...(ext.cspId !== undefined ? { cspId: ext.cspId } : {}),
    ...(ext.hwIdEncoding ? { hwIdEncoding: ext.hwIdEncoding } : {}),
    ...(ext.structVersion !== undefined ? { structVersion: ext.structVersion } : {}),
  };
  const pc = snpReportClaims(report);
  pc.product = product;
  pc.signer = signer;
  const claims: Claims = {
    platform: 'snp',
    debug: report.policy.debug,
    measurements: { 'snp.measurement': pc.measurement as string },
    tcb,
    reportData: pc.reportData as string,
    hostData: pc.hostData as string,
    signers: { 'snp.id_key_digest': pc.idKeyDigest as string, 'snp.author_key_digest': pc.authorKeyDigest as string },
    ...(isAllZero(report.chipId) ? {} : { instanceId: pc.chipId as string }),
    verifiedAt: iso(at),
    revocation,
    platformClaims: pc,
  };
  return { platform: 'snp', claims, tcb, warnings, chain };
}

interface VerifiedChain {
  links: ChainLink[];
  windows: [X509Certificate, number, number, string][];
}
const chainCache = new Map<string, VerifiedChain>();
const CHAIN_CACHE_MAX = 1024;

/**
 * verifyChain, memoised per (leaf, intermediate, ARK): signatures and descriptions never change,
 * so a hit only re-checks the pin (pins differ per context) and every validity window at `at`.
 */
async function verifyChainCached(leaf: X509Certificate, inter: X509Certificate, ark: X509Certificate, pins: PinnedRoots, at: Date, roles: string[]): Promise<ChainLink[]> {
  const fps = await Promise.all([fingerprint(leaf), fingerprint(inter), fingerprint(ark)]);
  const key = fps.join('<');
  const hit = chainCache.get(key);
  if (!hit || !pins.fingerprints.has(fps[2]!)) {
    const links = await verifyChain([leaf, inter, ark], pins, at, roles);
    if (chainCache.size >= CHAIN_CACHE_MAX) chainCache.clear();
    chainCache.set(key, { links, windows: [leaf, inter, ark].map((c, i) => [c, c.notBefore.getTime(), c.notAfter.getTime(), roles[i]!]) });
    return links;
  }
  const t = at.getTime();
  for (const [cert, nb, na, role] of hit.windows) if (t < nb || t > na) checkValidity(cert, at, role);
  return hit.links.map((l) => ({ ...l }));
}

/** Among self-issued certificates named `subject`, prefers a pinned one (several may be supplied). */
async function pickArk(pool: X509Certificate[], subject: string, pinned: ReadonlySet<string>): Promise<X509Certificate | undefined> {
  const arks = pool.filter((c) => c.subject === subject && c.issuer === subject);
  for (const a of arks) if (pinned.has(await fingerprint(a))) return a;
  return arks[0];
}

export const snpPlatform: Platform<SnpEvidence> = {
  id: 'snp',
  description: 'AMD SEV-SNP attestation report (v2, v3, v5; VCEK or VLEK chain to a pinned AMD ARK, KDS collateral)',
  detect: looksLikeSnpReport,
  parse: (bytes) => ({ report: parseSnpReport(bytes) }),
  verify: verifySnp,
};
