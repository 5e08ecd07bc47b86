import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, ErrorCode, fromHex, type PlatformId } from '../../core/index.ts';
import { classifyCollateral, emptyCollateral, type CollateralItem } from '../../collateral/index.ts';
import { parseAzureVtpmEvidence, parseHclReport } from '../../evidence/azure/index.ts';
import type { VerifyContext } from '../../verify/types.ts';
import { detectPlatform, verifyEvidence } from '../index.ts';
import { corpusAvailable, corpusFile, loadManifest } from '../../../test/support/corpus.ts';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CORPUS_DIR } from '../../../test/support/corpus.ts';
import { hasCode } from '../../../test/support/errors.ts';

const skip = !corpusAvailable() && 'corpus not available';
const NONCE = new TextEncoder().encode('challenge');

function items(...rels: string[]): CollateralItem[] {
  const out: CollateralItem[] = [];
  for (const rel of rels) {
    if (rel.endsWith('/')) {
      for (const n of readdirSync(join(CORPUS_DIR, rel)).sort()) out.push({ name: rel + n, bytes: corpusFile(rel + n) });
    } else out.push({ name: rel, bytes: corpusFile(rel) });
  }
  return out;
}

function ctx(at: string, collateral: CollateralItem[], nonce: Uint8Array | null = NONCE): VerifyContext {
  return { now: new Date(at), collateral: classifyCollateral(collateral, emptyCollateral()), offline: true, ...(nonce ? { expected: { nonce } } : {}) };
}

const SNP_ROOTS = ['snp/roots/ark_milan.pem', 'snp/roots/ask_milan.pem'];

test('HCL report parsing: layout, runtime claims and AK', { skip }, () => {
  const hcl = parseHclReport(corpusFile('snp/azure-snp-vtpm/hcl-report.bin'));
  assert.equal(hcl.reportType, 'snp');
  assert.equal(hcl.hashType, 1);
  assert.equal(hcl.hwReport.length, 1184);
  assert.deepEqual(hcl.hwReport, corpusFile('snp/azure-snp-vtpm/hcl-report.snp-report.bin'));
  assert.equal(hcl.akPub.kty, 'RSA');
  const tdx = parseHclReport(corpusFile('tdx/azure-tdx-vtpm/hcl-report.bin'));
  assert.equal(tdx.reportType, 'tdx');
  assert.equal(tdx.hwReport.length, 1024);
  // the derived 0x540 sample corrupts the runtime-claims JSON that holds HCLAkPub ("Failed to get AKpub")
  assert.throws(() => parseHclReport(corpusFile('snp/derived-invalid/azure_hcl-report_0x540_zero.bin')), hasCode(ErrorCode.EvidenceMalformed));
});

test('Azure SNP vTPM conformance over the corpus', { skip }, async () => {
  const entries = loadManifest().filter((e) => e.kind === 'evidence' && (e.id.startsWith('snp-azure') || e.id.startsWith('snp-derived-azure')));
  assert.equal(entries.length, 6);
  for (const e of entries) {
    const evidence = corpusFile(e.files[0]!);
    const extra = e.files[0]!.endsWith('.bin') ? ['snp/azure-snp-vtpm/vcek.pem', 'snp/azure-snp-vtpm/tpm-quote-v1.json'] : [];
    const c = ctx(e.verify_at!, items(...extra, ...SNP_ROOTS));
    if (e.expected.verdict === 'valid') {
      const v = await verifyEvidence(evidence, c);
      assert.equal(v.platform, 'az-snp-vtpm', e.id);
      const f = e.expected.fields as Record<string, string>;
      assert.equal(v.claims.measurements['snp.measurement'], f.measurement, e.id);
      assert.equal(v.claims.measurements['tpm.sha256.pcr0'], f.tpm_pcr0, e.id);
      assert.equal(v.claims.platformClaims.hardwareReportData, f.report_data, e.id);
      assert.equal(v.claims.reportData, f.tpm_nonce_expected, e.id);
      assert.equal(v.claims.instanceId, f.chip_id, e.id);
    } else {
      await assert.rejects(verifyEvidence(evidence, c, 'az-snp-vtpm'), (err: unknown) => {
        assert.ok(err instanceof AttestError, e.id);
        const expectedCodes: Record<string, string[]> = {
          'snp-derived-azure_hcl-report_0x1a6_zero': [ErrorCode.SignatureInvalid, ErrorCode.CertificateInvalid, ErrorCode.BindingMismatch],
          'snp-derived-azure_hcl-report_0x6e0_plus1': [ErrorCode.BindingMismatch],
          'snp-derived-azure_hcl-report_0x540_zero': [ErrorCode.EvidenceMalformed],
        };
        assert.ok(expectedCodes[e.id]!.includes(err.code), `${e.id}: ${err.code} ${err.message}`);
        return true;
      });
    }
  }
});

