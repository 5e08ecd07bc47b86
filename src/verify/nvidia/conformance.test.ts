/**
 * Conformance over every NVIDIA entry of the shared corpus MANIFEST: the real H100 report verifies
 * at its verify_at with its chain and yields trustee's expected claims; the negative chain variants
 * are rejected with their codes; the NRAS result (JWTs, no JWKS offline) is not taken for SPDM
 * evidence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestError, ErrorCode, fingerprint, fromHex, parseCertificate, parseCertificates, toHex } from '../../core/index.ts';
import { emptyCollateral } from '../../collateral/index.ts';
import { NVIDIA_DEVICE_IDENTITY_CA_SHA256 } from '../../collateral/nvidia/index.ts';
import { parseNvidiaReport } from '../../evidence/nvidia/index.ts';
import { detectPlatform, resolveEvidence } from '../../platform/index.ts';
import { corpusAvailable, corpusFile, corpusText, loadManifest } from '../../../test/support/corpus.ts';
import type { VerifyContext } from '../types.ts';
import { verifyNvidia } from './verify.ts';
import { errorCode } from '../../../test/support/errors.ts';

const skip = !corpusAvailable() && 'corpus not available';
const nvidia = skip ? [] : loadManifest().filter((e) => e.platform === 'nvidia');
const byId = (id: string) => {
  const e = nvidia.find((x) => x.id === id);
  assert.ok(e, `manifest entry ${id}`);
  return e;
};

function ctx(chainPem: string, at: string, over: Partial<VerifyContext> = {}): VerifyContext {
  const collateral = emptyCollateral();
  collateral.certificates.push(...parseCertificates(chainPem));
  return { now: new Date(at), collateral, ...over };
}

const code = errorCode;

test('the pinned root is the corpus NVIDIA Device Identity CA', { skip }, async () => {
  const e = byId('nvidia-root-device-identity');
  const root = parseCertificate(corpusText(e.files[0]!));
  assert.equal(await fingerprint(root), NVIDIA_DEVICE_IDENTITY_CA_SHA256);
});

test('nvidia-hopper-sample: valid at verify_at with its chain; claims match the expected claims', { skip }, async () => {
  const e = byId('nvidia-hopper-sample');
  assert.equal(e.expected.verdict, 'valid');
  const [reportFile, chainFile, claimsFile] = e.files as [string, string, string];
  const raw = corpusFile(reportFile);
  const resolved = resolveEvidence(raw);
  assert.equal(resolved.platform.id, 'nvidia');
  const report = parseNvidiaReport(raw);
  const f = e.expected.fields as Record<string, unknown>;
  const v = await verifyNvidia(report, ctx(corpusText(chainFile), e.verify_at!, { expected: { nonce: fromHex(f.nonce as string) } }));
  assert.equal(v.platform, 'nvidia');
  assert.equal(v.tcb, null);
  assert.equal(v.chain.length, 5);
  assert.equal(v.chain[4]!.sha256, NVIDIA_DEVICE_IDENTITY_CA_SHA256);
  const pc = v.claims.platformClaims;
  assert.equal(pc.requestNonce, f.nonce);
  assert.equal(pc.fwid, f.fwid);
  assert.equal(pc.measurementBlocks, f.measurement_blocks);
  const config = pc.config as Record<string, unknown>;
  assert.equal(config.driver_version, f.driver_version);
  assert.equal(String(config.vbios_version).toLowerCase(), String(f.vbios_version).toLowerCase());

  // trustee's expected claims: every config field and all 64 measurements (keyed by block index)
  const expected = JSON.parse(corpusText(claimsFile)) as { config: Record<string, unknown>; measurements: Record<string, string> };
  for (const [k, want] of Object.entries(expected.config)) assert.deepEqual(config[k], want, `config.${k}`);
  assert.deepEqual(pc.measurements, expected.measurements);
  for (const [i, hex] of Object.entries(expected.measurements)) assert.equal(v.claims.measurements[`nvidia.measurement${Number(i) - 1}`], hex);
  assert.equal(Object.keys(v.claims.measurements).length, 64);
  assert.equal(v.claims.revocation, 'absent');
});

test('nvidia-hopper-sample: tampering, a wrong nonce, a foreign root, no chain are rejected', { skip }, async () => {
  const e = byId('nvidia-hopper-sample');
  const [reportFile, chainFile] = e.files as [string, string];
  const pem = corpusText(chainFile);
  const report = parseNvidiaReport(corpusFile(reportFile));
  assert.equal(await code(verifyNvidia(report, ctx(pem, e.verify_at!, { expected: { nonce: new Uint8Array(32) } }))), ErrorCode.BindingMismatch);
  const flipped = report.raw.slice();
  flipped[100]! ^= 0x40; // inside measurement block 2's value
  assert.equal(await code(verifyNvidia(parseNvidiaReport(flipped), ctx(pem, e.verify_at!))), ErrorCode.SignatureInvalid);
  const empty = { now: new Date(e.verify_at!), collateral: emptyCollateral() };
  assert.equal(await code(verifyNvidia(report, empty)), ErrorCode.CollateralUnavailable);
  // the chain minus its root: the top (GH100 Identity) is not a pinned root
  const chain = parseCertificates(pem);
  const noRoot = emptyCollateral();
  noRoot.certificates.push(...chain.slice(0, 4));
  assert.equal(await code(verifyNvidia(report, { now: new Date(e.verify_at!), collateral: noRoot })), ErrorCode.RootNotTrusted);
  // certificates valid from 2021/2023: before that the chain is invalid
  assert.equal(await code(verifyNvidia(report, ctx(pem, '2020-01-01T00:00:00Z'))), ErrorCode.CertificateInvalid);
  assert.equal(toHex(report.request.nonce), (e.expected.fields as Record<string, string>).nonce);
});

const NEGATIVE: Record<string, string> = {
  'nvidia-chain-case2': ErrorCode.CertificateInvalid, // root only: no signing certificate
  'nvidia-chain-case3': ErrorCode.CertificateInvalid, // missing intermediate: a link does not verify
  'nvidia-chain-case4': ErrorCode.CertificateInvalid, // missing leaf: no FWID extension
};

for (const [id, want] of Object.entries(NEGATIVE)) {
  test(`${id}: ${want} (${id === 'nvidia-chain-case2' ? 'root only' : id === 'nvidia-chain-case3' ? 'missing intermediate' : 'missing leaf'})`, { skip }, async () => {
    const e = byId(id);
    assert.equal(e.expected.verdict, 'invalid');
    const sample = byId('nvidia-hopper-sample');
    const report = parseNvidiaReport(corpusFile(sample.files[0]!));
    assert.equal(await code(verifyNvidia(report, ctx(corpusText(e.files[0]!), sample.verify_at!))), want);
  });
}

test('nvidia-dstack-nras-result (unknown-offline): an NRAS JSON result is not SPDM evidence and is rejected cleanly', { skip }, () => {
  const e = byId('nvidia-dstack-nras-result');
  assert.equal(e.expected.verdict, 'unknown-offline');
  const raw = corpusFile(e.files[0]!);
  assert.throws(() => parseNvidiaReport(raw), (err: unknown) => err instanceof AttestError && err.code === ErrorCode.UnsupportedVersion);
  let id: string | undefined;
  try {
    id = detectPlatform(raw).id;
  } catch (err) {
    assert.ok(err instanceof AttestError);
    assert.equal(err.code, ErrorCode.UnsupportedPlatform);
  }
  assert.notEqual(id, 'nvidia');
});
