import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, bytesEqual, fromUtf8, toBase64, toHex, utf8 } from '../../core/index.ts';
import { corpusAvailable, corpusFile, loadManifest } from '../../../test/support/corpus.ts';
import { CborMap, CborRaw, encodeCbor, type CborValue } from './cbor.ts';
import { ES384_PROTECTED, encodeCoseSign1, looksLikeCoseSign1, parseCoseSign1, sigStructure } from './cose.ts';
import { encodeNitroDocument, encodeNitroPayload, looksLikeNitroDocument, parseNitroDocument, type NitroPayload, type PayloadKey } from './document.ts';

const skip = !corpusAvailable() && 'corpus not available';
const entries = skip ? [] : loadManifest().filter((e) => e.platform === 'nitro' && e.kind === 'evidence');

const hexOrNull = (b: Uint8Array | null): string | null => (b ? toHex(b) : null);

test('corpus: every Nitro document parses to the manifest fields and re-encodes byte-exact', { skip }, () => {
  assert.ok(entries.length >= 6, 'expected the six Nitro corpus documents');
  for (const e of entries) {
    const raw = corpusFile(e.files[0]!);
    assert.ok(looksLikeNitroDocument(raw), `${e.id} detected`);
    const d = parseNitroDocument(raw);
    const f = e.expected.fields as Record<string, unknown>;
    assert.equal(d.moduleId, f.module_id, e.id);
    assert.equal(d.timestamp, f.timestamp_ms, e.id);
    assert.equal(d.digest, f.digest, e.id);
    for (const i of [0, 1, 2, 8]) assert.equal(toHex(d.pcrs.get(i)!), f[`pcr${i}`], `${e.id} pcr${i}`);
    assert.equal(hexOrNull(d.userData), f.user_data, `${e.id} user_data`);
    assert.equal(hexOrNull(d.nonce), f.nonce, `${e.id} nonce`);
    assert.equal(hexOrNull(d.publicKey), f.public_key, `${e.id} public_key`);
    assert.equal(d.cabundle.length, f.cabundle_len, e.id);
    assert.equal(d.cose.tagged, false);
    assert.equal(d.cose.alg, -35);
    assert.ok(bytesEqual(encodeNitroDocument(d), raw), `${e.id} round-trips byte-exact`);
  }
});

test('corpus: dstack payloads are indefinite-length maps, evervault ones definite', { skip }, () => {
  for (const e of entries) {
    const d = parseNitroDocument(corpusFile(e.files[0]!));
    assert.equal(d.layout.indefinite, e.id.includes('dstack'), e.id);
  }
});

test('corpus: the base64 form parses to the same document', { skip }, () => {
  const b64 = corpusFile('nitro/evervault/ga_valid_attestation_doc.b64');
  const bin = corpusFile('nitro/evervault/ga_valid_attestation_doc.cose');
  assert.ok(looksLikeNitroDocument(b64));
  assert.ok(bytesEqual(parseNitroDocument(b64).raw, bin));
  assert.ok(bytesEqual(parseNitroDocument(utf8(`\n  ${fromUtf8(b64).trim()}\n`)).raw, bin));
});

test('tag 18 is accepted and preserved', { skip }, () => {
  const d = parseNitroDocument(corpusFile(entries[0]!.files[0]!));
  const tagged = encodeCoseSign1({ protectedBytes: d.cose.protectedBytes, payload: d.cose.payload, signature: d.cose.signature, tagged: true });
  assert.equal(tagged[0], 0xd2);
  const t = parseNitroDocument(tagged);
  assert.equal(t.cose.tagged, true);
  assert.ok(bytesEqual(encodeNitroDocument(t), tagged));
});

test('Sig_structure is the exact RFC 9052 §4.4 encoding', () => {
  const s = sigStructure(ES384_PROTECTED, utf8('hi'));
  assert.equal(toHex(s), '84' + '6a' + toHex(utf8('Signature1')) + '44a1013822' + '40' + '42' + toHex(utf8('hi')));
  // 256-byte payload: two-byte length argument.
  const big = sigStructure(ES384_PROTECTED, new Uint8Array(256));
  assert.equal(toHex(big.subarray(18, 21)), '590100');
});

// ----- synthetic structure errors (parse only: no signature involved) -----

const payload = (over: Partial<NitroPayload> = {}): NitroPayload => ({
  moduleId: 'i-0123-enc0456',
  digest: 'SHA384',
  timestamp: 1_700_000_000_000,
  pcrs: new Map([0, 1, 2, 3].map((i) => [i, new Uint8Array(48).fill(i + 1)])),
  certificate: new Uint8Array(300).fill(0x30),
  cabundle: [new Uint8Array(300).fill(0x31)],
  publicKey: null,
  userData: null,
  nonce: null,
  ...over,
});
const wrap = (p: Uint8Array, extra: { tagged?: boolean; protectedBytes?: Uint8Array; signature?: Uint8Array } = {}): Uint8Array =>
  encodeCoseSign1({ payload: p, signature: extra.signature ?? new Uint8Array(96), ...(extra.protectedBytes ? { protectedBytes: extra.protectedBytes } : {}), tagged: extra.tagged ?? false });

