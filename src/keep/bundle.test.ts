import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../core/index.ts';
import { encodeBundle, openModule, packageKeep, parseBundle, parseWorkloadKey, verifyBundle, type KeepBundle } from './bundle.ts';
import { generateTenantKey, loadTenantKey, tenantThumbprint, type TenantAlg } from './tenant-key.ts';
import { exampleModule } from './test-support/examples.ts';
import { hasCode } from '../../test/support/errors.ts';

const manifest = { name: 'hello', version: '1', args: ['API_TOKEN'], env: { GREETING: 'hi' }, secrets: { API_TOKEN: 'default/hello/token' } };
const mod = exampleModule('spin');

async function tenant(alg: TenantAlg = 'ES384') {
  const k = await generateTenantKey(alg);
  return { key: await loadTenantKey(JSON.stringify(k.privateJwk)), thumbprint: k.thumbprint, publicJwk: k.publicJwk };
}

const reencode = (b: KeepBundle): Uint8Array => encodeBundle(b);
const clone = (b: KeepBundle): KeepBundle => JSON.parse(JSON.stringify(b)) as KeepBundle;

for (const alg of ['ES384', 'EdDSA'] as const) {
  test(`bundle round-trip (${alg}): verify, decrypt, module hash`, async () => {
    const t = await tenant(alg);
    const { bundle, workloadKey } = await packageKeep(mod, manifest, t.key);
    const bytes = encodeBundle(bundle);
    assert.equal(fromUtf8(bytes).includes(workloadKey.k), false, 'workload key must not appear in the bundle');
    const v = await verifyBundle(bytes, [t.thumbprint]);
    assert.equal(v.signer.thumbprint, t.thumbprint);
    assert.equal(v.signer.alg, alg);
    assert.deepEqual(await openModule(v, parseWorkloadKey(utf8(JSON.stringify(workloadKey)))), mod);
    assert.equal(await tenantThumbprint(JSON.stringify(t.publicJwk)), t.thumbprint);
    assert.equal(await tenantThumbprint(t.thumbprint), t.thumbprint);
  });
}

test('bundle: each packaging uses a fresh workload key and IV', async () => {
  const t = await tenant();
  const a = await packageKeep(mod, manifest, t.key);
  const b = await packageKeep(mod, manifest, t.key);
  assert.notEqual(a.workloadKey.k, b.workloadKey.k);
  assert.notEqual(a.bundle.module.iv, b.bundle.module.iv);
});

test('bundle tampering is refused with a code', async () => {
  const t = await tenant();
  const { bundle, workloadKey } = await packageKeep(mod, manifest, t.key);
  const cases: [string, (b: KeepBundle) => void, string][] = [
    ['manifest env changed', (b) => { b.manifest.env.GREETING = 'evil'; }, 'ERR_WORKLOAD_INVALID'],
    ['manifest limits raised', (b) => { b.manifest.limits.memory_mb = 4096; }, 'ERR_WORKLOAD_INVALID'],
    ['ciphertext bit flip', (b) => { const c = fromBase64Url(b.module.ciphertext); c[10]! ^= 1; b.module.ciphertext = toBase64Url(c); }, 'ERR_WORKLOAD_INVALID'],
    ['module hash replaced', (b) => { b.module.sha384 = '0'.repeat(96); }, 'ERR_WORKLOAD_INVALID'],
    ['iv replaced', (b) => { b.module.iv = toBase64Url(new Uint8Array(12)); }, 'ERR_WORKLOAD_INVALID'],
    ['signature bytes changed', (b) => { const [h, p, s] = b.signature.split('.') as [string, string, string]; const sig = fromBase64Url(s); sig[5]! ^= 1; b.signature = `${h}.${p}.${toBase64Url(sig)}`; }, 'ERR_SIGNATURE_INVALID'],
    ['signature payload swapped', (b) => { const [h, , s] = b.signature.split('.') as [string, string, string]; b.signature = `${h}.${toBase64Url(utf8('{}'))}.${s}`; }, 'ERR_SIGNATURE_INVALID'],
    ['unknown envelope field', (b) => { (b as unknown as Record<string, unknown>).extra = 1; }, 'ERR_WORKLOAD_INVALID'],
    ['wrong format', (b) => { (b as unknown as Record<string, unknown>).format = 'other'; }, 'ERR_WORKLOAD_INVALID'],
    ['future version', (b) => { (b as unknown as Record<string, unknown>).version = 2; }, 'ERR_UNSUPPORTED_VERSION'],
  ];
  for (const [what, mutate, code] of cases) {
    const b = clone(bundle);
    mutate(b);
    await assert.rejects(async () => {
      const v = await verifyBundle(reencode(b), [t.thumbprint]);
      await openModule(v, workloadKey);
    }, hasCode(code), what);
  }
});

