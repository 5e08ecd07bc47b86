/**
 * The store contract, run against SQLite (temp file) and, when TEATASTER_TEST_PG_URL is set,
 * against PostgreSQL (a throwaway database per test, dropped afterwards).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import type { AttestError } from '../core/errors.ts';
import { hasCode } from '../../test/support/errors.ts';
import { generateMasterKey, localMasterKey, openStore, type MasterKeyProvider, type OpenStoreOptions, type Store } from './index.ts';
import { createTempPgDatabase, pgQuery, testPgUrl } from './test-support/pg.ts';

const execFileP = promisify(execFile);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

interface Db {
  url: string;
  /** Raw SQL with `?` placeholders, outside the store. */
  raw(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Everything an attacker with the database files / a dump would see. */
  dump(): Promise<Uint8Array>;
}

interface Backend {
  name: string;
  fresh(): Promise<Db>;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dirs: string[] = [];
  return {
    name: 'sqlite',
    async fresh() {
      const dir = await mkdtemp(join(tmpdir(), 'teataster-store-'));
      dirs.push(dir);
      const file = join(dir, 'kbs.db');
      return {
        url: file,
        async raw(sql, params = []) {
          const db = new DatabaseSync(file, { timeout: 5000 });
          try {
            const stmt = db.prepare(sql);
            const p = params as (string | number | null | Uint8Array)[];
            if (stmt.columns().length > 0) return stmt.all(...p) as Record<string, unknown>[];
            stmt.run(...p);
            return [];
          } finally {
            db.close();
          }
        },
        async dump() {
          const parts: Buffer[] = [];
          for (const f of [file, `${file}-wal`, `${file}-journal`]) if (existsSync(f)) parts.push(await readFile(f));
          return new Uint8Array(Buffer.concat(parts));
        },
      };
    },
    async cleanup() {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    },
  };
}

function pgBackend(base: string): Backend {
  const drops: (() => Promise<void>)[] = [];
  return {
    name: 'postgres',
    async fresh() {
      const t = await createTempPgDatabase(base);
      drops.push(t.drop);
      return {
        url: t.url,
        raw(sql, params = []) {
          let i = 0;
          return pgQuery(t.url, sql.replace(/\?/g, () => `$${++i}`), params);
        },
        async dump() {
          const { stdout } = await execFileP('pg_dump', ['--data-only', '--no-owner', t.url], { maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' });
          return new Uint8Array(stdout);
        },
      };
    },
    async cleanup() {
      for (const d of drops) await d().catch(() => undefined);
    },
  };
}

/** Rejects with AttestError `code` (and, when given, details.reason). */
async function rejectsWith(p: Promise<unknown>, code: string, reason?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    hasCode(code)(e);
    if (reason) assert.equal((e as AttestError).details.reason, reason);
    return true;
  });
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay).indexOf(Buffer.from(needle)) !== -1;
}

const backends: Backend[] = [sqliteBackend()];
const pgUrl = testPgUrl();
if (pgUrl) backends.push(pgBackend(pgUrl));

