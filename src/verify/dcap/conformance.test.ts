/**
 * Conformance over every TDX and SGX entry of the shared corpus MANIFEST, each at its verify_at with
 * the collateral set its `expected` text names (read at test time; nothing is copied).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestError, ErrorCode, fromHex, parseCertificates, parseCrl, fingerprint, toHex, verifyIssuedBy, type X509Certificate } from '../../core/index.ts';
import { classifyCollateral, type CollateralSet } from '../../collateral/index.ts';
import { INTEL_SGX_ROOT_CA_SHA256, gatherIntelCollateral, parsePckExtensions, parseQeIdentity, parseTcbInfo } from '../../collateral/intel/index.ts';
import { parseQuote, type DcapQuote } from '../../evidence/dcap/index.ts';
import { corpusAvailable, corpusFile, corpusText, loadManifest, type ManifestEntry } from '../../../test/support/corpus.ts';
import { tdxPlatform } from '../tdx/index.ts';
import { sgxPlatform } from '../sgx/index.ts';
import type { Verified, VerifyOptions } from '../types.ts';
import { chooseSignedJson } from './select.ts';
import { parseCcel } from './ccel.ts';

const skip = !corpusAvailable() && 'corpus not available';
const entries = skip ? [] : loadManifest().filter((e) => e.platform === 'tdx' || e.platform === 'sgx');
const byId = (id: string): ManifestEntry => {
  const e = entries.find((x) => x.id === id);
  assert.ok(e, `manifest entry ${id} missing`);
  return e;
};

const ROOT_EXTRAS = ['tdx/roots/intel_sgx_tcb_signing_2018-2025.pem', 'tdx/roots/intel_sgx_tcb_signing_2025-2032.pem', 'tdx/roots/intel_sgx_root_ca_crl_2025-03-20.der'];
const SETS: Record<string, () => string[]> = {
  gtg2023: () => byId('tdx-gtg-collateral-2023').files,
  a0625: () => [...byId('tdx-automata-collateral-0625').files, ...ROOT_EXTRAS],
  sol0725: () => [...byId('tdx-automata-solana-collateral-0725').files, ...ROOT_EXTRAS],
  qvl: () => ['tdx/dcap-qvl/tdx_quote_collateral.json'],
  qvlOutdated: () => ['tdx/dcap-qvl/tdx_quote_outdated_collateral.json'],
  tinfoil: () => byId('tdx-tinfoil-collateral-2026-01').files,
  trustee: () => ['tdx/trustee/tcbInfo.json', 'tdx/trustee/enclaveIdentity.json', ...ROOT_EXTRAS],
  sgxQvl: () => ['sgx/dcap-qvl/sgx_quote_collateral.json'],
  sgx0825: () => [...byId('sgx-automata-collateral-0825').files, ...ROOT_EXTRAS],
  sgx0625: () => [...byId('sgx-automata-collateral-0625').files, 'tdx/automata/onchain_test_platform_crl_0625.der', ...ROOT_EXTRAS],
};

function collateral(set: string, extra: string[] = []): CollateralSet {
  return classifyCollateral([...SETS[set]!(), ...extra].map((f) => ({ name: f, bytes: corpusFile(f) })));
}

type Expect = { status: string; advisories?: string[] } | { code: string; status?: string };
interface Run {
  file: string;
  set: string;
  /** Extra collateral files (e.g. a CCEL event log). */
  extra?: string[];
  check?: (v: Verified) => void;
  at?: string;
  options?: VerifyOptions;
  expect: Expect;
}

async function run(entry: ManifestEntry, r: Run): Promise<Verified | undefined> {
  const at = r.at ?? entry.verify_at!;
  const bytes = corpusFile(r.file);
  const platform = entry.platform === 'sgx' ? sgxPlatform : tdxPlatform;
  const label = `${entry.id} ${r.file} with ${r.set} at ${at}`;
  if ('code' in r.expect) {
    const want = r.expect;
    await assert.rejects(
      async () => platform.verify(platform.parse(bytes), { now: new Date(at), collateral: collateral(r.set, r.extra), ...(r.options ? { options: r.options } : {}) }),
      (e: unknown) => {
        assert.ok(e instanceof AttestError, `${label}: ${String(e)}`);
        assert.equal(e.code, want.code, `${label}: ${e.message}`);
        if (want.status) assert.equal(e.details.status, want.status, label);
        return true;
      },
    );
    return undefined;
  }
  const v = await platform.verify(platform.parse(bytes), { now: new Date(at), collateral: collateral(r.set, r.extra), ...(r.options ? { options: r.options } : {}) });
  r.check?.(v);
  assert.equal(v.tcb?.status, r.expect.status, label);
  if (r.expect.advisories) assert.deepEqual(v.tcb?.advisoryIds, [...r.expect.advisories].sort(), label);
  if (r.expect.status.startsWith('OutOfDate')) assert.ok(v.warnings.some((w) => w.startsWith('TCB OUTOFDATE')), `${label}: loud OutOfDate warning`);
  return v;
}

