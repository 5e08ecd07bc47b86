/** CLI contract of `verify --policy`, `token` and `refs`, run as a user would (child_process). */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { corpusAvailable, corpusPath, loadManifest } from '../../../test/support/corpus.ts';

const BIN = resolve(import.meta.dirname, '..', '..', '..', 'bin', 'teataster.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, TEATASTER_USER: 'ci-bot', ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'teataster-appraise-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('teataster refs', () => {
  it('add, list, show, import, rm with provenance; errors have the right exit codes', async () => {
    let r = await cli(dir, ['refs', 'add', 'app-v1', '--kind', 'digest', '--value', 'AB'.repeat(48), '--value', 'cd'.repeat(48), '--source', 'https://ci.example/42', '--expires', '2099-01-01T00:00:00Z', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const added = JSON.parse(r.stdout);
    assert.deepEqual(added.value, ['ab'.repeat(48), 'cd'.repeat(48)]);
    assert.equal(added.addedBy, 'ci-bot');
    assert.equal(added.source, 'https://ci.example/42');
    await writeFile(join(dir, 'import.yaml'), 'referenceValues:\n  - { name: kernel, kind: list, value: ["a", "b"], source: release-notes }\n  - { name: old, kind: digest, value: "00", source: x, expiresAt: "2001-01-01T00:00:00Z" }\n');
    r = await cli(dir, ['refs', 'import', 'import.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported 2/);
    r = await cli(dir, ['refs', 'list', '--json']);
    assert.deepEqual(JSON.parse(r.stdout).map((x: { name: string }) => x.name), ['app-v1', 'kernel'], 'expired values are hidden');
    r = await cli(dir, ['refs', 'show', 'kernel']);
    assert.match(r.stdout, /source\s+release-notes/);
    assert.match(r.stdout, /added by\s+ci-bot/);
    r = await cli(dir, ['refs', 'rm', 'kernel']);
    assert.equal(r.code, 0);
    r = await cli(dir, ['refs', 'show', 'kernel']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERR_NOT_FOUND/);
    await writeFile(join(dir, 'bad.json'), JSON.stringify([{ name: 'a', kind: 'svn', value: -1 }, { name: 'b', kind: 'digest', value: 'zz' }]));
    r = await cli(dir, ['refs', 'import', 'bad.json']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\[0\].*\[1\]/s, 'every bad entry is reported');
  });
});

describe('teataster verify --policy and teataster token', { skip: !corpusAvailable() && 'corpus not available' }, () => {
  const tdx = () => {
    const e = loadManifest().find((x) => x.id === 'tdx-qvl-uptodate-v4')!;
    return { args: [corpusPath('tdx/dcap-qvl/tdx_quote'), '--collateral', corpusPath('tdx/dcap-qvl/tdx_quote_collateral.json'), '--at', e.verify_at!, '--offline', '--no-cache'], fields: e.expected.fields as Record<string, string> };
  };

  it('affirming → exit 0 with the appraisal in --json; a wrong reference value → exit 1 naming the rule; an invalid policy → exit 2', async () => {
    const { args, fields } = tdx();
    await writeFile(join(dir, 'tdx.yaml'), 'version: 1\nid: prod-tdx\nplatforms:\n  tdx:\n    measurements: { tdx.mrtd: ref:td-fw, tdx.rtmr1: [ref:td-kernel] }\n');
    await writeFile(join(dir, 'good.json'), JSON.stringify([{ name: 'td-fw', kind: 'digest', value: fields.mrtd, source: 'manifest' }, { name: 'td-kernel', kind: 'digest', value: fields.rtmr1, source: 'manifest' }]));
    await writeFile(join(dir, 'bad-refs.json'), JSON.stringify([{ name: 'td-fw', kind: 'digest', value: fields.mrtd, source: 'manifest' }, { name: 'td-kernel', kind: 'digest', value: 'ee'.repeat(48), source: 'stale' }]));
    let r = await cli(dir, ['verify', ...args, '--policy', 'tdx.yaml', '--refs', 'good.json', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.verified, true);
    assert.equal(j.appraisal.status, 'affirming');
    assert.equal(j.appraisal.policy.id, 'prod-tdx');
    assert.ok(j.appraisal.rules.every((x: { outcome: string }) => x.outcome !== 'fail'));
    r = await cli(dir, ['verify', ...args, '--policy', 'tdx.yaml', '--refs', 'bad-refs.json']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /APPRAISAL CONTRAINDICATED/);
    assert.match(r.stdout, /FAIL\s+contraindicated\s+measurement\.tdx\.rtmr1/);
    assert.match(r.stdout, /teataster refs add <name> --kind digest --value 0084452c/);
    await writeFile(join(dir, 'broken.yaml'), "version: 1\nid: p\nplatforms: { tdx: {} }\nrules:\n  - { id: r, expr: 'claims.tcb.statuz == \"UpToDate\"', message: m }\n");
    r = await cli(dir, ['verify', ...args, '--policy', 'broken.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ERR_POLICY_INVALID/);
    assert.match(r.stderr, /line 5; expression line 1, column 12/);
    r = await cli(dir, ['policy', 'check', 'tdx.yaml', '--refs', 'good.json', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).referenceValues, ['td-fw', 'td-kernel']);
  });

  it('warning → exit 3 (SNP without a CRL under the default policy)', async () => {
    const e = loadManifest().find((x) => x.id === 'snp-trustee-milan-v2-vcek')!;
    const r = await cli(dir, ['verify', corpusPath('snp/trustee/test-report.bin'), '--collateral', corpusPath('snp/trustee/test-vcek.der'), '--collateral', corpusPath('snp/roots'), '--at', e.verify_at!, '--offline', '--no-cache', '--policy', 'default', '--json']);
    assert.equal(r.code, 3, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.appraisal.status, 'warning');
    assert.deepEqual(j.appraisal.violations.map((v: { rule: string }) => v.rule), ['revocation']);
  });

  it('--token signs an EAR that `token verify` accepts (file and URL JWKS); tampering and the wrong key are rejected', async () => {
    const { args, fields } = tdx();
    await writeFile(join(dir, 'p2.yaml'), `version: 1\nid: p2\nplatforms:\n  tdx:\n    measurements: { tdx.mrtd: "${fields.mrtd}" }\n`);
    let r = await cli(dir, ['verify', ...args, '--policy', 'p2.yaml', '--token', '--token-key', 'keys/ear.jwk']);
    assert.equal(r.code, 0, r.stderr);
    const jwt = r.stdout.trim();
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(r.stderr, /APPRAISAL AFFIRMING/);
    assert.match(r.stderr, /generated EAR signing key/);
    await writeFile(join(dir, 'ear.jwt'), jwt);
    r = await cli(dir, ['token', 'verify', 'ear.jwt', '--jwks', 'keys/ear.jwk.jwks.json', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const v = JSON.parse(r.stdout);
    assert.equal(v.status, 'affirming');
    assert.equal(v.claims.submods.cpu0['ear.veraison.annotated-evidence'].tdx.measurements['tdx.mrtd'], fields.mrtd);
    // the same key file signs again (no new key)
    r = await cli(dir, ['verify', ...args, '--policy', 'p2.yaml', '--token', '--token-key', 'keys/ear.jwk', '--ear-spelling', 'underscore']);
    assert.doesNotMatch(r.stderr, /generated EAR signing key/);
    const jwt2 = r.stdout.trim();
    // JWKS over HTTP
    const jwks = await readFile(join(dir, 'keys/ear.jwk.jwks.json'), 'utf8');
    const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/.well-known/jwks.json`;
      r = await cli(dir, ['token', 'verify', jwt2, '--jwks', url]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /TOKEN VALID\s+status AFFIRMING.*underscore claim names/);
    } finally {
      server.close();
    }
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.exp += 86_400;
    r = await cli(dir, ['token', 'verify', `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, '--jwks', 'keys/ear.jwk.jwks.json']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /TOKEN INVALID[\s\S]*ERR_TOKEN_INVALID.*signature/);
    r = await cli(dir, ['token', 'verify', 'ear.jwt', '--jwks', 'keys/ear.jwk.jwks.json', '--at', '2099-01-01T00:00:00Z', '--json']);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.details.reason, 'expired');
  });

  it('without --token-key the store key ring signs; `token jwks` publishes it and `token rotate` keeps old tokens verifiable', async () => {
    const { args } = tdx();
    let r = await cli(dir, ['verify', ...args, '--policy', 'default', '--token']);
    assert.equal(r.code, 0, r.stderr);
    const jwt = r.stdout.trim();
    r = await cli(dir, ['token', 'rotate', '--alg', 'EdDSA']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(dir, ['token', 'jwks']);
    const jwks = JSON.parse(r.stdout);
    assert.equal(jwks.keys.length, 2);
    await writeFile(join(dir, 'ring.jwks'), r.stdout);
    r = await cli(dir, ['token', 'verify', jwt, '--jwks', 'ring.jwks']);
    assert.equal(r.code, 0, r.stdout);
  });
});
