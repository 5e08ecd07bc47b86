/**
 * Attested workload identity, Keep side. The Keep makes a P-256 key pair for the workload, attests
 * to the KBS with that key as the RCAR `tee-pubkey` (so the EAR token names it), signs a CSR with it
 * and asks the KBS CA (ca-plugin.ts) for a certificate. This handshake is separate from the one
 * that fetches secrets: the identity key is handed to the workload (key.pem) and is never used to
 * decrypt a resource, and the secrets key never leaves the Keep.
 *
 * The handshake is the RCAR exchange of src/protocol (same report-data binding), done here rather
 * than through KbsClient because KbsClient generates its own non-extractable ECDH key, which can
 * neither sign a CSR nor be given to the workload.
 */
import { ProtocolError, toBase64, toPem, x509 } from '../core/index.ts';
import {
  AttestResponseSchema,
  ChallengeSchema,
  computeReportData,
  HASH_ALGORITHMS,
  KBS_PREFIX,
  KBS_PROTOCOL_VERSION,
  KBS_SESSION_COOKIE,
  KbsRequestFailed,
  selectedHash,
  SUPPORTED_HASH_ALGORITHMS_KEY,
  toReportDataField,
  type EvidenceSource,
  type Problem,
  type TeePubKey,
} from '../protocol/index.ts';
import { KEEP_CERTIFICATE_ROUTE, type IssuedKeepCertificate } from './ca-plugin.ts';

export interface KeepIdentity {
  certificatePem: string;
  keyPem: string;
  caPem: string;
  notAfter: string;
}

async function post(fetchFn: typeof fetch, url: string, step: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetchFn(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body: JSON.stringify(body) });
  } catch (e) {
    throw new ProtocolError(`KBS ${step}: cannot reach ${url}: ${(e as Error).message}`, { step });
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    let problem: Problem | null = null;
    try {
      problem = JSON.parse(text) as Problem;
    } catch {
      // not JSON
    }
    throw new KbsRequestFailed(step, res.status, problem && typeof problem.detail === 'string' ? problem : null, text.slice(0, 300) || res.statusText);
  }
  return res;
}

/** RCAR auth + attest with a caller-chosen key; returns the EAR token. */
export async function attestWithKey(baseUrl: string, source: EvidenceSource, teePubkey: TeePubKey, fetchFn: typeof fetch = fetch): Promise<string> {
  const base = `${baseUrl.replace(/\/+$/, '')}${KBS_PREFIX}`;
  const auth = await post(fetchFn, `${base}/auth`, 'auth', { version: KBS_PROTOCOL_VERSION, tee: source.tee, 'extra-params': { [SUPPORTED_HASH_ALGORITHMS_KEY]: [...HASH_ALGORITHMS] } });
  const m = new RegExp(`(?:^|[;,]\\s*)${KBS_SESSION_COOKIE}=([^;,\\s]+)`).exec(auth.headers.get('set-cookie') ?? '');
  const cookie = m ? `${KBS_SESSION_COOKIE}=${m[1]}` : null;
  const challenge = ChallengeSchema.safeParse(await auth.json().catch(() => null));
  if (!challenge.success) throw new ProtocolError('KBS auth: malformed challenge');
  const nonce = challenge.data.nonce;
  const hash = selectedHash(challenge.data['extra-params']);
  const digest = await computeReportData(teePubkey, nonce, '', hash);
  const ev = await source.evidence(toReportDataField(digest), { nonce, hash, digest });
  const att = await post(fetchFn, `${base}/attest`, 'attest', {
    'runtime-data': { nonce, 'tee-pubkey': teePubkey },
    'tee-evidence': { primary_evidence: ev instanceof Uint8Array ? toBase64(ev) : ev, additional_evidence: '' },
  }, cookie ? { cookie } : {});
  const parsed = AttestResponseSchema.safeParse(await att.json().catch(() => null));
  if (!parsed.success) throw new ProtocolError('KBS attest: response carries no token');
  return parsed.data.token;
}

/** Attests with a fresh identity key and obtains the Keep certificate for `keep`. */
export async function obtainKeepIdentity(baseUrl: string, source: EvidenceSource, keep: string, fetchFn: typeof fetch = fetch): Promise<KeepIdentity> {
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey('jwk', keys.publicKey);
  const teePubkey: TeePubKey = { kty: 'EC', alg: 'ECDH-ES+A256KW', crv: 'P-256', x: jwk.x!, y: jwk.y! };
  const token = await attestWithKey(baseUrl, source, teePubkey, fetchFn);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${keep}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams });
  const res = await post(fetchFn, `${baseUrl.replace(/\/+$/, '')}${KEEP_CERTIFICATE_ROUTE}`, 'keep certificate', { keep, csr: csr.toString('pem') }, { authorization: `Bearer ${token}` });
  const issued = (await res.json()) as IssuedKeepCertificate;
  if (typeof issued.certificate !== 'string' || !Array.isArray(issued.ca)) throw new ProtocolError('KBS keep certificate: malformed response');
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { certificatePem: issued.certificate, keyPem: toPem(pkcs8, 'PRIVATE KEY'), caPem: issued.ca.join('\n'), notAfter: issued.notAfter };
}
