/**
 * Conformance over every Nitro entry of the shared corpus MANIFEST, at its verify_at.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, fingerprint, isAllZero, parseCertificate, parseCertificates, toHex } from '../../core/index.ts';
import { emptyCollateral } from '../../collateral/index.ts';
import { AWS_NITRO_ROOT_G1_SHA256 } from '../../collateral/nitro/index.ts';
import { parseNitroDocument } from '../../evidence/nitro/index.ts';
import { detectPlatform } from '../../platform/index.ts';
import { corpusAvailable, corpusFile, corpusText, loadManifest, type ManifestEntry } from '../../../test/support/corpus.ts';
import type { VerifyContext } from '../types.ts';
import { verifyNitro } from './verify.ts';
import { errorCode } from '../../../test/support/errors.ts';

const skip = !corpusAvailable() && 'corpus not available';
const nitro = skip ? [] : loadManifest().filter((e) => e.platform === 'nitro');
const docs = nitro.filter((e) => e.kind === 'evidence');

const ctxAt = (at: string | Date, over: Partial<VerifyContext> = {}): VerifyContext => ({ now: new Date(at), collateral: emptyCollateral(), ...over });

const code = errorCode;

const isDebugEntry = (e: ManifestEntry): boolean => {
  const f = e.expected.fields as Record<string, string>;
  return [f.pcr0, f.pcr1, f.pcr2].every((h) => /^0+$/.test(h!));
};

test('manifest lists the Nitro root and six documents', { skip }, () => {
  assert.equal(nitro.filter((e) => e.kind === 'root-cert').length, 1);
  assert.equal(docs.length, 6);
});

test('the pinned Root-G1 fingerprint is the corpus root, and every cabundle[0] is that root', { skip }, async () => {
  const root = parseCertificate(corpusText('nitro/roots/aws_nitro_enclaves_root_G1.pem'));
  assert.equal(await fingerprint(root), AWS_NITRO_ROOT_G1_SHA256);
  for (const e of docs) {
    const d = parseNitroDocument(corpusFile(e.files[0]!));
    assert.equal(toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', d.cabundle[0]! as Uint8Array<ArrayBuffer>))), AWS_NITRO_ROOT_G1_SHA256, e.id);
  }
});

for (const e of docs) {
  const debug = isDebugEntry(e);
  test(`${e.id}: ${e.expected.verdict} — at ${e.verify_at}`, { skip }, async () => {
    const raw = corpusFile(e.files[0]!);
    assert.equal(detectPlatform(raw).id, 'nitro');
    const doc = parseNitroDocument(raw);
    const f = e.expected.fields as Record<string, unknown>;

    // Inside the leaf's window the document verifies (debug ones only when allowed).
    const v = await verifyNitro(doc, ctxAt(e.verify_at!, { options: { allowDebug: true } }));
    assert.equal(v.platform, 'nitro');
    assert.equal(v.tcb, null);
    assert.equal(v.claims.tcb.status, 'NotApplicable');
    assert.equal(v.claims.debug, debug);
    assert.equal(v.claims.instanceId, f.module_id);
    assert.equal(new Date(v.claims.evidenceTime!).getTime(), f.timestamp_ms);
    for (const i of [0, 1, 2, 8]) assert.equal(v.claims.measurements[`nitro.pcr${i}`], f[`pcr${i}`]);
    assert.equal(Object.keys(v.claims.measurements).length, doc.pcrs.size);
    assert.equal(v.claims.platformClaims.userData, f.user_data);
    assert.equal(v.claims.platformClaims.nonce, f.nonce);
    assert.equal(v.claims.platformClaims.publicKey, f.public_key);
    assert.deepEqual(v.chain.map((c) => c.role), ['leaf', 'intermediate', 'intermediate', 'intermediate', 'root']);
    assert.equal(v.chain.at(-1)!.sha256, AWS_NITRO_ROOT_G1_SHA256);

    // Default options: debug enclaves are rejected, others verify.
    assert.equal(await code(verifyNitro(doc, ctxAt(e.verify_at!))), debug ? 'ERR_DEBUG_NOT_ALLOWED' : 'OK');

    // Outside the window (leaf ~3 h): rejected as an invalid certificate, whatever the debug state.
    const [from, until] = e.valid_window!;
    const later = new Date(new Date(until).getTime() + 1000);
    const earlier = new Date(new Date(from).getTime() - 1000);
    assert.equal(await code(verifyNitro(doc, ctxAt(later, { options: { allowDebug: true } }))), 'ERR_CERTIFICATE_INVALID');
    assert.equal(await code(verifyNitro(doc, ctxAt(earlier, { options: { allowDebug: true } }))), 'ERR_CERTIFICATE_INVALID');
    assert.equal(await code(verifyNitro(doc, ctxAt('2026-01-01T00:00:00Z', { options: { allowDebug: true } }))), 'ERR_CERTIFICATE_INVALID');

    // Freshness: a max age smaller than (verify_at - timestamp) is rejected, a generous one passes.
    const age = (new Date(e.verify_at!).getTime() - (f.timestamp_ms as number)) / 1000;
    const ok = await code(verifyNitro(doc, ctxAt(new Date((f.timestamp_ms as number) + 30_000), { options: { allowDebug: true, maxAgeSeconds: 60 } })));
    assert.equal(ok, 'OK');
    assert.equal(await code(verifyNitro(doc, ctxAt(new Date((f.timestamp_ms as number) + 120_000), { options: { allowDebug: true, maxAgeSeconds: 60 } }))), 'ERR_EVIDENCE_EXPIRED');
    assert.ok(age < 3 * 3600);

    // Without the pinned root (e.g. a verifier that trusts another family only) nothing changes: pins are in code.
    assert.equal(await code(verifyNitro(doc, ctxAt(e.verify_at!, { options: { allowDebug: true }, extraRoots: { amd: ['00'.repeat(32)] } }))), 'OK');

    // Binding to the document's own fields passes; a different value fails.
    const exp = { ...(doc.nonce ? { nonce: doc.nonce } : {}), ...(doc.userData ? { userData: doc.userData } : {}), ...(doc.publicKey ? { publicKey: doc.publicKey } : {}) };
    assert.equal(await code(verifyNitro(doc, ctxAt(e.verify_at!, { options: { allowDebug: true }, expected: exp }))), 'OK');
    assert.equal(await code(verifyNitro(doc, ctxAt(e.verify_at!, { options: { allowDebug: true }, expected: { nonce: new Uint8Array([1, 2, 3]) } }))), 'ERR_BINDING_MISMATCH');
  });
}

test('nitro-evervault-beta-valid: valid inside its window; the chain has expired afterwards', { skip }, async () => {
  const e = docs.find((x) => x.id === 'nitro-evervault-beta-valid')!;
  const doc = parseNitroDocument(corpusFile(e.files[0]!));
  const v = await verifyNitro(doc, ctxAt(e.verify_at!));
  assert.equal(v.claims.debug, false);
  assert.equal(await code(verifyNitro(doc, ctxAt('2022-10-13T12:00:00Z'))), 'ERR_CERTIFICATE_INVALID');
});

test('evervault binding: user_data is the SPKI DER of the TLS certificate named in the entry', { skip }, async () => {
  const cases: [string, Uint8Array][] = [
    ['nitro-evervault-ga', new Uint8Array(parseCertificate(corpusFile('nitro/evervault/ga_tls_certificate.der')).publicKey.rawData)],
    ['nitro-evervault-beta-debug-san', new Uint8Array(parseCertificates(corpusText('nitro/evervault/beta_debug_tls_cert_with_doc_2023-01-18.pem'))[0]!.publicKey.rawData)],
  ];
  for (const [id, spki] of cases) {
    const e = docs.find((x) => x.id === id)!;
    assert.match(String(e.expected.binding), /user_data == S(ubject)?P(ublic)?K(ey)?I(nfo)? DER/);
    const doc = parseNitroDocument(corpusFile(e.files[0]!));
    const v = await verifyNitro(doc, ctxAt(e.verify_at!, { options: { allowDebug: true }, expected: { userData: spki } }));
    assert.equal(v.claims.platformClaims.userData, toHex(spki));
    const wrong = spki.slice();
    wrong[wrong.length - 1]! ^= 1;
    assert.equal(await code(verifyNitro(doc, ctxAt(e.verify_at!, { options: { allowDebug: true }, expected: { userData: wrong } }))), 'ERR_BINDING_MISMATCH');
    assert.equal(await code(verifyNitro(doc, ctxAt(e.verify_at!, { options: { allowDebug: true }, expected: { publicKey: spki } }))), 'ERR_BINDING_MISMATCH');
  }
});

test('dstack: user_data carries report data (64 zero bytes); a 32-byte expected reportData is a zero-padded prefix', { skip }, async () => {
  const e = docs.find((x) => x.id === 'nitro-dstack-nsmqvl')!;
  const doc = parseNitroDocument(corpusFile(e.files[0]!));
  assert.ok(isAllZero(doc.userData!));
  await verifyNitro(doc, ctxAt(e.verify_at!, { expected: { reportData: new Uint8Array(32) } }));
  assert.equal(await code(verifyNitro(doc, ctxAt(e.verify_at!, { expected: { reportData: new Uint8Array(32).fill(1) } }))), 'ERR_BINDING_MISMATCH');
});

test('property: any byte flip in the signed payload or the signature of a real document is rejected', { skip }, async () => {
  const e = docs.find((x) => x.id === 'nitro-dstack-nsmqvl')!;
  const raw = corpusFile(e.files[0]!);
  const doc = parseNitroDocument(raw);
  const payloadStart = doc.cose.payloadOffset;
  const payloadEnd = payloadStart + doc.cose.payload.length;
  const sigStart = raw.length - 96;
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.integer({ min: payloadStart, max: payloadEnd - 1 }), fc.integer({ min: sigStart, max: raw.length - 1 }), fc.integer({ min: 0, max: raw.length - 1 })), fc.integer({ min: 1, max: 255 }), async (pos, x) => {
      const b = raw.slice();
      b[pos]! ^= x;
      let c: string;
      try {
        c = await code(verifyNitro(parseNitroDocument(b), ctxAt(e.verify_at!)));
      } catch (err) {
        c = (err as AttestError).code;
      }
      assert.notEqual(c, 'OK', `flip at ${pos}`);
    }),
    { numRuns: 150 },
  );
});
