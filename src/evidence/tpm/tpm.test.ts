import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, ByteWriter, concatBytes, toHex, utf8 } from '../../core/index.ts';
import { corpusFile } from '../../../test/support/corpus.ts';
import {
  encodeTpmBundle,
  encodeTpmsAttest,
  encodeTpmtPublic,
  encodeTpmtSignature,
  isGoTpmToolsAttestation,
  isTpmBundle,
  objectName,
  parseGoTpmToolsAttestation,
  parseTpmBundle,
  parseTpmEvidence,
  parseTpmsAttest,
  parseTpmtPublic,
  parseTpmtSignature,
  readProtobuf,
  TPM_ALG,
  TPM_ST,
  tpmEvidenceToBundle,
  tpmPublicToJwk,
} from './index.ts';
import { hasCode } from '../../../test/support/errors.ts';

const DIR = 'tpm/go-tpm-tools/gce-cos-85/';
const BANKS = ['sha1', 'sha256', 'sha384'] as const;

test('corpus: TPMS_ATTEST, TPMT_SIGNATURE and TPMT_PUBLIC parse and re-encode byte-exact', async () => {
  for (const bank of BANKS) {
    const raw = corpusFile(`${DIR}no-nonce.quote_${bank}.tpms_attest.bin`);
    const a = parseTpmsAttest(raw);
    assert.equal(a.magic, 0xff544347);
    assert.equal(a.type, TPM_ST.ATTEST_QUOTE);
    assert.equal(a.extraData.length, 0);
    assert.equal(a.quote!.pcrSelect.length, 1);
    assert.deepEqual(a.quote!.pcrSelect[0]!.pcrs, Array.from({ length: 24 }, (_, i) => i));
    assert.equal(a.quote!.pcrDigest.length, 32);
    assert.deepEqual(encodeTpmsAttest(a), raw);
    const sraw = corpusFile(`${DIR}no-nonce.quote_${bank}.tpmt_signature.bin`);
    const s = parseTpmtSignature(sraw);
    assert.equal(s.sigAlg, TPM_ALG.RSASSA);
    assert.equal(s.hash, TPM_ALG.SHA256);
    assert.deepEqual(encodeTpmtSignature(s), sraw);
  }
  const praw = corpusFile(`${DIR}ak_pub.tpmt_public.bin`);
  const p = parseTpmtPublic(praw);
  assert.equal(p.type, TPM_ALG.RSA);
  assert.deepEqual(encodeTpmtPublic(p), praw);
  assert.equal(toHex(await objectName(p)), '000bf175bdb57297b2b289973f819863d6c9d09c236725676914f4248c9a2404c2a4');
  const jwk = tpmPublicToJwk(p);
  assert.equal(jwk.kty, 'RSA');
});

test('corpus: the go-tpm-tools protobuf imports with the same parts as the split files', () => {
  const pb = corpusFile(`${DIR}gce-cos-85-no-nonce.pb`);
  assert.ok(isGoTpmToolsAttestation(pb));
  assert.equal(isTpmBundle(pb), false);
  const e = parseGoTpmToolsAttestation(pb);
  assert.deepEqual(e.akPublic.raw, corpusFile(`${DIR}ak_pub.tpmt_public.bin`));
  assert.deepEqual(e.akCert, corpusFile(`${DIR}ak_cert.der`));
  assert.deepEqual(e.eventLog, corpusFile(`${DIR}event_log.bin`));
  assert.equal(e.quotes.length, 3);
  BANKS.forEach((bank, i) => assert.deepEqual(e.quotes[i]!.attest.raw, corpusFile(`${DIR}no-nonce.quote_${bank}.tpms_attest.bin`)));
  for (const bank of BANKS) {
    const exp = JSON.parse(new TextDecoder().decode(corpusFile(`${DIR}no-nonce.quote_${bank}.pcrs.json`))) as { pcrs: Record<string, string> };
    const alg = bank === 'sha1' ? TPM_ALG.SHA1 : bank === 'sha256' ? TPM_ALG.SHA256 : TPM_ALG.SHA384;
    for (const [i, v] of Object.entries(exp.pcrs)) assert.equal(toHex(e.pcrs.get(alg)!.get(Number(i))!), v);
  }
  // The JSON bundle carries the same evidence.
  const bundle = tpmEvidenceToBundle(e);
  assert.ok(isTpmBundle(bundle));
  const back = parseTpmEvidence(bundle);
  assert.equal(back.source, 'bundle');
  assert.deepEqual(back.akPublic.raw, e.akPublic.raw);
  assert.deepEqual(back.eventLog, e.eventLog);
  assert.equal(back.quotes.length, 3);
});