function rejects(bytes: Uint8Array, field: string | RegExp, code = 'ERR_EVIDENCE_MALFORMED'): void {
  assert.throws(
    () => parseNitroDocument(bytes),
    (e: unknown) => {
      assert.ok(e instanceof AttestError, String(e));
      assert.equal(e.code, code, e.message);
      if (code === 'ERR_EVIDENCE_MALFORMED') {
        const f = String(e.details.field);
        assert.ok(typeof field === 'string' ? f === field : field.test(f), `field ${f} (expected ${field}): ${e.message}`);
      }
      return true;
    },
  );
}

test('a well-formed synthetic payload parses; null and absent optionals are both accepted', () => {
  const d = parseNitroDocument(wrap(encodeNitroPayload(payload())));
  assert.equal(d.moduleId, 'i-0123-enc0456');
  assert.equal(d.userData, null);
  const absent = parseNitroDocument(wrap(encodeNitroPayload(payload(), { layout: { keyOrder: ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle'] } })));
  assert.equal(absent.nonce, null);
  const full = parseNitroDocument(wrap(encodeNitroPayload(payload({ userData: new Uint8Array(512), nonce: new Uint8Array(0), publicKey: new Uint8Array(1024) }))));
  assert.equal(full.userData!.length, 512);
  assert.equal(full.nonce!.length, 0);
  assert.equal(full.publicKey!.length, 1024);
});

test('wrong types are EvidenceMalformed naming the field', () => {
  const cases: [PayloadKey, CborValue][] = [
    ['module_id', utf8('bytes')],
    ['module_id', ''],
    ['digest', 'SHA256'],
    ['digest', 384],
    ['timestamp', -1],
    ['timestamp', 0],
    ['timestamp', '1700000000000'],
    ['timestamp', 2n ** 60n],
    ['pcrs', [new Uint8Array(48)]],
    ['pcrs', new CborMap([])],
    ['certificate', 'MIIB'],
    ['certificate', new Uint8Array(0)],
    ['certificate', new Uint8Array(1025)],
    ['cabundle', new Uint8Array(10)],
    ['cabundle', []],
    ['public_key', 'key'],
    ['public_key', new Uint8Array(0)],
    ['public_key', new Uint8Array(1025)],
    ['user_data', new Uint8Array(513)],
    ['user_data', 5],
    ['nonce', new Uint8Array(513)],
    ['nonce', [1]],
  ];
  for (const [k, v] of cases) rejects(wrap(encodeNitroPayload(payload(), { override: { [k]: v } })), k);
  rejects(wrap(encodeNitroPayload(payload(), { override: { cabundle: [new Uint8Array(10), 'x'] } })), 'cabundle[1]');
  rejects(wrap(encodeNitroPayload(payload(), { override: { cabundle: [new Uint8Array(1025)] } })), 'cabundle[0]');
});

test('PCR map: index range, value sizes, count', () => {
  const bad = (m: CborMap, field: string | RegExp): void => rejects(wrap(encodeNitroPayload(payload(), { override: { pcrs: m } })), field);
  bad(new CborMap([[32, new Uint8Array(48)]]), 'pcrs');
  bad(new CborMap([[-1, new Uint8Array(48)]]), 'pcrs');
  bad(new CborMap([['0', new Uint8Array(48)]]), 'pcrs');
  bad(new CborMap([[0, new Uint8Array(47)]]), 'pcrs[0]');
  bad(new CborMap([[0, 'zz']]), 'pcrs[0]');
  bad(new CborMap([[0, new Uint8Array(48)], [0, new Uint8Array(48)]]), 'payload');
  bad(new CborMap(Array.from({ length: 33 }, (_, i) => [i, new Uint8Array(32)] as const)), 'pcrs');
  for (const size of [32, 48, 64]) parseNitroDocument(wrap(encodeNitroPayload(payload(), { override: { pcrs: new CborMap([[31, new Uint8Array(size)]]) } })));
});

test('missing required fields, unknown fields, duplicate keys, non-text keys', () => {
  const order: PayloadKey[] = ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce'];
  for (const k of ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle'] as const) {
    rejects(wrap(encodeNitroPayload(payload(), { layout: { keyOrder: order.filter((x) => x !== k) } })), k);
  }
  rejects(wrap(encodeNitroPayload(payload(), { extra: [['extra_field', 1]] })), 'extra_field');
  rejects(wrap(encodeNitroPayload(payload(), { extra: [['nonce', new Uint8Array(4)]] })), 'payload');
  rejects(wrap(encodeNitroPayload(payload(), { layout: { indefinite: true }, extra: [['module_id', 'other']] })), 'payload');
  rejects(wrap(encodeNitroPayload(payload(), { extra: [[7, 1]] })), 'payload');
});

test('COSE structure errors', () => {
  const p = encodeNitroPayload(payload());
  const good = wrap(p);
  parseNitroDocument(good);
  rejects(new Uint8Array([...good, 0x00]), 'COSE_Sign1');
  rejects(good.subarray(0, good.length - 1), /COSE_Sign1|signature/);
  rejects(wrap(p, { signature: new Uint8Array(95) }), 'signature');
  rejects(wrap(new Uint8Array([...p, 0xf6])), 'payload'); // trailing bytes inside the payload bstr
  rejects(wrap(p, { protectedBytes: encodeCbor(new CborMap([[1, -7]])) }), '', 'ERR_UNSUPPORTED_VERSION');
  rejects(wrap(p, { protectedBytes: encodeCbor(new CborMap([[4, new Uint8Array(2)]])) }), 'protected.alg');
  rejects(wrap(p, { protectedBytes: new Uint8Array(0) }), 'protected');
  rejects(wrap(p, { protectedBytes: encodeCbor(new CborMap([[1, 'ES384']])) }), 'protected.alg');
  rejects(wrap(p, { protectedBytes: encodeCbor(new CborMap([[1, -35], [2, [99]]])) }), 'protected.crit');
  parseNitroDocument(wrap(p, { protectedBytes: encodeCbor(new CborMap([[1, -35], [2, [1]]])) }));
  rejects(wrap(p, { protectedBytes: encodeCbor(new CborMap([[1, -35], [1, -35]])) }), 'protected');
  rejects(encodeCbor([ES384_PROTECTED, new CborMap([]), p]), 'COSE_Sign1');
  rejects(encodeCbor([ES384_PROTECTED, new CborMap([]), null, new Uint8Array(96)]), 'payload');
  rejects(encodeCbor([ES384_PROTECTED, [], p, new Uint8Array(96)]), 'unprotected');
  rejects(encodeCbor([ES384_PROTECTED, new CborMap([[1, -35]]), p, new Uint8Array(96)]), 'unprotected');
  rejects(encodeCbor(new CborMap([[1, 2]])), 'COSE_Sign1');
  rejects(encodeCbor([new CborRaw(new Uint8Array([0xa1, 0x01, 0x38, 0x22])), new CborMap([]), p, new Uint8Array(96)]), 'protected');
  assert.equal(looksLikeCoseSign1(wrap(p, { protectedBytes: encodeCbor(new CborMap([[1, -7]])) })), false);
  assert.equal(looksLikeCoseSign1(utf8('{"json": true}')), false);
  assert.equal(looksLikeNitroDocument(utf8(toBase64(good))), true);
});

test('property: random and truncated input yields AttestError only', { skip }, () => {
  const raws = entries.map((e) => corpusFile(e.files[0]!));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      try {
        parseNitroDocument(b);
      } catch (e) {
        assert.ok(e instanceof AttestError, String(e));
      }
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: raws.length - 1 }), fc.nat(), (i, n) => {
      const raw = raws[i]!;
      const cut = raw.subarray(0, n % raw.length);
      assert.throws(() => parseNitroDocument(cut), (e: unknown) => e instanceof AttestError);
    }),
    { numRuns: 200 },
  );
});

test('property: byte flips in the COSE envelope and payload parse to a different document or fail cleanly', { skip }, () => {
  const raw = corpusFile(entries[0]!.files[0]!);
  const orig = parseCoseSign1(raw);
  fc.assert(
    fc.property(fc.nat({ max: raw.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
      const b = raw.slice();
      b[pos]! ^= x;
      try {
        const d = parseNitroDocument(b);
        // Anything that still parses differs in the signed bytes or the signature, which verification rejects.
        assert.ok(!bytesEqual(sigStructure(d.cose.protectedBytes, d.cose.payload), sigStructure(orig.protectedBytes, orig.payload)) || !bytesEqual(d.cose.signature, orig.signature));
      } catch (e) {
        assert.ok(e instanceof AttestError, String(e));
      }
    }),
    { numRuns: 300 },
  );
});

test('property: content detection never throws and only claims COSE_Sign1 ES384 shapes', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string({ maxLength: 200 }).map((s) => utf8(s)), fc.uint8Array({ maxLength: 120 }).map((b) => utf8(toBase64(new Uint8Array([0x84, ...b]))))), (b) => {
      const hit = looksLikeNitroDocument(b);
      if (hit) assert.ok(b[0] === 0x84 || b[0] === 0xd2 || /^[A-Za-z0-9+/=\s_-]+$/.test(fromUtf8(b, false)));
    }),
    { numRuns: 300 },
  );
});
