/**
 * A fake vendor PKI for synthetic evidence (DESIGN.md "Tests"): WebCrypto keys and X.509
 * certificates/CRLs minted with @peculiar/x509, so every error path can be reached with test keys.
 */
import { x509, type X509Certificate, type X509Crl } from '../../src/core/x509.ts';
import { fingerprint } from '../../src/core/pki.ts';

export type KeyAlg =
  | { kind: 'ec'; curve: 'P-256' | 'P-384' | 'P-521' }
  | { kind: 'rsa-pss'; bits: number; hash: 'SHA-256' | 'SHA-384'; saltLength: number }
  | { kind: 'rsa'; bits: number; hash: 'SHA-256' | 'SHA-384' };

export interface TestIdentity {
  cert: X509Certificate;
  keys: CryptoKeyPair;
  signingAlgorithm: Algorithm & Record<string, unknown>;
  fingerprint: string;
}

function algs(alg: KeyAlg): { gen: RsaHashedKeyGenParams | EcKeyGenParams; sign: Algorithm & Record<string, unknown> } {
  if (alg.kind === 'ec') {
    const hash = alg.curve === 'P-256' ? 'SHA-256' : alg.curve === 'P-384' ? 'SHA-384' : 'SHA-512';
    return { gen: { name: 'ECDSA', namedCurve: alg.curve }, sign: { name: 'ECDSA', hash } };
  }
  if (alg.kind === 'rsa-pss') {
    return { gen: { name: 'RSA-PSS', modulusLength: alg.bits, publicExponent: new Uint8Array([1, 0, 1]), hash: alg.hash }, sign: { name: 'RSA-PSS', hash: alg.hash, saltLength: alg.saltLength } };
  }
  return { gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: alg.bits, publicExponent: new Uint8Array([1, 0, 1]), hash: alg.hash }, sign: { name: 'RSASSA-PKCS1-v1_5', hash: alg.hash } };
}

export async function generateKeys(alg: KeyAlg): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(algs(alg).gen, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export interface MintOptions {
  subject: string;
  alg: KeyAlg;
  issuer?: TestIdentity;
  notBefore?: Date;
  notAfter?: Date;
  serial?: string;
  ca?: boolean;
  extensions?: x509.Extension[];
  keys?: CryptoKeyPair;
}

let serialCounter = 1;

export async function mint(opts: MintOptions): Promise<TestIdentity> {
  const keys = opts.keys ?? (await generateKeys(opts.alg));
  const { sign } = algs(opts.alg);
  const issuerSign = opts.issuer ? opts.issuer.signingAlgorithm : sign;
  const exts: x509.Extension[] = [...(opts.extensions ?? [])];
  if (opts.ca) exts.push(new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serial ?? (serialCounter++).toString(16).padStart(2, '0'),
    subject: opts.subject,
    issuer: opts.issuer ? opts.issuer.cert.subject : opts.subject,
    notBefore: opts.notBefore ?? new Date('2020-01-01T00:00:00Z'),
    notAfter: opts.notAfter ?? new Date('2049-01-01T00:00:00Z'),
    publicKey: keys.publicKey,
    signingKey: opts.issuer ? opts.issuer.keys.privateKey : keys.privateKey,
    signingAlgorithm: issuerSign,
    extensions: exts,
  });
  return { cert, keys, signingAlgorithm: sign, fingerprint: await fingerprint(cert) };
}

export async function mintCrl(issuer: TestIdentity, opts: { thisUpdate?: Date; nextUpdate?: Date; revokedSerials?: string[] } = {}): Promise<X509Crl> {
  return x509.X509CrlGenerator.create({
    issuer: issuer.cert.subject,
    thisUpdate: opts.thisUpdate ?? new Date('2020-01-01T00:00:00Z'),
    nextUpdate: opts.nextUpdate ?? new Date('2049-01-01T00:00:00Z'),
    entries: (opts.revokedSerials ?? []).map((serialNumber) => ({ serialNumber, revocationDate: new Date('2021-01-01T00:00:00Z'), reason: x509.X509CrlReason.keyCompromise })),
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: issuer.signingAlgorithm,
  });
}
