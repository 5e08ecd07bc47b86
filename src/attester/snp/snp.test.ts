/**
 * The SNP attester against a fake configfs-tsm whose "firmware" signs reports with a fake AMD
 * VCEK, end to end: attester evidence → snpPlatform verification using the auxblob certificates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestError, ErrorCode } from '../../core/index.ts';
import { emptyCollateral } from '../../collateral/index.ts';
import { encodeSnpCertTable, SNP_CERT_GUIDS } from '../../evidence/snp/index.ts';
import { parseSnpEvidence, snpPlatform } from '../../verify/snp/index.ts';
import { CHIP_ID, TCB, mintFakeAmd, mintLeaf, reportFields, signReport } from '../../verify/snp/test-support/synthetic.ts';
import { fakeConfigfs } from '../tsm/test-support/fake-configfs.ts';
import { createSnpAttester } from './index.ts';

test('SNP attester: report with our REPORT_DATA and the auxblob chain, verifiable end to end', async () => {
  const amd = await mintFakeAmd('Genoa');
  const vcek = await mintLeaf(amd, { tcb: TCB, hwId: CHIP_ID });
  const table = encodeSnpCertTable([
    { guid: SNP_CERT_GUIDS.vcek, data: new Uint8Array(vcek.cert.rawData) },
    { guid: SNP_CERT_GUIDS.ask, data: new Uint8Array(amd.ask.cert.rawData) },
    { guid: SNP_CERT_GUIDS.ark, data: new Uint8Array(amd.ark.cert.rawData) },
  ]);
  const fake = await fakeConfigfs({
    name: 'sev_guest',
    report: async (inblob) => ({
      outblob: await signReport(reportFields({ tcb: TCB, chipId: CHIP_ID, reportData: inblob, cpuid: { family: 0x19, model: 0x11, stepping: 1 } }), vcek.keys.privateKey),
      auxblob: table,
    }),
  });
  try {
    const att = createSnpAttester({ tsmBase: fake.base, tsmFs: fake.fs });
    assert.equal(att.id, 'snp');
    assert.equal(await att.available(), true);
    const nonce = crypto.getRandomValues(new Uint8Array(64));
    const ext = await att.extendedEvidence(nonce);
    assert.deepEqual(ext.parsed.reportData, nonce);
    assert.deepEqual(ext.certificates.map((c) => c.kind), ['vcek', 'ask', 'ark']);
    const v = await snpPlatform.verify(parseSnpEvidence(ext.report, ext.certTable), {
      now: new Date('2025-06-01Z'),
      collateral: emptyCollateral(),
      offline: true,
      extraRoots: { amd: [amd.ark.fingerprint] },
      expected: { reportData: nonce },
    });
    assert.equal(v.claims.platformClaims.product, 'Genoa');
    const raw = await att.evidence(nonce);
    assert.equal(raw.length, 1184);
    assert.deepEqual(await fake.entries(), []);
  } finally {
    await fake.cleanup();
  }
});

test('SNP attester: unavailable on a TDX guest or without configfs-tsm; a wrong provider is a device error', async () => {
  const tdx = await fakeConfigfs({ name: 'tdx_guest', report: async () => ({ outblob: new Uint8Array(10) }) });
  try {
    const att = createSnpAttester({ tsmBase: tdx.base, tsmFs: tdx.fs });
    assert.equal(await att.available(), false);
    await assert.rejects(att.evidence(new Uint8Array(64)), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.DeviceError);
    assert.equal(await createSnpAttester({ tsmBase: '/nonexistent/tsm/report' }).available(), false);
  } finally {
    await tdx.cleanup();
  }
});

test('SNP attester: a firmware answer that ignores our REPORT_DATA is refused', async () => {
  const amd = await mintFakeAmd('Milan');
  const vcek = await mintLeaf(amd, { tcb: TCB, hwId: CHIP_ID });
  const fake = await fakeConfigfs({ name: 'sev_guest', report: async () => ({ outblob: await signReport(reportFields({ tcb: TCB, chipId: CHIP_ID }), vcek.keys.privateKey) }) });
  try {
    await assert.rejects(createSnpAttester({ tsmBase: fake.base, tsmFs: fake.fs }).evidence(new Uint8Array(64).fill(1)), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.DeviceError);
  } finally {
    await fake.cleanup();
  }
});
