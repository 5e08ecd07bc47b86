/**
 * Verification of an AWS Nitro Enclaves attestation document (AWS Nitro Enclaves User Guide,
 * "Verifying the root of trust"; RFC 9052 COSE_Sign1):
 *
 *  1. Chain: leaf `certificate` ← cabundle[n-1] ← … ← cabundle[1] ← AWS Nitro Root-G1. cabundle[0]
 *     is the root as the document carries it; it is used only when its SHA-256 is pinned, otherwise
 *     a pinned root from the supplied collateral that issued the top of the chain is used, and
 *     otherwise the document is rejected (RootNotTrusted). Issuers must be CAs (basicConstraints,
 *     path length, keyCertSign); every certificate is ECDSA-with-SHA384 and valid at ctx.now (the
 *     leaf lives about three hours, so real documents verify only inside that window).
 *  2. Signature: ES384 over Sig_structure ["Signature1", protected, h'', payload] under the leaf's
 *     P-384 key, raw r‖s.
 *  3. Freshness: timestamp not more than CLOCK_SKEW_MS in the future of ctx.now; with
 *     options.maxAgeSeconds, not older than that.
 *  4. Debug: PCR0, PCR1 and PCR2 all zero means a debug-mode enclave (nitro-cli --debug-mode zeroes
 *     the image measurements); rejected with DebugNotAllowed unless options.allowDebug.
 *  5. Binding: expected nonce / userData / publicKey against the document fields; an expected
 *     reportData is checked against user_data (where dstack and KBS attesters put it).
 *
 * The cabundle links (root → regional → zonal → instance) are memoised by core/pki (signatures do
 * not depend on time); the per-document leaf signature is always verified.
 */
import {
  AttestError,
  BindingMismatch,
  CertificateInvalid,
  CollateralUnavailable,
  DebugNotAllowed,
  EvidenceExpired,
  EvidenceMalformed,
  RootNotTrusted,
  SignatureInvalid,
  assertNotRevoked,
  assertPinnedRoot,
  bytesEqual,
  checkValidity,
  describe,
  ecdsaDerToRaw,
  ecdsaVerify,
  fingerprint,
  iso,
  isAllZero,
  parseCertificate,
  subtle,
  toHex,
  verifyCrl,
  verifyIssuedBy,
  x509,
  type ChainLink,
  type Claims,
  type JsonValue,
  type PinnedRoots,
  type TcbClaims,
  type X509Certificate,
  type X509Crl,
} from '../../core/index.ts';
import { AWS_NITRO_PINNED_ROOTS, AWS_NITRO_ROOT_LABEL, AWS_NITRO_TRUST_FAMILY, fetchNitroCrl, findPinnedRoot } from '../../collateral/nitro/index.ts';
import { pcrsHex, sigStructure, type NitroDocument } from '../../evidence/nitro/index.ts';
import { checkBinding, rootFingerprints } from '../binding.ts';
import type { Verified, VerifyContext } from '../types.ts';

/** Allowed clock difference for a document timestamp ahead of the verifier (dstack nsm-qvl uses 300 s). */
export const CLOCK_SKEW_MS = 300_000;

/** Nitro has no vendor TCB status; the neutral claims say so explicitly. */
export const NITRO_TCB: TcbClaims = Object.freeze({ status: 'NotApplicable', advisoryIds: [], versions: {} }) as TcbClaims;

const certCache = new Map<string, { der: Uint8Array; cert: X509Certificate }[]>();
const keyCache = new Map<string, CryptoKey>();
const CACHE_MAX = 512;

function remember<V>(m: Map<string, V>, k: string, v: V): V {
  if (m.size >= CACHE_MAX) m.clear();
  m.set(k, v);
  return v;
}

/**
 * Bucket key: the length and the last 16 bytes (inside the DER signature, effectively random).
 * Entries in a bucket are still compared byte-for-byte, so a collision costs time, not safety.
 */
function bucket(der: Uint8Array): string {
  let k = `${der.length}:`;
  for (let i = Math.max(0, der.length - 16); i < der.length; i++) k += String.fromCharCode(der[i]!);
  return k;
}

/** Parsing a certificate is pure, so identical DER (the shared cabundle) is parsed once. */
function cert(der: Uint8Array, role: string): X509Certificate {
  const k = bucket(der);
  const hits = certCache.get(k);
  const hit = hits?.find((h) => bytesEqual(h.der, der));
  if (hit) return hit.cert;
  const parsed = parseCertificate(der, role);
  const entry = { der: der.slice(), cert: parsed };
  if (hits) hits.push(entry);
  else remember(certCache, k, [entry]);
  return parsed;
}

