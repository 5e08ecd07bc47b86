/**
 * Admin API. Every route here authenticates FIRST (before looking at the body) so an
 * unauthenticated caller always gets 401 and learns nothing. Trustee-compatible endpoints:
 *   POST /kbs/v0/resource/<repo>/<type>/<tag>   body = the secret bytes
 *   POST /kbs/v0/resource-policy                {"policy": base64(CEL)} (+ optional "path": glob, default "**")
 *   GET  /kbs/v0/resource-policy
 *   POST /kbs/v0/attestation-policy             {"policy": base64(document), "policy_id"|"tee": platform}
 *   POST /kbs/v0/reference-value                one entry or a list, or Trustee's {"message": JSON string}
 * teataster's own under /kbs/v0/admin/... (see openapi.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fromBase64, fromUtf8, isAttestError } from '../core/index.ts';
import { parseResourcePath } from '../protocol/index.ts';
import { parseReferenceValues } from '../policy/index.ts';
import type { AuditFilter, AuditKind, JsonValue, NewAuditEvent, Store } from '../store/index.ts';
import type { AdminAuthenticator, AdminPrincipal } from './admin-auth.ts';
import type { AdminRole } from './config.ts';
import type { AttestationEngine } from './engine.ts';
import { isValidGlob } from './glob.ts';
import { problems } from './problems.ts';
import { compileResourcePolicy } from './resource-policy.ts';

export interface AdminDeps {
  store: Store;
  admin: AdminAuthenticator;
  audit(e: NewAuditEvent): Promise<void>;
  now(): Date;
  engine: AttestationEngine & { checkPolicy?(text: string, tee: string): Promise<void> | void };
}

declare module 'fastify' {
  interface FastifyRequest {
    adminPrincipal?: AdminPrincipal;
  }
}

/** Every admin route (method, url, role): also the list the tests walk for 401s. */
export const ADMIN_ROUTES: readonly { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; role: AdminRole }[] = [
  { method: 'POST', url: '/kbs/v0/resource/:repository/:type/:tag', role: 'resource-writer' },
  { method: 'POST', url: '/kbs/v0/resource-policy', role: 'policy-writer' },
  { method: 'GET', url: '/kbs/v0/resource-policy', role: 'reader' },
  { method: 'POST', url: '/kbs/v0/attestation-policy', role: 'policy-writer' },
  { method: 'GET', url: '/kbs/v0/attestation-policy', role: 'reader' },
  { method: 'POST', url: '/kbs/v0/reference-value', role: 'reference-writer' },
  { method: 'GET', url: '/kbs/v0/reference-value', role: 'reader' },
  { method: 'GET', url: '/kbs/v0/admin/whoami', role: 'reader' },
  { method: 'GET', url: '/kbs/v0/admin/resources', role: 'reader' },
  { method: 'GET', url: '/kbs/v0/admin/resources/:repository/:type/:tag', role: 'reader' },
  { method: 'PUT', url: '/kbs/v0/admin/resources/:repository/:type/:tag', role: 'resource-writer' },
  { method: 'DELETE', url: '/kbs/v0/admin/resources/:repository/:type/:tag', role: 'resource-writer' },
  { method: 'GET', url: '/kbs/v0/admin/policy', role: 'reader' },
  { method: 'GET', url: '/kbs/v0/admin/resource-policies', role: 'reader' },
  { method: 'PUT', url: '/kbs/v0/admin/resource-policies', role: 'policy-writer' },
  { method: 'DELETE', url: '/kbs/v0/admin/resource-policies', role: 'policy-writer' },
  { method: 'GET', url: '/kbs/v0/admin/attestation-policies', role: 'reader' },
  { method: 'GET', url: '/kbs/v0/admin/attestation-policies/:tee', role: 'reader' },
  { method: 'PUT', url: '/kbs/v0/admin/attestation-policies/:tee', role: 'policy-writer' },
  { method: 'DELETE', url: '/kbs/v0/admin/attestation-policies/:tee', role: 'policy-writer' },
  { method: 'GET', url: '/kbs/v0/admin/reference-values', role: 'reader' },
  { method: 'PUT', url: '/kbs/v0/admin/reference-values', role: 'reference-writer' },
  { method: 'GET', url: '/kbs/v0/admin/reference-values/:name', role: 'reader' },
  { method: 'DELETE', url: '/kbs/v0/admin/reference-values/:name', role: 'reference-writer' },
  { method: 'GET', url: '/kbs/v0/admin/audit', role: 'auditor' },
];

