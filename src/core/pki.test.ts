import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, assertNotRevoked, verifyChain, verifyCrl, type PinnedRoots } from './index.ts';
import { mint, mintCrl } from '../../test/support/pki.ts';
import { hasCode } from '../../test/support/errors.ts';


test('verifyChain accepts a pinned chain and rejects unpinned roots, bad links and expiry', async () => {
  const root = await mint({ subject: 'CN=Test Root', alg: { kind: 'ec', curve: 'P-384' }, ca: true });
  const other = await mint({ subject: 'CN=Test Root', alg: { kind: 'ec', curve: 'P-384' }, ca: true });
  const inter = await mint({ subject: 'CN=Test Inter', alg: { kind: 'ec', curve: 'P-256' }, issuer: root, ca: true });
  const leaf = await mint({ subject: 'CN=Leaf', alg: { kind: 'ec', curve: 'P-256' }, issuer: inter, notAfter: new Date('2030-01-01T00:00:00Z') });
  const pins: PinnedRoots = { label: 'test', fingerprints: new Set([root.fingerprint]) };
  const roles = ['leaf', 'intermediate', 'root'];
  const at = new Date('2025-01-01T00:00:00Z');
  const links = await verifyChain([leaf.cert, inter.cert, root.cert], pins, at, roles);
  assert.equal(links.length, 3);
  assert.equal(links[2]!.sha256, root.fingerprint);
  // same subject, different key: not pinned
  await assert.rejects(verifyChain([leaf.cert, inter.cert, other.cert], pins, at, roles), hasCode(ErrorCode.RootNotTrusted));
  // pinned foreign root: link signature fails
  await assert.rejects(verifyChain([leaf.cert, inter.cert, other.cert], { label: 't', fingerprints: new Set([other.fingerprint]) }, at, roles), hasCode(ErrorCode.CertificateInvalid));
  await assert.rejects(verifyChain([leaf.cert, inter.cert, root.cert], pins, new Date('2031-01-01T00:00:00Z'), roles), hasCode(ErrorCode.CertificateInvalid));
  await assert.rejects(verifyChain([leaf.cert], pins, at, roles), hasCode(ErrorCode.CertificateInvalid));
});

test('verifyCrl checks signature and window; assertNotRevoked finds serials', async () => {
  const root = await mint({ subject: 'CN=CRL Root', alg: { kind: 'ec', curve: 'P-256' }, ca: true });
  const imposter = await mint({ subject: 'CN=CRL Root', alg: { kind: 'ec', curve: 'P-256' }, ca: true });
  const leaf = await mint({ subject: 'CN=L', alg: { kind: 'ec', curve: 'P-256' }, issuer: root, serial: '00ab' });
  const crl = await mintCrl(root, { thisUpdate: new Date('2024-01-01Z'), nextUpdate: new Date('2024-02-01Z'), revokedSerials: ['ab'] });
  await verifyCrl(crl, root.cert, new Date('2024-01-15Z'), 'crl');
  await assert.rejects(verifyCrl(crl, root.cert, new Date('2024-03-01Z'), 'crl'), hasCode(ErrorCode.CollateralExpired));
  await assert.rejects(verifyCrl(crl, imposter.cert, new Date('2024-01-15Z'), 'crl'), hasCode(ErrorCode.CollateralInvalid));
  assert.throws(() => assertNotRevoked(crl, leaf.cert, 'leaf'), hasCode(ErrorCode.CertificateRevoked));
  assert.doesNotThrow(() => assertNotRevoked(crl, root.cert, 'root'));
});
