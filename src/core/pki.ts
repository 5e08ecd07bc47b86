/**
 * Certificate-chain and CRL checks shared by every platform. Roots are trusted only by a SHA-256
 * fingerprint pinned in code (or added explicitly by the caller), never because evidence carries
 * them. Verified signature links are memoised by (child, parent) DER digest: a signature's validity
 * does not depend on time, so re-verifying a cached ARK→ASK link would only burn RSA cycles.
 * Validity windows are still checked at every call, at the caller's verification time.
 */
import { x509, type X509Certificate, type X509Crl } from './x509.ts';
import { CertificateInvalid, CertificateRevoked, CollateralExpired, CollateralInvalid, RootNotTrusted } from './errors.ts';
import { sha256 } from './crypto.ts';
import { fromUtf8, pemBlocks, toHex } from './encoding.ts';
import { iso } from './time.ts';

const fpCache = new WeakMap<X509Certificate | X509Crl, string>();

/** SHA-256 of the DER encoding, lowercase hex without separators. */
export async function fingerprint(obj: X509Certificate | X509Crl): Promise<string> {
  let fp = fpCache.get(obj);
  if (!fp) {
    fp = toHex(await sha256(new Uint8Array(obj.rawData)));
    fpCache.set(obj, fp);
  }
  return fp;
}

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[:\s]/g, '').toLowerCase();
}

function looksLikePem(bytes: Uint8Array): boolean {
  const head = fromUtf8(bytes.subarray(0, Math.min(bytes.length, 4096)), false);
  return head.includes('-----BEGIN ');
}

/** Parses one certificate from DER or PEM bytes/text. */
export function parseCertificate(input: Uint8Array | string, role = 'certificate'): X509Certificate {
  try {
    if (typeof input === 'string') return new x509.X509Certificate(input);
    if (looksLikePem(input)) {
      const blocks = pemBlocks(fromUtf8(input, false), 'CERTIFICATE');
      if (blocks.length !== 1) throw new Error(`expected one PEM CERTIFICATE block, found ${blocks.length}`);
      return new x509.X509Certificate(blocks[0]!.der as Uint8Array<ArrayBuffer>);
    }
    return new x509.X509Certificate(input as Uint8Array<ArrayBuffer>);
  } catch (e) {
    if (e instanceof CertificateInvalid) throw e;
    throw new CertificateInvalid(role, `cannot be parsed: ${(e as Error).message}`);
  }
}

/** Parses every certificate in a PEM bundle, or one DER certificate. */
export function parseCertificates(input: Uint8Array | string, role = 'certificate'): X509Certificate[] {
  const text = typeof input === 'string' ? input : looksLikePem(input) ? fromUtf8(input, false) : undefined;
  if (text === undefined) return [parseCertificate(input as Uint8Array, role)];
  const blocks = pemBlocks(text, 'CERTIFICATE');
  if (blocks.length === 0) throw new CertificateInvalid(role, 'no PEM CERTIFICATE block found');
  return blocks.map((b, i) => {
    try {
      return new x509.X509Certificate(b.der as Uint8Array<ArrayBuffer>);
    } catch (e) {
      throw new CertificateInvalid(role, `PEM block ${i} cannot be parsed: ${(e as Error).message}`);
    }
  });
}

