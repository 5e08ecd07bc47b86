/**
 * Azure confidential VMs: the vTPM bound to the hardware report (issue 4; Trustee az_snp_vtpm /
 * az_tdx_vtpm; corpus NOTES §2.9). A composite platform, so it lives in the platform layer, the one
 * layer allowed to combine TEE verifiers:
 *
 *  1. the hardware evidence verifies on its own: the SNP report inside the HCL report (VCEK chain to
 *     the pinned AMD root) or the TD quote (PCK chain to the pinned Intel root, TCB evaluation);
 *  2. the hardware REPORT_DATA starts with H(runtime-claims JSON) and the rest is zero, so the
 *     runtime claims — and the vTPM attestation key HCLAkPub in them — come from inside the TEE;
 *  3. on SNP the report comes from VMPL0 (the paravisor), otherwise the guest could forge (2);
 *  4. the TPM quote is signed by HCLAkPub (RSASSA-PKCS1-v1_5/SHA-256), its extraData equals the
 *     verifier's nonce, and its pcrDigest equals SHA-256 of the supplied PCR values.
 */
import {
  BindingMismatch,
  CollateralUnavailable,
  EvidenceMalformed,
  UnsupportedPlatform,
  digest,
  fromHex,
  parseCertificates,
  toHex,
  type Claims,
  type HashName,
  type JsonValue,
  type PlatformId,
} from '../../core/index.ts';
import { looksLikeDcapQuote } from '../../evidence/dcap/index.ts';
import { isHclReport, looksLikeAzureJson, parseAzureTpmQuote, parseAzureVtpmEvidence, type AzureTpmQuote, type AzureVtpmEvidence } from '../../evidence/azure/index.ts';
import { checkBinding } from '../../verify/binding.ts';
import type { Platform, Verified, VerifyContext } from '../../verify/types.ts';
import { snpPlatform } from '../../verify/snp/index.ts';
import { tdxPlatform } from '../../verify/tdx/index.ts';
import { parseTpmsAttest, verifyQuote, type PcrBanks } from '../../verify/tpm/index.ts';
import { TPM_ALG } from '../../evidence/tpm/index.ts';

const HASH_BY_TYPE: Record<number, HashName> = { 1: 'SHA-256', 2: 'SHA-384', 3: 'SHA-512' };

function tpmQuoteFrom(e: AzureVtpmEvidence, ctx: VerifyContext): AzureTpmQuote {
  if (e.tpmQuote) return e.tpmQuote;
  for (const j of ctx.collateral.json) {
    const v = j.value as Record<string, unknown> | null;
    if (v && typeof v === 'object' && 'message' in v && 'signature' in v && 'pcrs' in v) {
      return parseAzureTpmQuote(v, typeof v.message === 'string' ? 'v1-hex' : 'v0', j.name);
    }
  }
  throw new CollateralUnavailable('Azure vTPM quote', undefined, 'the evidence is a bare HCL report and no TPM quote JSON ({"signature","message","pcrs"}) was supplied as collateral');
}

function tdQuoteFrom(e: AzureVtpmEvidence, ctx: VerifyContext): Uint8Array {
  if (e.tdQuote) return e.tdQuote;
  const item = ctx.collateral.other.find((o) => looksLikeDcapQuote(o.bytes)?.teeType === 0x81);
  if (item) return item.bytes;
  throw new CollateralUnavailable('Azure TD quote', undefined, 'the evidence is a bare HCL report and no TD quote was supplied as collateral');
}

/** Verifies the hardware half and returns its result (with the caller's binding removed: REPORT_DATA carries H(runtime claims), not the caller's nonce). */
async function verifyHardware(e: AzureVtpmEvidence, ctx: VerifyContext): Promise<Verified> {
  const { expected: _ignored, ...rest } = ctx;
  if (e.hcl.reportType === 'snp') {
    const extraCerts = e.vcek ? parseCertificates(e.vcek, 'VCEK') : [];
    const hwCtx: VerifyContext = { ...rest, collateral: { ...ctx.collateral, certificates: [...extraCerts, ...ctx.collateral.certificates] } };
    const v = await snpPlatform.verify(snpPlatform.parse(e.hcl.hwReport), hwCtx);
    const vmpl = v.claims.platformClaims.vmpl;
    if (vmpl !== 0) throw new BindingMismatch('snp.vmpl', '0 (the paravisor must produce the HCL report)', String(vmpl));
    return v;
  }
  const quote = tdQuoteFrom(e, ctx);
  return tdxPlatform.verify(tdxPlatform.parse(quote), rest);
}

