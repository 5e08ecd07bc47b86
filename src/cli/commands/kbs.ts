/**
 * `teataster kbs serve` and `teataster kbs admin …` (CLI contract of issue 6; keep stable):
 *   kbs serve [--config <file>] [--port <n>] [--host <addr>] [--database <sqlite-path|postgres-url>] [--dev]
 *   kbs keygen <prefix> [--alg EdDSA|ES256];  kbs mint-token --key <private.jwk> [--roles r,…] [--ttl 1h] [--subject s]
 *   kbs admin --url <kbs-url> [--token-file <f>] put-resource <repo/type/tag> <file>
 *             | get-policy | set-resource-policy <glob> <cel-file> | set-attestation-policy <tee> <file>
 *             | refs list|show|add|import|rm … | audit [--since <time>] [--json] | list-resources | delete-resource <path>
 * Admin token: --token-file, else $TEATASTER_ADMIN_TOKEN, else ./.teataster/admin-token.
 * Exit: 0 ok, 1 refused/failed, 2 usage.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { ab, AttestError, ErrorCode, pemBlocks } from '../../core/index.ts';
import { ADMIN_ROLES, loadConfig, signAdminToken, prepareDev, seedDevPolicies, startKbs, type KbsConfig } from '../../kbs/index.ts';
import { keepCaPlugin } from '../../keep/index.ts';
import { Exit, UsageError } from '../exit.ts';
import { readInput, readJson, writeErr, writeOut } from '../io.ts';

const DEV_DIR = '.teataster';

interface ServeOptions {
  config?: string;
  port?: string;
  host?: string;
  database?: string;
  dev?: boolean;
}

export async function runServe(o: ServeOptions, signal?: AbortSignal): Promise<number> {
  const configFile = o.config ?? process.env.TEATASTER_KBS_CONFIG;
  const overrides: Record<string, unknown> = {};
  const listen: Record<string, unknown> = {};
  if (o.port !== undefined) {
    const p = Number(o.port);
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new UsageError(`--port must be 0..65535, got ${o.port}`);
    listen.port = p;
  }
  if (o.host) listen.host = o.host;
  if (o.database) overrides.database = o.database;
  let config: KbsConfig = await loadConfig(configFile, { ...overrides, ...(Object.keys(listen).length ? { listen } : {}) });
  // No configuration at all = the README quickstart: development mode, said loudly.
  let dev = Boolean(o.dev);
  if (!dev && !configFile && config.admin.keys.length === 0) {
    writeErr('teataster kbs: no --config and no admin keys configured: starting in --dev mode (NOT for production)');
    dev = true;
  }
  let devSetup = null;
  if (dev) {
    devSetup = await prepareDev(DEV_DIR);
    config = {
      ...config,
      dev: true,
      listen: { host: '127.0.0.1', port: config.listen.port },
      tls: undefined,
      database: o.database ?? (configFile ? config.database : join(DEV_DIR, 'kbs.sqlite')),
      admin: { ...config.admin, keys: [...config.admin.keys, { jwk: devSetup.adminPublicJwk as Record<string, unknown>, kid: 'dev-admin', roles: ['admin'], subject: 'dev-admin' }] },
      trustRoots: { ...config.trustRoots, sim: [...(config.trustRoots.sim ?? []), devSetup.simThumbprint] },
    };
  }
  const keepCa = config.keepCa;
  const kbs = await startKbs(config, {
    devDir: DEV_DIR,
    pluginFactories: keepCa
      ? [async ({ store, engine }) => keepCaPlugin({ store, engine, caKey: await importCaKey(keepCa.key), caCertPem: await readFile(keepCa.cert, 'utf8'), ...(keepCa.ttlSeconds ? { ttlSeconds: keepCa.ttlSeconds } : {}) })]
      : [],
  });
  if (dev) await seedDevPolicies(kbs.store);
  writeErr(`teataster kbs: listening on ${kbs.url} (database: ${kbs.store.description}${dev ? ', DEV MODE: sim TEE accepted' : ''})`);
  if (devSetup) {
    if (devSetup.tokenCreated) {
      writeErr(`teataster kbs: dev admin token (shown once; also saved to ${join(DEV_DIR, 'admin-token')}):`);
      writeOut(devSetup.adminToken);
    } else writeErr(`teataster kbs: dev admin token is in ${join(DEV_DIR, 'admin-token')}`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
  writeErr('teataster kbs: shutting down');
  await kbs.shutdown();
  return Exit.Ok;
}

/** The Keep CA's private key from a PKCS#8 PEM file: ECDSA P-256/P-384/P-521 or RSA PKCS#1 v1.5. */
export async function importCaKey(file: string): Promise<CryptoKey> {
  const pem = await readFile(file, 'utf8').catch((e: Error) => {
    throw new AttestError(ErrorCode.ConfigInvalid, `cannot read keepCa.key ${file}: ${e.message}`);
  });
  let block: { der: Uint8Array } | undefined;
  try {
    block = pemBlocks(pem, 'PRIVATE KEY')[0];
  } catch {
    // not base64 inside the armour: reported below
  }
  if (!block) throw new AttestError(ErrorCode.ConfigInvalid, `keepCa.key ${file} is not a PKCS#8 "PRIVATE KEY" PEM`);
  const der = ab(block.der);
  const algs: (EcKeyImportParams | RsaHashedImportParams)[] = [
    { name: 'ECDSA', namedCurve: 'P-256' },
    { name: 'ECDSA', namedCurve: 'P-384' },
    { name: 'ECDSA', namedCurve: 'P-521' },
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  ];
  for (const alg of algs) {
    try {
      return await crypto.subtle.importKey('pkcs8', der, alg, false, ['sign']);
    } catch {
      // next algorithm
    }
  }
  throw new AttestError(ErrorCode.ConfigInvalid, `keepCa.key ${file}: not an ECDSA (P-256/384/521) or RSA private key`);
}

