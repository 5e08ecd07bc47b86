/**
 * Keep end to end with a real software TPM (swtpm) as the TEE. The operator enrols the swtpm's AK
 * by issuing it an AK certificate from an operator CA the KBS trusts (trustRoots.tpm: the
 * "certificate" AK-trust mode of docs/tpm.md); the Keep's evidence carries that certificate next to
 * a real TPM2_Quote. The release policy pins a PCR the test extends; after the PCR changes, the
 * same Keep gets nothing.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTpmAttester, describeKeys, openTpm } from '../../src/attester/tpm/index.ts';
import type { Attester } from '../../src/attester/index.ts';
import { parseTpmtPublic, tpmPublicToJwk } from '../../src/evidence/tpm/index.ts';
import { startSwtpm, type Swtpm } from '../../src/attester/tpm/test-support/swtpm.ts';
import { fingerprint, fromUtf8, toBase64, toHex, utf8, x509 } from '../../src/core/index.ts';
import { createKbsServer, createPolicyEngine, validateConfig, type KbsServer } from '../../src/kbs/index.ts';
import { deployKeep, encodeBundle, generateTenantKey, loadTenantKey, packageKeep, releasePolicy, runKeep } from '../../src/keep/index.ts';
import { cleanupExamples, exampleModule } from '../../src/keep/test-support/examples.ts';
import { generateMasterKey, openStore, type Store } from '../../src/store/index.ts';
import { adminCreds, sqliteDb, type TestDb } from './kbs-support.ts';

const SHA256 = 0x000b;
const PCR = 8;
let swtpm: Swtpm;
let dir: string;
let db: TestDb;
let store: Store;
let server: KbsServer;
let url: string;
let akCertDer: Uint8Array;
let caDer: Uint8Array;
let adminToken: string;

async function extend(data: string): Promise<string> {
  const c = await openTpm({ tcp: { port: swtpm.port } });
  try {
    await c.pcrExtend(PCR, [{ alg: SHA256, digest: createHash('sha256').update(data).digest() }]);
    const v = (await c.pcrRead([{ hash: SHA256, pcrs: [PCR], sizeofSelect: 3 }])).get(SHA256)?.get(PCR);
    assert.ok(v);
    return toHex(v);
  } finally {
    await c.transport.close();
  }
}

before(async () => {
  swtpm = await startSwtpm('sha256');
  dir = mkdtempSync(join(tmpdir(), 'teataster-keep-tpm-'));
  const c = await openTpm({ tcp: { port: swtpm.port } });
  const keys = await describeKeys(c);
  await c.transport.close();
  // Operator CA → AK certificate over the AK public area.
  const caKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=operator AK CA (e2e)', keys: caKeys, notAfter: new Date(Date.now() + 86_400_000), extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)] });
  const akJwk = tpmPublicToJwk(parseTpmtPublic(keys.akPublic));
  const akKey = await crypto.subtle.importKey('jwk', akJwk as JsonWebKey, akJwk.kty === 'RSA' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: akJwk.crv }, true, ['verify']);
  const akCert = await x509.X509CertificateGenerator.create({ subject: 'CN=swtpm AK', issuer: ca.subject, publicKey: akKey, signingKey: caKeys.privateKey, notAfter: new Date(Date.now() + 86_400_000), extensions: [new x509.BasicConstraintsExtension(false, undefined, true)] });
  akCertDer = new Uint8Array(akCert.rawData);
  caDer = new Uint8Array(ca.rawData);
  db = await sqliteDb();
  const admin = await adminCreds();
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    database: db.url,
    logLevel: 'silent',
    admin: { keys: [{ jwk: admin.publicJwk as Record<string, unknown>, roles: ['admin'] }] },
    trustRoots: { tpm: [await fingerprint(ca)] },
    verify: { offline: true },
  });
  store = await openStore(db.url, { masterKey: generateMasterKey() });
  const engine = await createPolicyEngine(store, config);
  server = await createKbsServer({ config, store, engine });
  url = await server.listen();
  adminToken = await admin.token();
});

after(async () => {
  await server?.close().catch(() => undefined);
  await store?.close().catch(() => undefined);
  await db?.drop();
  await swtpm?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  cleanupExamples();
});

test('keep on swtpm: PCR-pinned release, run, and refusal after the PCR changes', async () => {
  const pcr = await extend('keep boot image v1');
  const t = await generateTenantKey('EdDSA');
  const { bundle, workloadKey } = await packageKeep(exampleModule('secret-digest'), {
    name: 'tpm-hello',
    version: '1',
    args: ['API_TOKEN'],
    secrets: { API_TOKEN: 'default/tpm-hello/token' },
    limits: { memory_mb: 16, timeout_s: 30 },
  }, await loadTenantKey(JSON.stringify(t.privateJwk)));
  const token = adminToken;
  const put = await fetch(`${url}/kbs/v0/admin/resources/default/tpm-hello/token`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: Buffer.from('tpm-secret') });
  assert.equal(put.status, 200);
  await deployKeep({
    kbsUrl: url,
    adminToken: token,
    bundle: encodeBundle(bundle),
    workloadKey: utf8(JSON.stringify(workloadKey)),
    tenantPublicJwk: JSON.stringify(t.publicJwk),
    policy: releasePolicy('tpm', [{ name: `tpm.sha256.pcr${PCR}`, values: [pcr] }], { allowWarning: true }),
  });
  const tpm = createTpmAttester({ tcp: { port: swtpm.port }, eventLog: false, banks: [SHA256] });
  // The enrolled AK certificate (and its CA, pinned by fingerprint) travel in the evidence bundle.
  const attester: Attester = {
    id: 'tpm',
    available: () => tpm.available(),
    evidence: async (rd) => {
      const bundle = JSON.parse(fromUtf8(await tpm.evidence(rd))) as Record<string, unknown>;
      return utf8(JSON.stringify({ ...bundle, akCert: toBase64(akCertDer), intermediates: [toBase64(caDer)] }));
    },
  };
  let out = '';
  const r = await runKeep({ ref: { kbsUrl: url, name: 'tpm-hello' }, attester, stdout: (b) => { out += fromUtf8(b); } });
  assert.equal(r.exitCode, 0);
  assert.equal(out, `sha256(API_TOKEN)=${createHash('sha256').update('tpm-secret').digest('hex')}\n`);

  await extend('something else was booted');
  await assert.rejects(runKeep({ ref: { kbsUrl: url, name: 'tpm-hello' }, attester, stdout: () => assert.fail('ran after the PCR changed') }), (e: Error & { code?: string; details?: { violations?: { message: string }[] } }) => {
    assert.equal(e.code, 'ERR_POLICY_DENIED');
    assert.ok(e.details?.violations?.some((v) => v.message.includes(`pcr${PCR}`)), JSON.stringify(e.details));
    return true;
  });
});