export function parseCrl(input: Uint8Array | string, what = 'CRL'): X509Crl {
  try {
    if (typeof input === 'string') return new x509.X509Crl(input);
    if (looksLikePem(input)) {
      const blocks = pemBlocks(fromUtf8(input, false), 'X509 CRL');
      if (blocks.length !== 1) throw new Error(`expected one PEM X509 CRL block, found ${blocks.length}`);
      return new x509.X509Crl(blocks[0]!.der as Uint8Array<ArrayBuffer>);
    }
    return new x509.X509Crl(input as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new CollateralInvalid(what, `cannot be parsed: ${(e as Error).message}`);
  }
}

const linkCache = new Map<string, true>();
const LINK_CACHE_MAX = 4096;

/** Checks that `child` is signed by `parent`'s key. Throws CertificateInvalid(role). */
export async function verifyIssuedBy(child: X509Certificate, parent: X509Certificate, role: string): Promise<void> {
  const key = `${await fingerprint(child)}<${await fingerprint(parent)}`;
  if (linkCache.has(key)) return;
  if (child.issuer !== parent.subject) {
    throw new CertificateInvalid(role, `issuer "${child.issuer}" is not the subject of the expected parent "${parent.subject}"`, { subject: child.subject });
  }
  let ok: boolean;
  try {
    ok = await child.verify({ publicKey: parent.publicKey, signatureOnly: true });
  } catch (e) {
    throw new CertificateInvalid(role, `signature by "${parent.subject}" cannot be checked: ${(e as Error).message}`, { subject: child.subject });
  }
  if (!ok) throw new CertificateInvalid(role, `signature by "${parent.subject}" does not verify`, { subject: child.subject });
  if (linkCache.size >= LINK_CACHE_MAX) linkCache.clear();
  linkCache.set(key, true);
}

export function checkValidity(cert: X509Certificate, at: Date, role: string): void {
  if (at < cert.notBefore || at > cert.notAfter) {
    throw new CertificateInvalid(role, `"${cert.subject}" is not valid at ${iso(at)} (valid ${iso(cert.notBefore)} .. ${iso(cert.notAfter)})`, {
      subject: cert.subject,
      notBefore: iso(cert.notBefore),
      notAfter: iso(cert.notAfter),
      at: iso(at),
    });
  }
}

export interface PinnedRoots {
  /** Human label for messages ("AMD ARK", "Intel SGX Root CA"). */
  readonly label: string;
  /** Lowercase hex SHA-256 fingerprints of the DER root certificates. */
  readonly fingerprints: ReadonlySet<string>;
}

export async function assertPinnedRoot(root: X509Certificate, pins: PinnedRoots): Promise<void> {
  const fp = await fingerprint(root);
  if (!pins.fingerprints.has(fp)) throw new RootNotTrusted(fp, root.subject, pins.label);
  // A pinned root is also checked to be self-signed: a pin of a non-root would be a bug.
  await verifyIssuedBy(root, root, 'root');
}

export interface ChainLink {
  role: string;
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  sha256: string;
}

export async function describe(cert: X509Certificate, role: string): Promise<ChainLink> {
  return {
    role,
    subject: cert.subject,
    issuer: cert.issuer,
    serial: cert.serialNumber,
    notBefore: iso(cert.notBefore),
    notAfter: iso(cert.notAfter),
    sha256: await fingerprint(cert),
  };
}

/**
 * Verifies an ordered chain [leaf, ...intermediates, root]: each link's signature, every validity
 * window at `at`, and the root against the pins. `roles` names each position for error messages.
 */
export async function verifyChain(chain: X509Certificate[], pins: PinnedRoots, at: Date, roles: string[]): Promise<ChainLink[]> {
  if (chain.length < 2) throw new CertificateInvalid(roles[0] ?? 'leaf', `chain has ${chain.length} certificate(s); a leaf and a root are required`);
  const root = chain[chain.length - 1]!;
  await assertPinnedRoot(root, pins);
  for (let i = chain.length - 2; i >= 0; i--) {
    await verifyIssuedBy(chain[i]!, chain[i + 1]!, roles[i] ?? `certificate ${i}`);
  }
  for (let i = 0; i < chain.length; i++) checkValidity(chain[i]!, at, roles[i] ?? `certificate ${i}`);
  return Promise.all(chain.map((c, i) => describe(c, roles[i] ?? `certificate ${i}`)));
}

/** Normalised serial: lowercase hex without leading zeros ("0" for zero). */
export function normalizeSerial(serial: string): string {
  const s = serial.toLowerCase().replace(/^0+/, '');
  return s === '' ? '0' : s;
}

/**
 * Checks a CRL's signature by `issuer` and that `at` lies in [thisUpdate, nextUpdate]. Throws
 * CollateralInvalid for a bad signature or issuer, CollateralExpired for a stale/future CRL.
 */
export async function verifyCrl(crl: X509Crl, issuer: X509Certificate, at: Date, what: string): Promise<void> {
  if (crl.issuer !== issuer.subject) throw new CollateralInvalid(what, `issued by "${crl.issuer}", expected "${issuer.subject}"`);
  // Signatures are memoised like certificate links (same DER pair, same answer); the window is not.
  const key = `crl:${await fingerprint(crl)}<${await fingerprint(issuer)}`;
  if (!linkCache.has(key)) {
    let ok: boolean;
    try {
      ok = await crl.verify({ publicKey: issuer.publicKey });
    } catch (e) {
      throw new CollateralInvalid(what, `signature cannot be checked: ${(e as Error).message}`);
    }
    if (!ok) throw new CollateralInvalid(what, `signature by "${issuer.subject}" does not verify`);
    if (linkCache.size >= LINK_CACHE_MAX) linkCache.clear();
    linkCache.set(key, true);
  }
  if (at < crl.thisUpdate || (crl.nextUpdate && at > crl.nextUpdate)) {
    throw new CollateralExpired(what, iso(crl.thisUpdate), crl.nextUpdate ? iso(crl.nextUpdate) : undefined, iso(at));
  }
}

/** Per-CRL index: normalised serial → revocation date (first entry wins). CRLs are immutable. */
const revokedIndex = new WeakMap<X509Crl, Map<string, string>>();

/**
 * The normalised serials a CRL revokes, with their revocation dates (ISO). Built once per CRL
 * object: PCK CA CRLs hold hundreds of entries and are consulted several times per verification.
 */
export function revokedSerials(crl: X509Crl): ReadonlyMap<string, string> {
  let idx = revokedIndex.get(crl);
  if (!idx) {
    idx = new Map();
    for (const e of crl.entries) {
      const k = normalizeSerial(e.serialNumber);
      if (!idx.has(k)) idx.set(k, iso(e.revocationDate));
    }
    revokedIndex.set(crl, idx);
  }
  return idx;
}

/** Throws CertificateRevoked when `cert`'s serial is listed in the (already verified) CRL. */
export function assertNotRevoked(crl: X509Crl, cert: X509Certificate, role: string): void {
  const serial = normalizeSerial(cert.serialNumber);
  const at = revokedSerials(crl).get(serial);
  if (at !== undefined) throw new CertificateRevoked(role, serial, crl.issuer, at);
}
