/**
 * Conformance over every SNP entry of the shared corpus MANIFEST (except the Azure vTPM ones, which
 * the az-snp-vtpm platform owns): valid samples verify at verify_at with their VCEK/VLEK and the
 * product roots, offline; invalid samples are rejected with the expected error code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { AttestError, ErrorCode, parseCertificate, parseCertificates, verifyChain } from '../../core/index.ts';
import { classifyCollateral, type CollateralItem } from '../../collateral/index.ts';
import { AMD_ARK_SHA256, parseKdsCertChain, productFromName, type SnpProduct } from '../../collateral/snp/index.ts';
import { corpusAvailable, corpusFile, corpusPath, loadManifest, type ManifestEntry } from '../../../test/support/corpus.ts';
import { parseAmdExtensions, commonName } from './extensions.ts';
import { snpPlatform } from './verify.ts';
import type { VerifyContext } from '../types.ts';

const skip = !corpusAvailable() && 'corpus not available';
const isAzure = (e: ManifestEntry): boolean => e.id.startsWith('snp-azure-') || e.id.startsWith('snp-derived-azure_');

function rootsItems(): CollateralItem[] {
  return readdirSync(corpusPath('snp/roots'))
    .sort()
    .map((f) => ({ name: `snp/roots/${f}`, bytes: corpusFile(`snp/roots/${f}`) }));
}

/** Invalid derived samples carry no verify_at; they pair with a valid sample whose time we use. */
function timeFor(e: ManifestEntry, all: ManifestEntry[]): Date {
  if (e.verify_at) return new Date(e.verify_at);
  const endorsement = e.files.slice(1).find((f) => !f.endsWith('.json'));
  const pair = all.find((x) => x.expected.verdict === 'valid' && x.verify_at && endorsement && x.files.includes(endorsement));
  return new Date(pair?.verify_at ?? '2025-06-01T00:00:00Z');
}

function ctxFor(e: ManifestEntry, all: ManifestEntry[], extra: Partial<VerifyContext> = {}): VerifyContext {
  const items = [...rootsItems(), ...e.files.slice(1).filter((f) => !f.endsWith('.json')).map((f) => ({ name: f, bytes: corpusFile(f) }))];
  return { now: timeFor(e, all), collateral: classifyCollateral(items), offline: true, ...extra };
}

const entries = corpusAvailable() ? loadManifest().filter((e) => e.platform === 'snp' && !isAzure(e)) : [];

test('the manifest has the SNP samples this suite expects', { skip }, () => {
  assert.ok(entries.filter((e) => e.kind === 'evidence').length >= 10);
});

for (const e of entries.filter((x) => x.kind === 'evidence')) {
  test(`conformance ${e.id} (${e.expected.verdict})`, { skip }, async () => {
    const all = loadManifest();
    const bytes = corpusFile(e.files[0]!);
    assert.ok(snpPlatform.detect(bytes), 'detected as SNP');
    const evidence = snpPlatform.parse(bytes);
    const fields = e.expected.fields ?? {};
    if (fields.measurement) assert.equal(Buffer.from(evidence.report.measurement).toString('hex'), fields.measurement);
    if (fields.chip_id) assert.equal(Buffer.from(evidence.report.chipId).toString('hex'), fields.chip_id);
    if (fields.report_data) assert.equal(Buffer.from(evidence.report.reportData).toString('hex'), fields.report_data);
    if (fields.reported_tcb) assert.equal(`0x${evidence.report.reportedTcb.raw.toString(16).padStart(16, '0')}`, fields.reported_tcb);
    if (fields.policy) assert.equal(`0x${evidence.report.policy.raw.toString(16)}`, fields.policy);
    if (fields.version !== undefined) assert.equal(evidence.report.version, fields.version);
    if (fields.vmpl !== undefined) assert.equal(evidence.report.vmpl, fields.vmpl);
    if (fields.cpuid_mod_id) assert.equal(evidence.report.cpuid?.model, Number(fields.cpuid_mod_id));
    if (fields.current_build !== undefined) assert.equal(evidence.report.currentVersion.build, fields.current_build);
    if (fields.current_major !== undefined) assert.equal(evidence.report.currentVersion.major, fields.current_major);
    if (fields.current_minor !== undefined) assert.equal(evidence.report.currentVersion.minor, fields.current_minor);
    if (fields.cpuid_fam_id) assert.equal(evidence.report.cpuid?.family, Number(fields.cpuid_fam_id));
    if (fields.cpuid_step) assert.equal(evidence.report.cpuid?.stepping, Number(fields.cpuid_step));
    if (fields.host_data) assert.equal(Buffer.from(evidence.report.hostData).toString('hex'), fields.host_data);

    const ctx = ctxFor(e, all);
    if (e.expected.verdict === 'valid') {
      // The go-sev-guest sample is a debug guest (policy bit 19): rejected by default, accepted with allowDebug.
      if (evidence.report.policy.debug) {
        await assert.rejects(snpPlatform.verify(evidence, ctx), (err: unknown) => err instanceof AttestError && err.code === ErrorCode.DebugNotAllowed);
        ctx.options = { allowDebug: true };
      }
      const v = await snpPlatform.verify(evidence, ctx);
      assert.equal(v.platform, 'snp');
      assert.equal(v.claims.revocation, 'absent');
      assert.ok(v.warnings.some((w) => w.includes('revocation not checked')), 'offline without a CRL warns');
      assert.equal(v.claims.measurements['snp.measurement'], fields.measurement);
      assert.equal(v.claims.reportData, fields.report_data);
      assert.equal(v.tcb?.status, 'UpToDate');
      assert.equal(v.chain.at(-1)!.sha256, AMD_ARK_SHA256[v.claims.platformClaims.product as SnpProduct]);
      // With --require-crl and no CRL: a failure, not a warning.
      await assert.rejects(snpPlatform.verify(evidence, { ...ctx, options: { ...ctx.options, requireCrl: true } }), (err: unknown) => err instanceof AttestError && err.code === ErrorCode.CollateralUnavailable);
      // The endorsement expires: one day after its notAfter the same evidence is rejected.
      if (e.valid_window) {
        const after = new Date(Date.parse(e.valid_window[1]) + 86_400_000);
        await assert.rejects(snpPlatform.verify(evidence, { ...ctx, now: after }), (err: unknown) => err instanceof AttestError && err.code === ErrorCode.CertificateInvalid);
      }
    } else if (e.expected.verdict === 'unknown-offline') {
      await assert.rejects(snpPlatform.verify(evidence, ctx), (err: unknown) => err instanceof AttestError && err.code === ErrorCode.CollateralUnavailable);
    } else {
      assert.equal(e.expected.verdict, 'invalid');
      const want = /TCB mismatch/.test(e.expected.error ?? '') ? ErrorCode.CertificateInvalid : ErrorCode.SignatureInvalid;
      await assert.rejects(snpPlatform.verify(evidence, ctx), (err: unknown) => {
        assert.ok(err instanceof AttestError, String(err));
        assert.equal(err.code, want, err.message);
        if (want === ErrorCode.CertificateInvalid) assert.equal(err.details.field, 'blSPL');
        return true;
      });
    }
  });
}