const NO_MATCH = { code: ErrorCode.TcbUnacceptable, status: 'NoMatchingLevel' };
const SA3 = ['INTEL-SA-00960', 'INTEL-SA-00982', 'INTEL-SA-00986'];

/** Per evidence entry: which runs its `expected` text asks for. */
const EVIDENCE: Record<string, (e: ManifestEntry) => Run[]> = {
  'tdx-gtg-spr-e4-v4': (e) => [
    // Signatures and chain verify (upstream); the unmodified 2023 TCB Info has no level it meets.
    { file: e.files[0]!, set: 'gtg2023', expect: NO_MATCH },
    { file: e.files[0]!, set: 'gtg2023', at: '2053-07-01T01:00:00Z', expect: { code: ErrorCode.CertificateInvalid } },
  ],
  'tdx-gtg-v5-emr': (e) => [{ file: e.files[0]!, set: 'qvlOutdated', at: '2026-03-20T10:41:14Z', expect: { status: 'UpToDate', advisories: [] } }],
  'tdx-gtg-cos113-ccel': (e) => [
    { file: e.files[0]!, set: 'a0625', expect: { status: 'OutOfDate', advisories: SA3 } },
    // The CCEL (supplied among the collateral, detected by content) replays to RTMR0..2; nonce.dat is REPORTDATA.
    {
      file: e.files[0]!,
      set: 'a0625',
      extra: ['tdx/go-tdx-guest/ccel/ccel_data.dat', 'tdx/go-tdx-guest/ccel/ccel_table.dat'],
      expect: { status: 'OutOfDate', advisories: SA3 },
      check: (v) => {
        const c = v.claims.platformClaims.ccel as { source: string; compared: number[]; eventCount: number; rtmr: string[] };
        assert.equal(c.source, 'tdx/go-tdx-guest/ccel/ccel_data.dat');
        assert.deepEqual(c.compared, [0, 1, 2]);
        assert.ok(c.eventCount > 10);
        assert.equal(c.rtmr[0], v.claims.measurements['tdx.rtmr0']);
        assert.equal(v.claims.reportData, toHex(corpusFile('tdx/go-tdx-guest/ccel/nonce.dat')));
      },
    },
  ],
  'tdx-qvl-uptodate-v4': (e) => [{ file: e.files[0]!, set: 'qvl', expect: { status: 'UpToDate', advisories: [] } }],
  'tdx-qvl-outdated-v5': (e) => [{ file: e.files[0]!, set: 'qvlOutdated', expect: NO_MATCH }],
  'tdx-qvl-tdx-quote': (e) => [{ file: e.files[0]!, set: 'qvl', expect: NO_MATCH }],
  'tdx-qvl-quote-from-tappd': (e) => [{ file: e.files[0]!, set: 'qvl', expect: NO_MATCH }],
  'tdx-trustee-quote4': (e) => [
    // TDATTRIBUTES.DEBUG is set in this sample: rejected by default, UpToDate when debug is allowed.
    { file: e.files[0]!, set: 'gtg2023', expect: { code: ErrorCode.DebugNotAllowed } },
    { file: e.files[0]!, set: 'gtg2023', options: { allowDebug: true }, expect: { status: 'UpToDate', advisories: [] } },
    // trustee's CCEL_data sits beside this quote for claim parsing only: it does not replay to the
    // quote's RTMR0 (trustee does not compare them), so supplying it must fail the binding.
    { file: e.files[0]!, set: 'gtg2023', extra: ['tdx/trustee/CCEL_data'], options: { allowDebug: true }, expect: { code: ErrorCode.BindingMismatch } },
  ],
  'tdx-trustee-quote5': (e) => [
    { file: e.files[0]!, set: 'a0625', expect: NO_MATCH },
    { file: e.files[0]!, set: 'qvlOutdated', at: '2026-03-20T10:41:14Z', expect: NO_MATCH },
  ],
  'tdx-trustee-quote6': (e) => [
    { file: e.files[0]!, set: 'trustee', expect: { status: 'OutOfDate', advisories: [] } },
    { file: e.files[0]!, set: 'tinfoil', at: '2026-02-01T00:00:00Z', expect: { status: 'OutOfDate' } },
  ],
  'tdx-automata-onchain-v4': (e) => [
    { file: e.files[0]!, set: 'a0625', expect: { status: 'OutOfDate', advisories: SA3 } },
    { file: e.files[0]!, set: 'sol0725', at: '2025-07-10T00:00:00Z', expect: { status: 'OutOfDate', advisories: SA3 } },
  ],
  // Only the TD quote of the Azure sample is used here (the vTPM wrapping belongs to az-tdx-vtpm).
  'tdx-azure-vtpm': () => [
    { file: 'tdx/azure-tdx-vtpm/td-quote.bin', set: 'a0625', at: '2025-06-05T03:45:00Z', expect: NO_MATCH },
    { file: 'tdx/azure-tdx-vtpm/td-quote.bin', set: 'sol0725', at: '2025-07-10T00:00:00Z', expect: NO_MATCH },
  ],
  'tdx-dstack-quote-report': () => [
    { file: 'tdx/dstack/quote-report.quote.bin', set: 'tinfoil', expect: { status: 'UpToDate', advisories: [] } },
    { file: 'tdx/dstack/quote-report.quote.bin', set: 'qvlOutdated', at: '2026-03-20T10:41:14Z', expect: { status: 'UpToDate', advisories: [] } },
  ],
  'sgx-qvl-v3': (e) => [{ file: e.files[0]!, set: 'sgxQvl', expect: { status: 'ConfigurationAndSWHardeningNeeded', advisories: ['INTEL-SA-00289', 'INTEL-SA-00615'] } }],
  'sgx-trustee-occlum-v3-debug': (e) => [
    { file: e.files[0]!, set: 'sgx0825', expect: { code: ErrorCode.DebugNotAllowed } },
    { file: e.files[0]!, set: 'sgx0825', options: { allowDebug: true }, expect: { status: 'OutOfDate' } },
    { file: e.files[0]!, set: 'sgx0625', at: '2025-06-05T03:45:00Z', options: { allowDebug: true }, expect: { status: 'OutOfDate', advisories: [] } },
  ],
};