// Synthetic structures for the error paths.
const attest = (over: Partial<Parameters<typeof encodeTpmsAttest>[0]> = {}): Uint8Array =>
  encodeTpmsAttest({
    magic: 0xff544347, type: TPM_ST.ATTEST_QUOTE, qualifiedSigner: new Uint8Array(34), extraData: new Uint8Array(8),
    clockInfo: { clock: 1n, resetCount: 0, restartCount: 0, safe: true }, firmwareVersion: 2n,
    quote: { pcrSelect: [{ hash: TPM_ALG.SHA256, pcrs: [0, 1], sizeofSelect: 3 }], pcrDigest: new Uint8Array(32) }, ...over,
  });

test('synthetic: TPMS_ATTEST error paths', () => {
  const good = attest();
  assert.doesNotThrow(() => parseTpmsAttest(good));
  const certify = encodeTpmsAttest({ magic: 0xff544347, type: TPM_ST.ATTEST_CERTIFY, qualifiedSigner: new Uint8Array(2), extraData: new Uint8Array(0), clockInfo: { clock: 0n, resetCount: 0, restartCount: 0, safe: false }, firmwareVersion: 0n, certify: { name: new Uint8Array(34), qualifiedName: new Uint8Array(34) } });
  assert.equal(parseTpmsAttest(certify).certify!.name.length, 34);
  const w = (f: (b: ByteWriter) => void): Uint8Array => {
    const b = new ByteWriter();
    f(b);
    return b.finish();
  };
  const cases: [string, Uint8Array, string][] = [
    ['truncated', good.subarray(0, good.length - 1), 'ERR_EVIDENCE_MALFORMED'],
    ['trailing byte', concatBytes(good, new Uint8Array([0])), 'ERR_EVIDENCE_MALFORMED'],
    ['unsupported type', attest({ type: TPM_ST.ATTEST_TIME, quote: undefined }), 'ERR_UNSUPPORTED_VERSION'],
    ['oversized extraData', w((b) => b.u32be(0xff544347).u16be(0x8018).u16be(0).u16be(100).zeros(100)), 'ERR_EVIDENCE_MALFORMED'],
    ['oversized qualifiedSigner', w((b) => b.u32be(0xff544347).u16be(0x8018).u16be(200).zeros(200)), 'ERR_EVIDENCE_MALFORMED'],
    ['bad safe byte', (() => { const x = good.slice(); x[6 + 36 + 10 + 16] = 2; return x; })(), 'ERR_EVIDENCE_MALFORMED'],
    ['too many banks', (() => { const x = good.slice(); new DataView(x.buffer).setUint32(6 + 36 + 10 + 17 + 8, 99); return x; })(), 'ERR_EVIDENCE_MALFORMED'],
    ['bank not a hash', attest({ quote: { pcrSelect: [{ hash: TPM_ALG.RSA, pcrs: [0], sizeofSelect: 3 }], pcrDigest: new Uint8Array(32) } }), 'ERR_EVIDENCE_MALFORMED'],
  ];
  for (const [name, bytes, c] of cases) assert.throws(() => parseTpmsAttest(bytes), hasCode(c), name);
  const zeroSel = good.slice();
  zeroSel[6 + 36 + 10 + 17 + 8 + 4 + 2] = 0; // sizeofSelect = 0
  assert.throws(() => parseTpmsAttest(zeroSel), hasCode('ERR_EVIDENCE_MALFORMED'));
});