for (const backend of backends) {
  describe(`store on ${backend.name}`, () => {
    const open: Store[] = [];
    after(async () => {
      for (const s of open) await s.close().catch(() => undefined);
      await backend.cleanup();
    });
    async function openOn(db: Db, opts: Partial<OpenStoreOptions> & { masterKey: Uint8Array | MasterKeyProvider }): Promise<Store> {
      const s = await openStore(db.url, opts);
      open.push(s);
      return s;
    }

    test('migrations are idempotent and concurrent opens migrate once', async () => {
      const db = await backend.fresh();
      const key = generateMasterKey();
      const logs: string[] = [];
      const logger = { info: (o: object, m?: string) => logs.push(`${m} ${JSON.stringify(o)}`), warn: () => {}, error: () => {} };
      // Three stores opening a fresh database at once (separate pools on PostgreSQL).
      const stores = await Promise.all([0, 1, 2].map(() => openOn(db, { masterKey: key, logger })));
      assert.equal(logs.filter((l) => l.includes('0001_initial')).length, 1, logs.join('\n'));
      // They also agreed on one session data key: a token sealed by one opens in the others.
      await stores[0]!.sessions.create({ id: 'x', nonce: 'n', tee: 'sim', hashAlgorithm: 'sha384', expiresAt: at(1000) });
      await stores[1]!.sessions.markAttested('x', { token: 'tok', teePubKey: { kty: 'EC' }, claims: null, expiresAt: at(2000) });
      assert.equal((await stores[2]!.sessions.get('x'))?.attestation?.token, 'tok');
      for (const s of stores) await s.close();
      const again = await openOn(db, { masterKey: key, logger });
      assert.equal(logs.filter((l) => l.includes('0001_initial')).length, 1);
      await again.kv.set('k', { v: 1 });
      assert.deepEqual(await again.kv.get('k'), { v: 1 });
      const rows = await db.raw('select migration_name_x from (select name as migration_name_x from tt_migration) t');
      assert.deepEqual(rows.map((r) => r.migration_name_x), ['0001_initial']);
      await again.close();
    });

    test('sessions: create, get, consumeNonce reasons, markAttested, purgeExpired', async () => {
      const db = await backend.fresh();
      const s = await openOn(db, { masterKey: generateMasterKey() });
      await s.sessions.create({ id: 's1', nonce: 'n1', tee: 'snp', hashAlgorithm: 'sha384', expiresAt: at(300_000), extraParams: { p: [1, 'x'] }, createdAt: T0 });
      const got = await s.sessions.get('s1');
      assert.equal(got?.nonce, 'n1');
      assert.deepEqual(got?.extraParams, { p: [1, 'x'] });
      assert.equal(got?.createdAt.getTime(), T0.getTime());
      assert.equal(got?.nonceUsed, false);
      assert.equal(got?.attestation, null);
      assert.equal(await s.sessions.get('nope'), undefined);

      assert.deepEqual(await s.sessions.consumeNonce('nope', 'n1', at(1)), { ok: false, reason: 'not-found' });
      assert.equal((await s.sessions.consumeNonce('s1', 'wrong', at(1))).ok, false);
      assert.equal(((await s.sessions.consumeNonce('s1', 'wrong', at(1))) as { reason: string }).reason, 'nonce-mismatch');
      assert.equal(((await s.sessions.consumeNonce('s1', 'n1', at(300_000))) as { reason: string }).reason, 'expired');
      const ok = await s.sessions.consumeNonce('s1', 'n1', at(1));
      assert.equal(ok.ok, true);
      assert.equal(((await s.sessions.consumeNonce('s1', 'n1', at(2))) as { reason: string }).reason, 'already-used');

      await s.sessions.markAttested('s1', { token: 'eyJ.token.sig', tokenId: 'jti-1', teePubKey: { kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }, claims: { ear: { status: 'affirming' } }, expiresAt: at(900_000), attestedAt: at(5) });
      const att = (await s.sessions.get('s1'))?.attestation;
      assert.equal(att?.token, 'eyJ.token.sig');
      assert.equal(att?.tokenId, 'jti-1');
      assert.deepEqual(att?.teePubKey, { kty: 'EC', crv: 'P-256', x: 'a', y: 'b' });
      assert.equal(att?.expiresAt.getTime(), at(900_000).getTime());
      await rejectsWith(s.sessions.markAttested('missing', { token: 't', teePubKey: { kty: 'EC' }, claims: null, expiresAt: at(1) }), 'ERR_NOT_FOUND');

      await s.sessions.create({ id: 's2', nonce: 'n2', tee: 'sim', hashAlgorithm: 'sha256', expiresAt: at(100_000) });
      await s.sessions.create({ id: 's3', nonce: 'n3', tee: 'sim', hashAlgorithm: 'sha256', expiresAt: at(400_000) });
      assert.equal(await s.sessions.purgeExpired(at(99_999)), 0);
      assert.equal(await s.sessions.purgeExpired(at(350_000)), 1, 's2 expired; s1 handshake expired but attestation still valid');
      assert.equal(await s.sessions.get('s2'), undefined);
      assert.ok(await s.sessions.get('s1'));
      assert.equal(await s.sessions.purgeExpired(at(1_000_000)), 2);
      assert.equal(await s.sessions.delete('s3'), false);
    });

    test('nonce is single-use under concurrent consumers (two stores / pools racing)', async () => {
      const db = await backend.fresh();
      const key = generateMasterKey();
      const a = await openOn(db, { masterKey: key });
      const b = await openOn(db, { masterKey: key });
      const n = 25;
      for (let i = 0; i < n; i++) await a.sessions.create({ id: `race-${i}`, nonce: `nonce-${i}`, tee: 'sim', hashAlgorithm: 'sha384', expiresAt: at(60_000) });
      const attempts = [];
      for (let i = 0; i < n; i++) for (const s of [a, b, a, b]) attempts.push(s.sessions.consumeNonce(`race-${i}`, `nonce-${i}`, at(1)).then((r) => ({ i, r })));
      const results = await Promise.all(attempts);
      for (let i = 0; i < n; i++) {
        const mine = results.filter((x) => x.i === i);
        assert.equal(mine.filter((x) => x.r.ok).length, 1, `session ${i}: exactly one winner`);
        for (const x of mine.filter((y) => !y.r.ok)) assert.equal((x.r as { reason: string }).reason, 'already-used');
      }
    });

    test('nonce is single-use across two processes', async () => {
      const db = await backend.fresh();
      const key = generateMasterKey();
      const s = await openOn(db, { masterKey: key });
      const pairs: [string, string][] = [];
      for (let i = 0; i < 40; i++) pairs.push([`p-${i}`, `pn-${i}`]);
      await s.transaction(async (tx) => {
        for (const [id, nonce] of pairs) await tx.sessions.create({ id, nonce, tee: 'sim', hashAlgorithm: 'sha384', expiresAt: new Date(Date.now() + 600_000) });
      });
      const racer = new URL('./test-support/nonce-racer.ts', import.meta.url).pathname;
      const startAt = String(Date.now() + 1500);
      const run = () =>
        new Promise<string[]>((resolve, reject) => {
          const c = spawn(process.execPath, [racer, db.url, Buffer.from(key).toString('base64'), startAt, JSON.stringify(pairs)], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.stderr.on('data', (d: Buffer) => (err += d.toString()));
          c.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`racer exited ${code}: ${err}`))));
        });
      const [w1, w2] = await Promise.all([run(), run()]);
      const all = [...w1, ...w2].sort();
      assert.deepEqual(all, pairs.map(([id]) => id).sort(), 'every nonce consumed exactly once in total');
      assert.equal(new Set(all).size, all.length, 'no nonce consumed twice');
    });

    test('resources: versioned put/get/list/delete, path validation', async () => {
      const db = await backend.fresh();
      const s = await openOn(db, { masterKey: generateMasterKey() });
      const i1 = await s.resources.put('default/key/one', enc('first'), { createdBy: 'alice', contentType: 'text/plain', at: T0 });
      assert.equal(i1.version, 1);
      const i2 = await s.resources.put('default/key/one', enc('second'), { createdBy: 'bob', at: at(10) });
      assert.equal(i2.version, 2);
      assert.equal(i2.createdBy, 'alice');
      assert.equal(i2.updatedBy, 'bob');
      assert.equal(i2.createdAt.getTime(), T0.getTime());
      const got = await s.resources.get('default/key/one');
      assert.equal(dec(got!.value), 'second');
      assert.equal(got!.size, 6);
      assert.equal(got!.contentType, null);
      const bin = new Uint8Array(256).map((_, i) => i);
      await s.resources.put('default/bin/all_bytes', bin, { createdBy: 'alice' });
      assert.deepEqual((await s.resources.get('default/bin/all_bytes'))!.value, bin);
      await s.resources.put('defaultX/key/two', enc('x'), { createdBy: 'alice' });
      await s.resources.put('de_ault/key/three', enc('x'), { createdBy: 'alice' });
      assert.deepEqual((await s.resources.list('default/')).map((r) => r.path), ['default/bin/all_bytes', 'default/key/one']);
      assert.deepEqual((await s.resources.list('de_')).map((r) => r.path), ['de_ault/key/three'], "'_' is literal, not a wildcard");
      assert.equal((await s.resources.list()).length, 4);
      assert.equal(await s.resources.get('default/key/none'), undefined);
      assert.equal(await s.resources.delete('default/key/one'), true);
      assert.equal(await s.resources.delete('default/key/one'), false);
      assert.equal(await s.resources.get('default/key/one'), undefined);
      for (const bad of ['a/b', 'a/b/c/d', 'a/../c', '/a/b', 'a/b/', 'a/b/c\n', 'a b/c/d', '']) await rejectsWith(s.resources.put(bad, enc('x'), { createdBy: 'x' }), 'ERR_CONFIG_INVALID');
      // Concurrent writers of one path: versions are distinct and the last one read back decrypts.
      const infos = await Promise.all([1, 2, 3, 4].map((k) => s.resources.put('default/key/race', enc(`v${k}`), { createdBy: 'w' })));
      assert.deepEqual(infos.map((x) => x.version).sort(), [1, 2, 3, 4]);
      assert.match(dec((await s.resources.get('default/key/race'))!.value), /^v[1-4]$/);
    });

    test('encryption at rest: no plaintext in the database files / dump', async () => {
      const db = await backend.fresh();
      const s = await openOn(db, { masterKey: generateMasterKey() });
      const secret = `TOP-SECRET-${Math.random().toString(36).slice(2)}-value`;
      const keyD = `PRIVATE-D-${Math.random().toString(36).slice(2)}`;
      const token = `EAR-TOKEN-${Math.random().toString(36).slice(2)}`;
      const sessionId = `SESSION-ID-${Math.random().toString(36).slice(2)}`;
      await s.resources.put('default/key/secret', enc(secret), { createdBy: 'admin' });
      await s.signingKeys.put({ kid: 'kid-1', alg: 'ES256', publicJwk: { kty: 'EC', crv: 'P-256', x: 'X', y: 'Y' }, privateJwk: { kty: 'EC', crv: 'P-256', x: 'X', y: 'Y', d: keyD }, createdAt: T0, notAfter: null });
      await s.sessions.create({ id: sessionId, nonce: 'n', tee: 'sim', hashAlgorithm: 'sha384', expiresAt: at(1e9) });
      await s.sessions.markAttested(sessionId, { token, teePubKey: { kty: 'EC' }, claims: {}, expiresAt: at(1e9) });
      assert.equal(dec((await s.resources.get('default/key/secret'))!.value), secret);
      await s.close();
      const dump = await db.dump();
      assert.ok(dump.length > 1000, 'dump is not empty');
      assert.ok(contains(dump, enc('default/key/secret')), 'sanity: the dump does contain non-secret metadata');
      for (const p of [secret, keyD, token, sessionId]) {
        for (const form of [enc(p), enc(Buffer.from(p).toString('hex')), enc(Buffer.from(p).toString('base64'))]) {
          assert.equal(contains(dump, form), false, `${p} found in the ${backend.name} dump`);
        }
      }
    });

    test('tampered ciphertext, swapped rows and relabelled versions are rejected', async () => {
      const db = await backend.fresh();
      const s = await openOn(db, { masterKey: generateMasterKey() });
      await s.resources.put('r/k/a', enc('alpha'), { createdBy: 'x' });
      await s.resources.put('r/k/b', enc('bravo'), { createdBy: 'x' });
      await s.resources.put('r/k/c', enc('charlie'), { createdBy: 'x' });
      await s.resources.put('r/k/c', enc('charlie2'), { createdBy: 'x' });
      // 1. one flipped ciphertext byte
      const [row] = await db.raw('select ciphertext from tt_resources where path = ?', ['r/k/a']);
      const ct = new Uint8Array(row!.ciphertext as Uint8Array);
      ct[ct.length - 20]! ^= 0x01;
      await db.raw('update tt_resources set ciphertext = ? where path = ?', [backend.name === 'postgres' ? Buffer.from(ct) : ct, 'r/k/a']);
      await rejectsWith(s.resources.get('r/k/a'), 'ERR_INTERNAL', 'integrity');
      // 2. row b's ciphertext and wrapped key copied into row c (same version numbers aside)
      await db.raw('update tt_resources set version = 1 where path = ?', ['r/k/c']);
      await rejectsWith(s.resources.get('r/k/c'), 'ERR_INTERNAL', 'integrity');
      await db.raw('update tt_resources set ciphertext = (select ciphertext from tt_resources where path = ?), wrapped_key = (select wrapped_key from tt_resources where path = ?), size = 5 where path = ?', ['r/k/b', 'r/k/b', 'r/k/c']);
      await rejectsWith(s.resources.get('r/k/c'), 'ERR_INTERNAL', 'integrity');
      // 3. untouched row still fine
      assert.equal(dec((await s.resources.get('r/k/b'))!.value), 'bravo');
      // 4. signing key: swapped kid
      const jwk = (d: string) => ({ kty: 'OKP', crv: 'Ed25519', x: 'x', d });
      await s.signingKeys.put({ kid: 'k1', alg: 'EdDSA', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x' }, privateJwk: jwk('d1'), createdAt: T0, notAfter: null });
      await s.signingKeys.put({ kid: 'k2', alg: 'EdDSA', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x' }, privateJwk: jwk('d2'), createdAt: at(1), notAfter: null });
      await db.raw('update tt_signing_keys set private_ct = (select private_ct from tt_signing_keys where kid = ?), wrapped_key = (select wrapped_key from tt_signing_keys where kid = ?) where kid = ?', ['k1', 'k1', 'k2']);
      assert.equal((await s.signingKeys.get('k1'))?.privateJwk.d, 'd1');
      await rejectsWith(s.signingKeys.get('k2'), 'ERR_INTERNAL', 'integrity');
    });

    test('wrong master key is refused at open with ERR_CONFIG_INVALID; rotation re-wraps', async () => {
      const db = await backend.fresh();
      const k1 = generateMasterKey();
      const k2 = generateMasterKey();
      const s1 = await openOn(db, { masterKey: k1 });
      await s1.resources.put('a/b/c', enc('rotate-me'), { createdBy: 'x' });
      await s1.signingKeys.put({ kid: 'k', alg: 'ES256', publicJwk: { kty: 'EC' }, privateJwk: { kty: 'EC', d: 'dd' }, createdAt: T0, notAfter: null });
      await s1.close();
      await rejectsWith(openStore(db.url, { masterKey: k2 }), 'ERR_CONFIG_INVALID', 'wrong-master-key');
      // A provider claiming k1's id but holding another key (a misconfigured KMS alias).
      const impostor: MasterKeyProvider = { ...localMasterKey(k2), id: localMasterKey(k1).id };
      await rejectsWith(openStore(db.url, { masterKey: impostor }), 'ERR_CONFIG_INVALID', 'wrong-master-key');

      const rot = await openOn(db, { masterKey: k2, previousMasterKeys: [k1] });
      assert.equal(dec((await rot.resources.get('a/b/c'))!.value), 'rotate-me');
      await rot.resources.put('a/b/new', enc('new'), { createdBy: 'x' });
      assert.equal((await rot.resources.info('a/b/new'))?.keyId, localMasterKey(k2).id);
      assert.deepEqual(await rot.rewrapSecrets(), { resources: 1, signingKeys: 1, meta: 1 });
      assert.deepEqual(await rot.rewrapSecrets(), { resources: 0, signingKeys: 0, meta: 0 });
      await rot.close();
      const s2 = await openOn(db, { masterKey: k2 });
      assert.equal(dec((await s2.resources.get('a/b/c'))!.value), 'rotate-me');
      assert.equal((await s2.signingKeys.get('k'))?.privateJwk.d, 'dd');
      await s2.close();
      await rejectsWith(openStore(db.url, { masterKey: k1 }), 'ERR_CONFIG_INVALID', 'wrong-master-key');
    });

    test('policies and reference values keep versions and provenance', async () => {
      const db = await backend.fresh();
      const s = await openOn(db, { masterKey: generateMasterKey() });
      const p1 = await s.resourcePolicies.set('default/*/*', 'ear.status == "affirming"', { updatedBy: 'alice', description: 'all', at: T0 });
      assert.equal(p1.version, 1);
      const p2 = await s.resourcePolicies.set('default/*/*', 'true', { updatedBy: 'bob', at: at(1) });
      assert.equal(p2.version, 2);
      assert.equal(p2.description, null);
      assert.equal(p2.updatedBy, 'bob');
      await s.resourcePolicies.set('prod/**', 'false', { updatedBy: 'bob' });
      assert.deepEqual((await s.resourcePolicies.list()).map((p) => p.glob), ['default/*/*', 'prod/**']);
      assert.equal(await s.resourcePolicies.delete('prod/**'), true);
      assert.equal(await s.resourcePolicies.get('prod/**'), undefined);

      const doc = 'version: 1\nplatform: snp\nrules: []\n';
      assert.equal((await s.attestationPolicies.set('snp', doc, 'alice')).version, 1);
      assert.equal((await s.attestationPolicies.set('snp', `${doc}# v2\n`, 'bob')).version, 2);
      await s.attestationPolicies.set('default', '{}', 'alice');
      assert.equal((await s.attestationPolicies.get('snp'))?.document, `${doc}# v2\n`);
      assert.equal(await s.attestationPolicies.get('tdx'), undefined);
      assert.deepEqual((await s.attestationPolicies.list()).map((p) => p.tee), ['default', 'snp']);
      await rejectsWith(s.attestationPolicies.set('x', 'y'.repeat(1024 * 1024 + 1), 'a'), 'ERR_LIMIT_EXCEEDED');

      const rv = await s.referenceValues.put({ name: 'snp.measurement', kind: 'list', value: ['ab'.repeat(48), 'cd'.repeat(48)], source: 'https://example.test/build/42', addedBy: 'ci', addedAt: T0, expiresAt: at(1000), description: 'release 42' });
      assert.deepEqual(rv.value, ['ab'.repeat(48), 'cd'.repeat(48)]);
      await s.referenceValues.put({ name: 'snp.min_svn', kind: 'svn', value: 7, source: 'manual', addedBy: 'alice' });
      await s.referenceValues.put({ name: 'tdx.mrtd', kind: 'digest', value: 'ee'.repeat(48), source: 'manual', addedBy: 'alice' });
      const got = await s.referenceValues.get('snp.measurement');
      assert.equal(got?.source, 'https://example.test/build/42');
      assert.equal(got?.addedBy, 'ci');
      assert.equal(got?.expiresAt?.getTime(), at(1000).getTime());
      assert.deepEqual((await s.referenceValues.list({ prefix: 'snp.' })).map((r) => r.name), ['snp.measurement', 'snp.min_svn']);
      assert.deepEqual((await s.referenceValues.list({ prefix: 'snp.', now: at(1000) })).map((r) => r.name), ['snp.min_svn'], 'expired left out');
      await s.referenceValues.put({ name: 'snp.min_svn', kind: 'svn', value: 8, source: 'manual', addedBy: 'bob' });
      assert.equal((await s.referenceValues.get('snp.min_svn'))?.value, 8);
      assert.equal((await s.referenceValues.get('snp.min_svn'))?.addedBy, 'bob');
      await rejectsWith(s.referenceValues.put({ name: 'x', kind: 'bogus' as 'svn', value: 1, source: 's', addedBy: 'a' }), 'ERR_CONFIG_INVALID');
      assert.equal(await s.referenceValues.delete('tdx.mrtd'), true);
      assert.equal(await s.referenceValues.get('tdx.mrtd'), undefined);
    });

    test('signing keys: put, duplicate refused, retire, list oldest first', async () => {
      const db = await backend.fresh();
      const s = await openOn(db, { masterKey: generateMasterKey() });
      const pub = { kty: 'EC', crv: 'P-384', x: 'x', y: 'y' };
      await s.signingKeys.put({ kid: 'b', alg: 'ES384', publicJwk: pub, privateJwk: { ...pub, d: 'db' }, createdAt: at(10), notAfter: at(1e6) });
      await s.signingKeys.put({ kid: 'a', alg: 'ES384', publicJwk: pub, privateJwk: { ...pub, d: 'da' }, createdAt: at(0), notAfter: null });
      await rejectsWith(s.signingKeys.put({ kid: 'a', alg: 'ES384', publicJwk: pub, privateJwk: { ...pub, d: 'zz' }, createdAt: at(0), notAfter: null }), 'ERR_CONFIG_INVALID');
      await rejectsWith(s.signingKeys.put({ kid: 'c', alg: 'ES384', publicJwk: { ...pub, d: 'leak' }, privateJwk: { ...pub, d: 'leak' }, createdAt: at(0), notAfter: null }), 'ERR_CONFIG_INVALID');
      await s.signingKeys.retire('a', at(20));
      await rejectsWith(s.signingKeys.retire('zz', at(20)), 'ERR_NOT_FOUND');
      const list = await s.signingKeys.list();
      assert.deepEqual(list.map((k) => [k.kid, k.privateJwk.d, k.retiredAt?.getTime() ?? null, k.notAfter?.getTime() ?? null]), [
        ['a', 'da', at(20).getTime(), null],
        ['b', 'db', null, at(1e6).getTime()],
      ]);
      assert.equal(await s.signingKeys.delete('a'), true);
      assert.equal((await s.signingKeys.list()).length, 1);
    });

    test('signing keys: decrypted once per key, not once per list (KMS round trips), tamper still caught', async () => {
      const db = await backend.fresh();
      const inner = localMasterKey(generateMasterKey());
      let unwraps = 0;
      const counting: MasterKeyProvider = { id: inner.id, wrap: (k, a) => inner.wrap(k, a), unwrap: (w, a) => (unwraps++, inner.unwrap(w, a)) };
      const s = await openOn(db, { masterKey: counting });
      const base = unwraps;
      const pub = { kty: 'OKP', crv: 'Ed25519', x: 'x' };
      await s.signingKeys.put({ kid: 'k1', alg: 'EdDSA', publicJwk: pub, privateJwk: { ...pub, d: 'd1' }, createdAt: T0, notAfter: null });
      await s.signingKeys.put({ kid: 'k2', alg: 'EdDSA', publicJwk: pub, privateJwk: { ...pub, d: 'd2' }, createdAt: at(1), notAfter: null });
      for (let i = 0; i < 5; i++) assert.deepEqual((await s.signingKeys.list()).map((k) => k.privateJwk.d), ['d1', 'd2']);
      assert.equal(unwraps - base, 2);
      const listed = await s.signingKeys.list();
      listed[0]!.privateJwk.d = 'mutated';
      assert.equal((await s.signingKeys.get('k1'))?.privateJwk.d, 'd1', 'callers get copies');
      await db.raw('update tt_signing_keys set private_ct = (select private_ct from tt_signing_keys where kid = ?) where kid = ?', ['k1', 'k2']);
      await rejectsWith(s.signingKeys.list(), 'ERR_INTERNAL', 'integrity');
    });

    test('audit: filters, newest first, JSON-lines export across pages', async () => {
      const db = await backend.fresh();
      const s = await openOn(db, { masterKey: generateMasterKey() });
      await s.audit.append({ kind: 'attestation', at: at(1000), platform: 'snp', verdict: 'affirming', evidenceDigest: 'ab', client: '10.0.0.1', reasons: [], ruleResults: [{ rule: 'debug', pass: true }] });
      await s.audit.append({ kind: 'attestation', at: at(2000), platform: 'tdx', verdict: 'contraindicated', reasons: ['debug enabled'] });
      await s.audit.append({ kind: 'release', at: at(3000), resource: 'default/key/one', tokenId: 'jti', ruleResults: [{ rule: 'r', pass: true }] });
      await s.audit.append({ kind: 'refusal', at: at(4000), resource: 'default/key/two', verdict: 'denied', reasons: ['rule r failed'] });
      await s.audit.append({ kind: 'admin', at: at(5000), actor: 'alice', detail: { action: 'put-resource', path: 'default/key/one' } });
      await rejectsWith(s.audit.append({ kind: 'other' as 'admin', at: T0 }), 'ERR_CONFIG_INVALID');
      const all = await s.audit.query();
      assert.deepEqual(all.map((e) => e.kind), ['admin', 'refusal', 'release', 'attestation', 'attestation']);
      assert.deepEqual(all[4]!.ruleResults, [{ rule: 'debug', pass: true }]);
      assert.equal(all[4]!.client, '10.0.0.1');
      assert.deepEqual(all[0]!.detail, { action: 'put-resource', path: 'default/key/one' });
      assert.deepEqual((await s.audit.query({ kind: 'attestation' })).map((e) => e.platform), ['tdx', 'snp']);
      assert.deepEqual((await s.audit.query({ kind: ['release', 'refusal'] })).map((e) => e.kind), ['refusal', 'release']);
      assert.deepEqual((await s.audit.query({ since: at(2000), until: at(4000) })).map((e) => e.at.getTime()), [at(3000).getTime(), at(2000).getTime()]);
      assert.deepEqual((await s.audit.query({ limit: 2 })).map((e) => e.kind), ['admin', 'refusal']);
      assert.deepEqual((await s.audit.query({ resource: 'default/key/two' })).map((e) => e.kind), ['refusal']);
      assert.deepEqual((await s.audit.query({ platform: 'snp', verdict: 'affirming' })).length, 1);
      assert.deepEqual(await s.audit.query({ kind: [] }), []);
      await rejectsWith(s.audit.query({ limit: 0 }), 'ERR_CONFIG_INVALID');

      // 1100 more events, many sharing one timestamp, so the export crosses page boundaries on ties.
      await s.transaction(async (tx) => {
        for (let i = 0; i < 1100; i++) await tx.audit.append({ kind: 'release', at: at(10_000 + Math.floor(i / 300)), resource: `r/${i}` });
      });
      const lines: string[] = [];
      for await (const l of s.audit.exportJsonLines({ kind: 'release' })) lines.push(l);
      assert.equal(lines.length, 1101);
      assert.ok(lines.every((l) => l.endsWith('\n')));
      const parsed = lines.map((l) => JSON.parse(l) as { id: number; at: string; resource: string });
      assert.equal(new Set(parsed.map((p) => p.id)).size, 1101, 'no duplicates across pages');
      for (let i = 1; i < parsed.length; i++) {
        const [p, q] = [parsed[i - 1]!, parsed[i]!];
        assert.ok(p.at > q.at || (p.at === q.at && p.id > q.id), 'newest first');
      }
      assert.equal(parsed[parsed.length - 1]!.resource, 'default/key/one');
      let limited = 0;
      for await (const _ of s.audit.exportJsonLines({ limit: 3 })) limited++;
      assert.equal(limited, 3);
    });

    test('webhook outbox: claim semantics, leases, retries, dead letters', async () => {
      const db = await backend.fresh();
      const s = await openOn(db, { masterKey: generateMasterKey() });
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push(await s.webhookOutbox.enqueue({ event: 'attestation.failed', payload: { i }, at: at(i), url: 'https://hooks.example.test/x' }));
      const future = await s.webhookOutbox.enqueue({ event: 'resource.denied', payload: {}, at: at(1_000_000) });
      const c1 = await s.webhookOutbox.claimDue(at(100), 3, { leaseMs: 10_000 });
      assert.deepEqual(c1.map((x) => x.id), ids.slice(0, 3));
      assert.ok(c1.every((x) => x.attempts === 1 && x.nextAttemptAt.getTime() === at(10_100).getTime()));
      const c2 = await s.webhookOutbox.claimDue(at(100), 3, { leaseMs: 10_000 });
      assert.deepEqual(c2.map((x) => x.id), ids.slice(3), 'claimed items are not handed out again');
      assert.deepEqual(await s.webhookOutbox.claimDue(at(200), 10), []);
      await s.webhookOutbox.markDone(ids[0]!, at(150));
      assert.equal(await s.webhookOutbox.markFailed(ids[1]!, 'HTTP 500', 5000, at(150)), 'pending');
      assert.equal((await s.webhookOutbox.get(ids[1]!))?.lastError, 'HTTP 500');
      // lease of ids[2..4] expires at 10_100; ids[1] retries at 5_150
      assert.deepEqual((await s.webhookOutbox.claimDue(at(5_150), 10)).map((x) => x.id), [ids[1]]);
      const again = await s.webhookOutbox.claimDue(at(10_100), 10);
      assert.deepEqual(again.map((x) => x.id), ids.slice(2, 5), 'expired leases come back');
      assert.ok(again.every((x) => x.attempts === 2));
      await rejectsWith(s.webhookOutbox.markDone(999_999), 'ERR_NOT_FOUND');
      // dead letter after maxAttempts
      const d = await s.webhookOutbox.enqueue({ event: 'x', payload: null, at: T0, maxAttempts: 2 });
      await s.webhookOutbox.claimDue(at(0), 100);
      assert.equal(await s.webhookOutbox.markFailed(d, 'e1', 0, at(1)), 'pending');
      const [dc] = (await s.webhookOutbox.claimDue(at(1), 100)).filter((x) => x.id === d);
      assert.equal(dc?.attempts, 2);
      assert.equal(await s.webhookOutbox.markFailed(d, 'e2', 0, at(2)), 'dead');
      assert.equal((await s.webhookOutbox.claimDue(at(1e9), 100)).some((x) => x.id === d), false);
      // a crashed worker on the last attempt: the item dies when its lease runs out
      const crash = await s.webhookOutbox.enqueue({ event: 'x', payload: null, at: T0, maxAttempts: 1 });
      assert.ok((await s.webhookOutbox.claimDue(at(0), 100)).some((x) => x.id === crash));
      assert.equal((await s.webhookOutbox.claimDue(at(10_000_000), 100)).some((x) => x.id === crash), false);
      assert.equal((await s.webhookOutbox.get(crash))?.status, 'dead');
      assert.equal((await s.webhookOutbox.get(future))?.status, 'pending');
      assert.ok((await s.webhookOutbox.purge(new Date(8.64e15))) >= 3);
      assert.equal(await s.webhookOutbox.get(ids[0]!), undefined);
    });

    test('webhook outbox: concurrent claimers never share an item', async () => {
      const db = await backend.fresh();
      const key = generateMasterKey();
      const a = await openOn(db, { masterKey: key });
      const b = await openOn(db, { masterKey: key });
      for (let i = 0; i < 40; i++) await a.webhookOutbox.enqueue({ event: 'e', payload: i, at: T0 });
      const claims = await Promise.all([a, b, a, b, a, b].map((s) => s.webhookOutbox.claimDue(at(1), 7)));
      const ids = claims.flat().map((x) => x.id);
      assert.equal(ids.length, 40);
      assert.equal(new Set(ids).size, 40);
    });

    test('transactions commit together or not at all; kv', async () => {
      const db = await backend.fresh();
      const s = await openOn(db, { masterKey: generateMasterKey() });
      await assert.rejects(
        s.transaction(async (tx) => {
          await tx.kv.set('t1', 1);
          await tx.resources.put('t/x/y', enc('v'), { createdBy: 'x' });
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await s.kv.get('t1'), undefined);
      assert.equal(await s.resources.get('t/x/y'), undefined);
      const r = await s.transaction(async (tx) => {
        await tx.kv.set('t1', { a: [1, 2] });
        await tx.resources.put('t/x/y', enc('v'), { createdBy: 'x' });
        return tx.kv.get('t1');
      });
      assert.deepEqual(r, { a: [1, 2] });
      assert.equal(dec((await s.resources.get('t/x/y'))!.value), 'v');
      assert.equal(await s.kv.setIfAbsent('once', 'first'), true);
      assert.equal(await s.kv.setIfAbsent('once', 'second'), false);
      assert.equal(await s.kv.get('once'), 'first');
      assert.equal(await s.kv.delete('once'), true);
      await s.ping();
    });
  });
}

test('sqlite database file is created owner-only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'teataster-store-'));
  try {
    const s = await openStore(join(dir, 'sub', 'x.db'), { masterKey: generateMasterKey() });
    await s.close();
    assert.equal((await stat(join(dir, 'sub', 'x.db'))).mode & 0o077, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('openStore: bad database URL and unreachable PostgreSQL are ERR_CONFIG_INVALID', async () => {
  await rejectsWith(openStore('', { masterKey: generateMasterKey() }), 'ERR_CONFIG_INVALID');
  await rejectsWith(openStore('postgres://nobody:pw@127.0.0.1:1/none', { masterKey: generateMasterKey() }), 'ERR_CONFIG_INVALID', 'unreachable');
  await rejectsWith(openStore(':memory:', { masterKey: new Uint8Array(16) }), 'ERR_CONFIG_INVALID');
});
