import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { AttestError, ErrorCode, PolicyDenied, bytesEqual, concatBytes, utf8, x509 } from '../core/index.ts';
import type { TeePubKey } from '../protocol/index.ts';
import { encodeBundle, packageKeep } from './bundle.ts';
import { KEEP_ATTESTATION_OID, KEEP_CERTIFICATE_ROUTE, keepAttestationValue, registerKeepCa, type KeepTokenFacts } from './ca-plugin.ts';
import { derOctets, derOid } from './der.ts';
import { generateTenantKey, loadTenantKey } from './tenant-key.ts';
import { exampleModule } from './test-support/examples.ts';

let app: FastifyInstance;
let caCertPem: string;
let idKeys: CryptoKeyPair;
let otherKeys: CryptoKeyPair;
let manifestSha: Uint8Array;
const facts = new Map<string, KeepTokenFacts>();
const resources = new Map<string, Uint8Array>();
const NOW = new Date('2026-11-22T06:00:00Z');

async function teeKeyOf(k: CryptoKeyPair): Promise<TeePubKey> {
  const j = await crypto.subtle.exportKey('jwk', k.publicKey);
  return { kty: 'EC', alg: 'ECDH-ES+A256KW', crv: 'P-256', x: j.x!, y: j.y! };
}

async function csrOf(keys: CryptoKeyPair, cn = 'web'): Promise<string> {
  return (await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${cn}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams })).toString('pem');
}

before(async () => {
  const caKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=teataster Keep CA (test)',
    keys: caKeys,
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2027-01-01T00:00:00Z'),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  caCertPem = ca.toString('pem');
  idKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  otherKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;

  const t = await generateTenantKey('EdDSA');
  const tenant = await loadTenantKey(JSON.stringify(t.privateJwk));
  const mod = exampleModule('spin');
  const web = await packageKeep(mod, { name: 'web', version: '1', identity: { dns: ['web.keep.example'], uri: ['spiffe://example.org/keep/web'], ttl_s: 600 } }, tenant);
  const plain = await packageKeep(mod, { name: 'plain', version: '1' }, tenant);
  resources.set('keeps/web/bundle', encodeBundle(web.bundle));
  resources.set('keeps/web/tenant', utf8(JSON.stringify(t.publicJwk)));
  resources.set('keeps/plain/bundle', encodeBundle(plain.bundle));
  resources.set('keeps/plain/tenant', utf8(JSON.stringify(t.publicJwk)));
  const { manifestDigest } = await import('./bundle.ts');
  manifestSha = await manifestDigest(web.bundle.manifest);

  const payload = { iss: 'kbs', 'ear.status': 'affirming', submods: { sim: { 'ear.status': 'affirming' } } };
  facts.set('good', { teePubkey: await teeKeyOf(idKeys), payload, status: 'affirming', platform: 'sim' });
  facts.set('denied', { teePubkey: await teeKeyOf(idKeys), payload, status: 'contraindicated', platform: 'sim' });

  app = Fastify();
  registerKeepCa(app, {
    caKey: caKeys.privateKey,
    caCertPem,
    ttlSeconds: 3600,
    now: () => NOW,
    verifyToken: async (token) => {
      const f = facts.get(token);
      if (!f) throw new AttestError(ErrorCode.TokenInvalid, 'unknown token');
      return f;
    },
    authorize: async (f, path) => {
      if (f.status !== 'affirming') throw new PolicyDenied([{ rule: 'status', message: `status is ${f.status}, need affirming for ${path}` }]);
    },
    readResource: async (p) => resources.get(p) ?? null,
  });
  await app.ready();
});

after(async () => {
  await app.close();
});

const post = (body: unknown, token?: string) =>
  app.inject({ method: 'POST', url: KEEP_CERTIFICATE_ROUTE, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, payload: JSON.stringify(body) });

