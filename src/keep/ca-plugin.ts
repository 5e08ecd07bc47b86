/**
 * The KBS as a certificate authority for Keeps (like Enarx's Steward). A Keep that attested to the
 * KBS presents its EAR token (Authorization: Bearer) and a PKCS#10 CSR whose public key is the
 * token's attested `tee-pubkey`; it gets a short-lived X.509 certificate naming the Keep, with the
 * SANs its signed manifest asks for and a custom extension binding the attestation:
 *
 *   POST /kbs/v0/keep/certificate   {"keep": "<name>", "csr": "<PEM>"}
 *   → 200 {"certificate": PEM, "ca": [PEM], "notAfter": ISO-8601, "serial": hex}
 *
 * Refusals are problem+json (401 token, 403 policy or key mismatch, 404 no such Keep / no
 * [identity], 400 malformed CSR). The KBS registers it with `registerKeepCa(app, options)`:
 * `verifyToken` is its EAR verifier, `authorize` its resource-policy check (the Keep must be allowed
 * to read keeps/<name>/key), `readResource` its resource store.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AttestError, canonicalJson, BindingMismatch, ErrorCode, ab, bytesEqual, concatBytes, ecdsaRawToDer, fromUtf8, randomBytes, sha384, subtle, toHex, utf8, x509 } from '../core/index.ts';
import { PROBLEM_BASE, type TeePubKey } from '../protocol/index.ts';
import { verifyBundle } from './bundle.ts';
import { derOctets, derOid, derSequence, derSmallInt, derUtf8, readTlv, sameLengthPlaceholderOid, tlv } from './der.ts';
import { KEEP_NAME, keepResourcePaths } from './manifest.ts';
import { tenantThumbprint } from './tenant-key.ts';

export const KEEP_CERTIFICATE_ROUTE = '/kbs/v0/keep/certificate';
/**
 * id-teataster-keep-attestation, under a UUID-derived arc (ITU-T X.667 / RFC 4122 §"2.25"), so no
 * registration is needed. Value (DER):
 *   KeepAttestation ::= SEQUENCE { version INTEGER (1), keep UTF8String, platform UTF8String,
 *     status UTF8String, manifestSha384 OCTET STRING, earClaimsSha384 OCTET STRING }
 * earClaimsSha384 = SHA-384 of the RFC 8785 canonical JSON of the verified EAR token's claims set.
 */
export const KEEP_ATTESTATION_OID = '2.25.38658870459053826606248767996327461334.1';
export const DEFAULT_CERT_TTL_SECONDS = 3600;

/** What the KBS knows about a verified EAR token (a subset of its TokenFacts). */
export interface KeepTokenFacts {
  teePubkey: TeePubKey | null;
  payload: Record<string, unknown>;
  status: string;
  platform: string;
  /** The neutral claims of the attestation (for the resource policy). */
  claims?: unknown;
}

export interface KeepCaOptions {
  /** The CA's private signing key: ECDSA (P-256, P-384, P-521) or RSASSA-PKCS1-v1_5. */
  caKey: CryptoKey;
  /** The CA certificate (PEM); its subject becomes the issuer. */
  caCertPem: string;
  /** Upper bound for certificate lifetimes (a manifest's identity.ttl_s can only shorten it). */
  ttlSeconds?: number;
  verifyToken(token: string, now: Date): Promise<KeepTokenFacts>;
  /** Throws (ERR_POLICY_DENIED) unless the token's attestation may read `resourcePath`. */
  authorize(facts: KeepTokenFacts, resourcePath: string, now: Date): Promise<void>;
  /** Plaintext of a stored KBS resource, or null. */
  readResource(path: string): Promise<Uint8Array | null>;
  now?: () => Date;
}

export interface IssuedKeepCertificate {
  certificate: string;
  ca: string[];
  notAfter: string;
  serial: string;
}

export interface KeepCertificateRequest {
  keep: string;
  csr: string;
}

function statusOf(code: string): number {
  switch (code) {
    case ErrorCode.Unauthorized:
    case ErrorCode.TokenInvalid:
      return 401;
    case ErrorCode.PolicyDenied:
    case ErrorCode.Forbidden:
    case ErrorCode.BindingMismatch:
      return 403;
    case ErrorCode.NotFound:
      return 404;
    case ErrorCode.Internal:
      return 500;
    default:
      return 400;
  }
}

