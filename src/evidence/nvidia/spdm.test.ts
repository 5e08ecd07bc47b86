/**
 * SPDM GET_MEASUREMENTS / MEASUREMENTS parsing: the real H100 sample, encode round trips, strict
 * lengths, and robustness (random or truncated input → AttestError only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, ErrorCode, bytesEqual, concatBytes, randomBytes, toHex } from '../../core/index.ts';
import { corpusAvailable, corpusFile } from '../../../test/support/corpus.ts';
import { OPAQUE, REQUEST_LEN, SIGNATURE_LEN, decodeOpaque, encodeNvidiaReport, encodeRequest, encodeResponseUnsigned, looksLikeNvidiaReport, parseNvidiaReport, type SpdmMeasurementsResponse } from './index.ts';

const skip = !corpusAvailable() && 'corpus not available';
const SAMPLE = 'nvidia/hopper/hopperAttestationReport.hex.txt';

function errCode(f: () => unknown): string {
  try {
    f();
    return 'OK';
  } catch (e) {
    assert.ok(e instanceof AttestError, `not an AttestError: ${String(e)}`);
    return e.code;
  }
}

function synthetic(over: Partial<SpdmMeasurementsResponse> = {}, numberOfBlocks?: number): Uint8Array {
  const request = { version: 0x11, code: 0xe0, param1: 1, param2: 0xff, nonce: randomBytes(32), slotId: 0 };
  const response: SpdmMeasurementsResponse = {
    version: 0x11,
    code: 0x60,
    param1: 0,
    param2: 0,
    blocks: [1, 2, 3].map((index) => ({ index, specification: 1, valueType: 1, value: randomBytes(48) })),
    nonce: randomBytes(32),
    opaque: [{ type: OPAQUE.FWID, value: randomBytes(48) }],
    signature: randomBytes(SIGNATURE_LEN),
    ...over,
  };
  return concatBytes(encodeRequest(request), encodeResponseUnsigned(response, numberOfBlocks), response.signature);
}

test('the real H100 sample parses: request nonce, 64 blocks of SHA-384, opaque fields, 96-byte signature', { skip }, () => {
  const text = corpusFile(SAMPLE);
  assert.ok(looksLikeNvidiaReport(text));
  const r = parseNvidiaReport(text);
  assert.equal(r.raw.length, 4117);
  assert.equal(toHex(r.request.nonce), '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb');
  assert.equal(r.request.param2, 0xff);
  assert.equal(r.response.blocks.length, 64);
  assert.ok(r.response.blocks.every((b, i) => b.index === i + 1 && b.value.length === 48));
  assert.equal(r.response.signature.length, SIGNATURE_LEN);
  assert.equal(r.signed.length, r.raw.length - SIGNATURE_LEN);
  const o = decodeOpaque(r.response.opaque);
  assert.equal(o.driver_version, '550.90.07');
  assert.equal(o.vbios_version, '96.00.9f.00.01');
  assert.equal(o.fwid, 'f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d');
  // binary form: same parse, and encode reproduces the bytes exactly
  assert.ok(looksLikeNvidiaReport(r.raw));
  assert.ok(bytesEqual(encodeNvidiaReport(r.request, r.response), r.raw));
  assert.ok(bytesEqual(parseNvidiaReport(r.raw).signed, r.signed));
});

test('synthetic reports round-trip through encode/parse', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 254 }), { minLength: 0, maxLength: 10 }), fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 6 }), (idx, opaque) => {
      const blocks = idx.map((index) => ({ index, specification: 1, valueType: 0x81, value: randomBytes(index % 64) }));
      const raw = synthetic({ blocks, opaque });
      const r = parseNvidiaReport(raw);
      assert.deepEqual(r.response.blocks.map((b) => b.index), idx);
      assert.deepEqual(r.response.opaque.map((f) => f.type), opaque.map((f) => f.type));
      assert.ok(bytesEqual(encodeNvidiaReport(r.request, r.response), raw));
    }),
    { numRuns: 150 },
  );
});

test('strict structure: every inconsistency is EvidenceMalformed or UnsupportedVersion', () => {
  const good = synthetic();
  assert.equal(errCode(() => parseNvidiaReport(good)), 'OK');
  // NumberOfBlocks disagrees with the record
  assert.equal(errCode(() => parseNvidiaReport(synthetic({}, 4))), ErrorCode.EvidenceMalformed);
  // trailing byte after the signature, and a truncated signature
  assert.equal(errCode(() => parseNvidiaReport(concatBytes(good, new Uint8Array([0])))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(good.subarray(0, good.length - 1))), ErrorCode.EvidenceMalformed);
  // request: other SPDM version, not GET_MEASUREMENTS, no signature requested, bad slot
  const mut = (pos: number, v: number): Uint8Array => {
    const b = good.slice();
    b[pos] = v;
    return b;
  };
  assert.equal(errCode(() => parseNvidiaReport(mut(0, 0x12))), ErrorCode.UnsupportedVersion);
  assert.equal(errCode(() => parseNvidiaReport(mut(1, 0xe1))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(mut(2, 0x00))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(mut(36, 9))), ErrorCode.EvidenceMalformed);
  // response: version differs from the request, wrong code
  assert.equal(errCode(() => parseNvidiaReport(mut(REQUEST_LEN, 0x10))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(mut(REQUEST_LEN + 1, 0x61))), ErrorCode.EvidenceMalformed);
  // record length one larger / smaller than the blocks
  const recLenAt = REQUEST_LEN + 5;
  assert.equal(errCode(() => parseNvidiaReport(mut(recLenAt, good[recLenAt]! + 1))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(mut(recLenAt, good[recLenAt]! - 1))), ErrorCode.EvidenceMalformed);
  // first block: MeasurementSize inconsistent with the DMTF value size, non-DMTF spec, reserved index
  const blk = REQUEST_LEN + 8;
  assert.equal(errCode(() => parseNvidiaReport(mut(blk + 2, good[blk + 2]! - 1))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(mut(blk + 5, good[blk + 5]! + 1))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(mut(blk + 1, 0x02))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(mut(blk, 0))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(mut(blk, 2))), ErrorCode.EvidenceMalformed); // duplicate index 2
  // opaque: a TLV length running past OpaqueDataLength
  const opaqueAt = good.length - SIGNATURE_LEN - (4 + 48);
  assert.equal(errCode(() => parseNvidiaReport(mut(opaqueAt + 2, 49))), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => parseNvidiaReport(mut(opaqueAt - 2, 51))), ErrorCode.EvidenceMalformed);
  // odd-length hex text
  assert.equal(errCode(() => parseNvidiaReport(new TextEncoder().encode(toHex(good) + '0'))), ErrorCode.EvidenceMalformed);
});

test('opaque decoding: duplicate ids, a wrong-size FWID, non-ASCII versions and odd counters are malformed', () => {
  const f = (type: number, value: number[]): { type: number; value: Uint8Array } => ({ type, value: new Uint8Array(value) });
  assert.equal(errCode(() => decodeOpaque([f(OPAQUE.FWID, new Array(48).fill(1)), f(OPAQUE.FWID, new Array(48).fill(1))])), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => decodeOpaque([f(OPAQUE.FWID, new Array(47).fill(1))])), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => decodeOpaque([f(OPAQUE.DRIVER_VERSION, [0x35, 0x01, 0])])), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => decodeOpaque([f(OPAQUE.MSRSCNT, [1, 0, 0])])), ErrorCode.EvidenceMalformed);
  assert.equal(errCode(() => decodeOpaque([f(OPAQUE.VBIOS_VERSION, [1, 2])])), ErrorCode.EvidenceMalformed);
  assert.deepEqual(decodeOpaque([f(OPAQUE.MSRSCNT, [2, 0, 0, 0, 7, 0, 0, 0]), f(999, [0xab])]), { measurement_count: { '1': 2, '2': 7 }, type_999: 'ab' });
});

test('detection: SPDM 1.1 GET_MEASUREMENTS binary or hex only', () => {
  const good = synthetic();
  assert.ok(looksLikeNvidiaReport(good));
  assert.ok(looksLikeNvidiaReport(new TextEncoder().encode(`  ${toHex(good).toUpperCase()}\n`)));
  assert.ok(!looksLikeNvidiaReport(good.subarray(0, REQUEST_LEN)));
  assert.ok(!looksLikeNvidiaReport(new Uint8Array([0x12, 0xe0, ...good.subarray(2)])));
  assert.ok(!looksLikeNvidiaReport(new TextEncoder().encode('{"11e0": 1}' + 'a'.repeat(100))));
});

test('property: random and truncated input only ever throws AttestError', () => {
  const good = synthetic();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const b = bytes.length >= 2 ? concatBytes(new Uint8Array([0x11, 0xe0, 0x01]), bytes) : bytes;
      errCode(() => parseNvidiaReport(b));
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: good.length - 1 }), (n) => {
      assert.equal(errCode(() => parseNvidiaReport(good.subarray(0, n))), n === 0 ? errCode(() => parseNvidiaReport(new Uint8Array(0))) : ErrorCode.EvidenceMalformed);
    }),
    { numRuns: 200 },
  );
});
