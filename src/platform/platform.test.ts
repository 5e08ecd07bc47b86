import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, ErrorCode, toBase64, toHex } from '../core/index.ts';
import { decodeEvidenceText, detectPlatform, platforms, resolveEvidence, verifyEvidence } from './index.ts';
import { emptyCollateral } from '../collateral/index.ts';
import { hasCode } from '../../test/support/errors.ts';
import { corpusAvailable, corpusFile } from '../../test/support/corpus.ts';

const skip = !corpusAvailable() && 'corpus not available';
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('every registered platform has a unique id and a detector that never throws', () => {
  const ids = platforms.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), (b) => {
      for (const p of platforms) assert.equal(typeof p.detect(b), 'boolean');
    }),
    { numRuns: 150 },
  );
});

test('hex and base64 evidence text is decoded before detection; binary and JSON are left alone', { skip }, () => {
  const report = corpusFile('snp/virtee-sev/report_milan.bin');
  assert.equal(detectPlatform(report).id, 'snp');
  for (const text of [toHex(report), `0x${toHex(report)}\n`, toHex(report).replace(/(.{64})/g, '$1\n'), toBase64(report)]) {
    const r = resolveEvidence(enc(text));
    assert.equal(r.platform.id, 'snp');
    assert.deepEqual(r.bytes, report);
  }
  // with --platform the decoded form is used too
  assert.deepEqual(resolveEvidence(enc(toHex(report)), 'snp').bytes, report);
  assert.equal(decodeEvidenceText(report), report, 'binary is returned as is');
  const json = enc('{"version":1,"hcl_report":"AAAA"}');
  assert.equal(decodeEvidenceText(json), json, 'JSON is returned as is');
  const short = enc('abcd');
  assert.equal(decodeEvidenceText(short), short, 'too short to be evidence');
});

test('undetectable text still fails with ERR_UNSUPPORTED_PLATFORM', () => {
  for (const text of ['00'.repeat(40), 'hello world, this is not evidence at all', 'QUJD'.repeat(20)]) {
    assert.throws(() => resolveEvidence(enc(text)), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.UnsupportedPlatform);
  }
});

test('an explicit event log is refused for platforms that cannot replay it (never silently ignored)', { skip }, async () => {
  const report = corpusFile('snp/virtee-sev/report_milan.bin');
  const ctx = { now: new Date('2024-01-01T00:00:00Z'), collateral: emptyCollateral(), offline: true, eventLog: { name: 'ccel.bin', bytes: new Uint8Array(8) } };
  await assert.rejects(verifyEvidence(report, ctx), hasCode(ErrorCode.UnsupportedPlatform));
  assert.deepEqual(platforms.filter((p) => p.acceptsEventLog).map((p) => p.id), ['tdx']);
});
