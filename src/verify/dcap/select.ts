/**
 * Choosing among collateral candidates. Users keep growing collateral directories, so several TCB
 * Infos for one FMSPC, several CRLs of one issuer and re-issued TCB Signing certificates (same key,
 * new validity) may be supplied together: the newest candidate that is valid at the verification
 * time wins, and the others are ignored. When candidates exist but none is valid, the newest one's
 * failure is thrown: a supplied item is never skipped silently.
 */
import {
  AttestError,
  CertificateInvalid,
  bytesEqual,
  CollateralExpired,
  CollateralInvalid,
  RootNotTrusted,
  SignatureInvalid,
  assertPinnedRoot,
  checkValidity,
  describe,
  fingerprint,
  iso,
  revokedSerials,
  subtle,
  utf8,
  verifyIssuedBy,
  type ChainLink,
  type PinnedRoots,
  type X509Certificate,
  type X509Crl,
} from '../../core/index.ts';
import type { CrlCandidate, SignedJsonCandidate } from '../../collateral/intel/index.ts';

/**
 * Memo of ECDSA verifications over signed JSON, per candidate object and signer certificate. A hit
 * also requires the candidate's text (the same string) and signature bytes to be the ones that
 * were verified, so a candidate object whose content changed is verified again.
 */
const jsonSigMemo = new WeakMap<SignedJsonCandidate, WeakMap<X509Certificate, { text: string; signature: Uint8Array; ok: boolean }>>();
const crlSigMemo = new WeakMap<X509Crl, Map<string, boolean>>();
const keyMemo = new WeakMap<X509Certificate, CryptoKey>();
const subjectMemo = new WeakMap<X509Certificate, string>();
const issuerMemo = new WeakMap<X509Certificate | X509Crl, string>();
const fpMemo = new WeakMap<X509Certificate | X509Crl, string>();
const linkMemo = new WeakMap<X509Certificate, Map<string, ChainLink>>();
const isoMemo = new WeakMap<Date, { t: number; s: string }>();

/** @peculiar/x509 rebuilds name strings on every access; these are read on every quote. */
export function subjectOf(c: X509Certificate): string {
  let s = subjectMemo.get(c);
  if (s === undefined) subjectMemo.set(c, (s = c.subject));
  return s;
}
export function issuerOf(c: X509Certificate | X509Crl): string {
  let s = issuerMemo.get(c);
  if (s === undefined) issuerMemo.set(c, (s = c.issuer));
  return s;
}
/** core `fingerprint` without an await once known (the DER of a parsed object does not change). */
export function fingerprintOf(c: X509Certificate | X509Crl): string | Promise<string> {
  const fp = fpMemo.get(c);
  if (fp !== undefined) return fp;
  return fingerprint(c).then((v) => {
    fpMemo.set(c, v);
    return v;
  });
}
/** `iso(d)`, memoised per Date object and checked against its current value. */
export function isoOf(d: Date): string {
  const t = d.getTime();
  const m = isoMemo.get(d);
  if (m !== undefined && m.t === t) return m.s;
  const s = iso(d);
  isoMemo.set(d, { t, s });
  return s;
}
export async function describeMemo(c: X509Certificate, role: string): Promise<ChainLink> {
  let m = linkMemo.get(c);
  if (!m) linkMemo.set(c, (m = new Map()));
  let d = m.get(role);
  if (!d) m.set(role, (d = await describe(c, role)));
  return { ...d };
}

/** Signature links verified between these two certificate objects (the signature does not depend on time). */
const issuedByMemo = new WeakMap<X509Certificate, WeakSet<X509Certificate>>();

/** core `verifyIssuedBy`, skipped without an await when this (child, parent) pair was verified before. */
export async function verifyIssuedByMemo(child: X509Certificate, parent: X509Certificate, role: string): Promise<void> {
  if (issuedByMemo.get(child)?.has(parent)) return;
  await verifyIssuedBy(child, parent, role);
  let parents = issuedByMemo.get(child);
  if (!parents) issuedByMemo.set(child, (parents = new WeakSet()));
  parents.add(parent);
}

/**
 * [leaf, CA, root]: the root pinned by fingerprint (checked against `pins` on every call), every
 * link's signature (memoised) and every validity window at `now` (checked on every call).
 */
