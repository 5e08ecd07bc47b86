import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { AttestError, ErrorCode } from '../../core/index.ts';
import { parseSnpReport, encodeSnpCertTable, SNP_CERT_GUIDS } from '../../evidence/snp/index.ts';
import { emptyCollateral } from '../../collateral/index.ts';
import { mint, mintCrl, type TestIdentity } from '../../../test/support/pki.ts';
import { parseAmdExtensions } from './extensions.ts';
import { parseSnpEvidence, snpPlatform, verifySnp } from './verify.ts';
import { AMD_DN, CHIP_ID, TCB, collateralOf, ctxFor, mintFakeAmd, mintLeaf, reportFields, signReport, type FakeAmd, type ReportOptions } from './test-support/synthetic.ts';

let amd: FakeAmd;
let vcek: TestIdentity;

before(async () => {
  amd = await mintFakeAmd('Milan');
  vcek = await mintLeaf(amd, { tcb: TCB, hwId: CHIP_ID });
});

const rejects = async (p: Promise<unknown>, code: string, check?: (e: AttestError) => void): Promise<void> => {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AttestError, `expected AttestError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check?.(e);
    return true;
  });
};

async function report(o: Partial<ReportOptions> = {}, key: CryptoKey = vcek.keys.privateKey): Promise<Uint8Array> {
  return signReport(reportFields({ tcb: TCB, chipId: CHIP_ID, ...o }), key);
}

test('a synthetic v3 Milan report verifies against the fake chain and yields neutral claims', async () => {
  const bytes = await report({ reportData: new Uint8Array(64).fill(7) });
  const v = await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]), { expected: { reportData: new Uint8Array(64).fill(7) } }));
  assert.equal(v.platform, 'snp');
  assert.equal(v.claims.measurements['snp.measurement'], '5a'.repeat(48));
  assert.equal(v.claims.instanceId, Buffer.from(CHIP_ID).toString('hex'));
  assert.deepEqual(v.claims.tcb.versions, { bootloader: 4, tee: 0, snp: 24, microcode: 219 });
  assert.equal(v.claims.tcb.status, 'UpToDate');
  assert.equal(v.claims.revocation, 'absent');
  assert.ok(v.warnings.some((w) => w.includes('revocation not checked')));
  assert.deepEqual(v.chain.map((c) => c.role), ['vcek', 'ask', 'ark']);
  assert.equal(v.claims.platformClaims.product, 'Milan');
  assert.doesNotThrow(() => JSON.stringify(v.claims));
});

test('bad report signature → ERR_SIGNATURE_INVALID', async () => {
  const other = await mintLeaf(amd, { tcb: TCB, hwId: CHIP_ID });
  const bytes = await report({}, other.keys.privateKey);
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]))), ErrorCode.SignatureInvalid);
});

test('VCEK for another chip (hwID ≠ CHIP_ID) → ERR_CERTIFICATE_INVALID naming hwID', async () => {
  const otherChip = CHIP_ID.map((b) => b ^ 1);
  const wrong = await mintLeaf(amd, { tcb: TCB, hwId: otherChip });
  const bytes = await report({}, wrong.keys.privateKey);
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([wrong, amd.ask, amd.ark]))), ErrorCode.CertificateInvalid, (e) => assert.equal(e.details.field, 'hwID'));
});

test('MASK_CHIP_ID skips the hwID comparison (with a warning)', async () => {
  const bytes = await report({ maskChipId: true });
  const v = await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark])));
  assert.ok(v.warnings.some((w) => w.includes('masked')));
  assert.equal(v.claims.instanceId, undefined);
});

test('TCB mismatch between VCEK SPLs and REPORTED_TCB → ERR_CERTIFICATE_INVALID per component', async () => {
  for (const [field, tcb] of [
    ['blSPL', { ...TCB, bootloader: 5 }],
    ['teeSPL', { ...TCB, tee: 1 }],
    ['snpSPL', { ...TCB, snp: 23 }],
    ['ucodeSPL', { ...TCB, microcode: 218 }],
  ] as const) {
    const bytes = await report({ tcb });
    await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]))), ErrorCode.CertificateInvalid, (e) => assert.equal(e.details.field, field));
  }
});

test('an ARK that is not pinned → ERR_ROOT_NOT_TRUSTED', async () => {
  const bytes = await report();
  const ctx = ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]), { extraRoots: {} });
  await rejects(verifySnp(snpPlatform.parse(bytes), ctx), ErrorCode.RootNotTrusted);
});

test('a VCEK signed by an impostor ASK (same name) → ERR_CERTIFICATE_INVALID', async () => {
  const fake = await mintFakeAmd('Milan');
  const leaf = await mintLeaf(fake, { tcb: TCB, hwId: CHIP_ID });
  const bytes = await report({}, leaf.keys.privateKey);
  // The real (pinned) ARK/ASK, but the leaf is signed by the impostor ASK.
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([leaf, amd.ask, amd.ark]))), ErrorCode.CertificateInvalid);
});

test('expired and not-yet-valid VCEK → ERR_CERTIFICATE_INVALID', async () => {
  const old = await mintLeaf(amd, { tcb: TCB, hwId: CHIP_ID, notBefore: new Date('2018-01-01Z'), notAfter: new Date('2025-01-01Z') });
  const bytes = await report({}, old.keys.privateKey);
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([old, amd.ask, amd.ark]))), ErrorCode.CertificateInvalid, (e) => assert.ok(String(e.details.notAfter).startsWith('2025-01-01')));
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([old, amd.ask, amd.ark]), { now: new Date('2017-06-01Z') })), ErrorCode.CertificateInvalid);
});

test('CRL: checked when supplied; revoked VCEK or ASK → ERR_CERTIFICATE_REVOKED', async () => {
  const bytes = await report();
  const clean = await mintCrl(amd.ark, { revokedSerials: ['7777'] });
  const ok = await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark], [clean])));
  assert.equal(ok.claims.revocation, 'checked');
  assert.ok(!ok.warnings.some((w) => w.includes('revocation')));

  const revoked = await mintLeaf(amd, { tcb: TCB, hwId: CHIP_ID, serial: '4242' });
  const b2 = await report({}, revoked.keys.privateKey);
  const crl = await mintCrl(amd.ark, { revokedSerials: ['4242'] });
  await rejects(verifySnp(snpPlatform.parse(b2), ctxFor(amd, collateralOf([revoked, amd.ask, amd.ark], [crl]))), ErrorCode.CertificateRevoked, (e) => assert.equal(e.details.role, 'vcek'));

  const askCrl = await mintCrl(amd.ark, { revokedSerials: [amd.ask.cert.serialNumber] });
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark], [askCrl]))), ErrorCode.CertificateRevoked, (e) => assert.equal(e.details.role, 'ask'));
});

test('CRL signed by the wrong key (same issuer name) → ERR_COLLATERAL_INVALID; stale CRL → ERR_COLLATERAL_EXPIRED', async () => {
  const bytes = await report();
  const impostor = await mint({ subject: `${AMD_DN}, CN=ARK-Milan`, alg: { kind: 'rsa-pss', bits: 2048, hash: 'SHA-384', saltLength: 48 }, ca: true });
  const forged = await mintCrl(impostor);
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark], [forged]))), ErrorCode.CollateralInvalid);
  const stale = await mintCrl(amd.ark, { thisUpdate: new Date('2024-01-01Z'), nextUpdate: new Date('2024-02-01Z') });
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark], [stale]))), ErrorCode.CollateralExpired);
  const v = await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark], [stale]), { options: { allowExpiredCollateral: true } }));
  assert.ok(v.warnings.some((w) => w.includes('allowExpiredCollateral')));
});

test('requireCrl without a CRL → ERR_COLLATERAL_UNAVAILABLE', async () => {
  const bytes = await report();
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]), { options: { requireCrl: true } })), ErrorCode.CollateralUnavailable);
});

test('debug policy → ERR_DEBUG_NOT_ALLOWED unless allowDebug', async () => {
  const bytes = await report({ policy: 0x30000n | (1n << 19n) });
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]))), ErrorCode.DebugNotAllowed);
  const v = await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]), { options: { allowDebug: true } }));
  assert.equal(v.claims.debug, true);
});

test('report_data binding: exact, prefix with zero tail, and mismatch → ERR_BINDING_MISMATCH', async () => {
  const rd = new Uint8Array(64);
  rd.set(new Uint8Array(32).fill(9));
  const bytes = await report({ reportData: rd });
  const coll = collateralOf([vcek, amd.ask, amd.ark]);
  await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, coll, { expected: { reportData: rd } }));
  await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, coll, { expected: { reportData: new Uint8Array(32).fill(9) } }));
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, coll, { expected: { reportData: new Uint8Array(32).fill(8) } })), ErrorCode.BindingMismatch);
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, coll, { expected: { nonce: new Uint8Array(64).fill(1) } })), ErrorCode.BindingMismatch);
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, coll, { expected: { publicKey: new Uint8Array(4) } })), ErrorCode.BindingMismatch);
});

test('v5 Turin report: FMC SPL in TCB, 8-byte hwID, mitigation vectors', async () => {
  const turin = await mintFakeAmd('Turin');
  const tcb = { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 0x4d };
  const leaf = await mintLeaf(turin, { tcb, hwId: CHIP_ID.subarray(0, 8), hwIdEncoding: 'octet-string' });
  const bytes = await signReport(reportFields({ version: 5, cpuid: { family: 0x1a, model: 0x02, stepping: 1 }, tcb, chipId: CHIP_ID, launchMitVector: 5n, currentMitVector: 9n }), leaf.keys.privateKey);
  const parsed = parseSnpReport(bytes);
  assert.equal(parsed.reportedTcb.layout, 'turin');
  assert.deepEqual([parsed.reportedTcb.fmc, parsed.reportedTcb.bootloader, parsed.reportedTcb.tee, parsed.reportedTcb.snp, parsed.reportedTcb.microcode], [1, 2, 3, 4, 0x4d]);
  const v = await verifySnp({ report: parsed }, ctxFor(turin, collateralOf([leaf, turin.ask, turin.ark])));
  assert.deepEqual(v.claims.tcb.versions, { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 0x4d });
  assert.equal(v.claims.platformClaims.product, 'Turin');
  assert.equal(v.claims.platformClaims.launchMitVector, '5');
  assert.equal(v.claims.platformClaims.currentMitVector, '9');
  // An FMC mismatch is a TCB mismatch too.
  const b2 = await signReport(reportFields({ version: 5, cpuid: { family: 0x1a, model: 0x02, stepping: 1 }, tcb: { ...tcb, fmc: 2 }, chipId: CHIP_ID }), leaf.keys.privateKey);
  await rejects(verifySnp(snpPlatform.parse(b2), ctxFor(turin, collateralOf([leaf, turin.ask, turin.ark]))), ErrorCode.CertificateInvalid, (e) => assert.equal(e.details.field, 'fmcSPL'));
  // A Turin report chained to the Milan ARK is rejected (wrong product line).
  const milanLeaf = await mintLeaf(amd, { tcb, hwId: CHIP_ID.subarray(0, 8), productName: 'Turin' });
  const b3 = await signReport(reportFields({ version: 5, cpuid: { family: 0x1a, model: 0x02, stepping: 1 }, tcb, chipId: CHIP_ID }), milanLeaf.keys.privateKey);
  await rejects(verifySnp(snpPlatform.parse(b3), ctxFor(amd, collateralOf([milanLeaf, amd.ask, amd.ark]))), ErrorCode.CertificateInvalid, (e) => assert.equal(e.details.expected, 'SEV-Turin'));
});

test('VLEK-signed report: ASVK chain, cspID, no hwID needed', async () => {
  const vlek = await mintLeaf(amd, { kind: 'vlek', tcb: TCB, cspId: 'cc-test.example', productName: 'Milan' });
  const bytes = await report({ signingKey: 'vlek', chipId: new Uint8Array(64) }, vlek.keys.privateKey);
  const v = await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vlek, amd.asvk, amd.ark])));
  assert.deepEqual(v.chain.map((c) => c.role), ['vlek', 'asvk', 'ark']);
  assert.equal((v.claims.platformClaims.signer as Record<string, unknown>).cspId, 'cc-test.example');
  // A VCEK-signed report cannot use a VLEK and vice versa.
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]))), ErrorCode.CollateralUnavailable);
});

test('SIGNING_KEY none → ERR_SIGNATURE_INVALID', async () => {
  const bytes = await report({ signingKey: 'none' });
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]))), ErrorCode.SignatureInvalid);
});

test('v2 report: product from options or the VCEK; missing → ERR_COLLATERAL_UNAVAILABLE; CPUID vs option conflict', async () => {
  const bytes = await report({ version: 2 });
  const v = await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark])));
  assert.ok(v.warnings.some((w) => w.includes('product line Milan')));
  await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]), { options: { product: 'Milan' } }));
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, emptyCollateral())), ErrorCode.CollateralUnavailable);
  const v3 = await report();
  await rejects(verifySnp(snpPlatform.parse(v3), ctxFor(amd, collateralOf([vcek, amd.ask, amd.ark]), { options: { product: 'Genoa' } })), ErrorCode.BindingMismatch);
});

test('missing ASK/ARK offline → ERR_COLLATERAL_UNAVAILABLE', async () => {
  const bytes = await report();
  await rejects(verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([vcek]))), ErrorCode.CollateralUnavailable);
});

test('certificates from the extended-report table (evidence or a collateral file) are used', async () => {
  const bytes = await report();
  const table = encodeSnpCertTable([
    { guid: SNP_CERT_GUIDS.vcek, data: new Uint8Array(vcek.cert.rawData) },
    { guid: SNP_CERT_GUIDS.ask, data: new Uint8Array(amd.ask.cert.rawData) },
    { guid: SNP_CERT_GUIDS.ark, data: new Uint8Array(amd.ark.cert.rawData) },
  ]);
  const v = await verifySnp(parseSnpEvidence(bytes, table), ctxFor(amd, emptyCollateral()));
  assert.equal(v.chain.length, 3);
  const coll = emptyCollateral();
  coll.other.push({ name: 'certs.bin', bytes: table });
  await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, coll));
});

test('hwID in both encodings and SPLs ≥ 128 (DER leading zero) parse', async () => {
  const raw = await mintLeaf(amd, { tcb: { ...TCB, microcode: 0xa9 }, hwId: CHIP_ID, hwIdEncoding: 'raw' });
  const oct = await mintLeaf(amd, { tcb: { ...TCB, microcode: 0xa9 }, hwId: CHIP_ID, hwIdEncoding: 'octet-string' });
  for (const [leaf, enc] of [[raw, 'raw'], [oct, 'octet-string']] as const) {
    const ext = parseAmdExtensions(leaf.cert);
    assert.equal(ext.hwIdEncoding, enc);
    assert.deepEqual(ext.hwId, CHIP_ID);
    assert.equal(ext.ucodeSpl, 0xa9);
    const bytes = await report({ tcb: { ...TCB, microcode: 0xa9 } }, leaf.keys.privateKey);
    await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([leaf, amd.ask, amd.ark])));
  }
});

test('a matching VCEK is chosen among several supplied', async () => {
  const decoy = await mintLeaf(amd, { tcb: { ...TCB, snp: 1 }, hwId: CHIP_ID });
  const bytes = await report();
  const v = await verifySnp(snpPlatform.parse(bytes), ctxFor(amd, collateralOf([decoy, vcek, amd.ask, amd.ark])));
  assert.equal(v.chain[0]!.sha256, vcek.fingerprint);
});