async function p384Key(c: X509Certificate, role: string): Promise<CryptoKey> {
  const fp = await fingerprint(c);
  const hit = keyCache.get(fp);
  if (hit) return hit;
  const alg = c.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-384') {
    throw new CertificateInvalid(role, `"${c.subject}" key is ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ''}; ES384 needs ECDSA P-384`, { subject: c.subject });
  }
  let key: CryptoKey;
  try {
    key = await subtle().importKey('spki', c.publicKey.rawData, { name: 'ECDSA', namedCurve: 'P-384' }, false, ['verify']);
  } catch (e) {
    throw new CertificateInvalid(role, `"${c.subject}" public key cannot be imported: ${(e as Error).message}`, { subject: c.subject });
  }
  return remember(keyCache, fp, key);
}

function assertEcdsaSha384(c: X509Certificate, role: string): void {
  const a = c.signatureAlgorithm as { name?: string; hash?: { name?: string } };
  if (a.name !== 'ECDSA' || a.hash?.name !== 'SHA-384') {
    throw new CertificateInvalid(role, `"${c.subject}" is signed with ${a.name ?? '?'}/${a.hash?.name ?? '?'}; the AWS Nitro PKI uses ecdsa-with-SHA384`, { subject: c.subject });
  }
}

/** Extensions are decoded lazily by @peculiar/x509; a malformed one must surface as CertificateInvalid. */
function ext<T extends x509.Extension>(c: X509Certificate, type: new (raw: BufferSource) => T, role: string): T | null {
  try {
    return c.getExtension(type);
  } catch (e) {
    throw new CertificateInvalid(role, `"${c.subject}" has a malformed ${type.name}: ${(e as Error).message}`, { subject: c.subject });
  }
}

/**
 * Structural checks depend only on the certificate and its position, not on time: remember the
 * ones that passed (decoding extensions through @peculiar/x509 re-parses ASN.1 on every call).
 */
const structurallyOk = new WeakMap<X509Certificate, Set<string>>();
function once(c: X509Certificate, key: string, check: () => void): void {
  const done = structurallyOk.get(c);
  if (done?.has(key)) return;
  check();
  if (done) done.add(key);
  else structurallyOk.set(c, new Set([key]));
}

/** RFC 5280 §4.2.1.9 / §4.2.1.3: an issuer must be a CA allowed to sign certificates at this depth. */
function assertCa(c: X509Certificate, role: string, intermediatesBelow: number): void {
  const bc = ext(c, x509.BasicConstraintsExtension, role);
  if (!bc || !bc.ca) throw new CertificateInvalid(role, `"${c.subject}" issues certificates but is not a CA (basicConstraints cA is not set)`, { subject: c.subject });
  if (bc.pathLength !== undefined && intermediatesBelow > bc.pathLength) {
    throw new CertificateInvalid(role, `"${c.subject}" path length constraint ${bc.pathLength} is exceeded (${intermediatesBelow} intermediate CA(s) below it)`, { subject: c.subject });
  }
  const ku = ext(c, x509.KeyUsagesExtension, role);
  if (ku && !(ku.usages & x509.KeyUsageFlags.keyCertSign)) throw new CertificateInvalid(role, `"${c.subject}" key usage does not include keyCertSign`, { subject: c.subject });
}

function assertLeafUsage(c: X509Certificate): void {
  const ku = ext(c, x509.KeyUsagesExtension, 'leaf');
  if (ku && !(ku.usages & x509.KeyUsageFlags.digitalSignature)) throw new CertificateInvalid('leaf', `"${c.subject}" key usage does not include digitalSignature`, { subject: c.subject });
}

/** tbsCertificate: the first element of Certificate ::= SEQUENCE { tbs, algorithm, signature } (RFC 5280 §4.1). */
function tbsOf(der: Uint8Array): Uint8Array {
  const header = (p: number): [number, number] => {
    if (p + 2 > der.length || der[p] !== 0x30) throw new CertificateInvalid('leaf', 'DER is not a SEQUENCE where tbsCertificate is expected');
    const b = der[p + 1]!;
    if (b < 0x80) return [b, p + 2];
    const k = b & 0x7f;
    if (k === 0 || k > 3 || p + 2 + k > der.length) throw new CertificateInvalid('leaf', 'bad DER length');
    let v = 0;
    for (let i = 0; i < k; i++) v = v * 256 + der[p + 2 + i]!;
    return [v, p + 2 + k];
  };
  const [, inner] = header(0);
  const [len, body] = header(inner);
  if (body + len > der.length) throw new CertificateInvalid('leaf', 'tbsCertificate overruns the certificate');
  return der.subarray(inner, body + len);
}