test('bundle: a valid signature by an untrusted tenant is refused', async () => {
  const t = await tenant();
  const other = await tenant('EdDSA');
  const { bundle } = await packageKeep(mod, manifest, other.key);
  await assert.rejects(verifyBundle(encodeBundle(bundle), [t.thumbprint]), { code: 'ERR_SIGNATURE_INVALID' });
  await assert.rejects(verifyBundle(encodeBundle(bundle), []), { code: 'ERR_SIGNATURE_INVALID' });
});

test('bundle: re-signing a tampered manifest with another key is refused (signer pinned)', async () => {
  const t = await tenant();
  const attacker = await tenant();
  const { bundle } = await packageKeep(mod, manifest, t.key);
  // The attacker re-packages the same module with its own key: the thumbprint pin stops it.
  const forged = await packageKeep(mod, { ...manifest, env: { GREETING: 'evil' } }, attacker.key);
  await assert.rejects(verifyBundle(encodeBundle(forged.bundle), [t.thumbprint]), { code: 'ERR_SIGNATURE_INVALID' });
  assert.ok(await verifyBundle(encodeBundle(bundle), [t.thumbprint]));
});

test('bundle: wrong workload key fails authentication', async () => {
  const t = await tenant();
  const a = await packageKeep(mod, manifest, t.key);
  const b = await packageKeep(mod, manifest, t.key);
  const v = await verifyBundle(encodeBundle(a.bundle), [t.thumbprint]);
  await assert.rejects(openModule(v, b.workloadKey), { code: 'ERR_WORKLOAD_INVALID' });
  assert.throws(() => parseWorkloadKey(utf8('{"kty":"oct","alg":"A256GCM","k":"AAAA","kid":"x"}')), { code: 'ERR_WORKLOAD_INVALID' });
});

test('package refuses non-modules and invalid manifests', async () => {
  const t = await tenant();
  await assert.rejects(packageKeep(utf8('not wasm at all'), manifest, t.key), { code: 'ERR_WORKLOAD_INVALID' });
  await assert.rejects(packageKeep(mod, { name: 'x' }, t.key), { code: 'ERR_CONFIG_INVALID' });
  await assert.rejects(loadTenantKey(JSON.stringify(t.publicJwk)), { code: 'ERR_CONFIG_INVALID' });
});

test('property: any single-byte change in the encoded bundle is refused or leaves it semantically equal', async () => {
  const t = await tenant();
  const { bundle, workloadKey } = await packageKeep(mod, manifest, t.key);
  const bytes = encodeBundle(bundle);
  await fc.assert(fc.asyncProperty(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
    const m = bytes.slice();
    m[i]! ^= x;
    let v;
    let pt;
    try {
      v = await verifyBundle(m, [t.thumbprint]);
      pt = await openModule(v, workloadKey);
    } catch (e) {
      assert.ok(e instanceof AttestError, `non-AttestError: ${String(e)}`);
      return;
    }
    // Accepted only if the change did not alter anything signed (e.g. JSON whitespace → other whitespace).
    assert.deepEqual(pt, mod);
    assert.deepEqual(v.manifest, parseBundle(bytes).manifest);
  }), { numRuns: 150 });
});
