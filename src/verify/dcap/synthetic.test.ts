/**
 * Every DCAP error path against a fake Intel PKI (real ECDSA P-256, test root trusted through
 * ctx.extraRoots.intel): signatures, chain, CRLs, collateral validity and selection, TCB matching.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, AttestError, toHex } from '../../core/index.ts';
import { mint, mintCrl } from '../../../test/support/pki.ts';
import { tdxPlatform } from '../tdx/index.ts';
import { sgxPlatform } from '../sgx/index.ts';
import type { VerifyContext } from '../types.ts';
import type { CollateralSet } from '../../collateral/index.ts';
import { NOW, collateralFor, fakeIntel, makeQuote, qeIdentityJson, tcbInfoJson, signedBody, type FakeIntel } from './test-support/fake-intel.ts';

const pki: FakeIntel = await fakeIntel();
const tdQuote = await makeQuote(pki);

function ctx(collateral: CollateralSet, extra: Partial<VerifyContext> = {}): VerifyContext {
  return { now: NOW, collateral, extraRoots: pki.extraRoots, ...extra };
}

async function rejects(p: Promise<unknown>, code: string, status?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AttestError, `not an AttestError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (status) assert.equal(e.details.status, status);
    return true;
  });
}

test('a well-formed synthetic TDX quote verifies UpToDate with checked revocation', async () => {
  const v = await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki)));
  assert.equal(v.tcb?.status, 'UpToDate');
  assert.deepEqual(v.tcb?.advisoryIds, []);
  assert.equal(v.claims.revocation, 'checked');
  assert.equal(v.claims.measurements['tdx.mrtd'], '02'.repeat(48));
  assert.equal(v.claims.reportData, '42'.repeat(64));
  assert.equal(v.claims.signers['tdx.mrsignerseam'], '00'.repeat(48));
  const coll = (v.claims.platformClaims.collateral as Record<string, Record<string, unknown>>)!;
  assert.equal(coll.tcbInfo!.source, 'tcb.json');
});

test('the Intel root is only trusted by fingerprint: without extraRoots the fake root fails', async () => {
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), { now: NOW, collateral: await collateralFor(pki) }), ErrorCode.RootNotTrusted);
});

test('report-data binding', async () => {
  const c = await collateralFor(pki);
  await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(c, { expected: { reportData: new Uint8Array(64).fill(0x42) } }));
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(c, { expected: { reportData: new Uint8Array(32).fill(0x41) } })), ErrorCode.BindingMismatch);
});

test('expired TCB Info → CollateralExpired; allowExpiredCollateral downgrades to a loud warning', async () => {
  const c = await collateralFor(pki, { tcbInfo: tcbInfoJson({ issueDate: '2025-04-01T00:00:00Z', nextUpdate: '2025-05-01T00:00:00Z' }) });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(c)), ErrorCode.CollateralExpired);
  const v = await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(c, { options: { allowExpiredCollateral: true } }));
  assert.ok(v.warnings.some((w) => w.startsWith('EXPIRED COLLATERAL')));
  const q = await collateralFor(pki, { qeIdentity: qeIdentityJson({ issueDate: '2025-07-01T00:00:00Z', nextUpdate: '2025-08-01T00:00:00Z' }) });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(q)), ErrorCode.CollateralExpired);
});

test('TCB Info for another FMSPC or PCE-ID → CollateralInvalid', async () => {
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { tcbInfo: tcbInfoJson({ fmspc: '00906ED50000' }) }))), ErrorCode.CollateralInvalid);
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { tcbInfo: tcbInfoJson({ pceId: '0001' }) }))), ErrorCode.CollateralInvalid);
});

test('TCB Info whose signed bytes were altered (re-serialised or edited) → SignatureInvalid', async () => {
  const edited = await collateralFor(pki, { tamperTcb: (t) => t.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18') });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(edited)), ErrorCode.SignatureInvalid);
  const reformatted = await collateralFor(pki, { tamperTcb: (t) => JSON.stringify(JSON.parse(t), null, 1) });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(reformatted)), ErrorCode.SignatureInvalid);
});

test('TCB Info signed by a certificate that does not chain to the Intel root → rejected', async () => {
  const otherRoot = await mint({ subject: 'CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US', alg: { kind: 'ec', curve: 'P-256' }, ca: true });
  const rogue = await mint({ subject: 'CN=Intel SGX TCB Signing, O=Intel Corporation, L=Santa Clara, ST=CA, C=US', alg: { kind: 'ec', curve: 'P-256' }, issuer: otherRoot });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { signer: rogue }))), ErrorCode.CertificateInvalid);
});

test('revoked PCK → CertificateRevoked; revoked TCB signer → CertificateRevoked', async () => {
  const revoked = await mintCrl(pki.platformCa, { thisUpdate: new Date('2025-06-01T00:00:00Z'), nextUpdate: new Date('2025-07-01T00:00:00Z'), revokedSerials: [pki.pck.cert.serialNumber] });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { crls: [pki.rootCrl, revoked] }))), ErrorCode.CertificateRevoked);
  const rootRevokesSigner = await mintCrl(pki.root, { thisUpdate: new Date('2025-01-01T00:00:00Z'), nextUpdate: new Date('2026-01-01T00:00:00Z'), revokedSerials: [pki.tcbSigner.cert.serialNumber] });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { crls: [rootRevokesSigner, pki.pckCrl] }))), ErrorCode.CertificateRevoked);
  const rootRevokesCa = await mintCrl(pki.root, { thisUpdate: new Date('2025-01-01T00:00:00Z'), nextUpdate: new Date('2026-01-01T00:00:00Z'), revokedSerials: [pki.platformCa.cert.serialNumber] });
  await assert.rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { crls: [rootRevokesCa, pki.pckCrl] }))), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.CertificateRevoked && e.details.role === 'pck-ca');
});

test('stale or wrongly signed CRL fails unless a valid CRL of the same issuer is also supplied', async () => {
  const stale = await mintCrl(pki.platformCa, { thisUpdate: new Date('2025-04-01T00:00:00Z'), nextUpdate: new Date('2025-05-01T00:00:00Z') });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { crls: [pki.rootCrl, stale] }))), ErrorCode.CollateralExpired);
  const impostor = await mint({ subject: pki.platformCa.cert.subject, alg: { kind: 'ec', curve: 'P-256' }, issuer: pki.root, ca: true });
  const wrongKey = await mintCrl(impostor, { thisUpdate: new Date('2025-06-01T00:00:00Z'), nextUpdate: new Date('2025-07-01T00:00:00Z') });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { crls: [pki.rootCrl, wrongKey] }))), ErrorCode.CollateralInvalid);
  // With a valid one of the same issuer beside them, the newest valid CRL is used.
  const v = await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { crls: [pki.rootCrl, stale, wrongKey, pki.pckCrl] })));
  assert.equal(v.claims.revocation, 'checked');
  const used = (v.claims.platformClaims.collateral as Record<string, Record<string, unknown>>).pckCrl!;
  assert.equal(used.thisUpdate, '2025-06-01T00:00:00Z');
});

test('absent CRLs are a warning, and a failure with requireCrl', async () => {
  const c = await collateralFor(pki, { noCrls: true });
  const v = await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(c));
  assert.equal(v.claims.revocation, 'absent');
  assert.ok(v.warnings.some((w) => w.includes('NOT checked')));
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(c, { options: { requireCrl: true } })), ErrorCode.CollateralUnavailable);
});

test('no matching TCB level and a Revoked level → TcbUnacceptable; OutOfDate verifies with a loud warning', async () => {
  const high = tcbInfoJson({ levels: [{ sgx: new Array(16).fill(9), pcesvn: 11, tdx: new Array(16).fill(0), status: 'UpToDate' }] });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { tcbInfo: high }))), ErrorCode.TcbUnacceptable, 'NoMatchingLevel');
  const tdxHigh = tcbInfoJson({ levels: [{ sgx: new Array(16).fill(0), pcesvn: 0, tdx: [4, ...new Array(15).fill(0)], status: 'UpToDate' }] });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { tcbInfo: tdxHigh }))), ErrorCode.TcbUnacceptable, 'NoMatchingLevel');
  const revoked = tcbInfoJson({ levels: [{ sgx: new Array(16).fill(0), pcesvn: 0, tdx: new Array(16).fill(0), status: 'Revoked', advisories: ['INTEL-SA-99999'] }] });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { tcbInfo: revoked }))), ErrorCode.TcbUnacceptable, 'Revoked');
  const outdated = tcbInfoJson({ levels: [{ sgx: new Array(16).fill(0), pcesvn: 0, tdx: new Array(16).fill(0), status: 'OutOfDate', advisories: ['INTEL-SA-00002', 'INTEL-SA-00001'] }] });
  const v = await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { tcbInfo: outdated })));
  assert.equal(v.tcb?.status, 'OutOfDate');
  assert.deepEqual(v.tcb?.advisoryIds, ['INTEL-SA-00001', 'INTEL-SA-00002']);
  assert.ok(v.warnings.some((w) => w.startsWith('TCB OUTOFDATE')));
});

test('QE Identity: OutOfDate QE converges Configuration statuses into OutOfDateConfigurationNeeded; Revoked QE rejects', async () => {
  const conf = tcbInfoJson({ levels: [{ sgx: new Array(16).fill(0), pcesvn: 0, tdx: new Array(16).fill(0), status: 'ConfigurationNeeded' }] });
  const oldQe = qeIdentityJson({ levels: [{ isvsvn: 8, status: 'UpToDate' }, { isvsvn: 1, status: 'OutOfDate' }] });
  const v = await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { tcbInfo: conf, qeIdentity: oldQe })));
  assert.equal(v.tcb?.status, 'OutOfDateConfigurationNeeded');
  const revQe = qeIdentityJson({ levels: [{ isvsvn: 8, status: 'UpToDate' }, { isvsvn: 1, status: 'Revoked' }] });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { qeIdentity: revQe }))), ErrorCode.TcbUnacceptable, 'Revoked');
  const sgxIdentity = qeIdentityJson({ id: 'QE' });
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(await collateralFor(pki, { qeIdentity: sgxIdentity }))), ErrorCode.CollateralUnavailable);
});

test('debug TD and debug enclave → DebugNotAllowed unless allowDebug', async () => {
  const dbg = await makeQuote(pki, { debug: true });
  const c = await collateralFor(pki);
  await rejects(tdxPlatform.verify(tdxPlatform.parse(dbg), ctx(c)), ErrorCode.DebugNotAllowed);
  const v = await tdxPlatform.verify(tdxPlatform.parse(dbg), ctx(c, { options: { allowDebug: true } }));
  assert.equal(v.claims.debug, true);
  const sgxDbg = await makeQuote(pki, { kind: 'sgx', debug: true });
  const sc = await collateralFor(pki, { tcbInfo: tcbInfoJson({ id: 'SGX' }), qeIdentity: qeIdentityJson({ id: 'QE' }) });
  await rejects(sgxPlatform.verify(sgxPlatform.parse(sgxDbg), ctx(sc)), ErrorCode.DebugNotAllowed);
});

test('SGX v3, TD 1.5 v5 and SGX-body v5 synthetic quotes verify', async () => {
  const sc = await collateralFor(pki, { tcbInfo: tcbInfoJson({ id: 'SGX' }), qeIdentity: qeIdentityJson({ id: 'QE' }) });
  const s = await sgxPlatform.verify(sgxPlatform.parse(await makeQuote(pki, { kind: 'sgx' })), ctx(sc));
  assert.equal(s.tcb?.status, 'UpToDate');
  assert.equal(s.claims.measurements['sgx.mrenclave'], '77'.repeat(32));
  assert.equal(s.claims.signers['sgx.mrsigner'], '88'.repeat(32));
  const s5 = await sgxPlatform.verify(sgxPlatform.parse(await makeQuote(pki, { kind: 'sgx', version: 5 })), ctx(sc));
  assert.equal(s5.tcb?.status, 'UpToDate');
  const t15 = await tdxPlatform.verify(tdxPlatform.parse(await makeQuote(pki, { kind: 'td15', version: 5 })), ctx(await collateralFor(pki)));
  assert.equal(t15.tcb?.status, 'UpToDate');
  // SGX TCB Info v2 (flat component keys, no advisories).
  const v2 = tcbInfoJson({ id: 'SGX', version: 2 });
  const flat = { ...v2, tcbLevels: (v2.tcbLevels as { tcb: { sgxtcbcomponents: { svn: number }[]; pcesvn: number }; tcbDate: string; tcbStatus: string }[]).map((l) => ({ tcb: { ...Object.fromEntries(l.tcb.sgxtcbcomponents.map((c, i) => [`sgxtcbcomp${String(i + 1).padStart(2, '0')}svn`, c.svn])), pcesvn: l.tcb.pcesvn }, tcbDate: l.tcbDate, tcbStatus: l.tcbStatus })) };
  delete (flat as Record<string, unknown>).id;
  const sv2 = await sgxPlatform.verify(sgxPlatform.parse(await makeQuote(pki, { kind: 'sgx' })), ctx(await collateralFor(pki, { tcbInfo: flat, qeIdentity: qeIdentityJson({ id: 'QE' }) })));
  assert.equal(sv2.tcb?.status, 'UpToDate');
});

test('several TCB Infos for one FMSPC: the newest valid one is used and named', async () => {
  const c = await collateralFor(pki);
  const older = await signedBody('tcbInfo', tcbInfoJson({ issueDate: '2025-05-20T00:00:00Z', nextUpdate: '2025-06-20T00:00:00Z', levels: [{ sgx: new Array(16).fill(0), pcesvn: 0, tdx: new Array(16).fill(0), status: 'OutOfDate' }] }), pki.tcbSigner);
  const future = await signedBody('tcbInfo', tcbInfoJson({ issueDate: '2025-07-02T00:00:00Z', nextUpdate: '2025-08-02T00:00:00Z' }), pki.tcbSigner);
  c.json.unshift({ name: 'older.json', text: older, value: JSON.parse(older) }, { name: 'future.json', text: future, value: JSON.parse(future) });
  const v = await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(c));
  const used = (v.claims.platformClaims.collateral as Record<string, Record<string, unknown>>).tcbInfo!;
  assert.equal(used.source, 'tcb.json');
  assert.equal(used.ignoredCandidates, 2);
  assert.equal(v.tcb?.status, 'UpToDate');
});

test('re-issued TCB Signing certificate with the same key: the one valid at the verification time is chosen', async () => {
  const expired = await mint({ subject: pki.tcbSigner.cert.subject, alg: { kind: 'ec', curve: 'P-256' }, issuer: pki.root, keys: pki.tcbSigner.keys, serial: pki.tcbSigner.cert.serialNumber, notBefore: new Date('2018-01-01T00:00:00Z'), notAfter: new Date('2025-05-21T00:00:00Z') });
  const c = await collateralFor(pki);
  c.certificates.unshift(expired.cert);
  const v = await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(c));
  const used = (v.claims.platformClaims.collateral as Record<string, Record<string, Record<string, unknown>>>).tcbInfo!.signer!;
  assert.equal(used.sha256, pki.tcbSigner.fingerprint);
  // Only the expired one: the chain is not valid at the verification time.
  c.certificates.splice(c.certificates.indexOf(pki.tcbSigner.cert), 1);
  const again = await collateralFor(pki);
  again.certificates = [expired.cert, pki.root.cert];
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(again)), ErrorCode.CertificateInvalid);
});

test('PCK expired at the verification time → CertificateInvalid', async () => {
  const short = await fakeIntel({ pckNotAfter: new Date('2025-06-01T00:00:00Z') });
  const q = await makeQuote(short);
  await rejects(tdxPlatform.verify(tdxPlatform.parse(q), { now: NOW, collateral: await collateralFor(short), extraRoots: short.extraRoots }), ErrorCode.CertificateInvalid);
});

test('QE report signed by another key, attestation key binding broken → SignatureInvalid', async () => {
  const q = tdxPlatform.parse(tdQuote);
  const c = await collateralFor(pki);
  const badQe = { ...q, signature: { ...q.signature, qe: { ...q.signature.qe, qeReportSignature: q.signature.qe.qeReportSignature.map((b, i) => (i === 5 ? b ^ 1 : b)) } } };
  await rejects(tdxPlatform.verify(badQe, ctx(c)), ErrorCode.SignatureInvalid);
  const badAuth = { ...q, signature: { ...q.signature, qe: { ...q.signature.qe, qeAuthData: new Uint8Array(32) } } };
  await rejects(tdxPlatform.verify(badAuth, ctx(c)), ErrorCode.SignatureInvalid);
  assert.equal(toHex(q.signature.qe.qeAuthData).length, 64);
});

test('supplied TCB Info that is out of date is replaced by a fresh fetch when online (never offline)', async () => {
  const stale = await collateralFor(pki, { tcbInfo: tcbInfoJson({ issueDate: '2025-04-01T00:00:00Z', nextUpdate: '2025-05-01T00:00:00Z' }) });
  const freshBody = await signedBody('tcbInfo', tcbInfoJson(), pki.tcbSigner);
  const urls: string[] = [];
  const fetcher = async (url: string): Promise<Response> => {
    urls.push(url);
    return url.includes('/tdx/certification/v4/tcb?fmspc=50806F000000') ? new Response(freshBody, { status: 200 }) : new Response('', { status: 404 });
  };
  const v = await tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(stale, { fetcher, endpoints: { intelPcs: 'http://pcs.invalid' } }));
  assert.equal(v.tcb?.status, 'UpToDate');
  assert.deepEqual(urls, ['http://pcs.invalid/tdx/certification/v4/tcb?fmspc=50806F000000']);
  assert.ok(v.warnings.some((w) => w.includes('a fresh copy was fetched')));
  await rejects(tdxPlatform.verify(tdxPlatform.parse(tdQuote), ctx(stale, { fetcher, offline: true })), ErrorCode.CollateralExpired);
});