/**
 * The per-document link, always checked (not memoised: a new leaf comes with every enclave, and a
 * benchmark must pay for it). ECDSA-with-SHA384 was asserted for the leaf; the instance CA key is
 * imported once.
 */
async function verifyLeafLink(leaf: X509Certificate, leafDer: Uint8Array, parent: X509Certificate): Promise<void> {
  if (leaf.issuer !== parent.subject) {
    throw new CertificateInvalid('leaf', `issuer "${leaf.issuer}" is not the subject of the next cabundle certificate "${parent.subject}"`, { subject: leaf.subject });
  }
  const key = await p384Key(parent, 'intermediate');
  let raw: Uint8Array;
  try {
    raw = ecdsaDerToRaw(new Uint8Array(leaf.signature), 'P-384');
  } catch (e) {
    throw new CertificateInvalid('leaf', `signature is not a P-384 ECDSA-Sig-Value: ${(e as Error).message}`, { subject: leaf.subject });
  }
  if (!(await ecdsaVerify(key, 'SHA-384', raw, tbsOf(leafDer)))) throw new CertificateInvalid('leaf', `signature by "${parent.subject}" does not verify`, { subject: leaf.subject });
}

/** ChainLink summaries depend only on the certificate and its role. */
const linkCache = new WeakMap<X509Certificate, Map<string, ChainLink>>();
async function link(c: X509Certificate, role: string): Promise<ChainLink> {
  let m = linkCache.get(c);
  const hit = m?.get(role);
  if (hit) return { ...hit };
  const l = await describe(c, role);
  if (!m) linkCache.set(c, (m = new Map()));
  m.set(role, l);
  return { ...l };
}

function roleOf(i: number, n: number): string {
  return i === 0 ? 'leaf' : i === n - 1 ? 'root' : 'intermediate';
}

const dpCache = new WeakMap<X509Certificate, string[]>();
function crlDistributionPoints(c: X509Certificate, role: string): string[] {
  const hit = dpCache.get(c);
  if (hit) return hit;
  const dps = ext(c, x509.CRLDistributionPointsExtension, role);
  const urls: string[] = [];
  for (const dp of dps?.distributionPoints ?? []) {
    for (const gn of dp.distributionPoint?.fullName ?? []) if (gn.uniformResourceIdentifier) urls.push(gn.uniformResourceIdentifier);
  }
  dpCache.set(c, urls);
  return urls;
}

export interface NitroChain {
  /** [leaf, cabundle[n-1], …, cabundle[1], root]. */
  chain: X509Certificate[];
  rootSource: 'cabundle' | 'collateral';
}

/** Builds and checks the chain (signatures, CA constraints, algorithms, pins); not validity. */
export async function verifyNitroChain(doc: NitroDocument, ctx: VerifyContext): Promise<NitroChain> {
  const built = await buildChain(doc, ctx);
  await verifyLeafLink(built.chain[0]!, doc.certificate, built.chain[1]!);
  return built;
}