/** Derived single-byte mutations of SPR_E4 and the error class each must produce. */
const DERIVED: Record<string, string> = {
  version_byte: ErrorCode.UnsupportedVersion,
  signed_data_size: ErrorCode.EvidenceMalformed,
  cert_chain_byte: ErrorCode.CertificateInvalid,
  root_cert_byte: ErrorCode.RootNotTrusted,
  intermediate_cert_byte: ErrorCode.CertificateInvalid,
  pck_cert_byte: ErrorCode.CertificateInvalid,
  header_byte: ErrorCode.SignatureInvalid,
  td_quote_body_byte: ErrorCode.SignatureInvalid,
};

/** Manifest fields that describe something other than the quote and its PCK chain. */
const NON_QUOTE_FIELDS = new Set(['tpm_nonce', 'tpm_pcr0']);

function checkFields(entry: ManifestEntry, q: DcapQuote): void {
  const f = entry.expected.fields as Record<string, unknown> | undefined;
  if (!f) return;
  const pck = parsePckExtensions(parseCertificates(q.pckChainPem)[0]!);
  const ca = parseCertificates(q.pckChainPem)[1]!;
  const pckCert = parseCertificates(q.pckChainPem)[0]!;
  const got: Record<string, unknown> = {
    pck_not_before: pckCert.notBefore.toISOString().replace('.000Z', '+00:00'),
    pck_not_after: pckCert.notAfter.toISOString().replace('.000Z', '+00:00'),
    quote_version: q.header.version,
    tee_type: `0x${q.header.teeType.toString(16)}`,
    fmspc: pck.fmspc,
    pcesvn: pck.pceSvn,
    pck_cpusvn_components: pck.cpuSvnComponents,
    pck_ca: /Platform CA/.test(ca.subject) ? 'platform' : 'processor',
  };
  if (q.body.kind === 'sgx') {
    const b = q.body;
    Object.assign(got, {
      mrenclave: toHex(b.mrEnclave), mrsigner: toHex(b.mrSigner), isvprodid: b.isvProdId, isvsvn: b.isvSvn,
      attributes: toHex(b.attributes), reportdata: toHex(b.reportData), cpusvn: toHex(b.cpuSvn),
    });
  } else {
    const b = q.body;
    Object.assign(got, {
      tee_tcb_svn: toHex(b.teeTcbSvn), mrtd: toHex(b.mrTd), rtmr0: toHex(b.rtmr[0]), rtmr1: toHex(b.rtmr[1]), rtmr2: toHex(b.rtmr[2]), rtmr3: toHex(b.rtmr[3]),
      report_data: toHex(b.reportData), td_attributes: toHex(b.tdAttributes), xfam: toHex(b.xfam), mrseam: toHex(b.mrSeam), mrsignerseam: toHex(b.mrSignerSeam), mrconfigid: toHex(b.mrConfigId),
      ...(b.teeTcbSvn2 ? { tee_tcb_svn2: toHex(b.teeTcbSvn2) } : {}),
    });
  }
  if (typeof f.trailing_zero_bytes_after_signature_data === 'number') got.trailing_zero_bytes_after_signature_data = q.trailingBytes;
  for (const [k, v] of Object.entries(got)) {
    if (k in f) assert.deepEqual(v, f[k], `${entry.id} field ${k}`);
  }
  if (typeof f.body === 'string') assert.ok(f.body.startsWith(`${q.body.kind.toUpperCase()} `), `${entry.id} body ${q.body.kind} vs ${f.body}`);
  // Every quote/PCK field the manifest lists is compared (a renamed key must not pass silently).
  const unchecked = Object.keys(f).filter((k) => !(k in got) && k !== 'body' && !NON_QUOTE_FIELDS.has(k));
  assert.deepEqual(unchecked, [], `${entry.id}: manifest fields not compared`);
}