test('synthetic: TPMT_SIGNATURE and TPMT_PUBLIC error paths', () => {
  const sig = (f: (b: ByteWriter) => void): Uint8Array => {
    const b = new ByteWriter();
    f(b);
    return b.finish();
  };
  const ecdsa = encodeTpmtSignature({ sigAlg: TPM_ALG.ECDSA, hash: TPM_ALG.SHA256, r: new Uint8Array(32).fill(1), s: new Uint8Array(32).fill(2) });
  assert.equal(parseTpmtSignature(ecdsa).sigAlg, TPM_ALG.ECDSA);
  const pss = encodeTpmtSignature({ sigAlg: TPM_ALG.RSAPSS, hash: TPM_ALG.SHA384, sig: new Uint8Array(256) });
  assert.equal(parseTpmtSignature(pss).hash, TPM_ALG.SHA384);
  const cases: [string, Uint8Array, string][] = [
    ['HMAC signature', sig((b) => b.u16be(TPM_ALG.HMAC).u16be(TPM_ALG.SHA256).zeros(32)), 'ERR_UNSUPPORTED_VERSION'],
    ['bad hash', sig((b) => b.u16be(TPM_ALG.RSASSA).u16be(0x99).u16be(1).u8(0)), 'ERR_EVIDENCE_MALFORMED'],
    ['empty RSA sig', sig((b) => b.u16be(TPM_ALG.RSASSA).u16be(TPM_ALG.SHA256).u16be(0)), 'ERR_EVIDENCE_MALFORMED'],
    ['empty ECDSA r', sig((b) => b.u16be(TPM_ALG.ECDSA).u16be(TPM_ALG.SHA256).u16be(0).u16be(1).u8(1)), 'ERR_EVIDENCE_MALFORMED'],
    ['ECDSA bad hash', sig((b) => b.u16be(TPM_ALG.ECDSA).u16be(0x99)), 'ERR_EVIDENCE_MALFORMED'],
    ['oversized r', sig((b) => b.u16be(TPM_ALG.ECDSA).u16be(TPM_ALG.SHA256).u16be(80).zeros(80)), 'ERR_EVIDENCE_MALFORMED'],
    ['trailing', concatBytes(ecdsa, new Uint8Array([0])), 'ERR_EVIDENCE_MALFORMED'],
    ['truncated', ecdsa.subarray(0, 10), 'ERR_EVIDENCE_MALFORMED'],
  ];
  for (const [name, bytes, c] of cases) assert.throws(() => parseTpmtSignature(bytes), hasCode(c), name);

  const ak = parseTpmtPublic(corpusFile(`${DIR}ak_pub.tpmt_public.bin`));
  const eccPub = encodeTpmtPublic({ type: TPM_ALG.ECC, nameAlg: TPM_ALG.SHA256, objectAttributes: 0x50072, authPolicy: new Uint8Array(0), ecc: { symmetric: { algorithm: TPM_ALG.NULL }, scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 }, curveId: 3, kdf: { scheme: TPM_ALG.NULL } }, x: new Uint8Array(32).fill(1), y: new Uint8Array(32).fill(2) });
  assert.deepEqual(encodeTpmtPublic(parseTpmtPublic(eccPub)), eccPub);
  const kh = encodeTpmtPublic({ type: TPM_ALG.KEYEDHASH, nameAlg: TPM_ALG.SHA256, objectAttributes: 0, authPolicy: new Uint8Array(0), keyedHash: { scheme: TPM_ALG.HMAC, hashAlg: TPM_ALG.SHA256 }, unique: new Uint8Array(32) });
  assert.deepEqual(encodeTpmtPublic(parseTpmtPublic(kh)), kh);
  const sym = encodeTpmtPublic({ type: TPM_ALG.SYMCIPHER, nameAlg: TPM_ALG.SHA256, objectAttributes: 0, authPolicy: new Uint8Array(0), sym: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }, unique: new Uint8Array(32) });
  assert.deepEqual(encodeTpmtPublic(parseTpmtPublic(sym)), sym);
  const badCurve = encodeTpmtPublic({ ...(parseTpmtPublic(eccPub) as Extract<ReturnType<typeof parseTpmtPublic>, { type: 0x23 }>), ecc: { symmetric: { algorithm: TPM_ALG.NULL }, scheme: { scheme: TPM_ALG.NULL }, curveId: 0x20, kdf: { scheme: TPM_ALG.NULL } } });
  assert.throws(() => tpmPublicToJwk(parseTpmtPublic(badCurve)), hasCode('ERR_UNSUPPORTED_VERSION'));
  const rsaBits = ak.raw.slice();
  const cases2: [string, Uint8Array, string][] = [
    ['unknown type', (() => { const x = rsaBits.slice(); x[1] = 0x99; return x; })(), 'ERR_UNSUPPORTED_VERSION'],
    ['bad nameAlg', (() => { const x = rsaBits.slice(); x[3] = 0x99; return x; })(), 'ERR_EVIDENCE_MALFORMED'],
    ['modulus size mismatch', encodeTpmtPublic({ ...(ak as Extract<typeof ak, { type: 0x1 }>), unique: new Uint8Array(100) }), 'ERR_EVIDENCE_MALFORMED'],
    ['odd keyBits', encodeTpmtPublic({ ...(ak as Extract<typeof ak, { type: 0x1 }>), rsa: { ...(ak as Extract<typeof ak, { type: 0x1 }>).rsa, keyBits: 1000 } }), 'ERR_EVIDENCE_MALFORMED'],
    ['trailing', concatBytes(rsaBits, new Uint8Array([0])), 'ERR_EVIDENCE_MALFORMED'],
    ['truncated', rsaBits.subarray(0, 40), 'ERR_EVIDENCE_MALFORMED'],
  ];
  for (const [name, bytes, c] of cases2) assert.throws(() => parseTpmtPublic(bytes), hasCode(c), name);
  const tmpl = encodeTpmtPublic({ ...(ak as Extract<typeof ak, { type: 0x1 }>), unique: new Uint8Array(0) });
  assert.throws(() => tpmPublicToJwk(parseTpmtPublic(tmpl)), hasCode('ERR_EVIDENCE_MALFORMED'));
});