// ------------------------------------------------------------------------------------- admin

interface AdminGlobal {
  url: string;
  tokenFile?: string;
}

export async function adminToken(g: AdminGlobal): Promise<string> {
  if (g.tokenFile) return (await readFile(g.tokenFile, 'utf8').catch(() => {
    throw new UsageError(`cannot read --token-file ${g.tokenFile}`);
  })).trim();
  if (process.env.TEATASTER_ADMIN_TOKEN) return process.env.TEATASTER_ADMIN_TOKEN.trim();
  try {
    return (await readFile(join(DEV_DIR, 'admin-token'), 'utf8')).trim();
  } catch {
    throw new UsageError('no admin token: pass --token-file, set TEATASTER_ADMIN_TOKEN, or run in the directory of `kbs serve --dev`');
  }
}

async function call(g: AdminGlobal, method: string, path: string, body?: { json?: unknown; bytes?: Uint8Array; type?: string }): Promise<Response> {
  const base = g.url.replace(/\/+$/, '');
  if (!/^https?:\/\//.test(base)) throw new UsageError(`--url must be http(s)://host:port, got ${g.url}`);
  const headers: Record<string, string> = { authorization: `Bearer ${await adminToken(g)}` };
  let payload: BodyInit | undefined;
  if (body?.json !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body?.bytes) {
    headers['content-type'] = body.type ?? 'application/octet-stream';
    payload = body.bytes as unknown as BodyInit;
  }
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  } catch (e) {
    throw new AttestError(ErrorCode.ProtocolError, `cannot reach ${base}: ${(e as Error).message}`);
  }
  if (!res.ok) {
    const text = await res.text();
    let detail = text;
    let code: string = ErrorCode.ProtocolError;
    try {
      const p = JSON.parse(text) as { detail?: string; code?: string; violations?: { message: string }[] };
      detail = p.detail ?? text;
      if (p.code && (Object.values(ErrorCode) as string[]).includes(p.code)) code = p.code;
    } catch {
      // plain text
    }
    throw new AttestError(code as ErrorCode, `KBS answered ${res.status}: ${detail}`);
  }
  return res;
}

const printJson = async (res: Response): Promise<void> => writeOut(JSON.stringify(await res.json(), null, 2));
const encPath = (p: string): string => {
  const parts = p.split('/');
  if (parts.length !== 3 || parts.some((x) => !x)) throw new UsageError(`resource path must be <repository>/<type>/<tag>, got ${JSON.stringify(p)}`);
  return parts.map(encodeURIComponent).join('/');
};

