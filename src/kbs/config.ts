/**
 * KBS configuration: a YAML/JSON/TOML file overlaid by environment variables, validated with zod.
 * Secrets (master key, webhook secrets) are referenced by file or environment variable name,
 * never written inline in a file that might be committed.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AttestError, ErrorCode } from '../core/index.ts';

export const ADMIN_ROLES = ['admin', 'resource-writer', 'policy-writer', 'reference-writer', 'auditor', 'reader'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

const AdminKeySchema = z
  .object({
    /** Key id matched against the JWT header `kid` when present. */
    kid: z.string().min(1).max(128).optional(),
    /** Public key: a JWK (OKP Ed25519 or EC P-256) or an SPKI PEM, inline or from a file. */
    jwk: z.record(z.string(), z.unknown()).optional(),
    pem: z.string().optional(),
    file: z.string().optional(),
    /** The most a token signed by this key can grant. */
    roles: z.array(z.enum(ADMIN_ROLES)).min(1).default(['admin']),
    subject: z.string().max(256).optional(),
  })
  .refine((k) => [k.jwk, k.pem, k.file].filter((x) => x !== undefined).length === 1, 'an admin key needs exactly one of jwk, pem, file');

const TrustedIssuerSchema = z
  .object({
    issuer: z.string().min(1),
    jwksUrl: z.url().optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
    jwksFile: z.string().optional(),
  })
  .refine((t) => [t.jwksUrl, t.jwks, t.jwksFile].filter((x) => x !== undefined).length === 1, 'a trusted issuer needs exactly one of jwksUrl, jwks, jwksFile');

const WebhookSchema = z.object({
  url: z.url(),
  /** HMAC-SHA256 secret from an environment variable or file (never inline). */
  secretEnv: z.string().optional(),
  secretFile: z.string().optional(),
  /** Event names to send; default: attestation.failed and resource.denied. */
  events: z.array(z.string()).default(['attestation.failed', 'resource.denied']),
});

export const KbsConfigSchema = z.object({
  listen: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8080) }).prefault({}),
  tls: z.object({ cert: z.string(), key: z.string(), ca: z.string().optional() }).optional(),
  /** SQLite path or postgres:// URL. */
  database: z.string().default('.teataster/kbs.sqlite'),
  masterKey: z.object({ file: z.string().optional(), env: z.string().optional() }).prefault({}),
  session: z.object({ ttlSeconds: z.number().int().min(1).max(86400).default(300) }).prefault({}),
  token: z
    .object({
      ttlSeconds: z.number().int().min(1).max(86400).default(300),
      issuer: z.string().default('teataster-kbs'),
      alg: z.enum(['ES256', 'ES384', 'EdDSA']).default('ES256'),
    })
    .prefault({}),
  /** Report-data hash preferred by this KBS (Trustee default sha384). */
  hashAlgorithm: z.enum(['sha256', 'sha384', 'sha512']).default('sha384'),
  /** Accept attestation results with status 'warning' (default true; 'contraindicated' never). */
  acceptWarning: z.boolean().default(true),
  admin: z.object({ keys: z.array(AdminKeySchema).default([]), audience: z.string().optional(), issuer: z.string().optional() }).prefault({}),
  trustedIssuers: z.array(TrustedIssuerSchema).default([]),
  /** Extra trust roots per family ('sim' = sim key thumbprints, 'tpm', 'amd', 'intel', …). */
  trustRoots: z.record(z.string(), z.array(z.string().regex(/^[0-9a-fA-F:]{64,95}$/))).default({}),
  verify: z
    .object({
      offline: z.boolean().default(false),
      allowDebug: z.boolean().default(false),
      requireCrl: z.boolean().default(false),
      maxAgeSeconds: z.number().positive().optional(),
      cacheDir: z.string().optional(),
      /** Collateral files or directories given to every verification (TPM AK pins, CA certificates, offline bundles). */
      collateral: z.array(z.string()).default([]),
      amdKds: z.url().optional(),
      intelPcs: z.url().optional(),
    })
    .prefault({}),
  webhooks: z.array(WebhookSchema).default([]),
  /** Keep certificate authority (POST /kbs/v0/keep/certificate): CA key (PKCS#8 PEM) and certificate (PEM). */
  keepCa: z.object({ key: z.string(), cert: z.string(), ttlSeconds: z.number().int().positive().max(30 * 86400).optional() }).optional(),
  /** Fastify trustProxy (X-Forwarded-For) when behind a reverse proxy. */
  trustProxy: z.boolean().default(false),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Upper bound of request bodies (bytes). */
  bodyLimit: z.number().int().positive().default(4 * 1024 * 1024),
  /** Built-in dev policies that accept the sim TEE (set by `kbs serve --dev` only). */
  dev: z.boolean().default(false),
});
export type KbsConfig = z.infer<typeof KbsConfigSchema>;
export type KbsConfigInput = z.input<typeof KbsConfigSchema>;

function configError(where: string, reason: string): AttestError {
  return new AttestError(ErrorCode.ConfigInvalid, `KBS configuration ${where}: ${reason}`, { where });
}

export function parseConfigText(text: string, name: string): unknown {
  const ext = extname(name).toLowerCase();
  try {
    if (ext === '.toml') return parseToml(text);
    if (ext === '.json') return JSON.parse(text);
    return parseYaml(text);
  } catch (e) {
    throw configError(name, `cannot parse: ${(e as Error).message}`);
  }
}

/** Environment overrides (documented in docs/kbs.md). */
export function envOverrides(env: Record<string, string | undefined>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const listen: Record<string, unknown> = {};
  if (env.TEATASTER_KBS_HOST) listen.host = env.TEATASTER_KBS_HOST;
  if (env.TEATASTER_KBS_PORT) listen.port = Number(env.TEATASTER_KBS_PORT);
  if (Object.keys(listen).length) o.listen = listen;
  if (env.TEATASTER_DATABASE) o.database = env.TEATASTER_DATABASE;
  if (env.TEATASTER_MASTER_KEY_FILE) o.masterKey = { file: env.TEATASTER_MASTER_KEY_FILE };
  if (env.TEATASTER_KBS_LOG_LEVEL) o.logLevel = env.TEATASTER_KBS_LOG_LEVEL;
  if (env.TEATASTER_KBS_TLS_CERT && env.TEATASTER_KBS_TLS_KEY) o.tls = { cert: env.TEATASTER_KBS_TLS_CERT, key: env.TEATASTER_KBS_TLS_KEY };
  return o;
}

function merge(a: unknown, b: unknown): unknown {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = merge(out[k], v);
    return out;
  }
  return b === undefined ? a : b;
}

export function validateConfig(input: unknown, where = 'input'): KbsConfig {
  const r = KbsConfigSchema.safeParse(input ?? {});
  if (!r.success) throw configError(where, r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  return r.data;
}

/** File (optional) + env + explicit overrides (CLI flags), in increasing precedence. */
export async function loadConfig(file: string | undefined, overrides: Record<string, unknown> = {}, env: Record<string, string | undefined> = process.env): Promise<KbsConfig> {
  let base: unknown = {};
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw configError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    base = parseConfigText(text, file);
  }
  return validateConfig(merge(merge(base, envOverrides(env)), overrides), file ?? 'environment');
}
