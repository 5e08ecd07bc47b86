import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestError, ErrorCode, parseCertificates } from '../../core/index.ts';
import { classifyCollateral } from '../index.ts';
import { parseQuote } from '../../evidence/dcap/index.ts';
import { corpusAvailable, corpusFile, corpusText } from '../../../test/support/corpus.ts';
import { addQuoteCollateralV3, emptyIntelCollateral, gatherIntelCollateral, parseIssuerChain, parsePcsBody, parsePckExtensions, parseQeIdentity, parseTcbInfo, pcsUrls, rawMembers } from './index.ts';

const skip = !corpusAvailable() && 'corpus not available';

test('rawMembers returns the exact served text of each member (whitespace, order, escapes kept)', () => {
  const text = '{ "tcbInfo" : {"b":1, "a":"x\\"}y" ,"n":[1,{"z":null}]} ,\n"signature":"ab"}';
  const m = rawMembers(text, 't');
  assert.equal(m.get('tcbInfo'), '{"b":1, "a":"x\\"}y" ,"n":[1,{"z":null}]}');
  assert.equal(m.get('signature'), '"ab"');
  assert.throws(() => rawMembers('{"a":1,"a":2}', 't'), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralInvalid);
  assert.throws(() => rawMembers('{"a":{', 't'), (e: unknown) => e instanceof AttestError);
});

test('PCS bodies: signature must be 64 hex bytes; non-PCS JSON is not claimed', () => {
  assert.equal(parsePcsBody('{"foo":1}', 'x'), undefined);
  assert.throws(() => parsePcsBody('{"tcbInfo":{},"signature":"abcd"}', 'x'), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralInvalid);
  assert.throws(() => parsePcsBody('{"tcbInfo":{}}', 'x'), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralInvalid);
});

test('PCK extension of a real PCK certificate', { skip }, () => {
  const q = parseQuote(corpusFile('tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat'));
  const ext = parsePckExtensions(parseCertificates(q.pckChainPem)[0]!);
  assert.equal(ext.fmspc, '50806f000000');
  assert.equal(ext.pceId, '0000');
  assert.equal(ext.pceSvn, 11);
  assert.deepEqual(ext.cpuSvnComponents, [3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(ext.ppid.length, 32);
  assert.ok(['Standard', 'Scalable', 'ScalableWithIntegrity'].includes(ext.sgxType));
  // A CA certificate has no SGX extension.
  assert.throws(() => parsePckExtensions(parseCertificates(q.pckChainPem)[1]!), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CertificateInvalid);
});

test('TCB Info v2 / v3 and QE Identity models from real collateral', { skip }, () => {
  const v2 = gatherIntelCollateral(classifyCollateral([{ name: 'v2', bytes: corpusFile('sgx/automata/0625_sgx_tcbinfo_v2_00606a000000.json') }]));
  const t2 = parseTcbInfo(v2.tcbInfos[0]!.value);
  assert.equal(t2.id, 'SGX');
  assert.equal(t2.version, 2);
  assert.equal(t2.tcbLevels[0]!.sgxComponents.length, 16);
  const v3 = gatherIntelCollateral(classifyCollateral([{ name: 'v3', bytes: corpusFile('tdx/automata/solana_tcb_info_v3_with_tdx_module.json') }]));
  const t3 = parseTcbInfo(v3.tcbInfos[0]!.value);
  assert.equal(t3.id, 'TDX');
  assert.ok(t3.tdxModuleIdentities && t3.tdxModuleIdentities.length > 0);
  assert.equal(t3.tcbLevels[0]!.tdxComponents!.length, 16);
  const qe = parseQeIdentity(gatherIntelCollateral(classifyCollateral([{ name: 'qe', bytes: corpusFile('tdx/automata/0625_qe_td.json') }])).qeIdentities[0]!.value);
  assert.equal(qe.id, 'TD_QE');
  // Component-count mismatches are rejected, not truncated.
  const bad = JSON.parse(JSON.stringify(v3.tcbInfos[0]!.value)) as { tcbLevels: { tcb: { sgxtcbcomponents: unknown[] } }[] };
  bad.tcbLevels[0]!.tcb.sgxtcbcomponents.pop();
  assert.throws(() => parseTcbInfo(bad), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralInvalid);
});

test('QuoteCollateralV3 bundle and URL-encoded issuer chains are detected by content', { skip }, () => {
  const c = gatherIntelCollateral(classifyCollateral([{ name: 'b.json', bytes: corpusFile('tdx/dcap-qvl/tdx_quote_collateral.json') }]));
  assert.equal(c.tcbInfos.length, 1);
  assert.equal(c.qeIdentities.length, 1);
  assert.equal(c.crls.length, 2);
  assert.ok(c.certificates.length >= 2);
  const chain = parseIssuerChain(corpusText('tdx/tinfoil/tcb_info_90c06f000000_chain.txt'), 'chain');
  assert.equal(chain.length, 2);
  const fromOther = gatherIntelCollateral(classifyCollateral([{ name: 'c.txt', bytes: corpusFile('tdx/tinfoil/qe_identity_chain.txt') }]));
  assert.equal(fromOther.certificates.length, 2);
  // A broken CRL inside a bundle is never skipped.
  const o = JSON.parse(corpusText('tdx/dcap-qvl/tdx_quote_collateral.json')) as Record<string, unknown>;
  o.pck_crl = 'deadbeef';
  assert.throws(() => addQuoteCollateralV3(emptyIntelCollateral(), o, 'x'), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CollateralInvalid);
});

test('PCS v4 URLs', () => {
  assert.equal(pcsUrls.tcbInfo('sgx', '00606a000000'), 'https://api.trustedservices.intel.com/sgx/certification/v4/tcb?fmspc=00606A000000');
  assert.equal(pcsUrls.qeIdentity('tdx', 'http://pccs:8081/'), 'http://pccs:8081/tdx/certification/v4/qe/identity');
  assert.equal(pcsUrls.pckCrl('processor'), 'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=processor&encoding=der');
});