export function registerKbs(program: Command): void {
  const kbs = program.command('kbs').description('Key Broker Service: serve it, administer it');
  kbs
    .command('serve')
    .description('run the KBS (RCAR protocol 0.4.0); --dev: SQLite in ./.teataster, plain HTTP on 127.0.0.1, sim TEE accepted, dev admin token')
    .option('--config <file>', 'configuration file (YAML, JSON or TOML); env TEATASTER_KBS_CONFIG')
    .option('--port <n>', 'listen port (default 8080)')
    .option('--host <addr>', 'listen address (default 127.0.0.1)')
    .option('--database <url>', 'SQLite path or postgres:// URL')
    .option('--dev', 'development mode (see description)')
    .action(async (o: ServeOptions) => {
      process.exitCode = await runServe(o);
    });

  kbs
    .command('keygen <prefix>')
    .description('create an admin key pair: <prefix>.key.jwk (private, 0600) and <prefix>.pub.jwk (for admin.keys in the KBS config)')
    .option('--alg <alg>', 'EdDSA (Ed25519) | ES256', 'EdDSA')
    .action(async (prefix: string, o: { alg: string }) => {
      if (o.alg !== 'EdDSA' && o.alg !== 'ES256') throw new UsageError('--alg must be EdDSA or ES256');
      const { publicKey, privateKey } = await generateKeyPair(o.alg, o.alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
      const pub = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(pub, 'sha256');
      await writeFile(`${prefix}.key.jwk`, `${JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: o.alg })}\n`, { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot create ${prefix}.key.jwk: ${e.code ?? e.message}`);
      });
      await writeFile(`${prefix}.pub.jwk`, `${JSON.stringify({ ...pub, kid, alg: o.alg })}\n`, { mode: 0o644 });
      writeErr(`teataster kbs: wrote ${prefix}.key.jwk (keep it secret) and ${prefix}.pub.jwk (kid ${kid})`);
    });
  kbs
    .command('mint-token')
    .description('sign an admin JWT with a private key from `kbs keygen`')
    .requiredOption('--key <file>', 'private JWK')
    .option('--roles <roles>', `comma-separated: ${ADMIN_ROLES.join(', ')}`, 'admin')
    .option('--ttl <duration>', 'lifetime: 30m, 12h, 7d', '1h')
    .option('--subject <name>', 'who the token is for (audit log actor)', 'admin')
    .option('--audience <aud>')
    .option('--issuer <iss>')
    .action(async (o: { key: string; roles: string; ttl: string; subject: string; audience?: string; issuer?: string }) => {
      const roles = o.roles.split(',').map((r) => r.trim()).filter(Boolean);
      for (const r of roles) if (!(ADMIN_ROLES as readonly string[]).includes(r)) throw new UsageError(`unknown role ${r} (known: ${ADMIN_ROLES.join(', ')})`);
      const m = /^(\d+)\s*([smhd])$/.exec(o.ttl.trim());
      if (!m) throw new UsageError('--ttl must look like 30m, 12h or 7d');
      const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
      const jwk = (await readJson(o.key, '--key')) as JWK;
      const alg = jwk.kty === 'OKP' ? 'EdDSA' : jwk.crv === 'P-256' ? 'ES256' : null;
      if (!alg || !jwk.d) throw new UsageError('--key must be a private Ed25519 or P-256 JWK');
      const key = (await importJWK(jwk, alg)) as CryptoKey;
      writeOut(
        await signAdminToken(key, alg, {
          roles,
          subject: o.subject,
          lifetimeSeconds: seconds,
          ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}),
          ...(o.audience ? { audience: o.audience } : {}),
          ...(o.issuer ? { issuer: o.issuer } : {}),
        }),
      );
    });

  const admin = kbs
    .command('admin')
    .description('administer a KBS over its admin API')
    .requiredOption('--url <kbs-url>', 'KBS base URL, e.g. http://127.0.0.1:8080')
    .option('--token-file <file>', 'admin JWT file (default: $TEATASTER_ADMIN_TOKEN or ./.teataster/admin-token)');
  const g = (): AdminGlobal => admin.opts() as AdminGlobal;

  admin
    .command('put-resource <path> <file>')
    .description('store a secret at <repository>/<type>/<tag> (encrypted at rest)')
    .action(async (path: string, file: string) => {
      const bytes = await readInput(file, 'resource file');
      await printJson(await call(g(), 'PUT', `/kbs/v0/admin/resources/${encPath(path)}`, { bytes }));
    });
  admin
    .command('delete-resource <path>')
    .action(async (path: string) => printJson(await call(g(), 'DELETE', `/kbs/v0/admin/resources/${encPath(path)}`)));
  admin
    .command('list-resources')
    .option('--prefix <p>')
    .action(async (o: { prefix?: string }) => printJson(await call(g(), 'GET', `/kbs/v0/admin/resources${o.prefix ? `?prefix=${encodeURIComponent(o.prefix)}` : ''}`)));
  admin
    .command('get-policy')
    .description('print every resource policy and attestation policy')
    .action(async () => printJson(await call(g(), 'GET', '/kbs/v0/admin/policy')));
  admin
    .command('set-resource-policy <glob> <cel-file>')
    .description('set the CEL policy for resource paths matching <glob> (* = one segment, ** = any)')
    .option('--description <text>')
    .action(async (glob: string, file: string, o: { description?: string }) => {
      const cel = new TextDecoder().decode(await readInput(file, 'CEL file'));
      await printJson(await call(g(), 'PUT', '/kbs/v0/admin/resource-policies', { json: { glob, cel, ...(o.description ? { description: o.description } : {}) } }));
    });
  admin
    .command('delete-resource-policy <glob>')
    .action(async (glob: string) => printJson(await call(g(), 'DELETE', `/kbs/v0/admin/resource-policies?glob=${encodeURIComponent(glob)}`)));
  admin
    .command('set-attestation-policy <tee> <file>')
    .description('set the attestation policy (YAML/JSON policy document) for a platform, or "default"')
    .action(async (tee: string, file: string) => {
      const text = new TextDecoder().decode(await readInput(file, 'policy file'));
      await printJson(await call(g(), 'PUT', `/kbs/v0/admin/attestation-policies/${encodeURIComponent(tee)}`, { json: { policy: text } }));
    });

  const refs = admin.command('refs').description('reference values');
  refs.command('list').option('--prefix <p>').action(async (o: { prefix?: string }) => printJson(await call(g(), 'GET', `/kbs/v0/admin/reference-values${o.prefix ? `?prefix=${encodeURIComponent(o.prefix)}` : ''}`)));
  refs.command('show <name>').action(async (name: string) => printJson(await call(g(), 'GET', `/kbs/v0/admin/reference-values/${encodeURIComponent(name)}`)));
  refs.command('rm <name>').action(async (name: string) => printJson(await call(g(), 'DELETE', `/kbs/v0/admin/reference-values/${encodeURIComponent(name)}`)));
  refs
    .command('add <name>')
    .requiredOption('--kind <kind>', 'digest | svn | string | list | number | boolean | json')
    .requiredOption('--value <v>', 'the value (JSON for list/json/number/boolean, text otherwise)')
    .option('--source <s>', 'provenance', 'manual')
    .option('--expires <time>', 'ISO-8601 expiry')
    .option('--description <text>')
    .action(async (name: string, o: { kind: string; value: string; source: string; expires?: string; description?: string }) => {
      let value: unknown = o.value;
      if (['list', 'json', 'number', 'boolean', 'svn'].includes(o.kind)) {
        try {
          value = JSON.parse(o.value);
        } catch {
          throw new UsageError(`--value must be JSON for kind ${o.kind}`);
        }
      }
      await printJson(await call(g(), 'PUT', '/kbs/v0/admin/reference-values', { json: { name, kind: o.kind, value, source: o.source, ...(o.expires ? { expiresAt: o.expires } : {}), ...(o.description ? { description: o.description } : {}) } }));
    });
  refs.command('import <file>').description('import a JSON list (or {referenceValues: [...]})').action(async (file: string) => {
    let data: unknown;
    try {
      data = JSON.parse(new TextDecoder().decode(await readInput(file, 'reference values file')));
    } catch {
      throw new UsageError(`${file} is not JSON`);
    }
    await printJson(await call(g(), 'PUT', '/kbs/v0/admin/reference-values', { json: data }));
  });

  admin
    .command('audit')
    .description('query the audit log (newest first)')
    .option('--since <time>', 'ISO-8601 time or a duration like 1h, 30m, 7d')
    .option('--kind <kinds>', 'attestation,release,refusal,admin')
    .option('--limit <n>', 'maximum events', '100')
    .option('--json', 'JSON lines (one event per line)')
    .action(async (o: { since?: string; kind?: string; limit: string; json?: boolean }) => {
      const q = new URLSearchParams();
      if (o.since) q.set('since', sinceToIso(o.since));
      if (o.kind) q.set('kind', o.kind);
      q.set('limit', o.limit);
      if (o.json) {
        q.set('format', 'jsonl');
        process.stdout.write(await (await call(g(), 'GET', `/kbs/v0/admin/audit?${q}`)).text());
        return;
      }
      const { events } = (await (await call(g(), 'GET', `/kbs/v0/admin/audit?${q}`)).json()) as { events: Record<string, unknown>[] };
      for (const e of events) {
        writeOut([String(e.at), String(e.kind).padEnd(11), String(e.verdict ?? '-').padEnd(15), String(e.platform ?? '-').padEnd(5), String(e.resource ?? '-'), String(e.client ?? '')].join('  '));
      }
      if (events.length === 0) writeErr('no audit events match');
    });
}

export function sinceToIso(s: string, now = new Date()): string {
  const m = /^(\d+)\s*([smhd])$/.exec(s.trim());
  if (m) {
    const mult = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(m[1]) * mult * 1000).toISOString();
  }
  const t = new Date(s);
  if (Number.isNaN(t.getTime())) throw new UsageError(`--since must be an ISO-8601 time or a duration (30m, 2h, 7d), got ${JSON.stringify(s)}`);
  return t.toISOString();
}
