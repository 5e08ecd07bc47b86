import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestError, ErrorCode, concatBytes } from '../../core/index.ts';
import { fakeConfigfs } from '../tsm/test-support/fake-configfs.ts';
import { tdxPlatform } from '../../verify/tdx/index.ts';
import { NOW, collateralFor, fakeIntel, makeQuote } from '../../verify/dcap/test-support/fake-intel.ts';
import { createTdxAttester } from './index.ts';

const pki = await fakeIntel();

test('TDX attester: configfs-tsm quote carries the report data and verifies', async () => {
  // The fake "tdx_guest" provider behaves like the QE: a quote over the inblob, in a padded buffer.
  const cfs = await fakeConfigfs({ name: 'tdx_guest', report: async (inblob) => ({ outblob: concatBytes(await makeQuote(pki, { reportData: inblob }), new Uint8Array(70)) }) });
  try {
    const a = createTdxAttester({ tsmBase: cfs.base, tsmFs: cfs.fs });
    assert.equal(a.id, 'tdx');
    assert.equal(await a.available(), true);
    const rd = new Uint8Array(32).fill(7);
    const quote = await a.evidence(rd);
    assert.deepEqual(await cfs.entries(), []);
    const v = await tdxPlatform.verify(tdxPlatform.parse(quote), { now: NOW, collateral: await collateralFor(pki), extraRoots: pki.extraRoots, expected: { reportData: rd } });
    assert.equal(v.platform, 'tdx');
    assert.equal(v.claims.reportData, '07'.repeat(32) + '00'.repeat(32));
  } finally {
    await cfs.cleanup();
  }
});

test('TDX attester: unavailable on an SNP guest; rejects a quote without our report data', async () => {
  const snp = await fakeConfigfs({ name: 'sev_guest', report: async () => ({ outblob: new Uint8Array(1184) }) });
  try {
    const a = createTdxAttester({ tsmBase: snp.base, tsmFs: snp.fs });
    assert.equal(await a.available(), false);
    await assert.rejects(a.evidence(new Uint8Array(64)), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.DeviceError);
  } finally {
    await snp.cleanup();
  }
  const liar = await fakeConfigfs({ name: 'tdx_guest', report: async () => ({ outblob: await makeQuote(pki, { reportData: new Uint8Array(64).fill(1) }) }) });
  try {
    const a = createTdxAttester({ tsmBase: liar.base, tsmFs: liar.fs });
    await assert.rejects(a.evidence(new Uint8Array(64).fill(2)), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.DeviceError);
  } finally {
    await liar.cleanup();
  }
  const absent = createTdxAttester({ tsmBase: '/nonexistent/tsm/report' });
  assert.equal(await absent.available(), false);
});
