/**
 * The guest-side RCAR client: auth → evidence bound to (nonce, ephemeral key) → attest → resource.
 * The ephemeral key pair is generated per handshake, non-extractable, and held only in this object.
 * Network goes through an injected `fetch` (browser-safe); the TEE through an EvidenceSource.
 */
import { AttestError, ErrorCode, ProtocolError, toBase64, type ErrorCode as Code } from '../core/index.ts';
import { decryptResponse, generateTeeKeyPair, type TeeKeyKind, type TeeKeyPair } from './jwe.ts';
import { computeDeviceReportData, computeReportData, HASH_ALGORITHMS, selectedHash, SUPPORTED_HASH_ALGORITHMS_KEY, toReportDataField, type HashAlgorithm } from './report-data.ts';
import {
  AttestResponseSchema,
  ChallengeSchema,
  KBS_PREFIX,
  KBS_PROTOCOL_VERSION,
  KBS_SESSION_COOKIE,
  parseResourcePath,
  ResponseSchema,
  type InitData,
  type KbsAttestation,
  type Problem,
} from './types.ts';

/** What the client needs from a TEE (an attester adapter). */
export interface EvidenceSource {
  /** Wire TEE name sent in the Request ("snp", "tdx", "sample", "tpm", …). */
  tee: string;
  /**
   * Evidence whose report data is `reportData` (the 64-byte field: digest then zeros). Return raw
   * bytes (sent as base64) or a JSON value (sent as is, Trustee style).
   */
  evidence(reportData: Uint8Array, info: { nonce: string; hash: HashAlgorithm; digest: Uint8Array }): Promise<Uint8Array | Record<string, unknown>>;
  /** Device evidence bound to H(JCS({tee-pubkey, nonce})), as the JSON string Trustee expects. */
  additionalEvidence?(deviceDigest: Uint8Array): Promise<string>;
}

export interface KbsClientOptions {
  /** Base URL: "https://kbs.example:8080" (no /kbs/v0). */
  url: string;
  source: EvidenceSource;
  fetch?: typeof fetch;
  keyKind?: TeeKeyKind;
  initData?: InitData;
  /** Passport mode: skip the handshake and present this EAR token (requires `key`). */
  token?: string;
  key?: TeeKeyPair;
  /** Time limit per request, including reading the body (default 30 s): an unresponsive KBS fails, it does not hang. */
  timeoutMs?: number;
}

/** A KBS answered with an error: the problem document's code (or ERR_PROTOCOL) and its details. */
export class KbsRequestFailed extends AttestError {
  readonly status: number;
  readonly problem: Problem | null;
  constructor(step: string, status: number, problem: Problem | null, fallback: string) {
    const codes = Object.values(ErrorCode) as string[];
    const code = (problem?.code && codes.includes(problem.code) ? problem.code : ErrorCode.ProtocolError) as Code;
    super(code, `KBS ${step} failed (HTTP ${status}): ${problem?.detail ?? fallback}`, { step, status, type: problem?.type, violations: problem?.violations });
    this.status = status;
    this.problem = problem;
  }
}

export class KbsClient {
  readonly url: string;
  #fetch: typeof fetch;
  #timeoutMs: number;
  #source: EvidenceSource;
  #keyKind: TeeKeyKind;
  #initData: InitData | undefined;
  #key: TeeKeyPair | null;
  #cookie: string | null = null;
  #token: string | null;

  constructor(opts: KbsClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.#fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#source = opts.source;
    this.#keyKind = opts.keyKind ?? 'P-256';
    this.#initData = opts.initData;
    this.#key = opts.key ?? null;
    this.#token = opts.token ?? null;
  }

  /** The EAR token of the last handshake (for passport mode against another KBS). */
  get token(): string | null {
    return this.#token;
  }
  get keyPair(): TeeKeyPair | null {
    return this.#key;
  }