test('Azure SNP vTPM rejects a wrong nonce, a foreign VCEK, a missing TPM quote and tampered PCRs', { skip }, async () => {
  const hclBin = corpusFile('snp/azure-snp-vtpm/hcl-report.bin');
  const at = '2024-01-01T00:00:00Z';
  await assert.rejects(verifyEvidence(hclBin, ctx(at, items('snp/azure-snp-vtpm/vcek.pem', 'snp/azure-snp-vtpm/tpm-quote-v1.json', ...SNP_ROOTS), new TextEncoder().encode('other'))), hasCode(ErrorCode.BindingMismatch));
  await assert.rejects(verifyEvidence(hclBin, ctx(at, items('snp/azure-snp-vtpm/vcek.pem', ...SNP_ROOTS))), hasCode(ErrorCode.CollateralUnavailable));
  // a quote from another VM (evidence-v1's) is signed by another AK
  const other = JSON.parse(new TextDecoder().decode(corpusFile('snp/azure-snp-vtpm/evidence-v1.json'))) as { tpm_quote: unknown };
  const otherQuote = { name: 'q.json', bytes: new TextEncoder().encode(JSON.stringify(other.tpm_quote)) };
  await assert.rejects(verifyEvidence(hclBin, ctx(at, [...items('snp/azure-snp-vtpm/vcek.pem', ...SNP_ROOTS), otherQuote])), hasCode(ErrorCode.SignatureInvalid));
  const q = JSON.parse(new TextDecoder().decode(corpusFile('snp/azure-snp-vtpm/tpm-quote-v1.json'))) as { pcrs: string[] };
  q.pcrs[3] = '00'.repeat(32);
  const tampered = { name: 'q.json', bytes: new TextEncoder().encode(JSON.stringify(q)) };
  await assert.rejects(verifyEvidence(hclBin, ctx(at, [...items('snp/azure-snp-vtpm/vcek.pem', ...SNP_ROOTS), tampered])), hasCode(ErrorCode.BindingMismatch));
  // without a nonce the quote verifies but a loud warning says freshness was not checked
  const v = await verifyEvidence(hclBin, ctx(at, items('snp/azure-snp-vtpm/vcek.pem', 'snp/azure-snp-vtpm/tpm-quote-v1.json', ...SNP_ROOTS), null));
  assert.ok(v.warnings.some((w) => w.includes('freshness')));
});

test('Azure TDX vTPM: vTPM binding verifies; the TD quote TCB is not supported with the 2025 collateral', { skip }, async () => {
  const e = loadManifest().find((x) => x.id === 'tdx-azure-vtpm')!;
  const intel = items('tdx/roots/', 'tdx/automata/0625_qe_td.json', 'tdx/automata/0625_tcbinfov3_00806f050000.json', 'tdx/automata/onchain_test_platform_crl_0625.der');
  for (const f of ['tdx/azure-tdx-vtpm/evidence-v0.json', 'tdx/azure-tdx-vtpm/evidence-v1.json']) {
    const bytes = corpusFile(f);
    assert.equal(detectPlatform(bytes).id as PlatformId, 'az-tdx-vtpm');
    // automata's 0625 collateral (same FMSPC 00806f050000) is current at 2025-06-05; its PCK CRL has
    // lapsed by the manifest's 2025-07-10, which must fail as stale collateral rather than pass.
    await assert.rejects(verifyEvidence(bytes, ctx('2025-06-05T03:45:00Z', intel)), hasCode(ErrorCode.TcbUnacceptable));
    await assert.rejects(verifyEvidence(bytes, ctx(e.verify_at!, intel)), hasCode(ErrorCode.CollateralExpired));
  }
  // the binding half on its own: the TD quote's REPORT_DATA carries SHA-256 of the runtime claims
  const ev = parseAzureVtpmEvidence(corpusFile('tdx/azure-tdx-vtpm/evidence-v1.json'));
  const f = e.expected.fields as Record<string, string>;
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', ev.hcl.varData as Uint8Array<ArrayBuffer>));
  assert.deepEqual(hash, fromHex(f.report_data!).subarray(0, 32));
  // hcl-report byte 0x880 += 1 ("TDX Quote report data mismatch"): the runtime claims no longer hash to REPORT_DATA.
  const hcl = corpusFile('tdx/azure-tdx-vtpm/hcl-report.bin').slice();
  hcl[0x880] = (hcl[0x880]! + 1) & 0xff;
  const mutated = parseHclReport(hcl);
  const h2 = new Uint8Array(await crypto.subtle.digest('SHA-256', mutated.varData as Uint8Array<ArrayBuffer>));
  assert.notDeepEqual(h2, fromHex(f.report_data!).subarray(0, 32));
});

test('Azure evidence parsers never throw anything but AttestError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (b) => {
      const bytes = b.length > 4 ? Uint8Array.from([0x48, 0x43, 0x4c, 0x41, ...b]) : b;
      try {
        parseAzureVtpmEvidence(bytes);
      } catch (e) {
        assert.ok(e instanceof AttestError, String(e));
      }
    }),
    { numRuns: 200 },
  );
  for (const text of ['{}', '{"version":2}', '{"hcl_report":"@@","tpm_quote":{}}', '{"report":[1,2,300],"quote":{}}', '[]']) {
    assert.throws(() => parseAzureVtpmEvidence(new TextEncoder().encode(text)), hasCode(ErrorCode.EvidenceMalformed));
  }
});