function sendProblem(reply: FastifyReply, e: AttestError, instance: string): FastifyReply {
  const status = statusOf(e.code);
  const slug = e.code.replace(/^ERR_/, '').toLowerCase().replace(/_/g, '-');
  const violations = Array.isArray(e.details.violations) ? (e.details.violations as { rule: string; message: string }[]).map((v) => ({ rule: v.rule, message: v.message })) : undefined;
  return reply.code(status).type('application/problem+json').send({
    type: PROBLEM_BASE + slug,
    title: status === 401 ? 'Token invalid' : status === 403 ? 'Forbidden' : status === 404 ? 'Not found' : status === 500 ? 'Internal error' : 'Bad request',
    status,
    detail: status === 500 ? 'the KBS failed to issue the certificate; the server log has the details' : e.message,
    code: e.code,
    instance,
    ...(violations ? { violations } : {}),
  });
}

async function spkiOfTeeKey(k: TeePubKey): Promise<Uint8Array> {
  const key = k.kty === 'RSA'
    ? await subtle().importKey('jwk', { kty: 'RSA', n: k.n, e: k.e }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify'])
    : await subtle().importKey('jwk', { kty: 'EC', crv: k.crv, x: k.x, y: k.y }, { name: 'ECDSA', namedCurve: k.crv }, true, ['verify']);
  return new Uint8Array(await subtle().exportKey('spki', key));
}

function signingAlgorithm(key: CryptoKey): Algorithm | EcdsaParams {
  const a = key.algorithm as EcKeyAlgorithm & RsaHashedKeyAlgorithm;
  if (a.name === 'ECDSA') return { name: 'ECDSA', hash: a.namedCurve === 'P-256' ? 'SHA-256' : a.namedCurve === 'P-384' ? 'SHA-384' : 'SHA-512' } as EcdsaParams;
  return { name: a.name, hash: a.hash } as Algorithm;
}

/** The DER value of the KeepAttestation extension. */
export async function keepAttestationValue(keep: string, facts: KeepTokenFacts, manifestSha384: Uint8Array): Promise<Uint8Array> {
  const ear = await sha384(utf8(canonicalJson(facts.payload)));
  return derSequence(derSmallInt(1), derUtf8(keep), derUtf8(facts.platform), derUtf8(facts.status), derOctets(manifestSha384), derOctets(ear));
}

/** Issues a Keep certificate (the route handler's core, usable without HTTP). */
export async function issueKeepCertificate(opts: KeepCaOptions, token: string, req: KeepCertificateRequest): Promise<IssuedKeepCertificate> {
  const caAlg = opts.caKey.algorithm.name;
  if (caAlg !== 'ECDSA' && caAlg !== 'RSASSA-PKCS1-v1_5') throw new AttestError(ErrorCode.ConfigInvalid, `keep CA key must be ECDSA or RSASSA-PKCS1-v1_5, not ${caAlg}`);
  const now = opts.now?.() ?? new Date();
  if (!KEEP_NAME.test(req.keep)) throw new AttestError(ErrorCode.ConfigInvalid, `"${req.keep}" is not a Keep name`);
  const facts = await opts.verifyToken(token, now);
  if (!facts.teePubkey) throw new AttestError(ErrorCode.TokenInvalid, 'the token carries no attested tee-pubkey');
  const paths = keepResourcePaths(req.keep);
  await opts.authorize(facts, paths.key, now);

  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(req.csr);
  } catch (e) {
    throw new AttestError(ErrorCode.ProtocolError, `csr is not a PKCS#10 request: ${(e as Error).message}`);
  }
  if (!(await csr.verify().catch(() => false))) throw new AttestError(ErrorCode.SignatureInvalid, 'csr self-signature does not verify (no proof of possession)');
  const attested = await spkiOfTeeKey(facts.teePubkey);
  const requested = new Uint8Array(csr.publicKey.rawData);
  if (!bytesEqual(attested, requested)) throw new BindingMismatch('csr public key', `the attested tee-pubkey (SPKI SHA-384 ${toHex(await sha384(attested)).slice(0, 16)}…)`, `SPKI SHA-384 ${toHex(await sha384(requested)).slice(0, 16)}…`);

  const [bundleBytes, tenantBytes] = await Promise.all([opts.readResource(paths.bundle), opts.readResource(paths.tenant)]);
  if (!bundleBytes || !tenantBytes) throw new AttestError(ErrorCode.NotFound, `keep ${req.keep} is not deployed on this KBS`);
  const v = await verifyBundle(bundleBytes, [await tenantThumbprint(fromUtf8(tenantBytes))]);
  const identity = v.manifest.identity;
  if (!identity) throw new AttestError(ErrorCode.NotFound, `keep ${req.keep} has no [identity] section in its manifest`);

  const ttl = Math.min(opts.ttlSeconds ?? DEFAULT_CERT_TTL_SECONDS, identity.ttl_s ?? Infinity);
  const ca = new x509.X509Certificate(opts.caCertPem);
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  const notAfter = new Date(Math.floor(now.getTime() / 1000) * 1000 + ttl * 1000);
  const serialBytes = randomBytes(16);
  serialBytes[0] = (serialBytes[0]! & 0x7f) | 0x01;
  const serial = toHex(serialBytes);
  const isRsa = facts.teePubkey.kty === 'RSA';
  const names = [
    ...identity.dns.map((d) => ({ type: 'dns' as const, value: d })),
    ...identity.uri.map((u) => ({ type: 'url' as const, value: u })),
    { type: 'url' as const, value: `urn:teataster:keep:${req.keep}` },
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${req.keep}, O=teataster Keep`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: csr.publicKey,
    signingKey: opts.caKey,
    signingAlgorithm: signingAlgorithm(opts.caKey),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(isRsa ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
      new x509.Extension(PLACEHOLDER_OID, false, ab(await keepAttestationValue(req.keep, facts, v.manifestSha384))),
    ],
  });
  const der = await withRealOid(new Uint8Array(cert.rawData), opts.caKey);
  return { certificate: new x509.X509Certificate(ab(der)).toString('pem'), ca: [ca.toString('pem')], notAfter: notAfter.toISOString(), serial };
}

/*
 * @peculiar/x509 re-parses extensions while generating a certificate and cannot round-trip OID arcs
 * above 2^53 (a 2.25 UUID arc is ~2^122). So the certificate is generated with a placeholder OID of
 * identical DER length, the placeholder is replaced in the TBSCertificate, and the TBS is signed
 * again (RFC 5280 §4.1: signatureValue is computed over the DER TBSCertificate).
 */
const PLACEHOLDER_OID = sameLengthPlaceholderOid(KEEP_ATTESTATION_OID);

function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number[] {
  const out: number[] = [];
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    out.push(i);
  }
  return out;
}

async function withRealOid(certDer: Uint8Array, caKey: CryptoKey): Promise<Uint8Array> {
  const outer = readTlv(certDer, 0);
  const tbsEl = readTlv(certDer, outer.contentStart);
  const algEl = readTlv(certDer, tbsEl.end);
  const tbs = certDer.slice(tbsEl.start, tbsEl.end);
  const placeholder = derOid(PLACEHOLDER_OID);
  const real = derOid(KEEP_ATTESTATION_OID);
  const at = indexOfBytes(tbs, placeholder);
  if (at.length !== 1 || placeholder.length !== real.length) throw new AttestError(ErrorCode.Internal, 'keep certificate: attestation extension placeholder not found exactly once');
  tbs.set(real, at[0]!);
  const a = caKey.algorithm as EcKeyAlgorithm & RsaHashedKeyAlgorithm;
  const alg = signingAlgorithm(caKey) as EcdsaParams;
  const rawSig = new Uint8Array(await subtle().sign(a.name === 'ECDSA' ? { name: 'ECDSA', hash: alg.hash } : { name: a.name }, caKey, ab(tbs)));
  const sig = a.name === 'ECDSA' ? ecdsaRawToDer(rawSig) : rawSig;
  return tlv(0x30, concatBytes(tbs, certDer.subarray(algEl.start, algEl.end), tlv(0x03, concatBytes(new Uint8Array([0]), sig))));
}

/** Registers POST /kbs/v0/keep/certificate on the KBS's fastify instance. */
export function registerKeepCa(app: FastifyInstance, opts: KeepCaOptions): void {
  app.post(KEEP_CERTIFICATE_ROUTE, { bodyLimit: 64 * 1024 }, async (request: FastifyRequest, reply: FastifyReply) => {
    const auth = request.headers.authorization;
    const m = typeof auth === 'string' ? /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/.exec(auth) : null;
    if (!m) return sendProblem(reply, new AttestError(ErrorCode.Unauthorized, 'an attested Keep presents its EAR token as "Authorization: Bearer <token>"'), request.url);
    const body = request.body as Partial<KeepCertificateRequest> | undefined;
    if (!body || typeof body.keep !== 'string' || typeof body.csr !== 'string') {
      return sendProblem(reply, new AttestError(ErrorCode.ProtocolError, 'body must be {"keep": "<name>", "csr": "<PEM>"}'), request.url);
    }
    try {
      const issued = await issueKeepCertificate(opts, m[1]!, { keep: body.keep, csr: body.csr });
      request.log.info({ keep: body.keep, serial: issued.serial, notAfter: issued.notAfter }, 'keep certificate issued');
      return reply.code(200).send(issued);
    } catch (e) {
      if (e instanceof AttestError) {
        request.log.warn({ keep: body.keep, code: e.code }, 'keep certificate refused');
        return sendProblem(reply, e, request.url);
      }
      request.log.error({ err: e }, 'keep certificate failed');
      return sendProblem(reply, new AttestError(ErrorCode.Internal, 'internal error'), request.url);
    }
  });
}