const pinnedRoot = async (): Promise<X509Certificate> => {
  const root = parseCertificates(corpusFile('tdx/roots/intel_sgx_root_ca.pem'))[0]!;
  assert.equal(await fingerprint(root), INTEL_SGX_ROOT_CA_SHA256);
  return root;
};

/** Collateral entries: every signed JSON verifies at verify_at (signer chosen from the set + roots), CRLs too. */
async function checkCollateralEntry(entry: ManifestEntry): Promise<void> {
  const root = await pinnedRoot();
  const files = [...entry.files, ...ROOT_EXTRAS];
  const set = classifyCollateral(files.map((f) => ({ name: f, bytes: corpusFile(f) })));
  const intel = gatherIntelCollateral(set);
  const now = new Date(entry.verify_at!);
  const pool = [...intel.certificates, ...parseCertificates(corpusText('tdx/roots/intel_sgx_pck_platform_ca.pem')), ...parseCertificates(corpusText('tdx/roots/intel_sgx_pck_processor_ca.pem'))];
  const inEntry = (source: string): boolean => entry.files.some((f) => source.startsWith(f));
  const tcbs = intel.tcbInfos.filter((c) => inEntry(c.source));
  const qes = intel.qeIdentities.filter((c) => inEntry(c.source));
  assert.ok(tcbs.length + qes.length > 0, `${entry.id}: no signed JSON found`);
  for (const c of tcbs) await chooseSignedJson([{ candidate: c, parsed: parseTcbInfo(c.value) }], pool, [root], now, c.source, false);
  for (const c of qes) await chooseSignedJson([{ candidate: c, parsed: parseQeIdentity(c.value) }], pool, [root], now, c.source, false);
  for (const c of intel.crls.filter(() => true)) {
    const issuer = [root, ...pool].find((x) => x.subject === c.crl.issuer);
    assert.ok(issuer, `${entry.id}: CRL issuer ${c.crl.issuer} unknown`);
    assert.ok(await c.crl.verify({ publicKey: issuer.publicKey }), `${entry.id}: CRL signature`);
  }
}

