/**
 * The Key Broker Service (Fastify). RCAR handshake (auth → attest), resource release as JWE,
 * Trustee-compatible admin endpoints plus /kbs/v0/admin/..., health, metrics and OpenAPI.
 * Every piece of state lives in the store, so any replica sharing the database can serve any
 * request of a handshake.
 */
import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { pino } from 'pino';
import { classifyCollateral, emptyCollateral, type CollateralItem, type CollateralSet } from '../collateral/index.ts';
import { AttestError, ErrorCode, fromBase64, isAttestError, utf8, type Fetcher, type PlatformId } from '../core/index.ts';
import { getPlatform, verifyEvidence } from '../platform/index.ts';
import {
  AttestationSchema,
  isHashAlgorithm,
  KBS_PROTOCOL_VERSION,
  KBS_SESSION_COOKIE,
  negotiateHash,
  parseResourcePath,
  platformOfTee,
  RequestSchema,
  TeePubKeySchema,
  type HashAlgorithm,
  type TeePubKey,
} from '../protocol/index.ts';
import type { JsonValue, Store } from '../store/index.ts';
import { FsCollateralCache } from '../store/fs-cache.ts';
import type { Verified, VerifyContext } from '../verify/index.ts';
import { AdminAuthenticator, loadAdminKeys } from './admin-auth.ts';
import { registerAdminRoutes } from './admin-routes.ts';
import type { KbsConfig } from './config.ts';
import type { AttestationEngine, EarStatus } from './engine.ts';
import { deviceReportDataSync, encryptResponseNode, jwtPayload, reportDataSync } from './node-crypto.ts';
import { createMetrics, type KbsMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { HttpProblem, policyDenied, problemOf, problems } from './problems.ts';
import { compileResourcePolicy, evaluateResourcePolicies, type CompiledResourcePolicy } from './resource-policy.ts';
import { resolveWebhooks, WebhookDispatcher } from './webhooks.ts';

export interface KbsServerOptions {
  config: KbsConfig;
  store: Store;
  engine: AttestationEngine;
  /** Clock (tests move it to expire sessions). */
  now?: () => Date;
  /** Network for vendor collateral (default: global fetch unless config.verify.offline). */
  fetcher?: Fetcher;
  /** A pino logger instance or options (default: pino at config.logLevel on stderr, with redaction). */
  logger?: unknown;
  /** Destination of the default logger instead of stderr (tests). */
  logStream?: { write(s: string): unknown };
  /** Extra Fastify plugins (e.g. the Keep CA endpoint) registered after the KBS routes. */
  plugins?: { plugin: (app: FastifyInstance, opts: Record<string, unknown>) => Promise<void>; options?: Record<string, unknown> }[];
  /** Webhook fetch (tests). */
  webhookFetch?: typeof fetch;
  /** Period of the housekeeping round (expired sessions, old outbox rows); default 60 s, 0 = off. */
  maintenanceIntervalMs?: number;
}

export interface KbsServer {
  app: FastifyInstance;
  metrics: KbsMetrics;
  webhooks: WebhookDispatcher;
  /** Starts listening; resolves to the base URL. */
  listen(): Promise<string>;
  /** One housekeeping round: deletes expired sessions and delivered/dead webhook rows older than 7 days. */
  maintenance(): Promise<{ sessions: number; outbox: number }>;
  close(): Promise<void>;
}

/** Reads collateral files and directories (sorted, recursive) once at start. */
export async function loadCollateral(paths: readonly string[]): Promise<CollateralSet> {
  const items: CollateralItem[] = [];
  const walk = async (p: string): Promise<void> => {
    const st = await stat(p).catch(() => {
      throw new AttestError(ErrorCode.ConfigInvalid, `collateral path ${p} does not exist`);
    });
    if (st.isDirectory()) {
      for (const n of (await readdir(p)).sort()) if (!n.startsWith('.')) await walk(join(p, n));
    } else if (st.isFile()) {
      items.push({ name: p, bytes: new Uint8Array(await readFile(p)) });
    }
  };
  for (const p of paths) await walk(p);
  return classifyCollateral(items, emptyCollateral());
}

/** Paths the logger must never print in full. */
const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', 'headers.authorization', 'headers.cookie'];

function sessionIdFrom(req: FastifyRequest): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === KBS_SESSION_COOKIE) {
      const v = part.slice(i + 1).trim();
      return /^[A-Za-z0-9_-]{16,128}$/.test(v) ? v : null;
    }
  }
  return null;
}