/** verifyNitroChain without the per-document leaf signature (verifyNitro checks it before the COSE signature). */
async function buildChain(doc: NitroDocument, ctx: VerifyContext): Promise<NitroChain> {
  const leaf = cert(doc.certificate, 'leaf');
  const bundle = doc.cabundle.map((d, i) => cert(d, `cabundle[${i}]`));
  const pins = rootFingerprints(AWS_NITRO_PINNED_ROOTS, ctx.extraRoots, AWS_NITRO_TRUST_FAMILY);
  const pinned: PinnedRoots = { label: AWS_NITRO_ROOT_LABEL, fingerprints: pins };

  const intermediates = bundle.slice(1).reverse();
  const top = intermediates[intermediates.length - 1] ?? leaf;
  const docRoot = bundle[0]!;
  let root: X509Certificate;
  let rootSource: NitroChain['rootSource'];
  if (pins.has(await fingerprint(docRoot))) {
    root = docRoot;
    rootSource = 'cabundle';
  } else {
    const supplied = await findPinnedRoot(ctx.collateral, pins, top.issuer);
    if (!supplied) throw new RootNotTrusted(await fingerprint(docRoot), docRoot.subject, AWS_NITRO_ROOT_LABEL);
    root = supplied;
    rootSource = 'collateral';
  }
  const chain = [leaf, ...intermediates, root];
  const n = chain.length;
  await assertPinnedRoot(root, pinned);
  for (let i = 0; i < n; i++) once(chain[i]!, 'alg', () => assertEcdsaSha384(chain[i]!, roleOf(i, n)));
  for (let i = 1; i < n; i++) once(chain[i]!, `ca:${roleOf(i, n)}:${i - 1}`, () => assertCa(chain[i]!, roleOf(i, n), i - 1));
  once(leaf, 'leaf', () => assertLeafUsage(leaf));
  // Top-down, so a link is checked only under an already-trusted issuer.
  for (let i = n - 2; i >= 1; i--) await verifyIssuedBy(chain[i]!, chain[i + 1]!, 'intermediate');
  return { chain, rootSource };
}

/**
 * Revocation for every certificate that names a CRL distribution point: a CRL from ctx.collateral
 * (issued by the certificate's issuer), else one fetched from the distribution point through
 * ctx.fetcher / ctx.cache. Missing CRLs are a warning, or CollateralUnavailable with requireCrl.
 */
async function checkRevocation(chain: X509Certificate[], ctx: VerifyContext, warnings: string[]): Promise<Claims['revocation']> {
  let missing = 0;
  let needed = 0;
  for (let i = 0; i < chain.length - 1; i++) {
    const c = chain[i]!;
    const issuer = chain[i + 1]!;
    const dps = crlDistributionPoints(c, roleOf(i, chain.length));
    let crl: X509Crl | undefined = ctx.collateral.crls.find((x) => x.issuer === issuer.subject);
    if (!dps.length && !crl) continue;
    needed++;
    let reason = 'not supplied (pass it with --collateral)';
    if (!crl && (ctx.fetcher || ctx.cache)) {
      for (const url of dps) {
        try {
          crl = await fetchNitroCrl(url, issuer.subject, { now: ctx.now, ...(ctx.fetcher ? { fetcher: ctx.fetcher } : {}), ...(ctx.cache ? { cache: ctx.cache } : {}), ...(ctx.offline ? { offline: true } : {}) });
          break;
        } catch (e) {
          if (!(e instanceof AttestError)) throw e;
          reason = e.message;
        }
      }
    }
    if (!crl) {
      if (ctx.options?.requireCrl) throw new CollateralUnavailable(`CRL of "${issuer.subject}"`, dps[0], reason);
      warnings.push(`revocation of "${c.subject}" not checked: ${reason}`);
      missing++;
      continue;
    }
    // A CRL issued after the verification time (a current CRL when verifying a past document at
    // its --at time) knows at least as much as the one in force then: use it. A CRL past its
    // nextUpdate at the verification time is stale (CollateralExpired).
    const at = ctx.now < crl.thisUpdate ? crl.thisUpdate : ctx.now;
    await verifyCrl(crl, issuer, at, `CRL of "${issuer.subject}"`);
    assertNotRevoked(crl, c, roleOf(i, chain.length));
  }
  if (needed === 0) return 'not-applicable';
  return missing ? 'absent' : 'checked';
}

function checkFreshness(doc: NitroDocument, ctx: VerifyContext): void {
  const now = ctx.now.getTime();
  const ts = doc.timestamp;
  if (ts > now + CLOCK_SKEW_MS) {
    throw new EvidenceExpired(`document timestamp ${iso(new Date(ts))} is in the future of the verification time ${iso(ctx.now)} (allowed skew ${CLOCK_SKEW_MS / 1000} s)`, {
      timestamp: iso(new Date(ts)),
      at: iso(ctx.now),
    });
  }
  const max = ctx.options?.maxAgeSeconds;
  if (max !== undefined && now - ts > max * 1000) {
    throw new EvidenceExpired(`document is ${Math.floor((now - ts) / 1000)} s old at ${iso(ctx.now)}; the maximum age is ${max} s`, { timestamp: iso(new Date(ts)), at: iso(ctx.now), maxAgeSeconds: max });
  }
}