export async function verifyPinnedChain(chain: X509Certificate[], pins: PinnedRoots, now: Date, roles: string[]): Promise<ChainLink[]> {
  const root = chain[chain.length - 1]!;
  const fp = await fingerprintOf(root);
  if (!pins.fingerprints.has(fp)) {
    await assertPinnedRoot(root, pins); // throws RootNotTrusted with the details
    throw new RootNotTrusted(fp, subjectOf(root), pins.label);
  }
  // A pinned root is also checked to be self-signed.
  await verifyIssuedByMemo(root, root, 'root');
  for (let i = chain.length - 2; i >= 0; i--) await verifyIssuedByMemo(chain[i]!, chain[i + 1]!, roles[i] ?? `certificate ${i}`);
  for (let i = 0; i < chain.length; i++) checkValidity(chain[i]!, now, roles[i] ?? `certificate ${i}`);
  const links: ChainLink[] = [];
  for (let i = 0; i < chain.length; i++) links.push(await describeMemo(chain[i]!, roles[i] ?? `certificate ${i}`));
  return links;
}

export async function publicKeyOf(cert: X509Certificate): Promise<CryptoKey> {
  let k = keyMemo.get(cert);
  if (!k) {
    k = await cert.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' } as EcKeyImportParams, ['verify']);
    keyMemo.set(cert, k);
  }
  return k;
}

async function verifyJsonSignature(c: SignedJsonCandidate, signer: X509Certificate): Promise<boolean> {
  let perSigner = jsonSigMemo.get(c);
  if (!perSigner) jsonSigMemo.set(c, (perSigner = new WeakMap()));
  const hit = perSigner.get(signer);
  if (hit && hit.text === c.text && bytesEqual(hit.signature, c.signature)) return hit.ok;
  const text = c.text;
  const signature = c.signature.slice();
  let ok: boolean;
  try {
    ok = await subtle().verify({ name: 'ECDSA', hash: 'SHA-256' }, await publicKeyOf(signer), signature, utf8(text) as Uint8Array<ArrayBuffer>);
  } catch {
    ok = false;
  }
  perSigner.set(signer, { text, signature, ok });
  return ok;
}

export interface SignerChoice {
  signer: X509Certificate;
  root: X509Certificate;
}

/**
 * Finds the TCB Signing certificate for a signed JSON item: among the certificates delivered with
 * it and the pool, those whose key verifies the signature and which chain to a pinned root; the
 * newest one valid at `now` wins. Throws SignatureInvalid when no certificate's key verifies it,
 * CertificateInvalid when verifying signers exist but none is valid at `now`.
 */
export async function chooseSigner(c: SignedJsonCandidate, pool: X509Certificate[], roots: X509Certificate[], now: Date, what: string): Promise<SignerChoice> {
  const seen = new Set<string>();
  const candidates: X509Certificate[] = [];
  for (const cert of [...c.issuerChain, ...pool]) {
    const fp = await fingerprintOf(cert);
    if (seen.has(fp) || subjectOf(cert) === issuerOf(cert)) continue;
    seen.add(fp);
    candidates.push(cert);
  }
  const verifying: { cert: X509Certificate; root: X509Certificate }[] = [];
  let chainError: AttestError | undefined;
  for (const cert of candidates) {
    const root = roots.find((r) => subjectOf(r) === issuerOf(cert));
    if (!root) continue;
    if (!(await verifyJsonSignature(c, cert))) continue;
    try {
      await verifyIssuedByMemo(cert, root, 'tcb-signer');
      verifying.push({ cert, root });
    } catch (e) {
      chainError = e as AttestError;
    }
  }
  if (verifying.length === 0) {
    if (chainError) throw chainError;
    throw new SignatureInvalid(`${what} signature`, candidates.length === 0 ? 'no TCB Signing certificate supplied (issuer chain or --collateral)' : `no supplied TCB Signing certificate (of ${candidates.length}) verifies it`);
  }
  verifying.sort((a, b) => b.cert.notBefore.getTime() - a.cert.notBefore.getTime());
  let firstErr: AttestError | undefined;
  for (const v of verifying) {
    try {
      checkValidity(v.cert, now, 'tcb-signer');
      return { signer: v.cert, root: v.root };
    } catch (e) {
      firstErr ??= e as AttestError;
    }
  }
  throw firstErr ?? new CertificateInvalid('tcb-signer', 'no valid TCB Signing certificate');
}