function bearer(req: FastifyRequest): string | null {
  const m = /^Bearer\s+(\S+)\s*$/.exec(req.headers.authorization ?? '');
  return m ? m[1]! : null;
}

/** primary_evidence → bytes for the platform parser: base64 string, or JSON as UTF-8. */
export function evidenceBytes(primary: unknown): Uint8Array {
  if (typeof primary === 'string') {
    try {
      const b = fromBase64(primary);
      if (b.length === 0) throw new Error('empty');
      return b;
    } catch {
      throw problems.badRequest('tee-evidence.primary_evidence is a string but not base64 of the evidence bytes');
    }
  }
  if (typeof primary === 'object' && primary !== null) return utf8(JSON.stringify(primary));
  throw problems.badRequest('tee-evidence.primary_evidence must be a JSON object or a base64 string');
}

/**
 * Confidential Containers init-data: the TEE's init-data field (HOST_DATA on SNP, MRCONFIGID on
 * TDX, init_data on sim — the neutral claims' initData, else hostData) must hold the digest of the
 * init-data body the guest sent; the digest length picks the hash (32 → SHA-256, 48 → SHA-384,
 * 64 → SHA-512), and a shorter digest in a longer field must be followed by zeros.
 */
export function checkInitData(body: string, verified: Verified): void {
  const field = verified.claims.initData ?? verified.claims.hostData;
  if (!field) throw new AttestError(ErrorCode.BindingMismatch, 'init-data was sent but the evidence has no init-data/host-data field to bind it', { field: 'init-data' });
  const actual = Buffer.from(field, 'hex');
  for (const [alg, len] of [['sha256', 32], ['sha384', 48], ['sha512', 64]] as const) {
    if (len > actual.length) continue;
    const d = createHash(alg).update(body, 'utf8').digest();
    if (d.equals(actual.subarray(0, len)) && actual.subarray(len).every((b) => b === 0)) return;
  }
  throw new AttestError(ErrorCode.BindingMismatch, 'init-data mismatch: the evidence\'s init-data field is not the SHA-256/384/512 digest of the init-data body sent', { field: 'init-data' });
}

interface Identity {
  via: 'session' | 'token';
  status: EarStatus;
  platform: string;
  teePubkey: TeePubKey;
  claims: unknown;
  ear: Record<string, unknown>;
  tokenId: string | null;
  sessionId?: string;
}

