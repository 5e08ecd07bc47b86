/** Shared pieces of the KBS end-to-end tests: a real server on 127.0.0.1:0 over a real database. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey as JoseKey, type JWK } from 'jose';
import { createRequire } from 'node:module';
import { createSimAttester, type Attester } from '../../src/attester/index.ts';
import { randomBytes, toHex } from '../../src/core/index.ts';
import { createKbsServer, createPolicyEngine, DEV_SIM_POLICY, validateConfig, type KbsConfigInput, type KbsServer } from '../../src/kbs/index.ts';
import { computeReportData, KBS_PROTOCOL_VERSION, toReportDataField, type TeePubKey } from '../../src/protocol/index.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { simKeyThumbprint } from '../../src/verify/sim/index.ts';

interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}
// pg ships no type declarations; the two calls used here are typed by hand.
const pg = createRequire(import.meta.url)('pg') as { Client: new (o: { connectionString: string }) => PgClient };

export interface AdminCreds {
  publicJwk: JWK;
  privateKey: JoseKey;
  token: (roles?: string[], opts?: { expSeconds?: number }) => Promise<string>;
}

export async function adminCreds(alg: 'EdDSA' | 'ES256' = 'EdDSA'): Promise<AdminCreds> {
  const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return {
    publicJwk,
    privateKey,
    token: (roles = ['admin'], opts = {}) =>
      new SignJWT({ roles })
        .setProtectedHeader({ alg })
        .setSubject('test-admin')
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.expSeconds ?? 600))
        .sign(privateKey),
  };
}

/** A database for one test file: a SQLite file in a temp dir, or a fresh PostgreSQL database. */
export interface TestDb {
  url: string;
  drop(): Promise<void>;
}

export async function sqliteDb(): Promise<TestDb> {
  const dir = await mkdtemp(join(tmpdir(), 'teataster-kbs-'));
  return { url: join(dir, 'kbs.sqlite'), drop: () => rm(dir, { recursive: true, force: true }) };
}

export async function postgresDb(baseUrl: string): Promise<TestDb> {
  const name = `teataster_kbs_${toHex(randomBytes(6))}`;
  const c = new pg.Client({ connectionString: baseUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const d = new pg.Client({ connectionString: baseUrl });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

export interface TestKbs {
  server: KbsServer;
  store: Store;
  url: string;
  clock: { offsetMs: number };
  close(): Promise<void>;
}

export async function startTestKbs(db: TestDb, opts: { admin: AdminCreds; simThumbprints: string[]; masterKey: Uint8Array; config?: KbsConfigInput; seed?: boolean }): Promise<TestKbs> {
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    database: db.url,
    logLevel: 'silent',
    admin: { keys: [{ jwk: opts.admin.publicJwk as Record<string, unknown>, roles: ['admin'] }] },
    trustRoots: { sim: opts.simThumbprints },
    verify: { offline: true },
    ...(opts.config ?? {}),
  });
  const store = await openStore(db.url, { masterKey: opts.masterKey });
  const clock = { offsetMs: 0 };
  const now = () => new Date(Date.now() + clock.offsetMs);
  const engine = await createPolicyEngine(store, config);
  const server = await createKbsServer({ config, store, engine, now });
  const url = await server.listen();
  if (opts.seed !== false && !(await store.attestationPolicies.get('sim'))) await store.attestationPolicies.set('sim', DEV_SIM_POLICY, 'test');
  return {
    server,
    store,
    url,
    clock,
    async close() {
      await server.close();
      await store.close();
    },
  };
}

export async function simAttesterIn(dir: string): Promise<{ attester: Attester; thumbprint: string }> {
  const a = createSimAttester({ dir });
  return { attester: a, thumbprint: await simKeyThumbprint((await a.key()).publicJwk) };
}

/** Raw protocol steps, for the negative tests. */
export async function rawAuth(base: string, tee = 'sample', extra: unknown = ''): Promise<{ cookie: string; nonce: string; extra: unknown; status: number }> {
  const res = await fetch(`${base}/kbs/v0/auth`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: KBS_PROTOCOL_VERSION, tee, 'extra-params': extra }) });
  const body = (await res.json()) as { nonce: string; 'extra-params': unknown };
  const sc = res.headers.get('set-cookie') ?? '';
  const m = /kbs-session-id=([^;]+)/.exec(sc);
  return { cookie: m ? `kbs-session-id=${m[1]}` : '', nonce: body.nonce, extra: body['extra-params'], status: res.status };
}

export async function simEvidenceFor(attester: Attester, pubkey: TeePubKey, nonce: string, additional = ''): Promise<Record<string, unknown>> {
  const rd = toReportDataField(await computeReportData(pubkey, nonce, additional, 'sha384'));
  return (await attester.kbsEvidence!(rd)) as Record<string, unknown>;
}

export async function rawAttest(base: string, cookie: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}/kbs/v0/attest`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
