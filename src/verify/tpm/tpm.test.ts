import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, concatBytes, digest, fromBase64Url, fromHex, toHex, utf8, type HashName } from '../../core/index.ts';
import { classifyCollateral, type CollateralItem } from '../../collateral/index.ts';
import { corpusFile, loadManifest } from '../../../test/support/corpus.ts';
import { mint } from '../../../test/support/pki.ts';
import { encodeEventLog, EV, parseEventLog } from '../../evidence/eventlog/index.ts';
import {
  encodeTpmBundle,
  encodeTpmsAttest,
  encodeTpmtPublic,
  encodeTpmtSignature,
  objectName,
  parseTpmtPublic,
  TPM_ALG,
  TPM_ST,
  tpmEvidenceToBundle,
  tpmPublicToJwk,
  type TpmtPublicTemplate,
} from '../../evidence/tpm/index.ts';
import type { VerifyContext } from '../types.ts';
import { aesCfb, finishActivation, kdfa, makeCredential, tpmPlatform, verifyQuote } from './index.ts';
import { hasCode } from '../../../test/support/errors.ts';

const items = (files: string[]): CollateralItem[] => files.map((f) => ({ name: f, bytes: corpusFile(f) }));
const rootsEntry = loadManifest().find((e) => e.id === 'tpm-gcp-roots')!;
const evidenceEntries = loadManifest().filter((e) => e.platform === 'tpm' && e.kind === 'evidence');

function gceCtx(at: string, extra: Partial<VerifyContext> = {}, roots = rootsEntry.files): VerifyContext {
  return { now: new Date(at), collateral: classifyCollateral(items(roots)), ...extra };
}

test('conformance: every tpm evidence entry of the corpus verifies at verify_at', async () => {
  assert.ok(evidenceEntries.length >= 1);
  for (const entry of evidenceEntries) {
    const pb = entry.files.find((f) => f.endsWith('.pb'))!;
    const v = await tpmPlatform.verify(tpmPlatform.parse(corpusFile(pb)), gceCtx(entry.verify_at!));
    assert.equal(entry.expected.verdict, 'valid');
    assert.equal(v.platform, 'tpm');
    const f = entry.expected.fields as Record<string, string>;
    assert.equal(v.claims.measurements['tpm.sha256.pcr0'], f.pcr0_sha256);
    assert.equal(v.claims.reportData, f.extra_data);
    for (const bank of ['sha1', 'sha256', 'sha384']) for (let i = 0; i < 24; i++) assert.ok(v.claims.measurements[`tpm.${bank}.pcr${i}`], `${bank} pcr${i}`);
    assert.equal(v.claims.platformClaims.akTrust, 'certificate');
    assert.equal(v.chain.length, 3);
    assert.equal(v.chain[2]!.sha256, '9bd5285f8fb18502a7947e621ffd470266f49fcd3b73e19a190f690ad32a7caf');
    const replay = v.claims.platformClaims.eventLogReplay as Record<string, Record<string, string>>;
    for (const bank of ['sha1', 'sha256', 'sha384']) for (let i = 0; i <= 9; i++) assert.equal(replay[bank]![String(i)], v.claims.measurements[`tpm.${bank}.pcr${i}`]);
    const evs = v.claims.platformClaims.events as { verified: boolean; pcr: number; type: string }[];
    assert.ok(evs.length > 10);
    assert.ok(evs.filter((e) => e.type !== 'EV_NO_ACTION').every((e) => e.verified));
    assert.ok(evs.filter((e) => e.type === 'EV_NO_ACTION').every((e) => !e.verified));
    assert.ok(v.warnings.some((w) => w.includes('SHA-1 PCR bank')), 'SHA-1 bank policy: accepted with a warning');
    // The same evidence as a JSON bundle assembled from the split files.
    const dir = pb.slice(0, pb.lastIndexOf('/') + 1);
    const pcrs: Record<string, Record<number, Uint8Array>> = {};
    const quotes = ['sha1', 'sha256', 'sha384'].map((bank) => {
      const j = JSON.parse(new TextDecoder().decode(corpusFile(`${dir}no-nonce.quote_${bank}.pcrs.json`))) as { pcrs: Record<string, string> };
      pcrs[bank] = Object.fromEntries(Object.entries(j.pcrs).map(([i, h]) => [Number(i), fromHex(h)]));
      return { attest: corpusFile(`${dir}no-nonce.quote_${bank}.tpms_attest.bin`), signature: corpusFile(`${dir}no-nonce.quote_${bank}.tpmt_signature.bin`) };
    });
    const bundle = encodeTpmBundle({ akPublic: corpusFile(`${dir}ak_pub.tpmt_public.bin`), akCert: corpusFile(`${dir}ak_cert.der`), quotes, pcrs, eventLog: corpusFile(`${dir}event_log.bin`) });
    assert.ok(tpmPlatform.detect(bundle));
    const v2 = await tpmPlatform.verify(tpmPlatform.parse(bundle), gceCtx(entry.verify_at!));
    assert.deepEqual(v2.claims.measurements, v.claims.measurements);
  }
});