/** Certificates: roots self-signed and pinned, intermediates under their ARK, leaves under their ASK. */
function amdPins(): { label: string; fingerprints: Set<string> } {
  return { label: 'AMD ARK', fingerprints: new Set(Object.values(AMD_ARK_SHA256)) };
}

function productOfCn(cn: string | undefined): SnpProduct {
  const p = productFromName(cn);
  assert.ok(p, `product of ${cn}`);
  return p;
}

function arkFor(product: SnpProduct) {
  return parseCertificate(corpusFile(`snp/roots/ark_${product.toLowerCase()}.pem`));
}

for (const e of entries.filter((x) => x.kind !== 'evidence' && x.kind !== 'launch-digest-vector')) {
  test(`conformance ${e.id} (${e.kind}, ${e.expected.verdict})`, { skip }, async () => {
    const file = e.files[0]!;
    const at = e.verify_at ? new Date(e.verify_at) : e.valid_window ? new Date(Date.parse(e.valid_window[0]) + 86_400_000) : new Date('2025-06-01T00:00:00Z');
    const verdict = async (fn: () => Promise<unknown>): Promise<void> => {
      if (e.expected.verdict === 'valid') await fn();
      else await assert.rejects(fn, (err: unknown) => err instanceof AttestError && err.code === ErrorCode.CertificateInvalid);
    };
    if (e.kind === 'root-cert') {
      const ark = parseCertificate(corpusFile(file));
      await verdict(() => verifyChain([ark, ark], amdPins(), at, ['ark', 'ark']));
    } else if (e.kind === 'intermediate') {
      const inter = parseCertificate(corpusFile(file));
      await verdict(() => verifyChain([inter, arkFor(productOfCn(commonName(inter.issuer)))], amdPins(), at, ['ask', 'ark']));
    } else if (e.kind === 'cert-chain-bundle') {
      const { intermediate, ark } = parseKdsCertChain(corpusFile(file));
      await verdict(() => verifyChain([intermediate, ark], amdPins(), at, ['ask', 'ark']));
    } else if (e.kind === 'leaf-cert') {
      const leaf = parseCertificate(corpusFile(file));
      const product = productOfCn(commonName(leaf.issuer));
      const ask = parseCertificates(corpusFile(`snp/roots/ask_${product.toLowerCase()}.pem`))[0]!;
      const ext = parseAmdExtensions(leaf);
      // Both hwID encodings parse (the trustee "invalid" VCEKs exist to show exactly that).
      if (e.id.endsWith('invalid-legacy')) assert.deepEqual([ext.hwIdEncoding, ext.ucodeSpl], ['raw', 0xa9]);
      if (e.id.endsWith('invalid-new')) assert.equal(ext.hwIdEncoding, 'octet-string');
      if (e.id.includes('invalid-legacy') || e.id.includes('invalid-new')) assert.deepEqual([...ext.hwId!], Array.from({ length: 64 }, (_, i) => i));
      if (e.id === 'snp-virtee-turin-vcek') {
        assert.deepEqual([ext.structVersion, ext.productName, ext.fmcSpl, ext.blSpl, ext.teeSpl, ext.snpSpl, ext.ucodeSpl], [1, 'Turin', 0, 0, 0, 0, 9]);
        assert.equal(Buffer.from(ext.hwId!).toString('hex'), '1e550a8ee5cf9f4d');
      }
      await verdict(() => verifyChain([leaf, ask, arkFor(product)], amdPins(), at, ['vcek', 'ask', 'ark']));
    } else {
      assert.fail(`unhandled SNP manifest kind ${e.kind}`);
    }
  });
}
