/** The OpenAPI 3.1 description served at /openapi.json. */
import { KBS_PROTOCOL_VERSION } from '../protocol/index.ts';
import { ADMIN_ROUTES } from './admin-routes.ts';

const problem = { $ref: '#/components/schemas/Problem' };
const err = (d: string) => ({ description: d, content: { 'application/problem+json': { schema: problem } } });

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {
    '/kbs/v0/auth': {
      post: {
        summary: 'RCAR Request → Challenge (sets the kbs-session-id cookie)',
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Request' } } } },
        responses: { 200: { description: 'Challenge', content: { 'application/json': { schema: { $ref: '#/components/schemas/Challenge' } } } }, 400: err('malformed request, unsupported version or TEE') },
      },
    },
    '/kbs/v0/attest': {
      post: {
        summary: 'RCAR Attestation → EAR token',
        parameters: [{ in: 'cookie', name: 'kbs-session-id', required: true, schema: { type: 'string' } }],
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Attestation' } } } },
        responses: {
          200: { description: 'EAR token', content: { 'application/json': { schema: { type: 'object', properties: { token: { type: 'string' } }, required: ['token'] } } } },
          400: err('malformed evidence'),
          401: err('no/expired session, replayed nonce, evidence does not verify or is not bound'),
          403: err('attestation policy denied (lists every failed rule)'),
          503: err('vendor endorsements unavailable'),
        },
      },
    },
    '/kbs/v0/resource/{repository}/{type}/{tag}': {
      get: {
        summary: 'Release a secret as a flattened JWE to the attested tee-pubkey',
        parameters: ['repository', 'type', 'tag'].map((n) => ({ in: 'path', name: n, required: true, schema: { type: 'string' } })),
        security: [{}, { ear: [] }],
        responses: {
          200: { description: 'JWE (RSA-OAEP-256 or ECDH-ES+A256KW, A256GCM)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Response' } } } },
          401: err('not attested / token invalid'),
          403: err('resource policy denied (lists every failed rule)'),
          404: err('no such resource'),
        },
      },
    },
    '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'ok' } } } },
    '/readyz': { get: { summary: 'Readiness (database reachable)', responses: { 200: { description: 'ready' }, 503: err('not ready') } } },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text exposition format' } } } },
    '/.well-known/jwks.json': { get: { summary: 'EAR token signing keys (JWKS)', responses: { 200: { description: 'JWKS' } } } },
  };
  for (const r of ADMIN_ROUTES) {
    const p = r.url.replace(/:(\w+)/g, '{$1}');
    const params = [...r.url.matchAll(/:(\w+)/g)].map((m) => ({ in: 'path', name: m[1], required: true, schema: { type: 'string' } }));
    paths[p] ??= {};
    paths[p][r.method.toLowerCase()] = {
      summary: `admin (role ${r.role})`,
      security: [{ admin: [r.role] }],
      parameters: params,
      responses: { 200: { description: 'ok' }, 400: err('invalid input'), 401: err('no or invalid admin token'), 403: err(`token lacks role ${r.role}`), 404: err('not found') },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'teataster Key Broker Service', version: '0.1.0', description: `Confidential Containers KBS protocol ${KBS_PROTOCOL_VERSION} (RCAR) plus admin API.` },
    paths,
    components: {
      securitySchemes: {
        admin: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (EdDSA or ES256, roles claim)' },
        ear: { type: 'http', scheme: 'bearer', bearerFormat: 'EAR JWT (passport mode)' },
      },
      schemas: {
        Problem: {
          type: 'object',
          properties: { type: { type: 'string', format: 'uri' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, code: { type: 'string' }, violations: { type: 'array', items: { type: 'object', properties: { rule: { type: 'string' }, message: { type: 'string' } } } } },
          required: ['type', 'title', 'status', 'detail'],
        },
        Request: { type: 'object', properties: { version: { const: KBS_PROTOCOL_VERSION }, tee: { type: 'string' }, 'extra-params': {} }, required: ['version', 'tee'] },
        Challenge: { type: 'object', properties: { nonce: { type: 'string' }, 'extra-params': {} }, required: ['nonce'] },
        TeePubKey: { type: 'object', properties: { kty: { enum: ['RSA', 'EC'] }, alg: { type: 'string' }, n: { type: 'string' }, e: { type: 'string' }, crv: { enum: ['P-256', 'P-384', 'P-521'] }, x: { type: 'string' }, y: { type: 'string' } }, required: ['kty'] },
        Attestation: {
          type: 'object',
          properties: {
            'init-data': { type: 'object', properties: { format: { type: 'string' }, body: { type: 'string' } } },
            'runtime-data': { type: 'object', properties: { nonce: { type: 'string' }, 'tee-pubkey': { $ref: '#/components/schemas/TeePubKey' } }, required: ['nonce', 'tee-pubkey'] },
            'tee-evidence': { type: 'object', properties: { primary_evidence: {}, additional_evidence: { type: 'string' } }, required: ['primary_evidence'] },
          },
          required: ['runtime-data', 'tee-evidence'],
        },
        Response: { type: 'object', properties: { protected: { type: 'string' }, encrypted_key: { type: 'string' }, iv: { type: 'string' }, ciphertext: { type: 'string' }, tag: { type: 'string' } }, required: ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag'] },
      },
    },
  };
}