test('synthetic: JSON bundle error paths', () => {
  const ak = corpusFile(`${DIR}ak_pub.tpmt_public.bin`);
  const base = { akPublic: ak, quotes: [{ attest: attest(), signature: encodeTpmtSignature({ sigAlg: TPM_ALG.RSASSA, hash: TPM_ALG.SHA256, sig: new Uint8Array(256) }) }], pcrs: { sha256: { 0: new Uint8Array(32), 1: new Uint8Array(32) } } };
  const good = JSON.parse(new TextDecoder().decode(encodeTpmBundle(base))) as Record<string, unknown>;
  assert.equal(parseTpmBundle(utf8(JSON.stringify(good))).pcrs.get(TPM_ALG.SHA256)!.size, 2);
  const mutate = (f: (o: Record<string, unknown>) => void): Uint8Array => {
    const o = structuredClone(good);
    f(o);
    return utf8(JSON.stringify(o));
  };
  const cases: [string, Uint8Array][] = [
    ['not JSON', utf8('{"format":"teataster.tpm/v1",')],
    ['array', utf8('[]')],
    ['wrong format', mutate((o) => (o.format = 'x'))],
    ['missing akPublic', mutate((o) => delete o.akPublic)],
    ['bad base64', mutate((o) => (o.akPublic = '!!!'))],
    ['no quotes', mutate((o) => (o.quotes = []))],
    ['quote not object', mutate((o) => (o.quotes = [1]))],
    ['intermediates not array', mutate((o) => (o.intermediates = 'x'))],
    ['unknown bank', mutate((o) => (o.pcrs = { md5: {} }))],
    ['pcrs not object', mutate((o) => (o.pcrs = []))],
    ['bank not object', mutate((o) => (o.pcrs = { sha256: 'x' }))],
    ['bad PCR index', mutate((o) => (o.pcrs = { sha256: { x: '00' } }))],
    ['PCR index out of range', mutate((o) => (o.pcrs = { sha256: { 99: '00'.repeat(32) } }))],
    ['PCR not string', mutate((o) => (o.pcrs = { sha256: { 0: 5 } }))],
    ['PCR wrong size', mutate((o) => (o.pcrs = { sha256: { 0: '00' } }))],
    ['PCR not hex', mutate((o) => (o.pcrs = { sha256: { 0: 'zz' } }))],
  ];
  for (const [name, bytes] of cases) assert.throws(() => parseTpmBundle(bytes), hasCode('ERR_EVIDENCE_MALFORMED'), name);
});

