/**
 * Every error path of the NVIDIA verifier on synthetic reports signed by a fake P-384 device PKI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCode, randomBytes, toHex } from '../../core/index.ts';
import { NVIDIA_DEVICE_IDENTITY_CA_SHA256 } from '../../collateral/nvidia/index.ts';
import { OPAQUE, REQUEST_LEN, SIGNATURE_LEN, parseNvidiaReport } from '../../evidence/nvidia/index.ts';
import { generateKeys } from '../../../test/support/pki.ts';
import { chainOf, ctxFor, makeBlocks, makeGpuPki, makeOpaque, makeRequest, signedReport } from './test-support/synthetic.ts';
import { verifyNvidia } from './verify.ts';
import { errorCode } from '../../../test/support/errors.ts';

const code = errorCode;

const pki = await makeGpuPki();

test('a report signed by the fake GPU verifies with the fake root trusted; claims are filled', async () => {
  const nonce = randomBytes(32);
  const blocks = makeBlocks(4);
  const raw = await signedReport(pki, { request: makeRequest(nonce), blocks });
  const v = await verifyNvidia(parseNvidiaReport(raw), ctxFor(pki, { expected: { nonce } }));
  assert.equal(v.platform, 'nvidia');
  assert.equal(v.tcb, null);
  assert.equal(v.claims.tcb.status, 'NotApplicable');
  assert.equal(v.claims.debug, false);
  assert.equal(v.claims.reportData, toHex(nonce));
  assert.deepEqual(Object.keys(v.claims.measurements), ['nvidia.measurement0', 'nvidia.measurement1', 'nvidia.measurement2', 'nvidia.measurement3']);
  assert.equal(v.claims.measurements['nvidia.measurement2'], toHex(blocks[2]!.value));
  assert.equal(v.claims.instanceId, 'aabbccddeeff00112233');
  const config = v.claims.platformClaims.config as Record<string, unknown>;
  assert.equal(config.driver_version, '550.90.07');
  assert.equal(config.vbios_version, '96.00.9f.00.01');
  assert.equal(config.chip_sku, '882');
  assert.equal(config.fwid, toHex(pki.fwid));
  assert.equal(v.chain.length, 5);
  assert.equal(v.chain[4]!.sha256, pki.root.fingerprint);
  // hex text input is the same report
  const v2 = await verifyNvidia(parseNvidiaReport(new TextEncoder().encode(toHex(raw) + '\n')), ctxFor(pki));
  assert.deepEqual(v2.claims.measurements, v.claims.measurements);
});

test('the fake root is not trusted without ctx.extraRoots (only the NVIDIA root is pinned)', async () => {
  const raw = await signedReport(pki);
  assert.equal(await code(verifyNvidia(parseNvidiaReport(raw), ctxFor(pki, { extraRoots: {} }))), ErrorCode.RootNotTrusted);
  assert.equal(await code(verifyNvidia(parseNvidiaReport(raw), ctxFor(pki, { extraRoots: { amd: [pki.root.fingerprint] } }))), ErrorCode.RootNotTrusted);
  assert.notEqual(pki.root.fingerprint, NVIDIA_DEVICE_IDENTITY_CA_SHA256);
});

test('bad signature: another key, or any flipped signature byte', async () => {
  const other = await generateKeys({ kind: 'ec', curve: 'P-384' });
  const raw = await signedReport(pki, { key: other.privateKey });
  assert.equal(await code(verifyNvidia(parseNvidiaReport(raw), ctxFor(pki))), ErrorCode.SignatureInvalid);
  const good = await signedReport(pki);
  const bad = good.slice();
  bad[bad.length - 1]! ^= 0x01;
  assert.equal(await code(verifyNvidia(parseNvidiaReport(bad), ctxFor(pki))), ErrorCode.SignatureInvalid);
});

test('nonce binding: the expected nonce must equal the request nonce (not the response nonce)', async () => {
  const nonce = randomBytes(32);
  const responseNonce = randomBytes(32);
  const r = parseNvidiaReport(await signedReport(pki, { request: makeRequest(nonce), responseNonce }));
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, { expected: { nonce: randomBytes(32) } }))), ErrorCode.BindingMismatch);
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, { expected: { nonce: responseNonce } }))), ErrorCode.BindingMismatch);
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, { expected: { nonce: nonce.subarray(0, 16) } }))), ErrorCode.BindingMismatch);
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, { expected: { reportData: nonce } }))), 'OK');
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, { expected: { userData: nonce } }))), ErrorCode.BindingMismatch);
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, { expected: { publicKey: nonce } }))), ErrorCode.BindingMismatch);
  const v = await verifyNvidia(r, ctxFor(pki, { expected: { nonce } }));
  assert.equal(v.claims.platformClaims.responseNonce, toHex(responseNonce));
  assert.equal(v.claims.platformClaims.requestNonce, toHex(nonce));
});

test('requireCrl: revocation of the GPU chain cannot be checked, so the report is rejected', async () => {
  const raw = await signedReport(pki);
  assert.equal(await code(verifyNvidia(parseNvidiaReport(raw), ctxFor(pki, { options: { requireCrl: true } }))), ErrorCode.CollateralUnavailable);
  const v = await verifyNvidia(parseNvidiaReport(raw), ctxFor(pki));
  assert.equal(v.claims.revocation, 'absent');
  assert.ok(v.warnings.some((w) => w.includes('OCSP')));
});

test('expired leaf and verification before the validity window: CertificateInvalid', async () => {
  const shortLived = await makeGpuPki({ leafNotAfter: new Date('2025-01-01T00:00:00Z') });
  const raw = await signedReport(shortLived);
  assert.equal(await code(verifyNvidia(parseNvidiaReport(raw), ctxFor(shortLived))), ErrorCode.CertificateInvalid);
  assert.equal(await code(verifyNvidia(parseNvidiaReport(raw), ctxFor(shortLived, { now: new Date('2024-06-01T00:00:00Z') }))), 'OK');
  assert.equal(await code(verifyNvidia(parseNvidiaReport(raw), ctxFor(shortLived, { now: new Date('2019-06-01T00:00:00Z') }))), ErrorCode.CertificateInvalid);
});

test('chain problems: missing, root only, gap, wrong order, leaf without FWID, FWID mismatch, non-P-384 leaf', async () => {
  const r = parseNvidiaReport(await signedReport(pki));
  const [leaf, brom, prov, ident, root] = chainOf(pki) as [never, never, never, never, never];
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, {}, []))), ErrorCode.CollateralUnavailable);
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, {}, [root]))), ErrorCode.CertificateInvalid);
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, {}, [leaf, brom, ident, root]))), ErrorCode.CertificateInvalid);
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, {}, [brom, prov, ident, root]))), ErrorCode.CertificateInvalid);
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, {}, [leaf, prov, brom, ident, root]))), ErrorCode.CertificateInvalid);
  // duplicates (the root passed twice, e.g. chain file + root file) are harmless
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, {}, [leaf, brom, prov, ident, root, root]))), 'OK');
  // chain ending below the root: the top is not a pinned root
  assert.equal(await code(verifyNvidia(r, ctxFor(pki, {}, [leaf, brom, prov, ident]))), ErrorCode.RootNotTrusted);

  const noFwid = await makeGpuPki({ leafFwid: null });
  assert.equal(await code(verifyNvidia(parseNvidiaReport(await signedReport(noFwid)), ctxFor(noFwid))), ErrorCode.CertificateInvalid);
  const otherFwid = await makeGpuPki({ leafFwid: randomBytes(48) });
  assert.equal(await code(verifyNvidia(parseNvidiaReport(await signedReport(otherFwid)), ctxFor(otherFwid))), ErrorCode.BindingMismatch);
  const opaqueNoFwid = makeOpaque(pki.fwid).filter((f) => f.type !== OPAQUE.FWID);
  assert.equal(await code(verifyNvidia(parseNvidiaReport(await signedReport(pki, { opaque: opaqueNoFwid })), ctxFor(pki))), ErrorCode.EvidenceMalformed);
  const p256 = await makeGpuPki({ leafCurve: 'P-256' });
  const other = await generateKeys({ kind: 'ec', curve: 'P-384' });
  assert.equal(await code(verifyNvidia(parseNvidiaReport(await signedReport(p256, { key: other.privateKey })), ctxFor(p256))), ErrorCode.CertificateInvalid);
});

test('an intermediate that is not a CA cannot issue', async () => {
  const { mint } = await import('../../../test/support/pki.ts');
  const { fwidExtension } = await import('./test-support/synthetic.ts');
  const notCa = await mint({ subject: 'CN=Not A CA, O=Test', alg: { kind: 'ec', curve: 'P-384' }, issuer: pki.provisioner });
  const leaf = await mint({ subject: 'CN=Leaf Under Non-CA, O=Test', alg: { kind: 'ec', curve: 'P-384' }, issuer: notCa, extensions: [fwidExtension(pki.fwid)] });
  const fake = { ...pki, leaf };
  const raw = await signedReport(fake);
  const err = await code(verifyNvidia(parseNvidiaReport(raw), ctxFor(fake, {}, [leaf.cert, notCa.cert, pki.provisioner.cert, pki.identity.cert, pki.root.cert])));
  assert.equal(err, ErrorCode.CertificateInvalid);
});

test('property: flipping any bit in the signed range (request ‖ response) is rejected', async () => {
  const raw = await signedReport(pki, { blocks: makeBlocks(3) });
  const signedLen = raw.length - SIGNATURE_LEN;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: signedLen - 1 }), fc.integer({ min: 0, max: 7 }), async (pos, bit) => {
      const bad = raw.slice();
      bad[pos]! ^= 1 << bit;
      const c = await code(Promise.resolve().then(() => verifyNvidia(parseNvidiaReport(bad), ctxFor(pki))));
      assert.notEqual(c, 'OK', `flip at ${pos} (request is ${REQUEST_LEN} bytes) accepted`);
    }),
    { numRuns: 150 },
  );
});