export interface Chosen<T> {
  candidate: SignedJsonCandidate;
  parsed: T;
  signer: X509Certificate;
  root: X509Certificate;
  /** Set when the chosen item is expired and allowExpiredCollateral downgraded it. */
  expired?: CollateralExpired;
  /** How many other matching candidates were ignored. */
  ignored: number;
}

/**
 * Verifies each candidate (signature by a chained signer, issueDate ≤ now ≤ nextUpdate) and picks
 * the newest valid one (by issueDate). With allowExpired, if none is current, the newest one whose
 * only fault is its validity window is returned with `expired` set.
 */
export async function chooseSignedJson<T extends { issueDate: Date; nextUpdate: Date }>(
  cands: { candidate: SignedJsonCandidate; parsed: T }[],
  pool: X509Certificate[],
  roots: X509Certificate[],
  now: Date,
  what: string,
  allowExpired: boolean,
  signerCheck?: (signer: X509Certificate) => void,
): Promise<Chosen<T>> {
  const sorted = [...cands].sort((a, b) => b.parsed.issueDate.getTime() - a.parsed.issueDate.getTime());
  let firstErr: AttestError | undefined;
  let expiredChoice: Chosen<T> | undefined;
  for (const c of sorted) {
    const label = `${what} (${c.candidate.source})`;
    try {
      const { signer, root } = await chooseSigner(c.candidate, pool, roots, now, label);
      signerCheck?.(signer);
      if (now < c.parsed.issueDate || now > c.parsed.nextUpdate) {
        const err = new CollateralExpired(label, isoOf(c.parsed.issueDate), isoOf(c.parsed.nextUpdate), iso(now));
        if (allowExpired && !expiredChoice) expiredChoice = { ...c, signer, root, expired: err, ignored: cands.length - 1 };
        firstErr ??= err;
        continue;
      }
      return { ...c, signer, root, ignored: cands.length - 1 };
    } catch (e) {
      if (!(e instanceof AttestError)) throw e;
      firstErr ??= e;
    }
  }
  if (expiredChoice) return expiredChoice;
  throw firstErr ?? new CollateralInvalid(what, 'no candidate');
}

async function crlSignatureOk(crl: X509Crl, issuer: X509Certificate): Promise<boolean> {
  const fp = await fingerprintOf(issuer);
  let m = crlSigMemo.get(crl);
  if (!m) crlSigMemo.set(crl, (m = new Map()));
  let ok = m.get(fp);
  if (ok === undefined) {
    try {
      ok = await crl.verify({ publicKey: issuer.publicKey });
    } catch {
      ok = false;
    }
    m.set(fp, ok);
  }
  return ok;
}

export interface ChosenCrl {
  crl: X509Crl;
  source: string;
  ignored: number;
}

/**
 * The newest CRL of `issuer` valid at `now`. Undefined when none of that issuer was supplied;
 * throws (CollateralInvalid / CollateralExpired) when some were supplied but none is valid.
 */
export async function chooseCrl(cands: CrlCandidate[], issuer: X509Certificate, now: Date, what: string): Promise<ChosenCrl | undefined> {
  const mine = cands.filter((c) => issuerOf(c.crl) === subjectOf(issuer)).sort((a, b) => b.crl.thisUpdate.getTime() - a.crl.thisUpdate.getTime());
  if (mine.length === 0) return undefined;
  let firstErr: AttestError | undefined;
  for (const c of mine) {
    const label = `${what} (${c.source})`;
    if (!(await crlSignatureOk(c.crl, issuer))) {
      firstErr ??= new CollateralInvalid(label, `signature by "${issuer.subject}" does not verify`);
      continue;
    }
    if (now < c.crl.thisUpdate || (c.crl.nextUpdate && now > c.crl.nextUpdate)) {
      firstErr ??= new CollateralExpired(label, iso(c.crl.thisUpdate), c.crl.nextUpdate ? iso(c.crl.nextUpdate) : undefined, iso(now));
      continue;
    }
    return { crl: c.crl, source: c.source, ignored: mine.length - 1 };
  }
  throw firstErr!;
}

/** Distinct serials a CRL revokes (core's per-CRL index). */
export function crlEntryCount(crl: X509Crl): number {
  return revokedSerials(crl).size;
}