const GCE = 'tpm/go-tpm-tools/gce-cos-85/gce-cos-85-no-nonce.pb';
const AT = '2025-01-01T00:00:00Z';

test('corpus negatives: trust, time, nonce, PCR values and event log', async () => {
  const ev = () => tpmPlatform.parse(corpusFile(GCE));
  await assert.rejects(tpmPlatform.verify(ev(), gceCtx(AT, {}, [])), hasCode('ERR_ROOT_NOT_TRUSTED'), 'no roots supplied');
  await assert.rejects(tpmPlatform.verify(ev(), gceCtx(AT, {}, ['tpm/roots/tpm_ek_intermediate_2.crt.der'])), hasCode('ERR_ROOT_NOT_TRUSTED'), 'intermediate only');
  await assert.rejects(tpmPlatform.verify(ev(), gceCtx('2060-01-01T00:00:00Z')), hasCode('ERR_CERTIFICATE_INVALID'), 'AK cert expired');
  await assert.rejects(tpmPlatform.verify(ev(), gceCtx(AT, { expected: { nonce: utf8('fresh') } })), hasCode('ERR_BINDING_MISMATCH'), 'nonce');
  const e1 = ev();
  const v = e1.pcrs.get(TPM_ALG.SHA256)!.get(12)!;
  v[0] = v[0]! ^ 1;
  await assert.rejects(tpmPlatform.verify(e1, gceCtx(AT)), (e: unknown) => hasCode('ERR_BINDING_MISMATCH')(e) && (e as AttestError).details.field === 'pcrDigest', 'PCR value');
  const e2 = ev();
  e2.pcrs.get(TPM_ALG.SHA256)!.delete(3);
  await assert.rejects(tpmPlatform.verify(e2, gceCtx(AT)), hasCode('ERR_EVIDENCE_MALFORMED'), 'missing PCR');
  const e3 = ev();
  const log = parseEventLog(e3.eventLog!);
  const sep = log.events.find((x) => x.eventType === EV.SEPARATOR)!;
  sep.digests.find((d) => d.alg === TPM_ALG.SHA256)!.digest[0]! ^= 1;
  e3.eventLog = encodeEventLog(log);
  await assert.rejects(tpmPlatform.verify(e3, gceCtx(AT)), (e: unknown) => hasCode('ERR_BINDING_MISMATCH')(e) && String((e as AttestError).details.field).startsWith('eventLog.sha256'), 'event log');
  const e4 = ev();
  const other = parseTpmtPublic(encodeTpmtPublic({ ...(e4.akPublic as Extract<typeof e4.akPublic, { type: 1 }>), unique: new Uint8Array(256).fill(7) }));
  e4.akPublic = other;
  await assert.rejects(tpmPlatform.verify(e4, gceCtx(AT)), hasCode('ERR_CERTIFICATE_INVALID'), 'AK public ≠ AK cert key');
});

