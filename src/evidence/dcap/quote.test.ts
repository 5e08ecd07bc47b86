import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, ErrorCode, bytesEqual } from '../../core/index.ts';
import { corpusAvailable, corpusFile, loadManifest } from '../../../test/support/corpus.ts';
import { encodeQuote, encodeSignedRegion, looksLikeDcapQuote, parseQuote } from './index.ts';

const skip = !corpusAvailable() && 'corpus not available';
const quoteFiles = (): string[] => {
  const files = new Set<string>();
  for (const e of loadManifest()) {
    if ((e.platform !== 'tdx' && e.platform !== 'sgx') || e.kind !== 'evidence' || e.id.startsWith('tdx-derived-') || e.id === 'tdx-gtg-tdreport') continue;
    const f = e.files.find((x) => /quote|\.dat$|_quote$|\.bin$/.test(x) && !x.includes('hcl-report') && !x.endsWith('.json'));
    if (f) files.add(f);
  }
  return [...files];
};

test('every corpus quote parses and re-encodes byte-exact up to its declared length', { skip }, () => {
  const files = quoteFiles();
  assert.ok(files.length >= 14, `only ${files.length} quote files`);
  for (const f of files) {
    const bytes = corpusFile(f);
    const q = parseQuote(bytes);
    assert.ok(bytesEqual(encodeQuote(q), q.raw), `${f} round-trip`);
    assert.ok(bytesEqual(encodeSignedRegion(q), q.signed), `${f} signed region`);
    assert.equal(q.raw.length + q.trailingBytes, bytes.length, f);
    assert.ok(looksLikeDcapQuote(bytes), f);
    const signedLen = q.header.version === 5 ? 54 + q.body.raw.length : 48 + q.body.raw.length;
    assert.equal(q.signed.length, signedLen, `${f}: v5 signs the body descriptor too`);
    assert.equal(q.signature.qe.qeAuthData.length, 32, f);
  }
});

test('layouts: TD15 carries TEE_TCB_SVN2 and MRSERVICETD; v3 SGX carries the enclave report', { skip }, () => {
  const v5 = parseQuote(corpusFile('tdx/go-tdx-guest/quote_v5_sample.dat'));
  assert.equal(v5.body.kind, 'td15');
  assert.equal(v5.bodyType, 3);
  const sgx = parseQuote(corpusFile('sgx/dcap-qvl/sgx_quote'));
  assert.equal(sgx.body.kind, 'sgx');
  assert.equal(new TextDecoder().decode(sgx.body.reportData.subarray(0, 13)), 'Hello, world!');
  const td10v5 = parseQuote(corpusFile('tdx/trustee/tdx_quote_5.dat'));
  assert.equal(td10v5.header.version, 5);
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AttestError, `not an AttestError: ${String(e)}`);
    return e.code;
  }
  return 'ok';
}

test('unknown versions, key types, body types and inconsistent lengths are rejected', { skip }, () => {
  const base = corpusFile('tdx/dcap-qvl/tdx_quote');
  const mut = (off: number, v: number): Uint8Array => {
    const b = base.slice();
    b[off] = v;
    return b;
  };
  assert.equal(code(() => parseQuote(mut(0, 6))), ErrorCode.UnsupportedVersion);
  assert.equal(code(() => parseQuote(mut(2, 3))), ErrorCode.UnsupportedVersion, 'ECDSA P-384 attestation keys are unsupported');
  assert.equal(code(() => parseQuote(mut(4, 0x82))), ErrorCode.EvidenceMalformed);
  assert.equal(code(() => parseQuote(mut(632, base[632]! + 1))), ErrorCode.EvidenceMalformed, 'signature data length');
  assert.equal(code(() => parseQuote(mut(632 + 4 + 128, 5))), ErrorCode.UnsupportedVersion, 'outer cert type must be 6 for v4');
  const v5 = corpusFile('tdx/go-tdx-guest/quote_v5_sample.dat');
  const bt = v5.slice();
  bt[48] = 9;
  assert.equal(code(() => parseQuote(bt)), ErrorCode.UnsupportedVersion);
  const bs = v5.slice();
  bs[50] = 0x49; // BODY_SIZE no longer 648
  assert.equal(code(() => parseQuote(bs)), ErrorCode.EvidenceMalformed);
  // QE auth data length overrunning the certification data.
  const q = parseQuote(base);
  const authOff = 48 + 584 + 4 + 128 + 6 + 384 + 64;
  const a = base.slice();
  a[authOff] = 0xff;
  a[authOff + 1] = 0xff;
  assert.equal(code(() => parseQuote(a)), ErrorCode.EvidenceMalformed);
  // Nested cert type other than 5.
  const n = base.slice();
  n[authOff + 2 + q.signature.qe.qeAuthData.length] = 3;
  assert.equal(code(() => parseQuote(n)), ErrorCode.UnsupportedVersion);
});

test('property: truncation anywhere yields an AttestError (never another exception)', { skip }, () => {
  const base = corpusFile('tdx/go-tdx-guest/quote_v5_sample.dat');
  const q = parseQuote(base);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: q.raw.length - 1 }), (n) => {
      assert.notEqual(code(() => parseQuote(base.subarray(0, n))), 'ok');
    }),
    { numRuns: 200 },
  );
});

test('property: random input and random single-byte edits never crash the parser', { skip }, () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 2048 }), (b) => {
      code(() => parseQuote(b));
    }),
    { numRuns: 200 },
  );
  const base = corpusFile('sgx/dcap-qvl/sgx_quote');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: base.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
      const b = base.slice();
      b[i] = v;
      code(() => parseQuote(b));
    }),
    { numRuns: 300 },
  );
});

test('the parsed quote owns one copy: fields are views into raw, independent of the input buffer', { skip }, () => {
  const input = corpusFile('tdx/go-tdx-guest/quote_v5_sample.dat').slice();
  const q = parseQuote(input);
  const before = encodeQuote(q);
  const signedBefore = q.signed.slice();
  const body = q.body;
  assert.ok(body.kind !== 'sgx');
  for (const v of [q.signed, q.header.userData, body.mrTd, body.reportData, q.signature.isvSignature, q.signature.qe.qeReport.raw, q.signature.qe.qeAuthData]) {
    assert.equal(v.buffer, q.raw.buffer, 'a view into the private copy');
  }
  assert.notEqual(q.raw.buffer, input.buffer);
  input.fill(0xa5); // the caller reuses its buffer
  assert.ok(bytesEqual(encodeQuote(q), before));
  assert.ok(bytesEqual(q.signed, signedBefore));
});

test('property: a single-byte edit is parsed as if the edited bytes had been copied (same verdict, same fields)', { skip }, () => {
  const base = corpusFile('tdx/dcap-qvl/tdx_quote');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 700 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 64 }), (i, v, pad) => {
      const b = new Uint8Array(base.length + pad);
      b.set(base);
      b[i] = v;
      const c = code(() => parseQuote(b));
      if (c !== 'ok') return;
      const q = parseQuote(b);
      assert.ok(bytesEqual(encodeQuote(q), q.raw));
      assert.ok(bytesEqual(q.raw, b.subarray(0, q.raw.length)));
      assert.equal(q.trailingBytes, b.length - q.raw.length);
    }),
    { numRuns: 300 },
  );
});