test('every TDX/SGX manifest entry is covered', { skip }, async (t) => {
  assert.ok(entries.length >= 30, `only ${entries.length} tdx/sgx entries`);
  for (const entry of entries) {
    await t.test(entry.id, async () => {
      if (entry.kind === 'evidence' && entry.id.startsWith('tdx-derived-')) {
        const key = Object.keys(DERIVED).find((k) => entry.files[0]!.includes(k));
        assert.ok(key, `no derived rule for ${entry.id}`);
        assert.equal(entry.expected.verdict, 'invalid');
        await assert.rejects(
          async () => tdxPlatform.verify(tdxPlatform.parse(corpusFile(entry.files[0]!)), { now: new Date(entry.verify_at!), collateral: collateral('gtg2023') }),
          (e: unknown) => e instanceof AttestError && e.code === DERIVED[key],
        );
        return;
      }
      if (entry.id === 'tdx-gtg-tdreport') {
        // A raw 1024-byte TDREPORT is MAC-protected and not a quote: the quote parser must refuse it.
        const b = corpusFile(entry.files[0]!);
        assert.equal(b.length, 1024);
        assert.throws(() => parseQuote(b), (e: unknown) => e instanceof AttestError);
        return;
      }
      if (entry.kind === 'evidence') {
        const rule = EVIDENCE[entry.id];
        assert.ok(rule, `no conformance rule for evidence ${entry.id}`);
        const runs = rule(entry);
        const q = parseQuote(corpusFile(runs[0]!.file));
        checkFields(entry, q);
        for (const r of runs) await run(entry, r);
        return;
      }
      if (entry.kind === 'root-cert') {
        const der = corpusFile(entry.files.find((f) => f.endsWith('.der'))!);
        const root = parseCertificates(der)[0]!;
        assert.equal(await fingerprint(root), INTEL_SGX_ROOT_CA_SHA256);
        await verifyIssuedBy(root, root, 'root');
        return;
      }
      if (entry.kind === 'intermediate') {
        const root = await pinnedRoot();
        const cert = parseCertificates(corpusText(entry.files[0]!))[0]!;
        await verifyIssuedBy(cert, root, 'intermediate');
        if (entry.valid_window) {
          assert.equal(cert.notBefore.toISOString().replace('.000', ''), entry.valid_window[0]);
          assert.equal(cert.notAfter.toISOString().replace('.000', ''), entry.valid_window[1]);
        }
        return;
      }
      if (entry.kind === 'crl') {
        const root = await pinnedRoot();
        const crl = parseCrl(corpusFile(entry.files[0]!));
        assert.ok(await crl.verify({ publicKey: root.publicKey }));
        const w = (entry.expected as { window?: string[] }).window!;
        assert.equal(crl.thisUpdate.toISOString().replace('.000', ''), w[0]);
        return;
      }
      if (entry.kind === 'cert-chain-bundle') {
        const root = parseCertificates(corpusFile('tdx/automata/pccs_root_ca.der'))[0]!;
        assert.equal(await fingerprint(root), INTEL_SGX_ROOT_CA_SHA256);
        for (const f of ['tdx/automata/pccs_platform_ca.der', 'tdx/automata/pccs_tcb_signing.der']) await verifyIssuedBy(parseCertificates(corpusFile(f))[0]!, root, f);
        assert.ok(await parseCrl(corpusFile('tdx/automata/pccs_root_ca.crl.der')).verify({ publicKey: root.publicKey }));
        return;
      }
      if (entry.kind === 'tcb-info') {
        await checkCollateralEntry(entry);
        return;
      }
      if (entry.kind === 'event-log') {
        // OVMF CCEL: a crypto-agile SHA-384 log that replays (no quote to compare it with).
        const log = parseCcel(corpusFile(entry.files[0]!));
        assert.ok(log.events.length > 5);
        assert.ok(log.events.some((ev) => ev.pcrIndex >= 1 && ev.pcrIndex <= 4));
        return;
      }
      assert.fail(`unhandled manifest entry ${entry.id} (${entry.kind})`);
    });
  }
});

test('the hex copies of the dcap-qvl quotes decode to the binary files', { skip }, () => {
  for (const base of ['tdx/dcap-qvl/tdx-quote', 'tdx/dcap-qvl/quote-from-tappd']) {
    assert.equal(toHex(fromHex(corpusText(`${base}.hex`).trim())), toHex(corpusFile(`${base}.from-hex.bin`)));
  }
});