test('property: any single-byte change in a signed TPMS_ATTEST is rejected', async () => {
  const base = tpmPlatform.parse(corpusFile(GCE));
  const bundle = tpmEvidenceToBundle(base);
  const doc = JSON.parse(new TextDecoder().decode(bundle)) as { quotes: { attest: string }[] };
  const raw = base.quotes[1]!.attest.raw;
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: raw.length - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
      const m = raw.slice();
      m[i] = m[i]! ^ x;
      const d = structuredClone(doc);
      d.quotes[1]!.attest = Buffer.from(m).toString('base64');
      await assert.rejects(
        (async () => tpmPlatform.verify(tpmPlatform.parse(utf8(JSON.stringify(d))), gceCtx(AT)))(),
        (e: unknown) => e instanceof AttestError,
      );
    }),
    { numRuns: 60 },
  );
});

test('property: detect never throws and only claims JSON bundles or protobuf attestations', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => typeof tpmPlatform.detect(b) === 'boolean'), { numRuns: 200 });
  assert.equal(tpmPlatform.detect(utf8('{"format":"other"}')), false);
});

// Synthetic AKs signed with WebCrypto: every scheme, pinned by Name.
type Kind = 'rsassa' | 'rsapss' | 'ecdsa';
const RESTRICTED_SIGN = 0x00050072;

async function makeAk(kind: Kind, attrs = RESTRICTED_SIGN) {
  const gen = kind === 'ecdsa' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: kind === 'rsassa' ? 'RSASSA-PKCS1-v1_5' : 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const keys = (await crypto.subtle.generateKey(gen, true, ['sign', 'verify'])) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey('jwk', keys.publicKey);
  const tmpl: TpmtPublicTemplate =
    kind === 'ecdsa'
      ? { type: TPM_ALG.ECC, nameAlg: TPM_ALG.SHA256, objectAttributes: attrs, authPolicy: new Uint8Array(0), ecc: { symmetric: { algorithm: TPM_ALG.NULL }, scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 }, curveId: 3, kdf: { scheme: TPM_ALG.NULL } }, x: fromBase64Url(jwk.x!), y: fromBase64Url(jwk.y!) }
      : { type: TPM_ALG.RSA, nameAlg: TPM_ALG.SHA256, objectAttributes: attrs, authPolicy: new Uint8Array(0), rsa: { symmetric: { algorithm: TPM_ALG.NULL }, scheme: { scheme: kind === 'rsassa' ? TPM_ALG.RSASSA : TPM_ALG.RSAPSS, hashAlg: TPM_ALG.SHA256 }, keyBits: 2048, exponent: 0 }, unique: fromBase64Url(jwk.n!) };
  const pub = parseTpmtPublic(encodeTpmtPublic(tmpl));
  return { keys, pub, name: toHex(await objectName(pub)) };
}

async function sign(kind: Kind, key: CryptoKey, data: Uint8Array, hash: HashName = 'SHA-256', saltLength = 32): Promise<Uint8Array> {
  const alg = kind === 'ecdsa' ? { name: 'ECDSA', hash } : kind === 'rsapss' ? { name: 'RSA-PSS', saltLength } : { name: 'RSASSA-PKCS1-v1_5' };
  const sig = new Uint8Array(await crypto.subtle.sign(alg, key, data as Uint8Array<ArrayBuffer>));
  const h = hash === 'SHA-1' ? TPM_ALG.SHA1 : TPM_ALG.SHA256;
  if (kind === 'ecdsa') return encodeTpmtSignature({ sigAlg: TPM_ALG.ECDSA, hash: h, r: sig.subarray(0, 32), s: sig.subarray(32) });
  return encodeTpmtSignature({ sigAlg: kind === 'rsassa' ? TPM_ALG.RSASSA : TPM_ALG.RSAPSS, hash: h, sig });
}