/** Debug mode = PCR0, PCR1 and PCR2 all zero. Throws if one of them is absent (cannot decide). */
export function isDebugDocument(doc: NitroDocument): boolean {
  for (const i of [0, 1, 2]) if (!doc.pcrs.has(i)) throw new EvidenceMalformed('nitro', `pcrs[${i}]`, undefined, 'PCR0, PCR1 and PCR2 are required to tell a debug enclave');
  return [0, 1, 2].every((i) => isAllZero(doc.pcrs.get(i)!));
}

function bind(field: string, expected: Uint8Array | undefined, actual: Uint8Array | null): void {
  if (!expected) return;
  if (actual === null) throw new BindingMismatch(field, toHex(expected), 'absent (null)');
  checkBinding(field, expected, actual);
}

const hexOrNull = (b: Uint8Array | null): string | null => (b ? toHex(b) : null);

export async function verifyNitro(doc: NitroDocument, ctx: VerifyContext): Promise<Verified> {
  const warnings: string[] = [];
  let built: NitroChain;
  try {
    built = await buildChain(doc, ctx);
  } catch (e) {
    // Backstop for lazily decoded certificate fields in @peculiar/x509: never let a library error escape.
    if (e instanceof AttestError) throw e;
    throw new CertificateInvalid('chain', `cannot be processed: ${(e as Error).message}`);
  }
  const { chain, rootSource } = built;
  const leaf = chain[0]!;

  // The per-document signatures: the leaf certificate under the instance CA, then the document.
  await verifyLeafLink(leaf, doc.certificate, chain[1]!);
  const key = await p384Key(leaf, 'leaf');
  if (!(await ecdsaVerify(key, 'SHA-384', doc.cose.signature, sigStructure(doc.cose.protectedBytes, doc.cose.payload)))) {
    throw new SignatureInvalid('COSE_Sign1 signature', `ES384 signature does not verify under the leaf key of "${leaf.subject}"`);
  }

  for (let i = 0; i < chain.length; i++) checkValidity(chain[i]!, ctx.now, roleOf(i, chain.length));
  checkFreshness(doc, ctx);
  const ts = new Date(doc.timestamp);
  if (ts < leaf.notBefore || ts > leaf.notAfter) warnings.push(`document timestamp ${iso(ts)} lies outside the leaf certificate's validity (${iso(leaf.notBefore)} .. ${iso(leaf.notAfter)})`);
  if (rootSource === 'collateral') warnings.push('cabundle[0] is not a pinned root; anchored on a pinned root from the supplied collateral');

  const revocation = await checkRevocation(chain, ctx, warnings);

  const debug = isDebugDocument(doc);
  if (debug && !ctx.options?.allowDebug) throw new DebugNotAllowed('nitro', `enclave ${doc.moduleId} (PCR0, PCR1 and PCR2 are all zero: debug mode)`);

  const exp = ctx.expected ?? {};
  bind('nonce', exp.nonce, doc.nonce);
  bind('user_data', exp.userData, doc.userData);
  bind('public_key', exp.publicKey, doc.publicKey);
  bind('user_data (report data)', exp.reportData, doc.userData);

  const pcrs = pcrsHex(doc.pcrs);
  const measurements: Record<string, string> = {};
  for (const [i, v] of Object.entries(pcrs)) measurements[`nitro.pcr${i}`] = v;
  const pcrsJson: Record<string, JsonValue> = {};
  for (const [i, v] of Object.entries(pcrs)) pcrsJson[i] = v;

  const claims: Claims = {
    platform: 'nitro',
    debug,
    measurements,
    tcb: NITRO_TCB,
    signers: {},
    instanceId: doc.moduleId,
    evidenceTime: iso(ts),
    verifiedAt: iso(ctx.now),
    revocation,
    ...(doc.userData ? { reportData: toHex(doc.userData) } : {}),
    platformClaims: {
      moduleId: doc.moduleId,
      digest: doc.digest,
      timestamp: doc.timestamp,
      pcrs: pcrsJson,
      userData: hexOrNull(doc.userData),
      nonce: hexOrNull(doc.nonce),
      publicKey: hexOrNull(doc.publicKey),
      cabundleLength: doc.cabundle.length,
      coseTagged: doc.cose.tagged,
      rootSource,
    },
  };
  return { platform: 'nitro', claims, tcb: null, warnings, chain: await Promise.all(chain.map((c, i) => link(c, roleOf(i, chain.length)))) };
}
