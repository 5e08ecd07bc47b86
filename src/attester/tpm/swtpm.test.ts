/**
 * A real TPM in the test suite: swtpm on a loopback port with an EK certificate from a test-local
 * swtpm_localca CA. The attester's TPM client creates the AK, activates the verifier's credential,
 * extends PCRs and quotes nonces; the verifier must accept that evidence and reject wrong nonces,
 * wrong PCR values and foreign AKs. swtpm missing = failure (never a silent skip).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestError, concatBytes, digest, fingerprint, parseCertificates, toHex, utf8, type HashName } from '../../core/index.ts';
import { classifyCollateral, type CollateralItem } from '../../collateral/index.ts';
import { encodeEventLog, EV, type TcgEvent } from '../../evidence/eventlog/index.ts';
import { parseTpmtPublic, TPM_ALG, TPMA_OBJECT } from '../../evidence/tpm/index.ts';
import { finishActivation, makeCredential, startActivation, tpmPlatform } from '../../verify/tpm/index.ts';
import type { VerifyContext } from '../../verify/types.ts';
import { activateCredential, collectTpmEvidence, createTpmAttester, describeKeys, openTpm, TpmClient, type AkKind } from './index.ts';
import { startSwtpm, type Swtpm } from './test-support/swtpm.ts';
import { hasCode } from '../../../test/support/errors.ts';

let tpm: Swtpm;
let client: TpmClient;
let caItems: CollateralItem[];
let caRoot: string;

before(async () => {
  tpm = await startSwtpm('sha1,sha256,sha384');
  client = await openTpm({ tcp: { port: tpm.port } });
  caItems = [{ name: 'swtpm-root.pem', bytes: utf8(tpm.caRootPem) }, { name: 'swtpm-issuer.pem', bytes: utf8(tpm.caIssuerPem) }];
  caRoot = await fingerprint(parseCertificates(tpm.caRootPem)[0]!);
});
after(async () => {
  await client?.transport.close();
  await tpm?.stop();
});

const trust = (o: object): CollateralItem => ({ name: 'tpm-trust.json', bytes: utf8(JSON.stringify({ format: 'teataster.tpm-trust/v1', ...o })) });
const ctx = (extra: CollateralItem[] = [], over: Partial<VerifyContext> = {}): VerifyContext => ({ now: new Date(), collateral: classifyCollateral([...caItems, ...extra]), extraRoots: { tpm: [caRoot] }, ...over });
const ALGS: [number, HashName][] = [[TPM_ALG.SHA1, 'SHA-1'], [TPM_ALG.SHA256, 'SHA-256'], [TPM_ALG.SHA384, 'SHA-384']];

test('swtpm: EK certificate from NV chains to the local CA; the AK is a restricted signing key', async () => {
  const keys = await describeKeys(client);
  assert.ok(keys.ekCert, 'swtpm_setup provisioned an EK certificate at 0x01c00002');
  const ak = parseTpmtPublic(keys.akPublic);
  const need = TPMA_OBJECT.restricted | TPMA_OBJECT.sign | TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent;
  assert.equal(ak.objectAttributes & need, need);
  // Primary keys are re-derived from the seed: the AK Name is stable across sessions.
  assert.deepEqual((await describeKeys(client)).akName, keys.akName);
});

test('swtpm: credential activation — verifier MakeCredential → TPM ActivateCredential → secret recovered', async () => {
  const keys = await describeKeys(client);
  const { challenge, state } = await startActivation({ ekPublic: keys.ekPublic, ekCert: keys.ekCert!, akPublic: keys.akPublic }, ctx());
  const secret = await activateCredential(client, challenge);
  const record = await finishActivation(state, secret, new Date());
  assert.equal(record.akName, toHex(keys.akName));
  // A credential made for another Name fails the TPM's integrity check.
  const other = await makeCredential(parseTpmtPublic(keys.ekPublic), concatBytes(new Uint8Array([0, 0x0b]), new Uint8Array(32).fill(1)), utf8('secret'));
  await assert.rejects(activateCredential(client, other), hasCode('ERR_DEVICE'));
  // Activation refuses an EK certificate that does not chain to a configured CA.
  await assert.rejects(startActivation({ ekPublic: keys.ekPublic, ekCert: keys.ekCert!, akPublic: keys.akPublic }, ctx([], { extraRoots: {} })), hasCode('ERR_ROOT_NOT_TRUSTED'));
});

test('swtpm: extend a PCR, quote a nonce → the verifier accepts (RSASSA, RSAPSS and ECDSA AKs)', async () => {
  const before = await client.pcrRead(ALGS.map(([hash]) => ({ hash, pcrs: [23], sizeofSelect: 3 })));
  const measurement = utf8('teataster test measurement');
  const digests = await Promise.all(ALGS.map(async ([alg, h]) => ({ alg, digest: await digest(h, measurement) })));
  await client.pcrExtend(23, digests);
  const keys = await describeKeys(client);
  const { challenge, state } = await startActivation({ ekPublic: keys.ekPublic, ekCert: keys.ekCert!, akPublic: keys.akPublic }, ctx());
  const record = await finishActivation(state, await activateCredential(client, challenge), new Date());
  for (const kind of ['rsassa', 'rsapss', 'ecdsa'] as AkKind[]) {
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const bundle = await collectTpmEvidence(client, nonce, { akKind: kind, eventLog: false });
    const ev = tpmPlatform.parse(bundle);
    assert.ok(tpmPlatform.detect(bundle));
    const akName = toHex((await describeKeys(client, kind)).akName);
    const items = kind === 'rsassa' ? [trust({ activations: [record] })] : [trust({ akNames: [akName] })];
    const v = await tpmPlatform.verify(ev, ctx(items, { expected: { nonce } }));
    assert.equal(v.claims.platformClaims.akTrust, kind === 'rsassa' ? 'activated' : 'pinned');
    assert.equal(v.claims.reportData, toHex(nonce));
    for (const [alg, h] of ALGS) {
      const bank = alg === TPM_ALG.SHA1 ? 'sha1' : alg === TPM_ALG.SHA256 ? 'sha256' : 'sha384';
      const expected = await digest(h, concatBytes(before.get(alg)!.get(23)!, digests.find((d) => d.alg === alg)!.digest));
      assert.equal(v.claims.measurements[`tpm.${bank}.pcr23`], toHex(expected), `${kind} ${bank}`);
    }
  }
});

test('swtpm: rejects a wrong nonce, wrong PCR values and a foreign or untrusted AK', async () => {
  const keys = await describeKeys(client);
  const pinned = trust({ akNames: [toHex(keys.akName)] });
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const attester = createTpmAttester({ tcp: { port: tpm.port }, eventLog: false });
  await client.transport.close(); // swtpm serves one connection at a time
  try {
    assert.equal(await attester.available(), true);
    const bundle = await attester.evidence(nonce);
    await tpmPlatform.verify(tpmPlatform.parse(bundle), ctx([pinned], { expected: { nonce } }));
    await assert.rejects(tpmPlatform.verify(tpmPlatform.parse(bundle), ctx([pinned], { expected: { nonce: crypto.getRandomValues(new Uint8Array(32)) } })), hasCode('ERR_BINDING_MISMATCH'), 'wrong nonce');
    const doc = JSON.parse(new TextDecoder().decode(bundle)) as { pcrs: Record<string, Record<string, string>>; akPublic: string };
    const wrongPcrs = structuredClone(doc);
    wrongPcrs.pcrs.sha256!['0'] = 'ff'.repeat(32);
    await assert.rejects(tpmPlatform.verify(tpmPlatform.parse(utf8(JSON.stringify(wrongPcrs))), ctx([pinned], { expected: { nonce } })), (e: unknown) => hasCode('ERR_BINDING_MISMATCH')(e) && (e as AttestError).details.field === 'pcrDigest', 'wrong PCR values');
    // Foreign AK: another (trusted) TPM key's public area in place of the signer's.
    const c2 = await openTpm({ tcp: { port: tpm.port } });
    const foreign = await describeKeys(c2, 'rsapss');
    await c2.transport.close();
    const swapped = { ...doc, akPublic: Buffer.from(foreign.akPublic).toString('base64') };
    await assert.rejects(tpmPlatform.verify(tpmPlatform.parse(utf8(JSON.stringify(swapped))), ctx([trust({ akNames: [toHex(foreign.akName)] })], { expected: { nonce } })), hasCode('ERR_SIGNATURE_INVALID'), 'foreign AK');
    await assert.rejects(tpmPlatform.verify(tpmPlatform.parse(bundle), ctx([], { expected: { nonce } })), hasCode('ERR_ROOT_NOT_TRUSTED'), 'untrusted AK');
  } finally {
    client = await openTpm({ tcp: { port: tpm.port } });
  }
});

test('swtpm: an event log extended into the TPM replays to the quoted PCRs; a forged log is rejected', async () => {
  const specId = concatBytes(utf8('Spec ID Event03\0'), new Uint8Array([0, 0, 0, 0, 0, 2, 0, 2]), new Uint8Array([3, 0, 0, 0]), new Uint8Array([0x04, 0, 20, 0, 0x0b, 0, 32, 0, 0x0c, 0, 48, 0]), new Uint8Array([0]));
  const events: TcgEvent[] = [{ seq: 0, offset: 0, pcrIndex: 0, eventType: EV.NO_ACTION, typeName: '', digests: [{ alg: TPM_ALG.SHA1, bank: 'sha1', digest: new Uint8Array(20) }], data: specId }];
  for (const [pcr, type, data] of [[8, EV.IPL, utf8('grub_cmd linux /vmlinuz\0')], [9, EV.IPL, utf8('/boot/initrd.img\0')], [8, EV.SEPARATOR, new Uint8Array(4)]] as [number, number, Uint8Array][]) {
    const digests = await Promise.all(ALGS.map(async ([alg, h]) => ({ alg, bank: '', digest: await digest(h, data) })));
    await client.pcrExtend(pcr, digests);
    events.push({ seq: events.length, offset: 0, pcrIndex: pcr, eventType: type, typeName: '', digests, data });
  }
  const log = encodeEventLog({ format: 'crypto-agile', events });
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const keys = await describeKeys(client);
  const doc = JSON.parse(new TextDecoder().decode(await collectTpmEvidence(client, nonce, { eventLog: false }))) as Record<string, unknown>;
  const withLog = utf8(JSON.stringify({ ...doc, eventLog: Buffer.from(log).toString('base64') }));
  const v = await tpmPlatform.verify(tpmPlatform.parse(withLog), ctx([trust({ akNames: [toHex(keys.akName)] })], { expected: { nonce } }));
  const replay = v.claims.platformClaims.eventLogReplay as Record<string, Record<string, string>>;
  assert.equal(replay.sha256!['8'], v.claims.measurements['tpm.sha256.pcr8']);
  assert.equal(replay.sha384!['9'], v.claims.measurements['tpm.sha384.pcr9']);
  assert.ok((v.claims.platformClaims.events as { type: string }[]).some((e) => e.type === 'EV_IPL'));
  const forged = events.map((e) => ({ ...e, data: e.pcrIndex === 9 ? utf8('/boot/evil\0') : e.data, digests: e.pcrIndex === 9 ? e.digests.map((d) => ({ ...d, digest: new Uint8Array(d.digest.length).fill(0x66) })) : e.digests }));
  const bad = utf8(JSON.stringify({ ...doc, eventLog: Buffer.from(encodeEventLog({ format: 'crypto-agile', events: forged })).toString('base64') }));
  await assert.rejects(tpmPlatform.verify(tpmPlatform.parse(bad), ctx([trust({ akNames: [toHex(keys.akName)] })], { expected: { nonce } })), hasCode('ERR_BINDING_MISMATCH'));
});