const PCRS = { 0: new Uint8Array(32).fill(0xa0), 7: new Uint8Array(32).fill(0xa7) };
async function quoteBytes(nonce: Uint8Array, over: Partial<Parameters<typeof encodeTpmsAttest>[0]> = {}): Promise<Uint8Array> {
  return encodeTpmsAttest({
    magic: 0xff544347, type: TPM_ST.ATTEST_QUOTE, qualifiedSigner: new Uint8Array(34), extraData: nonce,
    clockInfo: { clock: 5n, resetCount: 1, restartCount: 0, safe: true }, firmwareVersion: 0x20240101n,
    quote: { pcrSelect: [{ hash: TPM_ALG.SHA256, pcrs: [0, 7], sizeofSelect: 3 }], pcrDigest: await digest('SHA-256', concatBytes(PCRS[0], PCRS[7])) },
    ...over,
  });
}
const trustItem = (o: object): CollateralItem => ({ name: 'trust.json', bytes: utf8(JSON.stringify({ format: 'teataster.tpm-trust/v1', ...o })) });
const NONCE = utf8('0123456789abcdef0123456789abcdef');

test('synthetic: RSASSA, RSAPSS (both salt lengths) and ECDSA quotes from a pinned AK verify', async () => {
  for (const [kind, salt] of [['rsassa', 0], ['rsapss', 32], ['rsapss', 222], ['ecdsa', 0]] as [Kind, number][]) {
    const ak = await makeAk(kind);
    const attest = await quoteBytes(NONCE);
    const bundle = encodeTpmBundle({ akPublic: ak.pub.raw, quotes: [{ attest, signature: await sign(kind, ak.keys.privateKey, attest, 'SHA-256', salt) }], pcrs: { sha256: PCRS } });
    const ctx: VerifyContext = { now: new Date(), collateral: classifyCollateral([trustItem({ akNames: [ak.name] })]), expected: { nonce: NONCE } };
    const v = await tpmPlatform.verify(tpmPlatform.parse(bundle), ctx);
    assert.equal(v.claims.platformClaims.akTrust, 'pinned', kind);
    assert.equal(v.claims.measurements['tpm.sha256.pcr7'], 'a7'.repeat(32));
    assert.equal(v.claims.instanceId, ak.name);
    // verifyQuote also takes a JWK AK (the Azure vTPM path)
    const q = tpmPlatform.parse(bundle).quotes[0]!;
    await verifyQuote(q.attest, q.signature, tpmPublicToJwk(ak.pub), { pcrs: new Map([[TPM_ALG.SHA256, new Map(Object.entries(PCRS).map(([k, x]) => [Number(k), x]))]]), nonce: NONCE });
  }
});

