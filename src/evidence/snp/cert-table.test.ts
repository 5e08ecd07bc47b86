import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, ErrorCode } from '../../core/index.ts';
import { SNP_CERT_GUIDS, encodeSnpCertTable, guidFromString, guidToString, looksLikeSnpCertTable, parseSnpCertTable } from './index.ts';

test('GUIDs are the GHCB ones and use RFC 4122 byte order on the wire', () => {
  assert.equal(SNP_CERT_GUIDS.vcek, '63da758d-e664-4564-adc5-f4b93be8accd');
  assert.equal(SNP_CERT_GUIDS.vlek, 'a8074bc2-a25a-483e-aae6-39c045a0b8a1');
  assert.equal(SNP_CERT_GUIDS.ask, '4ab7b379-bbac-4fe4-a02f-05aef327c782');
  assert.equal(SNP_CERT_GUIDS.ark, 'c0b406a4-a803-4952-9743-3fb6014cd0ae');
  assert.deepEqual([...guidFromString(SNP_CERT_GUIDS.vcek).subarray(0, 4)], [0x63, 0xda, 0x75, 0x8d]);
  assert.equal(guidToString(guidFromString(SNP_CERT_GUIDS.ark)), SNP_CERT_GUIDS.ark);
});

test('table round-trips, names entries, tolerates page padding, and rejects bad ranges', () => {
  const vcek = new Uint8Array([0x30, 1, 2, 3]);
  const ask = new Uint8Array([0x30, 4, 5]);
  const other = '11111111-2222-3333-4444-555555555555';
  const t = encodeSnpCertTable([
    { guid: SNP_CERT_GUIDS.vcek, data: vcek },
    { guid: SNP_CERT_GUIDS.ask, data: ask },
    { guid: other, data: new Uint8Array([9]) },
  ]);
  const parsed = parseSnpCertTable(t);
  assert.deepEqual(parsed.map((e) => e.kind), ['vcek', 'ask', 'other']);
  assert.deepEqual(parsed[0]!.data, vcek);
  assert.equal(parsed[0]!.offset, 4 * 24);
  assert.ok(looksLikeSnpCertTable(t));
  const padded = new Uint8Array(4096);
  padded.set(t);
  assert.equal(parseSnpCertTable(padded).length, 3);
  assert.deepEqual(parseSnpCertTable(new Uint8Array(0)), []);

  const code = (b: Uint8Array): string => {
    try {
      parseSnpCertTable(b);
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof AttestError);
      return e.code;
    }
  };
  assert.equal(code(t.subarray(0, 30)), ErrorCode.EvidenceMalformed, 'no terminator');
  const outOfRange = t.slice();
  new DataView(outOfRange.buffer).setUint32(20, 10_000, true);
  assert.equal(code(outOfRange), ErrorCode.EvidenceMalformed, 'length past the end');
  const intoHeader = t.slice();
  new DataView(intoHeader.buffer).setUint32(16, 8, true);
  assert.equal(code(intoHeader), ErrorCode.EvidenceMalformed, 'offset inside the header');
});

test('property: arbitrary bytes give a table or an AttestError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
      try {
        parseSnpCertTable(b);
      } catch (e) {
        assert.ok(e instanceof AttestError, String(e));
      }
    }),
    { numRuns: 300 },
  );
});