test('synthetic: protobuf reader and Attestation import error paths', () => {
  assert.deepEqual(readProtobuf(new Uint8Array([0x08, 0x96, 0x01]), 'tpm', 'x')[0]!.varint, 150n);
  const cases: [string, Uint8Array][] = [
    ['truncated varint', new Uint8Array([0x08, 0x96])],
    ['length overrun', new Uint8Array([0x0a, 0x05, 1])],
    ['group wire type', new Uint8Array([0x0b])],
    ['field 0', new Uint8Array([0x02, 0x00])],
    ['fixed32 truncated', new Uint8Array([0x0d, 1, 2])],
    ['11-byte varint', new Uint8Array([0x08, ...new Array(11).fill(0xff)])],
  ];
  for (const [name, bytes] of cases) assert.throws(() => readProtobuf(bytes, 'tpm', 'x'), hasCode('ERR_EVIDENCE_MALFORMED'), name);
  const ak = corpusFile(`${DIR}ak_pub.tpmt_public.bin`);
  const len = (field: number, b: Uint8Array): Uint8Array => concatBytes(new Uint8Array([(field << 3) | 2, ...(b.length < 128 ? [b.length] : [(b.length & 0x7f) | 0x80, b.length >> 7])]), b);
  assert.throws(() => parseGoTpmToolsAttestation(len(1, ak)), hasCode('ERR_EVIDENCE_MALFORMED'), 'no quotes');
  assert.throws(() => parseGoTpmToolsAttestation(len(2, len(1, attest()))), hasCode('ERR_EVIDENCE_MALFORMED'), 'no ak, quote without sig');
  assert.throws(() => parseGoTpmToolsAttestation(new Uint8Array([0x08, 0x01])), hasCode('ERR_EVIDENCE_MALFORMED'), 'ak_pub as varint');
  assert.equal(isGoTpmToolsAttestation(new Uint8Array([0x0a, 0x01, 0x00, 0, 0, 0, 0, 0])), false);
});

test('property: random, truncated or mutated input yields evidence or an AttestError only', () => {
  const pb = corpusFile(`${DIR}gce-cos-85-no-nonce.pb`);
  const at = corpusFile(`${DIR}no-nonce.quote_sha256.tpms_attest.bin`);
  const parsers = [parseTpmsAttest, parseTpmtSignature, parseTpmtPublic, parseTpmEvidence, parseGoTpmToolsAttestation];
  const mutate = (base: Uint8Array) => fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
    const m = base.slice();
    m[i] = b;
    return m;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), fc.nat({ max: pb.length }).map((n) => pb.slice(0, n)), mutate(pb), mutate(at), fc.nat({ max: at.length }).map((n) => at.slice(0, n))), (bytes) => {
      for (const p of parsers) {
        try {
          p(bytes);
        } catch (e) {
          assert.ok(e instanceof AttestError, `${p.name}: ${String(e)}`);
        }
      }
    }),
    { numRuns: 200 },
  );
});