test('synthetic: signature, AK and structure errors', async () => {
  const ak = await makeAk('rsassa');
  const ctx = (o: object = { akNames: [ak.name] }): VerifyContext => ({ now: new Date(), collateral: classifyCollateral([trustItem(o)]), expected: { nonce: NONCE } });
  const build = async (attest: Uint8Array, sig: Uint8Array, pub = ak.pub.raw, pcrs: Record<number, Uint8Array> = PCRS) => tpmPlatform.parse(encodeTpmBundle({ akPublic: pub, quotes: [{ attest, signature: sig }], pcrs: { sha256: pcrs } }));
  const good = await quoteBytes(NONCE);
  const goodSig = await sign('rsassa', ak.keys.privateKey, good);
  await tpmPlatform.verify(await build(good, goodSig), ctx());
  await assert.rejects(tpmPlatform.verify(await build(good, goodSig), ctx({})), hasCode('ERR_ROOT_NOT_TRUSTED'), 'AK not pinned');
  const foreign = await makeAk('rsassa');
  await assert.rejects(tpmPlatform.verify(await build(good, await sign('rsassa', foreign.keys.privateKey, good)), ctx()), hasCode('ERR_SIGNATURE_INVALID'), 'foreign signer');
  const sha1Ak = await makeAk('ecdsa');
  const sha1Tmpl = { ...(sha1Ak.pub as Extract<typeof sha1Ak.pub, { type: 0x23 }>), ecc: { ...(sha1Ak.pub as Extract<typeof sha1Ak.pub, { type: 0x23 }>).ecc, scheme: { scheme: TPM_ALG.NULL } } };
  const sha1Pub = parseTpmtPublic(encodeTpmtPublic(sha1Tmpl));
  await assert.rejects(tpmPlatform.verify(await build(good, await sign('ecdsa', sha1Ak.keys.privateKey, good, 'SHA-1'), sha1Pub.raw), ctx({ akNames: [toHex(await objectName(sha1Pub))] })), hasCode('ERR_SIGNATURE_INVALID'), 'SHA-1 signature');
  const pssLabel = goodSig.slice();
  pssLabel[1] = TPM_ALG.RSAPSS; // an RSASSA AK cannot produce RSAPSS signatures
  await assert.rejects(tpmPlatform.verify(await build(good, pssLabel), ctx()), hasCode('ERR_SIGNATURE_INVALID'), 'scheme mismatch');
  const unrestricted = await makeAk('rsassa', 0x00040072);
  const s2 = await sign('rsassa', unrestricted.keys.privateKey, good);
  await assert.rejects(tpmPlatform.verify(await build(good, s2, unrestricted.pub.raw), ctx({ akNames: [unrestricted.name] })), hasCode('ERR_SIGNATURE_INVALID'), 'unrestricted AK');
  const badMagic = await quoteBytes(NONCE, { magic: 0xff544348 });
  await assert.rejects(tpmPlatform.verify(await build(badMagic, await sign('rsassa', ak.keys.privateKey, badMagic)), ctx()), hasCode('ERR_EVIDENCE_MALFORMED'), 'magic');
  const certify = encodeTpmsAttest({ magic: 0xff544347, type: TPM_ST.ATTEST_CERTIFY, qualifiedSigner: new Uint8Array(2), extraData: NONCE, clockInfo: { clock: 0n, resetCount: 0, restartCount: 0, safe: true }, firmwareVersion: 0n, certify: { name: new Uint8Array(34), qualifiedName: new Uint8Array(34) } });
  await assert.rejects(tpmPlatform.verify(await build(certify, await sign('rsassa', ak.keys.privateKey, certify)), ctx()), hasCode('ERR_EVIDENCE_MALFORMED'), 'type');
  await assert.rejects(tpmPlatform.verify(await build(good, goodSig, ak.pub.raw, { 0: PCRS[0], 7: new Uint8Array(32) }), ctx()), hasCode('ERR_BINDING_MISMATCH'), 'PCR digest');
  const wrongNonce = await quoteBytes(utf8('stale'));
  await assert.rejects(tpmPlatform.verify(await build(wrongNonce, await sign('rsassa', ak.keys.privateKey, wrongNonce)), ctx()), hasCode('ERR_BINDING_MISMATCH'), 'nonce');
  // expected.reportData: a shorter value is a prefix of extraData and the rest must be zero.
  const padded = await quoteBytes(concatBytes(NONCE, new Uint8Array(32)));
  const paddedEv = await build(padded, await sign('rsassa', ak.keys.privateKey, padded));
  await tpmPlatform.verify(paddedEv, { ...ctx(), expected: { reportData: NONCE } });
  await assert.rejects(tpmPlatform.verify(paddedEv, { ...ctx(), expected: { reportData: utf8('other') } }), hasCode('ERR_BINDING_MISMATCH'), 'reportData');
  await assert.rejects(tpmPlatform.verify(paddedEv, { ...ctx(), expected: { nonce: NONCE } }), hasCode('ERR_BINDING_MISMATCH'), 'nonce is exact');
  // An event log whose banks no quote covers cannot vouch for anything.
  const sha1Log = encodeEventLog({ format: 'sha1', events: [{ seq: 0, offset: 0, pcrIndex: 0, eventType: EV.SEPARATOR, typeName: '', digests: [{ alg: TPM_ALG.SHA1, bank: 'sha1', digest: new Uint8Array(20) }], data: new Uint8Array(4) }] });
  const withLog = tpmPlatform.parse(encodeTpmBundle({ akPublic: ak.pub.raw, quotes: [{ attest: good, signature: goodSig }], pcrs: { sha256: PCRS }, eventLog: sha1Log }));
  await assert.rejects(tpmPlatform.verify(withLog, ctx()), hasCode('ERR_BINDING_MISMATCH'), 'log bank not quoted');
});