const TEE_NAME = /^[a-z0-9-]{1,32}$/;

function bodyBytes(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body !== undefined && body !== null) return new TextEncoder().encode(JSON.stringify(body));
  return new Uint8Array(0);
}

function textFrom(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) throw problems.badRequest(`${field} must be a non-empty string`);
  // Trustee sends policies base64url-encoded; accept plain text too when it is not base64.
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(v) && v.length % 4 !== 1) {
    try {
      const t = fromUtf8(fromBase64(v));
      if (t.trim()) return t;
    } catch {
      // not base64 text: use as is
    }
  }
  return v;
}

function objectBody(req: FastifyRequest): Record<string, unknown> {
  let b: unknown = req.body;
  if (b instanceof Uint8Array) {
    try {
      b = JSON.parse(fromUtf8(b));
    } catch {
      throw problems.badRequest('body must be JSON');
    }
  }
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw problems.badRequest('body must be a JSON object');
  return b as Record<string, unknown>;
}

function pathOf(p: { repository: string; type: string; tag: string }): string {
  const path = `${p.repository}/${p.type}/${p.tag}`;
  if (!parseResourcePath(path)) throw problems.badRequest(`invalid resource path ${JSON.stringify(path)}`);
  return path;
}

export async function registerAdminRoutes(app: FastifyInstance, d: AdminDeps): Promise<void> {
  const route = (method: string, url: string) => {
    const r = ADMIN_ROUTES.find((x) => x.method === method && x.url === url);
    if (!r) throw new Error(`admin route ${method} ${url} is not in ADMIN_ROUTES`);
    return {
      preHandler: async (req: FastifyRequest) => {
        req.adminPrincipal = await d.admin.authorize(req.headers.authorization, r.role);
      },
    };
  };
  const who = (req: FastifyRequest): string => req.adminPrincipal?.subject ?? 'admin';
  const log = (req: FastifyRequest, action: string, detail: Record<string, unknown> = {}) =>
    d.audit({ kind: 'admin', at: d.now(), actor: who(req), client: req.ip, detail: { action, ...detail } as JsonValue });

  const putResource = async (req: FastifyRequest<{ Params: { repository: string; type: string; tag: string } }>) => {
    const path = pathOf(req.params);
    const value = bodyBytes(req.body);
    if (value.length === 0) throw problems.badRequest('resource body is empty');
    const ct = req.headers['content-type'];
    const info = await d.store.resources.put(path, value, { createdBy: who(req), at: d.now(), ...(ct && ct !== 'application/json' ? { contentType: String(ct) } : {}) });
    await log(req, 'resource.put', { resource: path, version: info.version, size: info.size });
    return { path: info.path, version: info.version, size: info.size, updatedAt: info.updatedAt.toISOString() };
  };
  app.post<{ Params: { repository: string; type: string; tag: string } }>('/kbs/v0/resource/:repository/:type/:tag', route('POST', '/kbs/v0/resource/:repository/:type/:tag'), putResource);
  app.put<{ Params: { repository: string; type: string; tag: string } }>('/kbs/v0/admin/resources/:repository/:type/:tag', route('PUT', '/kbs/v0/admin/resources/:repository/:type/:tag'), putResource);
  app.get<{ Params: { repository: string; type: string; tag: string } }>('/kbs/v0/admin/resources/:repository/:type/:tag', route('GET', '/kbs/v0/admin/resources/:repository/:type/:tag'), async (req) => {
    const info = await d.store.resources.info(pathOf(req.params));
    if (!info) throw problems.notFound('no such resource');
    return info;
  });
  app.delete<{ Params: { repository: string; type: string; tag: string } }>('/kbs/v0/admin/resources/:repository/:type/:tag', route('DELETE', '/kbs/v0/admin/resources/:repository/:type/:tag'), async (req) => {
    const path = pathOf(req.params);
    if (!(await d.store.resources.delete(path))) throw problems.notFound('no such resource');
    await log(req, 'resource.delete', { resource: path });
    return { deleted: path };
  });
  app.get<{ Querystring: { prefix?: string } }>('/kbs/v0/admin/resources', route('GET', '/kbs/v0/admin/resources'), async (req) => ({ resources: await d.store.resources.list(req.query.prefix) }));
  app.get('/kbs/v0/admin/whoami', route('GET', '/kbs/v0/admin/whoami'), async (req) => req.adminPrincipal);

  // resource policies
  const setResourcePolicy = async (req: FastifyRequest, glob: string, cel: string, description?: string) => {
    if (!isValidGlob(glob)) throw problems.badRequest(`invalid path glob ${JSON.stringify(glob)}`);
    compileResourcePolicy(glob, cel);
    const rec = await d.store.resourcePolicies.set(glob, cel.trim(), { updatedBy: who(req), at: d.now(), ...(description ? { description } : {}) });
    await log(req, 'resource-policy.set', { glob, version: rec.version });
    return rec;
  };
  app.post('/kbs/v0/resource-policy', route('POST', '/kbs/v0/resource-policy'), async (req) => {
    const b = objectBody(req);
    const glob = typeof b.path === 'string' ? b.path : typeof b.glob === 'string' ? b.glob : '**';
    return setResourcePolicy(req, glob, textFrom(b.policy ?? b.cel, 'policy'), typeof b.description === 'string' ? b.description : undefined);
  });
  app.put('/kbs/v0/admin/resource-policies', route('PUT', '/kbs/v0/admin/resource-policies'), async (req) => {
    const b = objectBody(req);
    if (typeof b.glob !== 'string') throw problems.badRequest('glob is required');
    return setResourcePolicy(req, b.glob, textFrom(b.cel, 'cel'), typeof b.description === 'string' ? b.description : undefined);
  });
  app.delete<{ Querystring: { glob?: string } }>('/kbs/v0/admin/resource-policies', route('DELETE', '/kbs/v0/admin/resource-policies'), async (req) => {
    const glob = req.query.glob;
    if (!glob) throw problems.badRequest('?glob= is required');
    if (!(await d.store.resourcePolicies.delete(glob))) throw problems.notFound('no policy for that glob');
    await log(req, 'resource-policy.delete', { glob });
    return { deleted: glob };
  });
  app.get('/kbs/v0/resource-policy', route('GET', '/kbs/v0/resource-policy'), async () => ({ policies: await d.store.resourcePolicies.list() }));
  app.get('/kbs/v0/admin/resource-policies', route('GET', '/kbs/v0/admin/resource-policies'), async () => ({ policies: await d.store.resourcePolicies.list() }));

  // attestation policies
  const setAttestationPolicy = async (req: FastifyRequest, tee: string, text: string) => {
    if (!TEE_NAME.test(tee)) throw problems.badRequest(`invalid platform name ${JSON.stringify(tee)}`);
    try {
      await d.engine.checkPolicy?.(text, tee);
    } catch (e) {
      throw isAttestError(e) ? problems.badRequest(`attestation policy invalid: ${e.message}`, { code: e.code }) : e;
    }
    const rec = await d.store.attestationPolicies.set(tee, text, who(req), d.now());
    await log(req, 'attestation-policy.set', { tee, version: rec.version });
    return { tee: rec.tee, version: rec.version, updatedAt: rec.updatedAt.toISOString(), updatedBy: rec.updatedBy };
  };
  app.post('/kbs/v0/attestation-policy', route('POST', '/kbs/v0/attestation-policy'), async (req) => {
    const b = objectBody(req);
    const tee = typeof b.tee === 'string' ? b.tee : typeof b.policy_id === 'string' ? b.policy_id : 'default';
    return setAttestationPolicy(req, tee, textFrom(b.policy, 'policy'));
  });
  app.put<{ Params: { tee: string } }>('/kbs/v0/admin/attestation-policies/:tee', route('PUT', '/kbs/v0/admin/attestation-policies/:tee'), async (req) => {
    const body = req.body;
    const text = body instanceof Uint8Array ? fromUtf8(body) : typeof body === 'string' ? body : textFrom(objectBody(req).policy, 'policy');
    return setAttestationPolicy(req, req.params.tee, text);
  });
  app.get<{ Params: { tee: string } }>('/kbs/v0/admin/attestation-policies/:tee', route('GET', '/kbs/v0/admin/attestation-policies/:tee'), async (req) => {
    const rec = await d.store.attestationPolicies.get(req.params.tee);
    if (!rec) throw problems.notFound(`no attestation policy for ${req.params.tee} (the built-in default applies)`);
    return rec;
  });
  app.delete<{ Params: { tee: string } }>('/kbs/v0/admin/attestation-policies/:tee', route('DELETE', '/kbs/v0/admin/attestation-policies/:tee'), async (req) => {
    if (!(await d.store.attestationPolicies.delete(req.params.tee))) throw problems.notFound('no such attestation policy');
    await log(req, 'attestation-policy.delete', { tee: req.params.tee });
    return { deleted: req.params.tee };
  });
  const listAttestation = async () => ({ policies: await d.store.attestationPolicies.list() });
  app.get('/kbs/v0/attestation-policy', route('GET', '/kbs/v0/attestation-policy'), listAttestation);
  app.get('/kbs/v0/admin/attestation-policies', route('GET', '/kbs/v0/admin/attestation-policies'), listAttestation);
  app.get('/kbs/v0/admin/policy', route('GET', '/kbs/v0/admin/policy'), async () => ({
    resourcePolicies: await d.store.resourcePolicies.list(),
    attestationPolicies: await d.store.attestationPolicies.list(),
  }));

  // reference values
  const putRefs = async (req: FastifyRequest) => {
    let data: unknown = req.body instanceof Uint8Array ? JSON.parse(fromUtf8(req.body)) : req.body;
    // Trustee's RVPS message: {"message": "<JSON string>"}.
    if (data && typeof data === 'object' && !Array.isArray(data) && typeof (data as { message?: unknown }).message === 'string') data = JSON.parse((data as { message: string }).message);
    if (data && typeof data === 'object' && !Array.isArray(data) && !('referenceValues' in data)) data = [data];
    const list = parseReferenceValues(data, { addedBy: who(req), now: d.now() });
    const out = [];
    for (const rv of list) out.push(await d.store.referenceValues.put({ ...rv, addedBy: who(req) }));
    await log(req, 'reference-values.put', { names: list.map((r) => r.name) });
    return { referenceValues: out };
  };
  app.post('/kbs/v0/reference-value', route('POST', '/kbs/v0/reference-value'), putRefs);
  app.put('/kbs/v0/admin/reference-values', route('PUT', '/kbs/v0/admin/reference-values'), putRefs);
  const listRefs = async (req: FastifyRequest<{ Querystring: { prefix?: string } }>) => ({ referenceValues: await d.store.referenceValues.list(req.query.prefix ? { prefix: req.query.prefix } : {}) });
  app.get<{ Querystring: { prefix?: string } }>('/kbs/v0/reference-value', route('GET', '/kbs/v0/reference-value'), listRefs);
  app.get<{ Querystring: { prefix?: string } }>('/kbs/v0/admin/reference-values', route('GET', '/kbs/v0/admin/reference-values'), listRefs);
  app.get<{ Params: { name: string } }>('/kbs/v0/admin/reference-values/:name', route('GET', '/kbs/v0/admin/reference-values/:name'), async (req) => {
    const rv = await d.store.referenceValues.get(req.params.name);
    if (!rv) throw problems.notFound('no such reference value');
    return rv;
  });
  app.delete<{ Params: { name: string } }>('/kbs/v0/admin/reference-values/:name', route('DELETE', '/kbs/v0/admin/reference-values/:name'), async (req) => {
    if (!(await d.store.referenceValues.delete(req.params.name))) throw problems.notFound('no such reference value');
    await log(req, 'reference-value.delete', { name: req.params.name });
    return { deleted: req.params.name };
  });

  // audit
  app.get<{ Querystring: Record<string, string | undefined> }>('/kbs/v0/admin/audit', route('GET', '/kbs/v0/admin/audit'), async (req, reply) => {
    const q = req.query;
    const f: AuditFilter = {};
    const date = (s: string, name: string) => {
      const t = new Date(s);
      if (Number.isNaN(t.getTime())) throw problems.badRequest(`${name} must be an ISO-8601 time`);
      return t;
    };
    if (q.since) f.since = date(q.since, 'since');
    if (q.until) f.until = date(q.until, 'until');
    if (q.kind) f.kind = q.kind.split(',') as AuditKind[];
    if (q.platform) f.platform = q.platform;
    if (q.resource) f.resource = q.resource;
    if (q.verdict) f.verdict = q.verdict;
    if (q.limit) f.limit = Math.min(10000, Math.max(1, Number(q.limit) || 100));
    if (q.before) f.beforeId = Number(q.before);
    const jsonl = q.format === 'jsonl' || (req.headers.accept ?? '').includes('application/x-ndjson');
    if (jsonl) {
      let out = '';
      for await (const line of d.store.audit.exportJsonLines(f)) out += line;
      return reply.type('application/x-ndjson').send(out);
    }
    return { events: await d.store.audit.query(f) };
  });
}