test('keep CA issues a short-lived certificate for the attested key with manifest SANs and the attestation extension', async () => {
  const res = await post({ keep: 'web', csr: await csrOf(idKeys) }, 'good');
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json() as { certificate: string; ca: string[]; notAfter: string };
  const cert = new x509.X509Certificate(body.certificate);
  const ca = new x509.X509Certificate(caCertPem);
  assert.ok(await cert.verify({ publicKey: ca.publicKey, date: NOW }));
  assert.equal(cert.subject, 'CN=web, O=teataster Keep');
  assert.equal(cert.issuer, ca.subject);
  // TTL: the manifest's 600 s is shorter than the CA's 3600 s.
  assert.equal(cert.notAfter.getTime(), NOW.getTime() + 600_000);
  assert.ok(cert.notBefore.getTime() <= NOW.getTime());
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.deepEqual(san?.names.toJSON(), [
    { type: 'dns', value: 'web.keep.example' },
    { type: 'url', value: 'spiffe://example.org/keep/web' },
    { type: 'url', value: 'urn:teataster:keep:web' },
  ]);
  assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  // The certified key is the attested tee-pubkey.
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', idKeys.publicKey));
  assert.ok(bytesEqual(new Uint8Array(cert.publicKey.rawData), spki));
  // The KeepAttestation extension: Extension ::= SEQUENCE { extnID, extnValue OCTET STRING } (not
  // critical, so no BOOLEAN), found in the certificate's DER with exactly the expected value.
  const value = await keepAttestationValue('web', facts.get('good')!, manifestSha);
  const extDer = concatBytes(derOid(KEEP_ATTESTATION_OID), derOctets(value));
  const raw = new Uint8Array(cert.rawData);
  assert.ok(Buffer.from(raw).includes(Buffer.from(extDer)), 'attestation extension with the expected value');
  // Independent check with OpenSSL: chain verifies at NOW, the OID is printed.
  const dir = mkdtempSync(join(tmpdir(), 'keep-ca-test-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), caCertPem);
    writeFileSync(join(dir, 'cert.pem'), body.certificate);
    const out = execFileSync('openssl', ['verify', '-attime', String(NOW.getTime() / 1000), '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), join(dir, 'cert.pem')], { encoding: 'utf8' });
    assert.match(out, /OK/);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-text'], { encoding: 'utf8' });
    assert.ok(text.includes(KEEP_ATTESTATION_OID));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keep CA refusals carry codes and HTTP statuses', async () => {
  const cases: [string, () => Promise<{ statusCode: number; json: () => unknown }>, number, string][] = [
    ['no token', async () => post({ keep: 'web', csr: await csrOf(idKeys) }), 401, 'ERR_UNAUTHORIZED'],
    ['unknown token', async () => post({ keep: 'web', csr: await csrOf(idKeys) }, 'forged'), 401, 'ERR_TOKEN_INVALID'],
    ['policy denies', async () => post({ keep: 'web', csr: await csrOf(idKeys) }, 'denied'), 403, 'ERR_POLICY_DENIED'],
    ['CSR key is not the attested key', async () => post({ keep: 'web', csr: await csrOf(otherKeys) }, 'good'), 403, 'ERR_BINDING_MISMATCH'],
    ['keep without [identity]', async () => post({ keep: 'plain', csr: await csrOf(idKeys) }, 'good'), 404, 'ERR_NOT_FOUND'],
    ['keep not deployed', async () => post({ keep: 'nothere', csr: await csrOf(idKeys) }, 'good'), 404, 'ERR_NOT_FOUND'],
    ['garbage CSR', async () => post({ keep: 'web', csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----' }, 'good'), 400, 'ERR_PROTOCOL'],
    ['bad body', async () => post({ keep: 1 }, 'good'), 400, 'ERR_PROTOCOL'],
    ['bad keep name', async () => post({ keep: '../x', csr: await csrOf(idKeys) }, 'good'), 400, 'ERR_CONFIG_INVALID'],
  ];
  for (const [what, call, status, code] of cases) {
    const res = await call();
    assert.equal(res.statusCode, status, what);
    assert.equal((res.json() as { code: string }).code, code, what);
  }
  const denied = (await post({ keep: 'web', csr: await csrOf(idKeys) }, 'denied')).json() as { violations: { rule: string }[] };
  assert.deepEqual(denied.violations.map((v) => v.rule), ['status']);
});

test('keep CA: a tampered stored bundle is not used to name a certificate', async () => {
  const orig = resources.get('keeps/web/bundle')!;
  const b = JSON.parse(new TextDecoder().decode(orig)) as { manifest: { identity: { dns: string[] } } };
  b.manifest.identity.dns = ['evil.example'];
  resources.set('keeps/web/bundle', utf8(JSON.stringify(b)));
  try {
    const res = await post({ keep: 'web', csr: await csrOf(idKeys) }, 'good');
    assert.equal(res.statusCode, 400);
    assert.equal((res.json() as { code: string }).code, 'ERR_WORKLOAD_INVALID');
  } finally {
    resources.set('keeps/web/bundle', orig);
  }
});