export async function createKbsServer(opts: KbsServerOptions): Promise<KbsServer> {
  const { config, store, engine } = opts;
  const now = opts.now ?? (() => new Date());
  const metrics = createMetrics();
  const reqIdPrefix = nodeRandomBytes(4).toString('hex');
  let reqIdCounter = 0;
  const tlsOpts = config.tls ? { https: { cert: await readFile(config.tls.cert), key: await readFile(config.tls.key), ...(config.tls.ca ? { ca: await readFile(config.tls.ca) } : {}) } } : {};
  // Logs go to stderr: stdout belongs to the CLI (the dev admin token is printed there once).
  const loggerOpt = opts.logger ?? { level: config.logLevel, redact: { paths: REDACT, censor: '[redacted]' }, stream: opts.logStream ?? pino.destination({ fd: 2, sync: false }) };
  const app = Fastify({
    ...(typeof loggerOpt === 'object' && loggerOpt !== null && 'info' in loggerOpt ? { loggerInstance: loggerOpt as never } : { logger: loggerOpt as never }),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // Unique per process and cheap: a random per-process prefix and a counter.
    genReqId: () => `${reqIdPrefix}${(++reqIdCounter).toString(36)}`,
    ...tlsOpts,
  }) as unknown as FastifyInstance;
  const admin = new AdminAuthenticator(await loadAdminKeys(config.admin.keys), { ...(config.admin.audience ? { audience: config.admin.audience } : {}), ...(config.admin.issuer ? { issuer: config.admin.issuer } : {}) });
  const webhooks = new WebhookDispatcher(store, resolveWebhooks(config.webhooks), app.log, opts.webhookFetch);
  const fetcher: Fetcher | undefined = config.verify.offline ? undefined : (opts.fetcher ?? ((url, init) => fetch(url, init)));
  const cache = config.verify.cacheDir ? new FsCollateralCache(config.verify.cacheDir) : undefined;
  const collateral = await loadCollateral(config.verify.collateral);
  let ready = false;
  let closing = false;

  // Resource policies change rarely; compile once per (glob, version).
  const compiled = new Map<string, { version: number; policy: CompiledResourcePolicy }>();
  async function resourcePolicies(): Promise<CompiledResourcePolicy[]> {
    const out: CompiledResourcePolicy[] = [];
    for (const r of await store.resourcePolicies.list()) {
      const key = r.glob;
      const hit = compiled.get(key);
      if (hit && hit.version === r.version && hit.policy.source === r.cel.trim()) {
        out.push(hit.policy);
        continue;
      }
      try {
        const p = compileResourcePolicy(r.glob, r.cel);
        compiled.set(key, { version: r.version, policy: p });
        out.push(p);
      } catch (e) {
        // A stored policy that no longer compiles denies (closed by default), with its reason.
        app.log.error({ glob: r.glob, err: (e as Error).message }, 'stored resource policy does not compile');
        out.push({ glob: r.glob, source: r.cel, conjuncts: [{ text: 'policy failed to compile', run: () => false }] });
      }
    }
    return out;
  }

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    if (body.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch {
      done(problems.badRequest('request body is not valid JSON'), undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body: Buffer, done) => done(null, body));

  app.setErrorHandler((err: unknown, req, reply) => {
    const mapped = problemOf(err);
    let p = mapped.problem;
    if (mapped.unexpected) {
      const fe = err as { statusCode?: number; code?: string; message?: string };
      if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') p = problems.tooLarge('request body exceeds the configured limit');
      else if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) p = problems.badRequest(fe.message ?? 'bad request');
      else req.log.error({ err }, 'unhandled error');
    }
    if (p.status >= 500) req.log.error({ code: p.code, detail: p.message }, 'request failed');
    void reply.code(p.status).type('application/problem+json').send(p.toProblem(req.url.split('?')[0]));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).type('application/problem+json').send(problems.notFound(`no route ${req.method} ${req.url.split('?')[0]}`).toProblem());
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.latency.observe({ route, method: req.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  async function audit(e: Parameters<Store['audit']['append']>[0]): Promise<void> {
    try {
      await store.audit.append(e);
    } catch (err) {
      app.log.error({ err: (err as Error).message, kind: e.kind }, 'audit append failed');
    }
  }

  // ---------------------------------------------------------------- health, metrics, docs
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (!ready || closing) return reply.code(503).type('application/problem+json').send(problems.unavailable(closing ? 'shutting down' : 'starting').toProblem());
    try {
      await store.ping();
    } catch {
      return reply.code(503).type('application/problem+json').send(problems.unavailable('database unreachable').toProblem());
    }
    return { status: 'ready', database: store.dialect };
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/openapi.json', async () => openApiDocument());
  app.get('/.well-known/jwks.json', async () => engine.jwks());
  app.get('/kbs/v0/token-certificate-chain', async () => engine.jwks());

  // ---------------------------------------------------------------- RCAR: auth
  app.post('/kbs/v0/auth', async (req, reply) => {
    const parsed = RequestSchema.safeParse(req.body);
    if (!parsed.success) {
      metrics.handshakes.inc({ step: 'auth', outcome: 'error' });
      throw problems.badRequest(`Request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const r = parsed.data;
    if (r.version !== KBS_PROTOCOL_VERSION) {
      metrics.handshakes.inc({ step: 'auth', outcome: 'error' });
      throw problems.unsupportedVersion(`KBS protocol version ${r.version} is not supported (this KBS speaks ${KBS_PROTOCOL_VERSION})`);
    }
    const platform = platformOfTee(r.tee);
    if (!platform) throw problems.unsupportedTee(`TEE "${r.tee}" is not supported`);
    try {
      getPlatform(platform);
    } catch {
      throw problems.unsupportedTee(`TEE "${r.tee}" (${platform}) has no verifier in this build`);
    }
    let neg;
    try {
      neg = negotiateHash(r['extra-params'], config.hashAlgorithm);
    } catch (e) {
      throw problems.badRequest((e as Error).message);
    }
    const id = nodeRandomBytes(24).toString('base64url');
    const nonce = nodeRandomBytes(32).toString('base64');
    const t = now();
    await store.sessions.create({ id, nonce, tee: r.tee, hashAlgorithm: neg.algorithm, expiresAt: new Date(t.getTime() + config.session.ttlSeconds * 1000), extraParams: (r['extra-params'] ?? '') as JsonValue, createdAt: t });
    metrics.handshakes.inc({ step: 'auth', outcome: 'ok' });
    void reply.header('set-cookie', `${KBS_SESSION_COOKIE}=${id}; Path=/kbs; HttpOnly; SameSite=Strict; Max-Age=${config.session.ttlSeconds}${config.tls ? '; Secure' : ''}`);
    return { nonce, 'extra-params': neg.extraParams };
  });

  // ---------------------------------------------------------------- RCAR: attest
  app.post('/kbs/v0/attest', async (req, reply) => {
    const started = performance.now();
    const sid = sessionIdFrom(req);
    const refuse = async (p: HttpProblem, platform: string | null, extra: Record<string, unknown> = {}): Promise<never> => {
      metrics.handshakes.inc({ step: 'attest', outcome: 'refused' });
      metrics.refusals.inc({ reason: p.slug });
      await audit({ kind: 'attestation', at: now(), platform, verdict: 'refused', reasons: [{ code: p.code, message: p.message }] as JsonValue, client: req.ip, detail: { session: sid ? sid.slice(0, 8) : null, problem: p.slug, ...extra } as JsonValue });
      await webhooks.notify('attestation.failed', { platform, client: req.ip, problem: p.slug, code: p.code, detail: p.message, at: now().toISOString() });
      throw p;
    };
    if (!sid) return refuse(problems.noSession(`no ${KBS_SESSION_COOKIE} cookie: POST /kbs/v0/auth first`), null);
    const parsed = AttestationSchema.safeParse(req.body);
    if (!parsed.success) return refuse(problems.badRequest(`Attestation: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`), null);
    const att = parsed.data;
    const consumed = await store.sessions.consumeNonce(sid, att['runtime-data'].nonce, now());
    if (!consumed.ok) {
      const p =
        consumed.reason === 'not-found'
          ? problems.noSession('unknown KBS session: POST /kbs/v0/auth first')
          : consumed.reason === 'expired'
            ? problems.sessionExpired(`the KBS session expired (sessions last ${config.session.ttlSeconds} s): start a new handshake`)
            : consumed.reason === 'already-used'
              ? problems.nonceReplayed('this session\'s nonce was already used: each nonce is good for one attestation; start a new handshake')
              : problems.nonceMismatch('runtime-data.nonce is not the nonce this session was challenged with');
      return refuse(p, consumed.session?.tee ?? null);
    }
    const session = consumed.session;
    const platform = platformOfTee(session.tee) as PlatformId;
    const hash: HashAlgorithm = isHashAlgorithm(session.hashAlgorithm) ? session.hashAlgorithm : 'sha384';
    const teePubkey = att['runtime-data']['tee-pubkey'];
    let bytes: Uint8Array;
    try {
      bytes = evidenceBytes(att['tee-evidence'].primary_evidence);
    } catch (e) {
      return refuse(e as HttpProblem, platform);
    }
    const evidenceDigest = createHash('sha256').update(bytes).digest('hex');
    const expected = reportDataSync(teePubkey, session.nonce, att['tee-evidence'].additional_evidence, hash);
    const ctx: VerifyContext = {
      now: now(),
      collateral,
      ...(fetcher ? { fetcher } : {}),
      ...(cache ? { cache } : {}),
      offline: config.verify.offline,
      endpoints: { ...(config.verify.amdKds ? { amdKds: config.verify.amdKds } : {}), ...(config.verify.intelPcs ? { intelPcs: config.verify.intelPcs } : {}) },
      expected: { reportData: expected },
      options: { allowDebug: config.verify.allowDebug, requireCrl: config.verify.requireCrl, ...(config.verify.maxAgeSeconds ? { maxAgeSeconds: config.verify.maxAgeSeconds } : {}) },
      extraRoots: config.trustRoots,
    };
    let verified: Verified;
    try {
      verified = await verifyEvidence(bytes, ctx, platform);
    } catch (e) {
      const { problem: p, unexpected } = problemOf(e);
      if (unexpected) req.log.error({ err: e }, 'verifier crashed');
      metrics.verdicts.inc({ platform, status: 'invalid' });
      return refuse(p, platform, { evidenceDigest, error: p.code });
    }
    // Additional (device) evidence, Trustee style: a JSON map tee → evidence, each bound to
    // H(JCS({tee-pubkey, nonce})) and verified by its platform; unknown devices are refused.
    const devices: { tee: string; platform: string; warnings: string[] }[] = [];
    const additional = att['tee-evidence'].additional_evidence;
    if (additional) {
      try {
        let map: unknown;
        try {
          map = JSON.parse(additional);
        } catch {
          throw problems.badRequest('tee-evidence.additional_evidence is not a JSON object string');
        }
        if (!map || typeof map !== 'object' || Array.isArray(map)) throw problems.badRequest('tee-evidence.additional_evidence must be a JSON object (tee → evidence)');
        const deviceRd = deviceReportDataSync(teePubkey, session.nonce, hash);
        for (const [tee, ev] of Object.entries(map as Record<string, unknown>)) {
          const dp = platformOfTee(tee);
          if (!dp) throw problems.unsupportedTee(`additional evidence for TEE "${tee}" cannot be verified by this KBS`);
          const v = await verifyEvidence(evidenceBytes(ev), { ...ctx, expected: { reportData: deviceRd } }, dp);
          devices.push({ tee, platform: dp, warnings: v.warnings });
        }
      } catch (e) {
        const { problem: p, unexpected } = problemOf(e);
        if (unexpected) req.log.error({ err: e }, 'additional-evidence verification crashed');
        metrics.verdicts.inc({ platform, status: 'invalid' });
        return refuse(p, platform, { evidenceDigest, additionalEvidence: true, error: p.code });
      }
    }
    const initData = att['init-data'];
    if (initData) {
      try {
        checkInitData(initData.body, verified);
      } catch (e) {
        const { problem: p, unexpected } = problemOf(e);
        if (unexpected) req.log.error({ err: e }, 'init-data check crashed');
        metrics.verdicts.inc({ platform, status: 'invalid' });
        return refuse(p, platform, { evidenceDigest, error: p.code });
      }
    }
    const policyRec = (await store.attestationPolicies.get(platform)) ?? (await store.attestationPolicies.get('default'));
    const outcome = await engine.appraise(verified, policyRec ? { tee: policyRec.tee, text: policyRec.document } : null, platform, now());
    metrics.verdicts.inc({ platform, status: outcome.status });
    metrics.attestLatency.observe({ platform }, (performance.now() - started) / 1000);
    const accepted = outcome.status === 'affirming' || (outcome.status === 'warning' && config.acceptWarning);
    if (!accepted) {
      const violations = outcome.violations.length ? outcome.violations : [{ rule: 'status', message: `attestation result is ${outcome.status}` }];
      metrics.handshakes.inc({ step: 'attest', outcome: 'denied' });
      metrics.refusals.inc({ reason: 'attestation-policy-denied' });
      await audit({ kind: 'attestation', at: now(), platform, verdict: outcome.status, reasons: violations as JsonValue, evidenceDigest, client: req.ip, ruleResults: (outcome.rules ?? null) as JsonValue, detail: { policy: outcome.policyId } });
      await webhooks.notify('attestation.failed', { platform, client: req.ip, status: outcome.status, policy: outcome.policyId, violations, at: now().toISOString() } as JsonValue);
      throw policyDenied('attestation', violations, { status: outcome.status, policy: outcome.policyId });
    }
    const ttl = config.token.ttlSeconds;
    const issued = await engine.issueToken({ verified, outcome, nonce: session.nonce, teePubkey, ...(att['init-data'] ? { initData: att['init-data'] } : {}), ttlSeconds: ttl, now: now() });
    await store.sessions.markAttested(sid, { token: issued.token, tokenId: issued.jti, teePubKey: teePubkey as never, claims: { status: outcome.status, platform, claims: verified.claims } as unknown as JsonValue, expiresAt: issued.expiresAt, attestedAt: now() });
    metrics.handshakes.inc({ step: 'attest', outcome: 'ok' });
    await audit({ kind: 'attestation', at: now(), platform, verdict: outcome.status, reasons: outcome.violations as JsonValue, evidenceDigest, client: req.ip, tokenId: issued.jti, ruleResults: (outcome.rules ?? null) as JsonValue, detail: { policy: outcome.policyId, warnings: verified.warnings, ...(devices.length ? { devices } : {}) } as JsonValue });
    const maxAge = Math.max(1, Math.floor((issued.expiresAt.getTime() - now().getTime()) / 1000));
    void reply.header('set-cookie', `${KBS_SESSION_COOKIE}=${sid}; Path=/kbs; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${config.tls ? '; Secure' : ''}`);
    return { token: issued.token };
  });

  // ---------------------------------------------------------------- resources
  async function identify(req: FastifyRequest): Promise<Identity> {
    const tok = bearer(req);
    if (tok) {
      let facts;
      try {
        facts = await engine.verifyToken(tok, now());
      } catch (e) {
        throw problems.tokenInvalid(`EAR token rejected: ${isAttestError(e) ? e.message : 'invalid'}`);
      }
      if (!facts.teePubkey) throw problems.tokenInvalid('EAR token carries no tee-pubkey to encrypt the resource to');
      return { via: 'token', status: facts.status, platform: facts.platform, teePubkey: facts.teePubkey, claims: facts.claims, ear: facts.payload, tokenId: facts.jti };
    }
    const sid = sessionIdFrom(req);
    if (!sid) throw problems.unauthenticated(`present the ${KBS_SESSION_COOKIE} cookie of an attested session or "Authorization: Bearer <EAR token>"`);
    const s = await store.sessions.get(sid);
    if (!s) throw problems.noSession('unknown KBS session: attest first');
    if (!s.attestation) throw problems.noSession('the KBS session has not attested yet');
    if (s.attestation.expiresAt.getTime() <= now().getTime()) throw problems.sessionExpired('the attestation of this session expired: attest again');
    const c = s.attestation.claims as { status?: EarStatus; platform?: string; claims?: unknown } | null;
    const pk = TeePubKeySchema.safeParse(s.attestation.teePubKey);
    if (!pk.success) throw problems.internal();
    // This KBS issued the token and kept it (encrypted) in its own database: its claims are
    // exposed to CEL without re-verifying the signature (the expiry is checked above).
    let ear: Record<string, unknown>;
    try {
      ear = jwtPayload(s.attestation.token);
    } catch {
      ear = {};
    }
    return { via: 'session', status: c?.status ?? 'none', platform: c?.platform ?? s.tee, teePubkey: pk.data, claims: c?.claims ?? {}, ear, tokenId: s.attestation.tokenId ?? null, sessionId: sid };
  }

  app.get<{ Params: { repository: string; type: string; tag: string } }>('/kbs/v0/resource/:repository/:type/:tag', async (req) => {
    const path = `${req.params.repository}/${req.params.type}/${req.params.tag}`;
    if (!parseResourcePath(path)) throw problems.badRequest(`invalid resource path ${JSON.stringify(path)}`);
    let who: Identity;
    try {
      who = await identify(req);
    } catch (e) {
      metrics.refusals.inc({ reason: e instanceof HttpProblem ? e.slug : 'error' });
      await audit({ kind: 'refusal', at: now(), resource: path, verdict: 'unauthenticated', client: req.ip, reasons: [{ message: (e as Error).message }] });
      throw e;
    }
    const decision = evaluateResourcePolicies(await resourcePolicies(), {
      path,
      status: who.status,
      platform: who.platform,
      simulated: Boolean((who.claims as { simulated?: boolean } | null)?.simulated),
      claims: who.claims,
      ear: who.ear,
      now: now(),
    });
    if (!decision.allowed) {
      metrics.refusals.inc({ reason: 'resource-policy-denied' });
      await audit({ kind: 'refusal', at: now(), platform: who.platform, resource: path, verdict: 'denied', tokenId: who.tokenId, client: req.ip, reasons: decision.violations, ruleResults: decision.rules as unknown as JsonValue, detail: { via: who.via } });
      await webhooks.notify('resource.denied', { resource: path, platform: who.platform, client: req.ip, tokenId: who.tokenId, violations: decision.violations, at: now().toISOString() });
      throw policyDenied('resource', decision.violations, { resource: path });
    }
    const res = await store.resources.get(path);
    if (!res) {
      metrics.refusals.inc({ reason: 'not-found' });
      await audit({ kind: 'refusal', at: now(), platform: who.platform, resource: path, verdict: 'not-found', tokenId: who.tokenId, client: req.ip, ruleResults: decision.rules as unknown as JsonValue });
      throw problems.notFound(`resource ${path} does not exist`);
    }
    const jwe = encryptResponseNode(res.value, who.teePubkey);
    // No release without its audit row: if the row cannot be written the secret is not sent.
    try {
      await store.audit.append({ kind: 'release', at: now(), platform: who.platform, resource: path, verdict: 'released', tokenId: who.tokenId, client: req.ip, ruleResults: decision.rules as unknown as JsonValue, detail: { via: who.via, version: res.version, size: res.size } });
    } catch (err) {
      app.log.error({ err: (err as Error).message, kind: 'release' }, 'audit append failed: resource withheld');
      throw problems.internal();
    }
    metrics.releases.inc({ repository: req.params.repository });
    return jwe;
  });

  await registerAdminRoutes(app, { store, admin, audit, now, engine });
  for (const p of opts.plugins ?? []) await app.register(p.plugin, p.options ?? {});

  // Housekeeping is idempotent, so every replica may run it.
  const maintenance = async (): Promise<{ sessions: number; outbox: number }> => {
    const t = now();
    const sessions = await store.sessions.purgeExpired(t);
    const outbox = await store.webhookOutbox.purge(new Date(t.getTime() - 7 * 86_400_000));
    return { sessions, outbox };
  };
  let maintenanceTimer: NodeJS.Timeout | null = null;

  return {
    app,
    metrics,
    webhooks,
    maintenance,
    async listen(): Promise<string> {
      const addr = await app.listen({ host: config.listen.host, port: config.listen.port });
      ready = true;
      webhooks.start();
      const every = opts.maintenanceIntervalMs ?? 60_000;
      if (every > 0) {
        maintenanceTimer = setInterval(() => {
          maintenance().catch((e: Error) => app.log.warn({ err: e.message }, 'housekeeping failed'));
        }, every);
        maintenanceTimer.unref();
      }
      const u = new URL(addr);
      if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
      return u.origin;
    },
    async close(): Promise<void> {
      closing = true;
      if (maintenanceTimer) clearInterval(maintenanceTimer);
      await webhooks.stop();
      await app.close();
    },
  };
}

/** Thrown config/usage errors keep their code; used by the CLI. */
export function isConfigError(e: unknown): e is AttestError {
  return isAttestError(e) && e.code === ErrorCode.ConfigInvalid;
}
