/**
 * Azure vTPM evidence containers. Two JSON shapes exist in the wild (Trustee's az-snp-vtpm and
 * az-tdx-vtpm attesters) and both are accepted:
 *   v0: {"quote"|"tpm_quote": {"signature": [u8], "message": [u8], "pcrs": [[u8]…]},
 *        "report"|"hcl_report": [u8], "vcek": PEM, "td_quote": [u8]}
 *   v1: {"version": 1, "tpm_quote": {"signature": hex, "message": hex, "pcrs": [hex…]},
 *        "hcl_report": base64url, "vcek": base64url DER, "td_quote": base64url}
 * A bare HCL report (binary) is also evidence; its TPM quote then comes as a separate JSON
 * (`{"signature","message","pcrs"}`) and its VCEK as ordinary collateral.
 * The TPM quote "signature" is the raw RSASSA-PKCS1-v1_5 signature (not a TPMT_SIGNATURE).
 */
import { EvidenceMalformed, fromBase64Url, fromHex, fromUtf8 } from '../../core/index.ts';
import { isHclReport, parseHclReport, type HclReport } from './hcl.ts';

const TEE = 'azure-vtpm';

export interface AzureTpmQuote {
  /** TPMS_ATTEST bytes. */
  message: Uint8Array;
  /** Raw RSA signature. */
  signature: Uint8Array;
  /** SHA-256 bank PCR values, index = position. */
  pcrs: Uint8Array[];
}

export interface AzureVtpmEvidence {
  format: 'hcl-binary' | 'json-v0' | 'json-v1';
  hcl: HclReport;
  tpmQuote?: AzureTpmQuote;
  /** VCEK DER/PEM bytes carried by SNP evidence JSON. */
  vcek?: Uint8Array;
  /** The TD quote (TDX): the hardware-signed evidence on Azure TDX. */
  tdQuote?: Uint8Array;
}

function bytesField(v: unknown, field: string, style: 'v0' | 'v1-hex' | 'v1-b64'): Uint8Array {
  if (style === 'v0') {
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) throw new EvidenceMalformed(TEE, field, undefined, 'expected an array of bytes');
    return new Uint8Array(v as number[]);
  }
  if (typeof v !== 'string') throw new EvidenceMalformed(TEE, field, undefined, `expected a ${style === 'v1-hex' ? 'hex' : 'base64url'} string`);
  try {
    return style === 'v1-hex' ? fromHex(v) : fromBase64Url(v);
  } catch (e) {
    throw new EvidenceMalformed(TEE, field, undefined, (e as Error).message);
  }
}

export function parseAzureTpmQuote(v: unknown, style: 'v0' | 'v1-hex', field = 'tpm_quote'): AzureTpmQuote {
  if (!v || typeof v !== 'object') throw new EvidenceMalformed(TEE, field, undefined, 'expected an object {signature, message, pcrs}');
  const o = v as Record<string, unknown>;
  const pcrs = o.pcrs;
  if (!Array.isArray(pcrs) || pcrs.length === 0 || pcrs.length > 32) throw new EvidenceMalformed(TEE, `${field}.pcrs`, undefined, 'expected 1..32 PCR values');
  return {
    message: bytesField(o.message, `${field}.message`, style),
    signature: bytesField(o.signature, `${field}.signature`, style),
    pcrs: pcrs.map((p, i) => {
      const b = bytesField(p, `${field}.pcrs[${i}]`, style);
      if (b.length !== 32) throw new EvidenceMalformed(TEE, `${field}.pcrs[${i}]`, undefined, `SHA-256 PCR value must be 32 bytes, got ${b.length}`);
      return b;
    }),
  };
}

/** Recognises the JSON shapes above without parsing them fully. */
export function looksLikeAzureJson(bytes: Uint8Array): 'snp' | 'tdx' | undefined {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] !== 0x7b) return undefined;
  const head = fromUtf8(bytes.subarray(0, Math.min(bytes.length, 1 << 20)), false);
  if (!/"(hcl_report|report)"\s*:/.test(head) || !/"(tpm_quote|quote)"\s*:/.test(head)) return undefined;
  return /"td_quote"\s*:/.test(head) ? 'tdx' : 'snp';
}

export function parseAzureVtpmEvidence(bytes: Uint8Array): AzureVtpmEvidence {
  if (isHclReport(bytes)) return { format: 'hcl-binary', hcl: parseHclReport(bytes) };
  let j: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(fromUtf8(bytes));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    j = v as Record<string, unknown>;
  } catch (e) {
    throw new EvidenceMalformed(TEE, 'document', 0, `neither an HCL report nor Azure vTPM evidence JSON: ${(e as Error).message}`);
  }
  const v1 = j.version === 1;
  if (j.version !== undefined && !v1) throw new EvidenceMalformed(TEE, 'version', undefined, `unsupported evidence version ${JSON.stringify(j.version)}`);
  const hclRaw = j.hcl_report ?? j.report;
  if (hclRaw === undefined) throw new EvidenceMalformed(TEE, 'hcl_report', undefined, 'missing');
  const hcl = parseHclReport(bytesField(hclRaw, 'hcl_report', v1 ? 'v1-b64' : 'v0'));
  const quoteRaw = j.tpm_quote ?? j.quote;
  if (quoteRaw === undefined) throw new EvidenceMalformed(TEE, 'tpm_quote', undefined, 'missing');
  const tpmQuote = parseAzureTpmQuote(quoteRaw, v1 ? 'v1-hex' : 'v0');
  let vcek: Uint8Array | undefined;
  if (typeof j.vcek === 'string') {
    vcek = j.vcek.includes('-----BEGIN') ? new TextEncoder().encode(j.vcek) : bytesField(j.vcek, 'vcek', 'v1-b64');
  }
  const tdQuote = j.td_quote !== undefined ? bytesField(j.td_quote, 'td_quote', v1 ? 'v1-b64' : 'v0') : undefined;
  return { format: v1 ? 'json-v1' : 'json-v0', hcl, tpmQuote, ...(vcek ? { vcek } : {}), ...(tdQuote ? { tdQuote } : {}) };
}