test('synthetic: AK certificate chains to a configured CA; wrong key, unpinned root and activation records', async () => {
  const ak = await makeAk('rsassa');
  const root = await mint({ subject: 'CN=Test TPM Root', alg: { kind: 'rsa', bits: 2048, hash: 'SHA-256' }, ca: true });
  const inter = await mint({ subject: 'CN=Test TPM Intermediate', alg: { kind: 'ec', curve: 'P-256' }, ca: true, issuer: root });
  const akCert = await mint({ subject: 'CN=AK', alg: { kind: 'rsa', bits: 2048, hash: 'SHA-256' }, issuer: inter, keys: ak.keys });
  const other = await mint({ subject: 'CN=AK', alg: { kind: 'rsa', bits: 2048, hash: 'SHA-256' }, issuer: inter });
  const attest = await quoteBytes(NONCE);
  const signature = await sign('rsassa', ak.keys.privateKey, attest);
  const bundle = (cert: Uint8Array, extra: object = {}) => tpmPlatform.parse(encodeTpmBundle({ akPublic: ak.pub.raw, akCert: cert, intermediates: [new Uint8Array(inter.cert.rawData)], quotes: [{ attest, signature }], pcrs: { sha256: PCRS }, ...extra }));
  const ctx = (roots: string[], items: CollateralItem[] = []): VerifyContext => ({ now: new Date(), collateral: classifyCollateral([{ name: 'root', bytes: new Uint8Array(root.cert.rawData) }, ...items]), extraRoots: { tpm: roots }, expected: { nonce: NONCE } });
  const v = await tpmPlatform.verify(bundle(new Uint8Array(akCert.cert.rawData)), ctx([root.fingerprint]));
  assert.equal(v.claims.platformClaims.akTrust, 'certificate');
  assert.equal(v.chain.length, 3);
  await assert.rejects(tpmPlatform.verify(bundle(new Uint8Array(akCert.cert.rawData)), ctx([])), hasCode('ERR_ROOT_NOT_TRUSTED'));
  await assert.rejects(tpmPlatform.verify(bundle(new Uint8Array(other.cert.rawData)), ctx([root.fingerprint])), hasCode('ERR_CERTIFICATE_INVALID'));
  // Activation records: the EK certificate must be present, the same one, and chain to the CA.
  const ek = await mint({ subject: 'CN=EK', alg: { kind: 'rsa', bits: 2048, hash: 'SHA-256' }, issuer: inter });
  const ekDer = new Uint8Array(ek.cert.rawData);
  const ekSha = toHex(await digest('SHA-256', ekDer));
  const noCert = tpmPlatform.parse(encodeTpmBundle({ akPublic: ak.pub.raw, quotes: [{ attest, signature }], pcrs: { sha256: PCRS } }));
  const rec = trustItem({ activations: [{ akName: ak.name, ekCertSha256: ekSha }] });
  await assert.rejects(tpmPlatform.verify(noCert, ctx([root.fingerprint], [rec])), hasCode('ERR_CERTIFICATE_INVALID'), 'no EK cert');
  const withEk = tpmPlatform.parse(encodeTpmBundle({ akPublic: ak.pub.raw, ekCert: ekDer, intermediates: [new Uint8Array(inter.cert.rawData)], quotes: [{ attest, signature }], pcrs: { sha256: PCRS } }));
  const va = await tpmPlatform.verify(withEk, ctx([root.fingerprint], [rec]));
  assert.equal(va.claims.platformClaims.akTrust, 'activated');
  const wrongRec = trustItem({ activations: [{ akName: ak.name, ekCertSha256: '00'.repeat(32) }] });
  await assert.rejects(tpmPlatform.verify(withEk, ctx([root.fingerprint], [wrongRec])), hasCode('ERR_CERTIFICATE_INVALID'), 'different EK cert');
  await assert.rejects(tpmPlatform.verify(withEk, ctx([], [rec])), hasCode('ERR_ROOT_NOT_TRUSTED'), 'EK CA not configured');
});