export async function verifyAzureVtpm(e: AzureVtpmEvidence, ctx: VerifyContext, expect: 'snp' | 'tdx'): Promise<Verified> {
  if (e.hcl.reportType !== expect) throw new UnsupportedPlatform(`the HCL report carries a ${e.hcl.reportType.toUpperCase()} report, not ${expect.toUpperCase()} (use platform az-${e.hcl.reportType}-vtpm)`);
  const quote = tpmQuoteFrom(e, ctx);
  const hw = await verifyHardware(e, ctx);

  // (2) runtime claims bound to the hardware report.
  const varHash = await digest(HASH_BY_TYPE[e.hcl.hashType]!, e.hcl.varData);
  const reportData = hw.claims.reportData !== undefined ? fromHex(hw.claims.reportData) : new Uint8Array(64);
  checkBinding('report_data (hash of the HCL runtime claims)', varHash, reportData);

  // (4) the vTPM quote under HCLAkPub.
  const attest = parseTpmsAttest(quote.message);
  const sha256Bank = new Map<number, Uint8Array>(quote.pcrs.map((v, i) => [i, v]));
  const pcrs: PcrBanks = new Map([[TPM_ALG.SHA256, sha256Bank]]);
  const nonce = ctx.expected?.nonce ?? ctx.expected?.reportData;
  const verifiedQuote = await verifyQuote(attest, { sigAlg: TPM_ALG.RSASSA, hash: TPM_ALG.SHA256, sig: quote.signature, raw: quote.signature }, e.hcl.akPub, { pcrs, ...(nonce ? { nonce } : {}) });
  if (ctx.expected?.userData) {
    const ud = e.hcl.userData !== undefined ? fromHex(e.hcl.userData) : new Uint8Array(0);
    checkBinding('HCL user-data', ctx.expected.userData, ud);
  }

  const warnings = [...hw.warnings];
  if (!nonce) warnings.push('Azure vTPM: no expected nonce was given, so the TPM quote\'s freshness (extraData) was not checked');
  const measurements: Record<string, string> = { ...hw.claims.measurements };
  for (const [i, v] of [...(verifiedQuote.pcrs.get(TPM_ALG.SHA256) ?? new Map<number, Uint8Array>())].sort((a, b) => a[0] - b[0])) {
    measurements[`tpm.sha256.pcr${i}`] = toHex(v);
  }
  const platform: PlatformId = expect === 'snp' ? 'az-snp-vtpm' : 'az-tdx-vtpm';
  const claims: Claims = {
    ...hw.claims,
    platform,
    measurements,
    reportData: toHex(attest.extraData),
    platformClaims: {
      hardware: hw.claims.platformClaims,
      hardwareReportData: hw.claims.reportData ?? null,
      hcl: {
        version: e.hcl.version,
        reportType: e.hcl.reportType,
        runtimeClaims: e.hcl.runtimeClaims as JsonValue,
        userData: e.hcl.userData ?? null,
        akPub: { kty: 'RSA', n: e.hcl.akPub.n, e: e.hcl.akPub.e },
      },
      tpm: { extraData: toHex(attest.extraData), firmwareVersion: attest.firmwareVersion.toString(), pcrDigest: toHex(attest.quote?.pcrDigest ?? new Uint8Array(0)) },
      evidenceFormat: e.format,
    },
  };
  return { platform, claims, tcb: hw.tcb, warnings, chain: hw.chain };
}

function detectAzure(bytes: Uint8Array, kind: 'snp' | 'tdx'): boolean {
  try {
    if (!isHclReport(bytes) && looksLikeAzureJson(bytes) !== kind) return false;
    return parseAzureVtpmEvidence(bytes).hcl.reportType === kind;
  } catch {
    return false;
  }
}

function azurePlatform(kind: 'snp' | 'tdx', description: string): Platform<AzureVtpmEvidence> {
  const other = kind === 'snp' ? 'tdx' : 'snp';
  return {
    id: `az-${kind}-vtpm`,
    description,
    detect: (b) => detectAzure(b, kind),
    parse: (b) => {
      const e = parseAzureVtpmEvidence(b);
      if (e.hcl.reportType !== kind) throw new EvidenceMalformed('azure-vtpm', 'igvm.report_type', 0x4c8, `this HCL report carries a ${other.toUpperCase()} report; use platform az-${other}-vtpm`);
      return e;
    },
    verify: (e, ctx) => verifyAzureVtpm(e, ctx, kind),
  };
}

export const azSnpVtpmPlatform = azurePlatform('snp', 'Azure SEV-SNP confidential VM: HCL report (SNP report + runtime claims) binding the vTPM quote');
export const azTdxVtpmPlatform = azurePlatform('tdx', 'Azure TDX confidential VM: HCL report (TDREPORT + runtime claims), TD quote and the vTPM quote');
