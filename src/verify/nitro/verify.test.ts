/**
 * Every error path of the Nitro verifier, on documents signed by a fake AWS Nitro PKI.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, MemoryCollateralCache, toHex, utf8, type Fetcher } from '../../core/index.ts';
import { emptyCollateral } from '../../collateral/index.ts';
import { CborMap, encodeCbor, encodeNitroPayload, parseNitroDocument, type NitroPayload } from '../../evidence/nitro/index.ts';
import { mint, mintCrl, type TestIdentity } from '../../../test/support/pki.ts';
import type { VerifyContext } from '../types.ts';
import { verifyNitro } from './verify.ts';
import { nitroPlatform } from './platform.ts';
import { T0, basePayload, fakeCtx, makeDoc, makeNitroPki, mintLeaf, pcrsOf, signDoc, type DocOptions, type FakeNitroPki } from './test-support/synthetic.ts';

let pki: FakeNitroPki;
let leaf: TestIdentity;

before(async () => {
  pki = await makeNitroPki();
  leaf = await mintLeaf(pki);
});

async function verifyBytes(bytes: Uint8Array, over: Partial<VerifyContext> = {}): ReturnType<typeof verifyNitro> {
  return verifyNitro(parseNitroDocument(bytes), fakeCtx(pki, over));
}

async function code(p: () => Promise<unknown>): Promise<string> {
  try {
    await p();
    return 'OK';
  } catch (e) {
    assert.ok(e instanceof AttestError, String(e));
    return e.code;
  }
}

const doc = (opts: DocOptions = {}): Promise<Uint8Array> => makeDoc(pki, leaf, opts);

test('a synthetic document verifies and yields neutral claims', async () => {
  const v = await verifyBytes(await doc({ payload: { userData: utf8('hello'), nonce: new Uint8Array([9, 9]), publicKey: new Uint8Array([4, 1, 2]) } }));
  assert.equal(v.platform, 'nitro');
  assert.equal(v.tcb, null);
  assert.deepEqual(v.claims.tcb, { status: 'NotApplicable', advisoryIds: [], versions: {} });
  assert.equal(v.claims.debug, false);
  assert.equal(v.claims.instanceId, 'i-0123456789abcdef0-enc0123456789abcdef');
  assert.equal(v.claims.evidenceTime, '2025-06-01T12:00:00Z');
  assert.equal(v.claims.measurements['nitro.pcr0'], '01'.repeat(48));
  assert.equal(v.claims.measurements['nitro.pcr15'], '10'.repeat(48));
  assert.equal(v.claims.reportData, toHex(utf8('hello')));
  assert.equal(v.claims.platformClaims.nonce, '0909');
  assert.equal(v.claims.platformClaims.publicKey, '040102');
  assert.equal(v.claims.platformClaims.rootSource, 'cabundle');
  assert.deepEqual(v.chain.map((c) => c.role), ['leaf', 'intermediate', 'intermediate', 'intermediate', 'root']);
  assert.equal(v.chain[4]!.sha256, pki.root.fingerprint);
  assert.equal(v.claims.revocation, 'absent');
  assert.equal(v.warnings.length, 2); // regional and zonal name CRL distribution points
});

test('tagged (tag 18), indefinite-length maps and a bare root+leaf bundle verify', async () => {
  await verifyBytes(await doc({ tagged: true }));
  await verifyBytes(await doc({ layout: { indefinite: true, pcrsIndefinite: true, cabundleIndefinite: true } }));
  const direct = await mintLeaf(pki, T0, { issuer: pki.root });
  const bytes = await makeDoc(pki, direct, { payload: { cabundle: [new Uint8Array(pki.root.cert.rawData)] } });
  assert.deepEqual((await verifyBytes(bytes)).chain.map((c) => c.role), ['leaf', 'root']);
});

test('the platform entry detects, parses and verifies', async () => {
  const bytes = await doc();
  assert.equal(nitroPlatform.detect(bytes), true);
  assert.equal(nitroPlatform.detect(utf8('not a document')), false);
  await nitroPlatform.verify(nitroPlatform.parse(bytes), fakeCtx(pki));
});

test('signature: bad signature, wrong signer, tampered payload', async () => {
  const good = await doc();
  const badSig = good.slice();
  badSig[badSig.length - 10]! ^= 0x01;
  assert.equal(await code(() => verifyBytes(badSig)), 'ERR_SIGNATURE_INVALID');

  const other = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign', 'verify']);
  assert.equal(await code(async () => verifyBytes(await doc({ signer: other.privateKey }))), 'ERR_SIGNATURE_INVALID');

  // Same length, one character of module_id changed after signing.
  const i = good.indexOf(0x30, 40); // a '0' inside module_id text
  const tampered = good.slice();
  tampered[i] = 0x31;
  assert.notEqual(parseNitroDocument(tampered).moduleId, parseNitroDocument(good).moduleId);
  assert.equal(await code(() => verifyBytes(tampered)), 'ERR_SIGNATURE_INVALID');

  // A payload re-encoded differently (indefinite) with the original signature: signatures cover bytes.
  const d = parseNitroDocument(good);
  const reenc = await signDoc(leaf, encodeNitroPayload(d, { layout: { indefinite: true } }), { signer: other.privateKey });
  assert.equal(await code(() => verifyBytes(reenc)), 'ERR_SIGNATURE_INVALID');
});

test('wrong algorithm is refused before any crypto', async () => {
  const es256 = encodeCbor(new CborMap([[1, -7]]));
  assert.equal(await code(async () => verifyBytes(await doc({ protectedBytes: es256 }))), 'ERR_UNSUPPORTED_VERSION');
  const p256leaf = await mintLeaf(pki, T0, { curve: 'P-256' });
  const bytes = await makeDoc(pki, p256leaf, { signer: (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign'])).privateKey });
  assert.equal(await code(() => verifyBytes(bytes)), 'ERR_CERTIFICATE_INVALID');
});

test('root: unpinned, pinned only via collateral, foreign root in collateral', async () => {
  const bytes = await doc();
  assert.equal(await code(() => verifyBytes(bytes, { extraRoots: {} })), 'ERR_ROOT_NOT_TRUSTED');
  assert.equal(await code(() => verifyBytes(bytes, { extraRoots: { amd: [pki.root.fingerprint] } })), 'ERR_ROOT_NOT_TRUSTED');

  // A document whose cabundle[0] is an attacker's self-signed "root" with the right name…
  const impostor = await mint({ subject: pki.root.cert.subject, alg: { kind: 'ec', curve: 'P-384' }, ca: true });
  const swapped = await doc({ payload: { cabundle: [new Uint8Array(impostor.cert.rawData), new Uint8Array(pki.regional.cert.rawData), new Uint8Array(pki.zonal.cert.rawData), new Uint8Array(pki.instance.cert.rawData)] } });
  assert.equal(await code(() => verifyBytes(swapped)), 'ERR_ROOT_NOT_TRUSTED');
  // …anchors on the real pinned root when the verifier supplies it; the impostor is never used.
  const col = emptyCollateral();
  col.certificates.push(pki.root.cert);
  const v = await verifyBytes(swapped, { collateral: col });
  assert.equal(v.claims.platformClaims.rootSource, 'collateral');
  assert.equal(v.chain.at(-1)!.sha256, pki.root.fingerprint);
  assert.ok(v.warnings.some((w) => w.includes('cabundle[0]')));
  // An unpinned certificate in the collateral is not a trust anchor.
  const col2 = emptyCollateral();
  col2.certificates.push(impostor.cert);
  assert.equal(await code(() => verifyBytes(swapped, { collateral: col2, extraRoots: {} })), 'ERR_ROOT_NOT_TRUSTED');

  // A whole fake chain under the impostor is rejected even though it is internally consistent.
  const fake = await makeNitroPki();
  const fakeLeaf = await mintLeaf(fake);
  assert.equal(await code(async () => verifyBytes(await makeDoc(fake, fakeLeaf))), 'ERR_ROOT_NOT_TRUSTED');
});

test('chain: expired / not-yet-valid leaf, broken order, non-CA issuer, leaf from another CA', async () => {
  const bytes = await doc();
  assert.equal(await code(() => verifyBytes(bytes, { now: new Date(T0.getTime() + 3 * 3600_000 + 1000) })), 'ERR_CERTIFICATE_INVALID');
  assert.equal(await code(() => verifyBytes(bytes, { now: new Date(T0.getTime() - 120_000) })), 'ERR_CERTIFICATE_INVALID');
  // Leaf still valid but the zonal intermediate has expired.
  const lateLeaf = await mintLeaf(pki, new Date('2025-06-05T06:00:00Z'));
  const late = await makeDoc(pki, lateLeaf, {}, new Date('2025-06-05T06:00:00Z'));
  assert.equal(await code(() => verifyBytes(late, { now: new Date('2025-06-05T06:00:01Z') })), 'ERR_CERTIFICATE_INVALID');

  const der = (x: TestIdentity): Uint8Array => new Uint8Array(x.cert.rawData);
  const shuffled = await doc({ payload: { cabundle: [der(pki.root), der(pki.zonal), der(pki.regional), der(pki.instance)] } });
  assert.equal(await code(() => verifyBytes(shuffled)), 'ERR_CERTIFICATE_INVALID');
  const missing = await doc({ payload: { cabundle: [der(pki.root), der(pki.regional), der(pki.instance)] } });
  assert.equal(await code(() => verifyBytes(missing)), 'ERR_CERTIFICATE_INVALID');

  const noCa = await makeNitroPki({ instanceCa: false });
  const noCaLeaf = await mintLeaf(noCa);
  assert.equal(await code(async () => verifyNitro(parseNitroDocument(await makeDoc(noCa, noCaLeaf)), fakeCtx(noCa))), 'ERR_CERTIFICATE_INVALID');

  // Leaf signed by a key that is not the instance CA's, claiming the instance CA as issuer.
  const rogueCa = await mint({ subject: pki.instance.cert.subject, alg: { kind: 'ec', curve: 'P-384' }, ca: true });
  const rogueLeaf = await mintLeaf(pki, T0, { issuer: rogueCa });
  assert.equal(await code(async () => verifyBytes(await makeDoc(pki, rogueLeaf))), 'ERR_CERTIFICATE_INVALID');
});

test('revocation: supplied CRLs are checked; --require-crl without them fails', async () => {
  const bytes = await doc();
  assert.equal(await code(() => verifyBytes(bytes, { options: { requireCrl: true } })), 'ERR_COLLATERAL_UNAVAILABLE');
  const col = emptyCollateral();
  col.crls.push(await mintCrl(pki.root), await mintCrl(pki.regional));
  const v = await verifyBytes(bytes, { collateral: col, options: { requireCrl: true } });
  assert.equal(v.claims.revocation, 'checked');
  assert.equal(v.warnings.length, 0);
  const revoked = emptyCollateral();
  revoked.crls.push(await mintCrl(pki.root), await mintCrl(pki.regional, { revokedSerials: [pki.zonal.cert.serialNumber] }));
  assert.equal(await code(() => verifyBytes(bytes, { collateral: revoked })), 'ERR_CERTIFICATE_REVOKED');
  // A CRL newer than the verification time is used (it knows more); one past its nextUpdate is stale.
  const newer = emptyCollateral();
  newer.crls.push(await mintCrl(pki.root, { thisUpdate: new Date('2026-01-01T00:00:00Z'), nextUpdate: new Date('2026-02-01T00:00:00Z') }), await mintCrl(pki.regional, { thisUpdate: new Date('2026-01-01T00:00:00Z'), revokedSerials: [pki.zonal.cert.serialNumber] }));
  assert.equal(await code(() => verifyBytes(bytes, { collateral: newer })), 'ERR_CERTIFICATE_REVOKED');
  const stale = emptyCollateral();
  stale.crls.push(await mintCrl(pki.root, { nextUpdate: new Date('2025-01-01T00:00:00Z') }));
  assert.equal(await code(() => verifyBytes(bytes, { collateral: stale })), 'ERR_COLLATERAL_EXPIRED');
});

test('revocation: CRLs fetched from the distribution points through the Fetcher and cache', async () => {
  const served = new Map<string, Uint8Array>([
    ['http://crl.test.invalid/root.crl', new Uint8Array((await mintCrl(pki.root)).rawData)],
    ['http://crl.test.invalid/regional.crl', new Uint8Array((await mintCrl(pki.regional, { revokedSerials: [pki.zonal.cert.serialNumber] })).rawData)],
  ]);
  const hits: string[] = [];
  const fetcher: Fetcher = async (url) => {
    hits.push(url);
    const body = served.get(url);
    return { status: body ? 200 : 404, headers: { get: () => null }, arrayBuffer: async () => (body ? (body.slice().buffer as ArrayBuffer) : new ArrayBuffer(0)) };
  };
  const cache = new MemoryCollateralCache();
  const bytes = await doc();
  assert.equal(await code(() => verifyBytes(bytes, { fetcher, cache })), 'ERR_CERTIFICATE_REVOKED');
  // Checked from the leaf up: the zonal CA (in the regional CRL) is found revoked first.
  assert.deepEqual(hits, ['http://crl.test.invalid/regional.crl']);

  // Offline, the cached CRLs are still used; nothing is fetched.
  hits.length = 0;
  assert.equal(await code(() => verifyBytes(bytes, { cache, offline: true })), 'ERR_CERTIFICATE_REVOKED');
  assert.equal(hits.length, 0);

  // Unrevoked: checked. A 404 is a warning, or CollateralUnavailable with requireCrl.
  served.set('http://crl.test.invalid/regional.crl', new Uint8Array((await mintCrl(pki.regional)).rawData));
  hits.length = 0;
  assert.equal((await verifyBytes(bytes, { fetcher })).claims.revocation, 'checked');
  assert.deepEqual(hits.sort(), ['http://crl.test.invalid/regional.crl', 'http://crl.test.invalid/root.crl']);
  served.delete('http://crl.test.invalid/root.crl');
  const v = await verifyBytes(bytes, { fetcher });
  assert.equal(v.claims.revocation, 'absent');
  assert.ok(v.warnings.some((w) => w.includes('HTTP 404')));
  assert.equal(await code(() => verifyBytes(bytes, { fetcher, options: { requireCrl: true } })), 'ERR_COLLATERAL_UNAVAILABLE');
  // A CRL signed by someone else is invalid collateral, not "revocation absent".
  served.set('http://crl.test.invalid/root.crl', new Uint8Array((await mintCrl(pki.zonal)).rawData));
  assert.equal(await code(() => verifyBytes(bytes, { fetcher })), 'ERR_COLLATERAL_INVALID');
});

test('structure errors surface as EvidenceMalformed from parse', async () => {
  const good = await doc();
  const cases: [string, Uint8Array][] = [
    ['trailing bytes', new Uint8Array([...good, 0])],
    ['duplicate keys', await doc({ extra: [['module_id', 'i-other']] })],
    ['duplicate pcr', await doc({ override: { pcrs: new CborMap([[0, new Uint8Array(48)], [0, new Uint8Array(48)]]) } })],
    ['wrong type', await doc({ override: { timestamp: 'yesterday' } })],
    ['missing field', await doc({ layout: { keyOrder: ['module_id', 'digest', 'timestamp', 'pcrs', 'cabundle'] } })],
    ['oversized user_data', await doc({ payload: { userData: new Uint8Array(513) } })],
    ['oversized nonce', await doc({ payload: { nonce: new Uint8Array(513) } })],
    ['oversized public_key', await doc({ payload: { publicKey: new Uint8Array(1025) } })],
  ];
  for (const [name, bytes] of cases) assert.equal(await code(() => verifyBytes(bytes)), 'ERR_EVIDENCE_MALFORMED', name);
  // The signature is valid in all of those: rejection comes from structure, not from crypto.
});

test('a certificate that is not DER is CertificateInvalid', async () => {
  assert.equal(await code(async () => verifyBytes(await doc({ payload: { cabundle: [new Uint8Array(pki.root.cert.rawData), new Uint8Array([0x30, 0x03, 1, 2, 3])] } }))), 'ERR_CERTIFICATE_INVALID');
});

test('debug enclaves: flagged, rejected by default, accepted with allowDebug', async () => {
  const zero = (i: number): number => (i <= 2 ? 0 : 7);
  const dbg = await doc({ payload: { pcrs: pcrsOf(zero) } });
  assert.equal(await code(() => verifyBytes(dbg)), 'ERR_DEBUG_NOT_ALLOWED');
  const v = await verifyBytes(dbg, { options: { allowDebug: true } });
  assert.equal(v.claims.debug, true);
  // Only PCR0 zero is not debug mode.
  const partial = await doc({ payload: { pcrs: pcrsOf((i) => (i === 0 ? 0 : 5)) } });
  assert.equal((await verifyBytes(partial)).claims.debug, false);
  // PCR1 absent: debug state cannot be decided.
  const gap = pcrsOf();
  gap.delete(1);
  assert.equal(await code(async () => verifyBytes(await doc({ payload: { pcrs: gap } }))), 'ERR_EVIDENCE_MALFORMED');
});

test('freshness: stale against maxAgeSeconds, timestamps in the future', async () => {
  const bytes = await doc();
  const at = (s: number): Date => new Date(T0.getTime() + s * 1000);
  await verifyBytes(bytes, { now: at(59), options: { maxAgeSeconds: 60 } });
  assert.equal(await code(() => verifyBytes(bytes, { now: at(61), options: { maxAgeSeconds: 60 } })), 'ERR_EVIDENCE_EXPIRED');
  // Within the 300 s skew a document from slightly ahead is fine; beyond it, rejected.
  const ahead = await doc({ payload: { timestamp: T0.getTime() + 200_000 } });
  await verifyBytes(ahead, { now: T0 });
  const far = await doc({ payload: { timestamp: T0.getTime() + 3600_000 } });
  assert.equal(await code(() => verifyBytes(far, { now: T0 })), 'ERR_EVIDENCE_EXPIRED');
  // A timestamp outside the leaf's validity is reported.
  const old = await doc({ payload: { timestamp: T0.getTime() - 3600_000 } });
  assert.ok((await verifyBytes(old)).warnings.some((w) => w.includes('outside the leaf')));
});

test('binding: nonce, user_data, public_key and reportData', async () => {
  const p: Partial<NitroPayload> = { nonce: utf8('n-123'), userData: new Uint8Array([1, 2, 3, 0, 0]), publicKey: utf8('spki') };
  const bytes = await doc({ payload: p });
  await verifyBytes(bytes, { expected: { nonce: utf8('n-123'), userData: new Uint8Array([1, 2, 3, 0, 0]), publicKey: utf8('spki'), reportData: new Uint8Array([1, 2, 3]) } });
  const mism: [string, VerifyContext['expected']][] = [
    ['nonce', { nonce: utf8('n-124') }],
    ['nonce prefix', { nonce: utf8('n-12') }],
    ['user_data', { userData: new Uint8Array([1, 2, 4]) }],
    ['public_key', { publicKey: utf8('spkj') }],
    ['reportData', { reportData: new Uint8Array([9]) }],
    ['too long', { nonce: utf8('n-1234') }],
  ];
  for (const [name, expected] of mism) assert.equal(await code(() => verifyBytes(bytes, { expected })), 'ERR_BINDING_MISMATCH', name);
  // Expected but the document has null.
  const empty = await doc();
  for (const expected of [{ nonce: utf8('x') }, { userData: utf8('x') }, { publicKey: utf8('x') }]) {
    assert.equal(await code(() => verifyBytes(empty, { expected })), 'ERR_BINDING_MISMATCH');
  }
});

test('property: byte flips anywhere in a signed synthetic document are rejected', async () => {
  const good = await doc({ payload: { nonce: new Uint8Array(32).fill(3) } });
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), async (pos, x) => {
      const b = good.slice();
      b[pos]! ^= x;
      const c = await code(() => verifyBytes(b));
      assert.notEqual(c, 'OK', `flip 0x${x.toString(16)} at ${pos}`);
    }),
    { numRuns: 200 },
  );
});

test('property: random documents built from random fields never escape as non-AttestError', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        moduleId: fc.string({ maxLength: 8 }),
        timestamp: fc.integer({ min: 0, max: 2 ** 48 }),
        userData: fc.option(fc.uint8Array({ maxLength: 600 })),
        nonce: fc.option(fc.uint8Array({ maxLength: 600 })),
        pcrSize: fc.constantFrom(31, 32, 48, 64),
        pcrCount: fc.integer({ min: 0, max: 34 }),
      }),
      async (r) => {
        const base = basePayload(pki, leaf);
        const payload = { ...base, moduleId: r.moduleId, timestamp: r.timestamp, userData: r.userData, nonce: r.nonce, pcrs: pcrsOf(undefined, r.pcrCount, r.pcrSize) };
        await code(async () => verifyBytes(await makeDoc(pki, leaf, { payload })));
      },
    ),
    { numRuns: 60 },
  );
});
