/**
 * The KBS end to end: a real server on 127.0.0.1:0, a real database (SQLite file; PostgreSQL too
 * when TEATASTER_TEST_PG_URL is set), the sim TEE, and the RCAR client or raw protocol messages.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { flattenedDecrypt } from 'jose';
import { createSimAttester, type Attester } from '../../src/attester/index.ts';
import { evidenceSourceOf } from '../../src/cli/commands/get-resource.ts';
import { randomBytes, utf8 } from '../../src/core/index.ts';
import { ADMIN_ROUTES } from '../../src/kbs/index.ts';
import { computeDeviceReportData, computeReportData, generateTeeKeyPair, KbsClient, KbsRequestFailed, TEE_KEY_KINDS, toReportDataField, type TeeKeyKind } from '../../src/protocol/index.ts';
import { adminCreds, postgresDb, rawAttest, rawAuth, simAttesterIn, simEvidenceFor, sqliteDb, startTestKbs, type AdminCreds, type TestDb, type TestKbs } from './kbs-support.ts';

const PG = process.env.TEATASTER_TEST_PG_URL;

async function expectFailure(p: Promise<unknown>, status: number, code?: string): Promise<KbsRequestFailed> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KbsRequestFailed, `expected KbsRequestFailed, got ${(e as Error).stack}`);
    assert.equal(e.status, status, e.message);
    if (code) assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

function suite(kind: 'sqlite' | 'postgres', makeDb: () => Promise<TestDb>): void {
  describe(`KBS end to end (${kind})`, () => {
    let db: TestDb;
    let kbs: TestKbs;
    let admin: AdminCreds;
    let adminToken: string;
    let dir: string;
    let attester: Attester;
    const masterKey = randomBytes(32);
    let hook: Server;
    const hooks: { signature: string; body: string }[] = [];
    const secret = utf8(`s3cret-${kind}-${Date.now()}`);

    const adminFetch = async (method: string, path: string, body?: unknown, token = adminToken) =>
      fetch(`${kbs.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': typeof body === 'string' ? 'application/octet-stream' : 'application/json' } : {}) }, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });

    const client = (opts: { keyKind?: TeeKeyKind; a?: Attester } = {}) => new KbsClient({ url: kbs.url, source: evidenceSourceOf(opts.a ?? attester), ...(opts.keyKind ? { keyKind: opts.keyKind } : {}) });

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'teataster-sim-'));
      const sim = await simAttesterIn(dir);
      attester = sim.attester;
      admin = await adminCreds();
      adminToken = await admin.token();
      db = await makeDb();
      hook = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          hooks.push({ signature: String(req.headers['teataster-signature']), body });
          res.end('ok');
        });
      });
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
      process.env.TEST_KBS_WEBHOOK_SECRET = 'whsec-e2e';
      kbs = await startTestKbs(db, {
        admin,
        simThumbprints: [sim.thumbprint],
        masterKey,
        config: { verify: { offline: true }, webhooks: [{ url: `http://127.0.0.1:${(hook.address() as { port: number }).port}/kbs`, secretEnv: 'TEST_KBS_WEBHOOK_SECRET' }] },
      });
      let r = await adminFetch('POST', '/kbs/v0/resource/default/key/one', new TextDecoder().decode(secret));
      assert.equal(r.status, 200, await r.text());
      r = await adminFetch('PUT', '/kbs/v0/admin/resource-policies', { glob: 'default/**', cel: 'platform == "sim" && status != "contraindicated"' });
      assert.equal(r.status, 200, await r.text());
      r = await adminFetch('PUT', '/kbs/v0/admin/resource-policies', { glob: 'prod/*/*', cel: 'platform == "snp" && !simulated && status == "affirming"' });
      assert.equal(r.status, 200, await r.text());
      r = await adminFetch('POST', '/kbs/v0/resource/prod/key/db', 'prod-secret-value');
      assert.equal(r.status, 200, await r.text());
    });
    after(async () => {
      hook?.close();
      await kbs?.close();
      await db?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    it('releases a secret after a full sim handshake (cookie), and again by EAR token (passport)', async () => {
      const c = client();
      assert.deepEqual(await c.getResource('default/key/one'), secret);
      const passport = new KbsClient({ url: kbs.url, source: evidenceSourceOf(attester), token: c.token!, key: c.keyPair! });
      assert.deepEqual(await passport.getResource('default/key/one', { bearer: true }), secret);
      const audit = (await (await adminFetch('GET', '/kbs/v0/admin/audit?kind=release,attestation')).json()) as { events: { kind: string; verdict: string }[] };
      assert.ok(audit.events.some((e) => e.kind === 'release' && e.verdict === 'released'));
      assert.ok(audit.events.some((e) => e.kind === 'attestation'));
    });

    it('encrypts to every tee-pubkey type; jose decrypts each JWE', async () => {
      for (const kindK of TEE_KEY_KINDS) {
        const key = await generateTeeKeyPair(kindK);
        const a = await rawAuth(kbs.url);
        const ev = await simEvidenceFor(attester, key.publicJwk, a.nonce);
        const att = await rawAttest(kbs.url, a.cookie, { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: ev, additional_evidence: '' } });
        assert.equal(att.status, 200, JSON.stringify(att.json));
        const res = await fetch(`${kbs.url}/kbs/v0/resource/default/key/one`, { headers: { cookie: a.cookie } });
        assert.equal(res.status, 200);
        const jwe = (await res.json()) as { protected: string; encrypted_key: string; iv: string; ciphertext: string; tag: string };
        const hdr = JSON.parse(Buffer.from(jwe.protected, 'base64url').toString()) as { alg: string; enc: string };
        assert.equal(hdr.enc, 'A256GCM');
        assert.equal(hdr.alg, kindK === 'RSA' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW');
        const { plaintext } = await flattenedDecrypt(jwe, key.privateKey);
        assert.deepEqual(new Uint8Array(plaintext), secret, kindK);
      }
    });

    it('refuses a replayed nonce (single use)', async () => {
      const key = await generateTeeKeyPair('P-256');
      const a = await rawAuth(kbs.url);
      const body = { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(attester, key.publicJwk, a.nonce), additional_evidence: '' } };
      assert.equal((await rawAttest(kbs.url, a.cookie, body)).status, 200);
      const again = await rawAttest(kbs.url, a.cookie, body);
      assert.equal(again.status, 401);
      assert.equal(again.json.type, 'https://teataster.dev/problems/nonce-replayed');
    });

    it('refuses an expired session', async () => {
      const key = await generateTeeKeyPair('P-256');
      const a = await rawAuth(kbs.url);
      const body = { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(attester, key.publicJwk, a.nonce), additional_evidence: '' } };
      kbs.clock.offsetMs = 301_000;
      try {
        const r = await rawAttest(kbs.url, a.cookie, body);
        assert.equal(r.status, 401);
        assert.equal(r.json.type, 'https://teataster.dev/problems/session-expired');
      } finally {
        kbs.clock.offsetMs = 0;
      }
    });

    it('refuses evidence bound to another nonce (report-data binding)', async () => {
      const key = await generateTeeKeyPair('P-256');
      const a = await rawAuth(kbs.url);
      const other = await rawAuth(kbs.url);
      const r = await rawAttest(kbs.url, a.cookie, { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(attester, key.publicJwk, other.nonce), additional_evidence: '' } });
      assert.equal(r.status, 401);
      assert.equal(r.json.code, 'ERR_BINDING_MISMATCH');
    });

    it('refuses a tee-pubkey that the evidence does not bind', async () => {
      const bound = await generateTeeKeyPair('P-256');
      const swapped = await generateTeeKeyPair('P-256');
      const a = await rawAuth(kbs.url);
      const r = await rawAttest(kbs.url, a.cookie, { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': swapped.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(attester, bound.publicJwk, a.nonce), additional_evidence: '' } });
      assert.equal(r.status, 401);
      assert.equal(r.json.code, 'ERR_BINDING_MISMATCH');
    });

    it('binds init-data to the evidence (digest in the init-data field), and refuses a mismatch', async () => {
      const body = 'algorithm = "sha384"\nversion = "0.1.0"\n[data]\n"policy.rego" = "..."\n';
      const withInit = createSimAttester({ dir, initData: new Uint8Array(createHash('sha384').update(body).digest()) });
      const key = await generateTeeKeyPair('P-256');
      let a = await rawAuth(kbs.url);
      let r = await rawAttest(kbs.url, a.cookie, { 'init-data': { format: 'toml', body }, 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(withInit, key.publicJwk, a.nonce), additional_evidence: '' } });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      a = await rawAuth(kbs.url);
      r = await rawAttest(kbs.url, a.cookie, { 'init-data': { format: 'toml', body: `${body}# changed\n` }, 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(withInit, key.publicJwk, a.nonce), additional_evidence: '' } });
      assert.equal(r.status, 401);
      assert.equal(r.json.code, 'ERR_BINDING_MISMATCH');
      // evidence without an init-data field cannot carry init-data
      a = await rawAuth(kbs.url);
      r = await rawAttest(kbs.url, a.cookie, { 'init-data': { format: 'toml', body }, 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(attester, key.publicJwk, a.nonce), additional_evidence: '' } });
      assert.equal(r.status, 401);
    });

    it('verifies additional (device) evidence bound to {tee-pubkey, nonce}, and refuses bad or unknown devices', async () => {
      const device = createSimAttester({ dir, instance: 'device-0' });
      const key = await generateTeeKeyPair('P-256');
      const attestWith = async (devEv: (nonce: string) => Promise<unknown>, mapKey = 'sample') => {
        const a = await rawAuth(kbs.url);
        const additional = JSON.stringify({ [mapKey]: await devEv(a.nonce) });
        const rd = toReportDataField(await computeReportData(key.publicJwk, a.nonce, additional));
        const primary = await attester.kbsEvidence!(rd);
        return rawAttest(kbs.url, a.cookie, { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: primary, additional_evidence: additional } });
      };
      const bound = (nonce: string) => computeDeviceReportData(key.publicJwk, nonce).then((d) => device.kbsEvidence!(toReportDataField(d)));
      let r = await attestWith(bound);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      // device evidence bound to the wrong data
      r = await attestWith(() => device.kbsEvidence!(randomBytes(64)));
      assert.equal(r.status, 401);
      assert.equal(r.json.code, 'ERR_BINDING_MISMATCH');
      // a device this KBS cannot verify
      r = await attestWith(bound, 'nvidia');
      assert.equal(r.status, 400);
      assert.equal(r.json.type, 'https://teataster.dev/problems/unsupported-tee');
    });

    it('expires passport tokens and attested sessions; housekeeping deletes expired sessions', async () => {
      const c = client();
      await c.handshake();
      const oldToken = c.token;
      // an attested raw session, to look at the cookie path without the client's retry
      const key = await generateTeeKeyPair('P-256');
      const a = await rawAuth(kbs.url);
      const att = await rawAttest(kbs.url, a.cookie, { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(attester, key.publicJwk, a.nonce), additional_evidence: '' } });
      assert.equal(att.status, 200);
      const pending = await rawAuth(kbs.url);
      const sid = pending.cookie.split('=')[1]!;
      assert.ok(await kbs.store.sessions.get(sid));
      kbs.clock.offsetMs = 400_000;
      try {
        let res = await fetch(`${kbs.url}/kbs/v0/resource/default/key/one`, { headers: { cookie: a.cookie } });
        assert.equal(res.status, 401);
        assert.equal(((await res.json()) as { type: string }).type, 'https://teataster.dev/problems/session-expired');
        assert.ok((await kbs.server.maintenance()).sessions >= 2);
        assert.equal(await kbs.store.sessions.get(sid), undefined);
        res = await fetch(`${kbs.url}/kbs/v0/resource/default/key/one`, { headers: { cookie: a.cookie } });
        assert.equal(res.status, 401);
        const passport = new KbsClient({ url: kbs.url, source: evidenceSourceOf(attester), token: c.token!, key: c.keyPair! });
        const e = await expectFailure(passport.getResource('default/key/one', { bearer: true }), 401, 'ERR_TOKEN_INVALID');
        assert.equal(e.problem!.type, 'https://teataster.dev/problems/token-invalid');
        // the client attests again on a 401, as Trustee's does
        assert.deepEqual(await c.getResource('default/key/one'), secret);
        assert.notEqual(c.token, oldToken);
      } finally {
        kbs.clock.offsetMs = 0;
      }
    });

    it('refuses tampered evidence and evidence from an unpinned sim key', async () => {
      const key = await generateTeeKeyPair('P-256');
      let a = await rawAuth(kbs.url);
      const ev = await simEvidenceFor(attester, key.publicJwk, a.nonce);
      const body = JSON.parse(Buffer.from(ev.payload as string, 'base64url').toString()) as Record<string, unknown>;
      body.svn = 99;
      const tampered = { ...ev, payload: Buffer.from(JSON.stringify(body)).toString('base64url') };
      let r = await rawAttest(kbs.url, a.cookie, { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: tampered, additional_evidence: '' } });
      assert.equal(r.status, 401);
      assert.equal(r.json.code, 'ERR_SIGNATURE_INVALID');

      const otherDir = await mkdtemp(join(tmpdir(), 'teataster-sim-other-'));
      try {
        const stranger = createSimAttester({ dir: otherDir });
        a = await rawAuth(kbs.url);
        r = await rawAttest(kbs.url, a.cookie, { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(stranger, key.publicJwk, a.nonce), additional_evidence: '' } });
        assert.equal(r.status, 401);
        assert.equal(r.json.code, 'ERR_ROOT_NOT_TRUSTED');
      } finally {
        await rm(otherDir, { recursive: true, force: true });
      }
    });

    it('denies by resource policy with 403 listing every failed rule, without leaking the secret', async () => {
      const c = client();
      const e = await expectFailure(c.getResource('prod/key/db'), 403, 'ERR_POLICY_DENIED');
      const p = e.problem!;
      assert.equal(p.type, 'https://teataster.dev/problems/resource-policy-denied');
      const rules = (p.violations ?? []).map((v) => v.rule);
      // platform == "snp" and !simulated fail for the sim TEE; both are listed
      assert.ok(rules.includes('prod/*/*#1') && rules.includes('prod/*/*#2'), JSON.stringify(p.violations));
      assert.ok(!JSON.stringify(p).includes('prod-secret-value'));
      // no policy covers the path at all: closed by default
      await expectFailure(c.getResource('other/key/x'), 403, 'ERR_POLICY_DENIED');
      // the denials reach the webhook, signed. Delivery is asynchronous (outbox + background
      // dispatcher, which may hold the item's lease), so wait for it, bounded.
      const deniedHooks = () => hooks.map((h) => ({ ...h, j: JSON.parse(h.body) as { event: string; payload: { resource: string } } })).filter((h) => h.j.event === 'resource.denied');
      for (let i = 0; i < 100 && !deniedHooks().some((h) => h.j.payload.resource === 'prod/key/db'); i++) {
        await kbs.server.webhooks.deliverDue();
        await new Promise((r) => setTimeout(r, 50));
      }
      const denied = deniedHooks();
      assert.ok(denied.some((h) => h.j.payload.resource === 'prod/key/db'), JSON.stringify(hooks));
      const h = denied[0]!;
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(h.signature)!;
      assert.equal(m[2], createHmac('sha256', 'whsec-e2e').update(`${m[1]}.${h.body}`).digest('hex'));
      assert.ok(!h.body.includes('prod-secret-value'));
    });

    it('denies by attestation policy (the default policy rejects simulated TEEs) with reasons', async () => {
      const saved = await kbs.store.attestationPolicies.get('sim');
      await kbs.store.attestationPolicies.delete('sim');
      try {
        const e = await expectFailure(client().handshake(), 403, 'ERR_POLICY_DENIED');
        assert.equal(e.problem!.type, 'https://teataster.dev/problems/attestation-policy-denied');
        assert.ok((e.problem!.violations ?? []).length >= 1);
      } finally {
        await kbs.store.attestationPolicies.set('sim', saved!.document, 'test');
      }
    });

    it('answers 404 for a missing resource the policy allows', async () => {
      await expectFailure(client().getResource('default/key/absent'), 404, 'ERR_NOT_FOUND');
    });

    it('answers 401 on every admin route without a valid admin token, 403 without the role', async () => {
      const outsider = await adminCreds('ES256');
      const foreign = await outsider.token();
      const expired = await admin.token(['admin'], { expSeconds: -3600 });
      for (const r of ADMIN_ROUTES) {
        const url = r.url.replace(':repository', 'default').replace(':type', 'key').replace(':tag', 'one').replace(':tee', 'sim').replace(':name', 'x');
        for (const auth of [undefined, 'Bearer not-a-jwt', `Bearer ${foreign}`, `Bearer ${expired}`]) {
          const res = await fetch(`${kbs.url}${url}`, { method: r.method, headers: { ...(auth ? { authorization: auth } : {}), ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { 'content-type': 'application/json' }) }, ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { body: '{}' }) });
          assert.equal(res.status, 401, `${r.method} ${url} with ${auth?.slice(0, 20) ?? 'no token'}`);
          assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
        }
      }
      const auditor = await admin.token(['auditor']);
      assert.equal((await adminFetch('POST', '/kbs/v0/resource/default/key/x', 'v', auditor)).status, 403);
      assert.equal((await adminFetch('GET', '/kbs/v0/admin/audit', undefined, auditor)).status, 200);
    });

    it('serves health, readiness, metrics and the OpenAPI document', async () => {
      assert.equal((await fetch(`${kbs.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${kbs.url}/readyz`)).status, 200);
      const m = await (await fetch(`${kbs.url}/metrics`)).text();
      assert.match(m, /teataster_kbs_handshakes_total\{step="attest",outcome="ok"\} \d+/);
      assert.match(m, /teataster_kbs_releases_total/);
      assert.match(m, /teataster_kbs_refusals_total/);
      const o = (await (await fetch(`${kbs.url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
      assert.equal(o.openapi, '3.1.0');
      assert.ok(o.paths['/kbs/v0/attest']);
    });

    it('keeps secrets encrypted at rest', async () => {
      const info = await kbs.store.resources.info('default/key/one');
      assert.ok(info);
      // The stored bytes never hold the plaintext. SQLite runs in WAL mode, so the dump is the main
      // file plus its -wal file; the resource path must show up in it, or the dump saw no rows.
      const needle = Buffer.from(secret);
      let dump: Buffer;
      if (kind === 'sqlite') {
        const { existsSync } = await import('node:fs');
        const { readFile } = await import('node:fs/promises');
        dump = Buffer.concat(await Promise.all([db.url, `${db.url}-wal`].filter((f) => existsSync(f)).map((f) => readFile(f))));
      } else {
        const { pgQuery } = await import('../../src/store/test-support/pg.ts');
        const rows = await pgQuery(db.url, 'SELECT * FROM tt_resources');
        dump = Buffer.concat(rows.flatMap((r) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v))))));
      }
      assert.notEqual(dump.indexOf(Buffer.from('default/key/one')), -1, 'the dump holds the resource rows');
      assert.equal(dump.indexOf(needle), -1);
    });

    if (kind === 'postgres') {
      it('serves one handshake across two instances on one database (auth on A, attest on B, resource on A)', async () => {
        const sim2 = await simAttesterIn(dir);
        const b = await startTestKbs(db, { admin, simThumbprints: [sim2.thumbprint], masterKey, seed: false });
        try {
          const key = await generateTeeKeyPair('P-384');
          const a = await rawAuth(kbs.url);
          const att = await rawAttest(b.url, a.cookie, { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(attester, key.publicJwk, a.nonce), additional_evidence: '' } });
          assert.equal(att.status, 200, JSON.stringify(att.json));
          const res = await fetch(`${kbs.url}/kbs/v0/resource/default/key/one`, { headers: { cookie: a.cookie } });
          assert.equal(res.status, 200, await res.clone().text());
          const { plaintext } = await flattenedDecrypt((await res.json()) as never, key.privateKey);
          assert.deepEqual(new Uint8Array(plaintext), secret);
          // The nonce is spent database-wide: a replay on A fails after B consumed it.
          const replay = await rawAttest(kbs.url, a.cookie, { 'runtime-data': { nonce: a.nonce, 'tee-pubkey': key.publicJwk }, 'tee-evidence': { primary_evidence: await simEvidenceFor(attester, key.publicJwk, a.nonce), additional_evidence: '' } });
          assert.equal(replay.status, 401);
          // B verifies a token A issued (passport mode across replicas).
          const c = client();
          await c.handshake();
          const passport = new KbsClient({ url: b.url, source: evidenceSourceOf(attester), token: c.token!, key: c.keyPair! });
          assert.deepEqual(await passport.getResource('default/key/one', { bearer: true }), secret);
        } finally {
          await b.close();
        }
      });
    }
  });
}

suite('sqlite', sqliteDb);
if (PG) suite('postgres', () => postgresDb(PG));
