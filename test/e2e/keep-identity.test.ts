/**
 * Keep end to end in process, with the Keep CA registered on a real KBS (createKbsServer +
 * keepCaPlugin) over SQLite, and PostgreSQL when TEATASTER_TEST_PG_URL is set: deploy through the
 * admin API, run through RCAR with the sim TEE; the workload reads its attested identity
 * certificate and key from its in-memory /identity directory. Also: a Keep with another
 * measurement gets neither the workload key nor a certificate, and the database never holds the
 * workload key in the clear.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate as NodeX509 } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSimAttester } from '../../src/attester/index.ts';
import { fromUtf8, sha384, toHex, utf8, x509 } from '../../src/core/index.ts';
import { createKbsServer, createPolicyEngine, DEV_SIM_POLICY, validateConfig } from '../../src/kbs/index.ts';
import { encodeBundle, generateTenantKey, loadTenantKey, obtainKeepIdentity, packageKeep, releasePolicy, deployKeep, runKeep, evidenceSourceFor, keepCaPlugin } from '../../src/keep/index.ts';
import { cleanupExamples, exampleModule } from '../../src/keep/test-support/examples.ts';
import { generateMasterKey, openStore } from '../../src/store/index.ts';
import { adminCreds, postgresDb, simAttesterIn, sqliteDb, type TestDb } from './kbs-support.ts';

const pg = createRequire(import.meta.url)('pg') as { Client: new (o: { connectionString: string }) => { connect(): Promise<void>; query(sql: string): Promise<{ rows: Record<string, unknown>[] }>; end(): Promise<void> } };

after(cleanupExamples);

const backends: [string, () => Promise<TestDb>][] = [['sqlite', sqliteDb]];
if (process.env.TEATASTER_TEST_PG_URL) backends.push(['postgres', () => postgresDb(process.env.TEATASTER_TEST_PG_URL!)]);

for (const [backend, makeDb] of backends) {
  test(`keep identity + delivery on a KBS with the Keep CA (${backend})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'teataster-keep-id-'));
    const db = await makeDb();
    const admin = await adminCreds();
    const { attester, thumbprint } = await simAttesterIn(dir);
    const config = validateConfig({
      listen: { host: '127.0.0.1', port: 0 },
      database: db.url,
      logLevel: 'silent',
      admin: { keys: [{ jwk: admin.publicJwk as Record<string, unknown>, roles: ['admin'] }] },
      trustRoots: { sim: [thumbprint] },
      verify: { offline: true },
    });
    const store = await openStore(db.url, { masterKey: generateMasterKey() });
    const engine = await createPolicyEngine(store, config);
    const caKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=Keep CA (e2e)',
      keys: caKeys,
      notAfter: new Date(Date.now() + 86_400_000),
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
    });
    const server = await createKbsServer({ config, store, engine, plugins: [keepCaPlugin({ store, engine, caKey: caKeys.privateKey, caCertPem: ca.toString('pem'), ttlSeconds: 900 })] });
    const url = await server.listen();
    try {
      await store.attestationPolicies.set('sim', DEV_SIM_POLICY, 'test');
      const t = await generateTenantKey('ES384');
      const tenant = await loadTenantKey(JSON.stringify(t.privateJwk));
      const { bundle, workloadKey } = await packageKeep(exampleModule('read-file'), {
        name: 'web',
        version: '2.0.0',
        args: ['/identity/cert.pem', '/identity/key.pem'],
        identity: { dns: ['web.keep.test'] },
        limits: { memory_mb: 16, timeout_s: 30 },
      }, tenant);
      const measurement = toHex(await sha384(utf8('teataster-sim')));
      const policy = releasePolicy('sim', [{ name: 'sim.measurement', values: [measurement] }], { allowWarning: true });
      const dep = await deployKeep({ kbsUrl: url, adminToken: await admin.token(), bundle: encodeBundle(bundle), workloadKey: utf8(JSON.stringify(workloadKey)), tenantPublicJwk: JSON.stringify(t.publicJwk), policy });
      assert.equal(dep.ref, `kbs://${new URL(url).host}/keeps/web`);

      let out = '';
      const r = await runKeep({ ref: { kbsUrl: url, name: 'web' }, attester, stdout: (b) => { out += fromUtf8(b); } });
      assert.equal(r.exitCode, 0);
      assert.equal(r.signer, t.thumbprint);
      const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(out)?.[0];
      const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(out)?.[0];
      assert.ok(certPem && keyPem, out);
      assert.match(out, /^dir: ca\.pem cert\.pem key\.pem\n/);
      const cert = new NodeX509(certPem);
      assert.ok(cert.verify(new NodeX509(ca.toString('pem')).publicKey));
      assert.equal(cert.subjectAltName, 'DNS:web.keep.test, URI:urn:teataster:keep:web');
      assert.ok(new Date(cert.validTo).getTime() - Date.now() <= 900_000 + 5_000);
      // The certified key is the workload's key.pem.
      assert.deepEqual(createPublicKey(createPrivateKey(keyPem)).export({ format: 'der', type: 'spki' }), cert.publicKey.export({ format: 'der', type: 'spki' }));

      // Another measurement: no key, no certificate.
      const rogue = createSimAttester({ dir, measurement: await sha384(utf8('rogue image')) });
      await assert.rejects(runKeep({ ref: { kbsUrl: url, name: 'web' }, attester: rogue, stdout: () => assert.fail('rogue Keep ran') }), { code: 'ERR_POLICY_DENIED' });
      await assert.rejects(obtainKeepIdentity(url, evidenceSourceFor(rogue), 'web'), { code: 'ERR_POLICY_DENIED' });

      // The workload key is encrypted at rest: scan the database for it.
      const raw = Buffer.from(workloadKey.k, 'base64url');
      const needles = [Buffer.from(workloadKey.k), raw, Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('base64'))];
      let dump: Buffer;
      if (backend === 'sqlite') {
        await server.close();
        await store.close();
        const d = join(db.url, '..');
        dump = Buffer.concat(readdirSync(d).map((f) => readFileSync(join(d, f))));
      } else {
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        const tables = (await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")).rows.map((x) => String(x.table_name));
        const parts: string[] = [];
        for (const tbl of tables) for (const row of (await c.query(`SELECT row_to_json(t)::text AS j FROM "${tbl}" t`)).rows) parts.push(String(row.j));
        await c.end();
        dump = Buffer.from(parts.join('\n'));
        assert.ok(tables.length > 0);
      }
      assert.ok(dump.length > 0);
      for (const n of needles) assert.equal(dump.includes(n), false, 'workload key found in the clear in the database');
      assert.ok(dump.includes(Buffer.from('keeps/web/key')), 'the scan sees the resource rows');
    } finally {
      await server.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