  async #post(step: string, path: string, body: unknown): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.#cookie) headers.cookie = this.#cookie;
    let res: Response;
    try {
      res = await this.#fetch(`${this.url}${KBS_PREFIX}${path}`, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'include', signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (e) {
      throw new ProtocolError(`KBS ${step}: cannot reach ${this.url}: ${(e as Error).message}`, { step });
    }
    if (!res.ok) throw await failure(step, res);
    return res;
  }

  /** Runs auth + attest; afterwards the session cookie and token authorise resource requests. */
  async handshake(): Promise<string> {
    this.#cookie = null;
    const key = await generateTeeKeyPair(this.#keyKind);
    const authRes = await this.#post('auth', '/auth', {
      version: KBS_PROTOCOL_VERSION,
      tee: this.#source.tee,
      'extra-params': { [SUPPORTED_HASH_ALGORITHMS_KEY]: [...HASH_ALGORITHMS] },
    });
    const setCookie = authRes.headers.get('set-cookie');
    if (setCookie) {
      const m = new RegExp(`(?:^|[;,]\\s*)${KBS_SESSION_COOKIE}=([^;,\\s]+)`).exec(setCookie);
      if (m) this.#cookie = `${KBS_SESSION_COOKIE}=${m[1]}`;
    }
    const challenge = ChallengeSchema.safeParse(await authRes.json().catch(() => null));
    if (!challenge.success) throw new ProtocolError(`KBS auth: malformed challenge: ${challenge.error.message}`);
    const nonce = challenge.data.nonce;
    const hash = selectedHash(challenge.data['extra-params']);
    const teePubkey = key.publicJwk;
    let additional = '';
    if (this.#source.additionalEvidence) additional = await this.#source.additionalEvidence(await computeDeviceReportData(teePubkey, nonce, hash));
    const digest = await computeReportData(teePubkey, nonce, additional, hash);
    const ev = await this.#source.evidence(toReportDataField(digest), { nonce, hash, digest });
    const attestation: KbsAttestation = {
      'runtime-data': { nonce, 'tee-pubkey': teePubkey },
      'tee-evidence': { primary_evidence: ev instanceof Uint8Array ? toBase64(ev) : ev, additional_evidence: additional },
      ...(this.#initData ? { 'init-data': this.#initData } : {}),
    };
    const attRes = await this.#post('attest', '/attest', attestation);
    const parsed = AttestResponseSchema.safeParse(await attRes.json().catch(() => null));
    if (!parsed.success) throw new ProtocolError('KBS attest: response carries no token');
    this.#key = key;
    this.#token = parsed.data.token;
    return parsed.data.token;
  }

  /**
   * Fetches and decrypts "repository/type/tag". Without a session or token it runs the handshake
   * first. `bearer` true presents the EAR token instead of the cookie (passport mode).
   */
  async getResource(path: string, opts: { bearer?: boolean } = {}): Promise<Uint8Array> {
    if (!parseResourcePath(path)) throw new ProtocolError(`resource path must be repository/type/tag, got ${JSON.stringify(path)}`);
    const fresh = !this.#key || (!this.#cookie && !this.#token);
    if (fresh) await this.handshake();
    try {
      return await this.#fetchResource(path, opts);
    } catch (e) {
      // An expired session or token: attest again once, as Trustee's client does on 401.
      if (!fresh && !opts.bearer && e instanceof KbsRequestFailed && e.status === 401) {
        await this.handshake();
        return this.#fetchResource(path, opts);
      }
      throw e;
    }
  }

  async #fetchResource(path: string, opts: { bearer?: boolean }): Promise<Uint8Array> {
    const key = this.#key!;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.bearer || !this.#cookie) {
      if (!this.#token) throw new ProtocolError('no EAR token for passport mode');
      headers.authorization = `Bearer ${this.#token}`;
    } else headers.cookie = this.#cookie;
    let res: Response;
    try {
      res = await this.#fetch(`${this.url}${KBS_PREFIX}/resource/${path}`, { method: 'GET', headers, credentials: 'include', signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (e) {
      throw new ProtocolError(`KBS resource: cannot reach ${this.url}: ${(e as Error).message}`);
    }
    if (!res.ok) throw await failure('resource', res);
    const body = ResponseSchema.safeParse(await res.json().catch(() => null));
    if (!body.success) throw new ProtocolError(`KBS resource: response is not a flattened JWE: ${body.error.message}`);
    return decryptResponse(body.data, key.privateKey);
  }
}

async function failure(step: string, res: Response): Promise<KbsRequestFailed> {
  const text = await res.text().catch(() => '');
  let problem: Problem | null = null;
  try {
    const j = JSON.parse(text) as unknown;
    if (j && typeof j === 'object' && typeof (j as Problem).detail === 'string') problem = j as Problem;
  } catch {
    // not JSON: keep the text
  }
  return new KbsRequestFailed(step, res.status, problem, text.slice(0, 300) || res.statusText);
}