test('credential protection primitives: KDFa, AES-CFB, MakeCredential shape, finishActivation', async () => {
  const k1 = await kdfa('SHA-256', new Uint8Array(32).fill(1), 'STORAGE', utf8('name'), new Uint8Array(0), 128);
  assert.equal(k1.length, 16);
  assert.deepEqual(await kdfa('SHA-256', new Uint8Array(32).fill(1), 'STORAGE\0', utf8('name'), new Uint8Array(0), 128), k1, 'label NUL is added once');
  assert.equal((await kdfa('SHA-256', new Uint8Array(32), 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), 600)).length, 75);
  const key = new Uint8Array(16).fill(9);
  const msg = utf8('a message that spans several AES blocks!');
  const ct = await aesCfb(key, msg);
  assert.notDeepEqual(ct, msg);
  assert.deepEqual(await aesCfb(key, ct, true), msg);
  // CFB's first block is E_k(0) xor P: check against AES-CBC of a zero block.
  const k = await crypto.subtle.importKey('raw', key, 'AES-CBC', false, ['encrypt']);
  const e0 = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, k, new Uint8Array(16))).subarray(0, 16);
  assert.equal(ct[0], msg[0]! ^ e0[0]!);
  const rsa = (await crypto.subtle.generateKey({ name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['encrypt', 'decrypt'])) as CryptoKeyPair;
  const n = fromBase64Url((await crypto.subtle.exportKey('jwk', rsa.publicKey)).n!);
  const ek = parseTpmtPublic(encodeTpmtPublic({ type: TPM_ALG.RSA, nameAlg: TPM_ALG.SHA256, objectAttributes: 0x000300b2, authPolicy: new Uint8Array(32), rsa: { symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }, scheme: { scheme: TPM_ALG.NULL }, keyBits: 2048, exponent: 0 }, unique: n }));
  const akName = new Uint8Array(34).fill(3);
  const secret = utf8('sixteen byte sec');
  const ch = await makeCredential(ek, akName, secret);
  // Decrypt as the TPM would: OAEP(label IDENTITY) → seed → KDFa → HMAC check → CFB decrypt.
  const seed = new Uint8Array(await crypto.subtle.decrypt({ name: 'RSA-OAEP', label: utf8('IDENTITY\0') as Uint8Array<ArrayBuffer> }, rsa.privateKey, ch.encryptedSecret as Uint8Array<ArrayBuffer>));
  assert.equal(seed.length, 32);
  const hmacLen = (ch.credentialBlob[0]! << 8) | ch.credentialBlob[1]!;
  const outer = ch.credentialBlob.subarray(2, 2 + hmacLen);
  const encId = ch.credentialBlob.subarray(2 + hmacLen);
  const hk = await crypto.subtle.importKey('raw', await kdfa('SHA-256', seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), 256) as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  assert.ok(await crypto.subtle.verify('HMAC', hk, outer as Uint8Array<ArrayBuffer>, concatBytes(encId, akName) as Uint8Array<ArrayBuffer>));
  const plain = await aesCfb(await kdfa('SHA-256', seed, 'STORAGE', akName, new Uint8Array(0), 128), encId, true);
  assert.deepEqual(plain.subarray(2), secret);
  const state = { akName: toHex(akName), secretSha256: toHex(await digest('SHA-256', secret)), createdAt: 'x' };
  assert.equal((await finishActivation(state, secret, new Date())).akName, toHex(akName));
  await assert.rejects(finishActivation(state, utf8('wrong'), new Date()), hasCode('ERR_SIGNATURE_INVALID'));
});
