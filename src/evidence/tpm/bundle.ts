/**
 * TPM evidence containers:
 *
 * 1. The teataster JSON bundle (documented in docs/tpm.md), UTF-8 JSON:
 *    {
 *      "format": "teataster.tpm/v1",
 *      "akPublic": b64(TPMT_PUBLIC),                 // required
 *      "akCert": b64(DER), "intermediates": [b64(DER)],   // optional AK certificate path
 *      "ekPublic": b64(TPMT_PUBLIC), "ekCert": b64(DER),  // optional (credential activation)
 *      "quotes": [{ "attest": b64(TPMS_ATTEST), "signature": b64(TPMT_SIGNATURE) }],   // ≥ 1
 *      "pcrs": { "sha256": { "0": hex, … }, "sha1": {…} },                               // per bank
 *      "eventLog": b64(TCG event log)                // optional
 *    }
 *    b64 accepts standard or URL-safe base64; PCR values are hex (they are digests).
 *
 * 2. go-tpm-tools `attest.Attestation` protobuf (proto/attest.proto): 1 ak_pub, 2 quotes
 *    (tpm.Quote {1 quote, 2 raw_sig, 3 pcrs (tpm.PCRs {1 hash, 2 map<uint32,bytes> pcrs})}),
 *    3 event_log, 4 instance_info (GCEInstanceInfo {1 zone, 2 project_id, 3 project_number,
 *    4 instance_name, 5 instance_id}), 6 ak_cert, 7 intermediate_certs. Other fields are skipped.
 */
import { EvidenceMalformed, fromBase64, fromHex, fromUtf8, toBase64, toHex, utf8 } from '../../core/index.ts';
import { hashAlgByName, hashAlgName, hashSize } from '../eventlog/index.ts';
import { readProtobuf } from './protobuf.ts';
import { parseTpmsAttest, parseTpmtPublic, parseTpmtSignature, type TpmsAttest, type TpmtPublic, type TpmtSignature } from './structures.ts';

const TEE = 'tpm';
export const TPM_BUNDLE_FORMAT = 'teataster.tpm/v1';

export interface TpmQuote {
  attest: TpmsAttest;
  signature: TpmtSignature;
}

export interface GceInstanceInfo {
  zone?: string;
  projectId?: string;
  projectNumber?: string;
  instanceName?: string;
  instanceId?: string;
}

export interface TpmEvidence {
  source: 'bundle' | 'go-tpm-tools';
  akPublic: TpmtPublic;
  akCert?: Uint8Array;
  intermediates: Uint8Array[];
  ekPublic?: TpmtPublic;
  ekCert?: Uint8Array;
  quotes: TpmQuote[];
  /** PCR values: bank (TPM_ALG_ID) → index → value. */
  pcrs: Map<number, Map<number, Uint8Array>>;
  eventLog?: Uint8Array;
  instanceInfo?: GceInstanceInfo;
}

const MAX_PCR = 63;

function addPcr(pcrs: TpmEvidence['pcrs'], alg: number, index: number, value: Uint8Array, field: string): void {
  const size = hashSize(alg);
  if (size === undefined) throw new EvidenceMalformed(TEE, field, undefined, `unknown PCR bank ${hashAlgName(alg)}`);
  if (!Number.isInteger(index) || index < 0 || index > MAX_PCR) throw new EvidenceMalformed(TEE, field, undefined, `PCR index ${index} out of range 0..${MAX_PCR}`);
  if (value.length !== size) throw new EvidenceMalformed(TEE, field, undefined, `${hashAlgName(alg)} PCR ${index} is ${value.length} bytes, expected ${size}`);
  let bank = pcrs.get(alg);
  if (!bank) pcrs.set(alg, (bank = new Map()));
  const prev = bank.get(index);
  if (prev && toHex(prev) !== toHex(value)) throw new EvidenceMalformed(TEE, field, undefined, `${hashAlgName(alg)} PCR ${index} given twice with different values`);
  bank.set(index, value);
}

function wrap<T>(field: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof EvidenceMalformed || (e as { code?: string }).code?.startsWith('ERR_')) throw e;
    throw new EvidenceMalformed(TEE, field, undefined, (e as Error).message);
  }
}

function b64(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'string' || v.length === 0) throw new EvidenceMalformed(TEE, field, undefined, 'expected a non-empty base64 string');
  return wrap(field, () => fromBase64(v));
}

// ---------------------------------------------------------------------------------------------
// JSON bundle

/** Cheap sniffing: a JSON object naming our format. */
export function isTpmBundle(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] !== 0x7b) return false;
  return fromUtf8(bytes.subarray(0, Math.min(bytes.length, 1 << 20)), false).includes(`"${TPM_BUNDLE_FORMAT}"`);
}

export function parseTpmBundle(bytes: Uint8Array): TpmEvidence {
  let doc: unknown;
  try {
    doc = JSON.parse(fromUtf8(bytes));
  } catch (e) {
    throw new EvidenceMalformed(TEE, 'bundle', undefined, `not UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new EvidenceMalformed(TEE, 'bundle', undefined, 'expected a JSON object');
  const o = doc as Record<string, unknown>;
  if (o.format !== TPM_BUNDLE_FORMAT) throw new EvidenceMalformed(TEE, 'format', undefined, `expected "${TPM_BUNDLE_FORMAT}", got ${JSON.stringify(o.format)}`);
  const akPublic = parseTpmtPublic(b64(o.akPublic, 'akPublic'));
  const opt = (k: string): Uint8Array | undefined => (o[k] === undefined || o[k] === null ? undefined : b64(o[k], k));
  const akCert = opt('akCert');
  const ekCert = opt('ekCert');
  const ekPubBytes = opt('ekPublic');
  const eventLog = opt('eventLog');
  const inter = o.intermediates ?? [];
  if (!Array.isArray(inter)) throw new EvidenceMalformed(TEE, 'intermediates', undefined, 'expected an array of base64 strings');
  const intermediates = inter.map((c, i) => b64(c, `intermediates[${i}]`));
  if (!Array.isArray(o.quotes) || o.quotes.length === 0 || o.quotes.length > 16) throw new EvidenceMalformed(TEE, 'quotes', undefined, 'expected 1..16 quotes');
  const quotes = o.quotes.map((q: unknown, i): TpmQuote => {
    if (typeof q !== 'object' || q === null) throw new EvidenceMalformed(TEE, `quotes[${i}]`, undefined, 'expected an object');
    const qq = q as Record<string, unknown>;
    return { attest: parseTpmsAttest(b64(qq.attest, `quotes[${i}].attest`)), signature: parseTpmtSignature(b64(qq.signature, `quotes[${i}].signature`)) };
  });
  const pcrs: TpmEvidence['pcrs'] = new Map();
  if (typeof o.pcrs !== 'object' || o.pcrs === null || Array.isArray(o.pcrs)) throw new EvidenceMalformed(TEE, 'pcrs', undefined, 'expected { bank: { index: hex } }');
  for (const [bankName, values] of Object.entries(o.pcrs as Record<string, unknown>)) {
    const alg = hashAlgByName(bankName);
    if (alg === undefined) throw new EvidenceMalformed(TEE, `pcrs.${bankName}`, undefined, 'unknown bank');
    if (typeof values !== 'object' || values === null || Array.isArray(values)) throw new EvidenceMalformed(TEE, `pcrs.${bankName}`, undefined, 'expected { index: hex }');
    for (const [idx, hex] of Object.entries(values as Record<string, unknown>)) {
      if (!/^\d{1,2}$/.test(idx)) throw new EvidenceMalformed(TEE, `pcrs.${bankName}.${idx}`, undefined, 'PCR index must be a decimal number');
      if (typeof hex !== 'string') throw new EvidenceMalformed(TEE, `pcrs.${bankName}.${idx}`, undefined, 'expected a hex string');
      addPcr(pcrs, alg, Number(idx), wrap(`pcrs.${bankName}.${idx}`, () => fromHex(hex)), `pcrs.${bankName}.${idx}`);
    }
  }
  return {
    source: 'bundle',
    akPublic,
    ...(akCert ? { akCert } : {}),
    intermediates,
    ...(ekPubBytes ? { ekPublic: parseTpmtPublic(ekPubBytes) } : {}),
    ...(ekCert ? { ekCert } : {}),
    quotes,
    pcrs,
    ...(eventLog ? { eventLog } : {}),
  };
}

export interface TpmBundleInput {
  akPublic: Uint8Array;
  akCert?: Uint8Array;
  intermediates?: Uint8Array[];
  ekPublic?: Uint8Array;
  ekCert?: Uint8Array;
  quotes: { attest: Uint8Array; signature: Uint8Array }[];
  /** bank name ('sha256') → index → value */
  pcrs: Record<string, Record<number, Uint8Array>>;
  eventLog?: Uint8Array;
}

export function encodeTpmBundle(b: TpmBundleInput): Uint8Array {
  const pcrs: Record<string, Record<string, string>> = {};
  for (const [bank, values] of Object.entries(b.pcrs)) {
    pcrs[bank] = {};
    for (const [i, v] of Object.entries(values)) pcrs[bank][i] = toHex(v);
  }
  const doc = {
    format: TPM_BUNDLE_FORMAT,
    akPublic: toBase64(b.akPublic),
    ...(b.akCert ? { akCert: toBase64(b.akCert) } : {}),
    ...(b.intermediates?.length ? { intermediates: b.intermediates.map(toBase64) } : {}),
    ...(b.ekPublic ? { ekPublic: toBase64(b.ekPublic) } : {}),
    ...(b.ekCert ? { ekCert: toBase64(b.ekCert) } : {}),
    quotes: b.quotes.map((q) => ({ attest: toBase64(q.attest), signature: toBase64(q.signature) })),
    pcrs,
    ...(b.eventLog ? { eventLog: toBase64(b.eventLog) } : {}),
  };
  return utf8(JSON.stringify(doc, null, 2));
}

/** Re-encodes parsed evidence as a JSON bundle (go-tpm-tools import → bundle, tests). */
export function tpmEvidenceToBundle(e: TpmEvidence): Uint8Array {
  const pcrs: Record<string, Record<number, Uint8Array>> = {};
  for (const [alg, bank] of e.pcrs) pcrs[hashAlgName(alg)] = Object.fromEntries(bank);
  return encodeTpmBundle({
    akPublic: e.akPublic.raw,
    ...(e.akCert ? { akCert: e.akCert } : {}),
    intermediates: e.intermediates,
    ...(e.ekPublic ? { ekPublic: e.ekPublic.raw } : {}),
    ...(e.ekCert ? { ekCert: e.ekCert } : {}),
    quotes: e.quotes.map((q) => ({ attest: q.attest.raw, signature: q.signature.raw })),
    pcrs,
    ...(e.eventLog ? { eventLog: e.eventLog } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// go-tpm-tools Attestation protobuf

const PB = 'Attestation';

/**
 * Sniffing for the protobuf form: the first record is field 1 or 2 (LEN) and the ak_pub parses as
 * a TPMT_PUBLIC. Must not throw.
 */
export function isGoTpmToolsAttestation(bytes: Uint8Array): boolean {
  if (bytes.length < 8 || (bytes[0] !== 0x0a && bytes[0] !== 0x12)) return false;
  try {
    parseGoTpmToolsAttestation(bytes);
    return true;
  } catch {
    return false;
  }
}

function str(b: Uint8Array | undefined): string | undefined {
  return b ? fromUtf8(b, false) : undefined;
}

export function parseGoTpmToolsAttestation(bytes: Uint8Array): TpmEvidence {
  const fields = readProtobuf(bytes, TEE, PB);
  let akPub: Uint8Array | undefined;
  let akCert: Uint8Array | undefined;
  let eventLog: Uint8Array | undefined;
  let instanceInfo: GceInstanceInfo | undefined;
  const intermediates: Uint8Array[] = [];
  const quotes: TpmQuote[] = [];
  const pcrs: TpmEvidence['pcrs'] = new Map();
  const needLen = (f: { wireType: number; field: number; offset: number }): void => {
    if (f.wireType !== 2) throw new EvidenceMalformed(TEE, `${PB} field ${f.field}`, f.offset, `wire type ${f.wireType}, expected LEN`);
  };
  for (const f of fields) {
    if (f.field === 1) {
      needLen(f);
      akPub = f.bytes;
    } else if (f.field === 2) {
      needLen(f);
      const qf = readProtobuf(f.bytes!, TEE, 'tpm.Quote');
      let quote: Uint8Array | undefined;
      let sig: Uint8Array | undefined;
      for (const x of qf) {
        if (x.field === 1 && x.wireType === 2) quote = x.bytes;
        else if (x.field === 2 && x.wireType === 2) sig = x.bytes;
        else if (x.field === 3 && x.wireType === 2) {
          let hash = 0;
          const entries: [number, Uint8Array][] = [];
          for (const y of readProtobuf(x.bytes!, TEE, 'tpm.PCRs')) {
            if (y.field === 1 && y.wireType === 0) hash = Number(y.varint!);
            else if (y.field === 2 && y.wireType === 2) {
              let k = 0;
              let v: Uint8Array = new Uint8Array(0);
              for (const z of readProtobuf(y.bytes!, TEE, 'tpm.PCRs.pcrs entry')) {
                if (z.field === 1 && z.wireType === 0) k = Number(z.varint!);
                else if (z.field === 2 && z.wireType === 2) v = z.bytes!;
              }
              entries.push([k, v]);
            }
          }
          for (const [k, v] of entries) addPcr(pcrs, hash, k, v, `tpm.Quote.pcrs[${k}]`);
        }
      }
      if (!quote || !sig) throw new EvidenceMalformed(TEE, 'tpm.Quote', f.offset, 'quote or raw_sig missing');
      quotes.push({ attest: parseTpmsAttest(quote), signature: parseTpmtSignature(sig) });
    } else if (f.field === 3) {
      needLen(f);
      if (f.bytes!.length > 0) eventLog = f.bytes;
    } else if (f.field === 4) {
      needLen(f);
      const info: GceInstanceInfo = {};
      for (const y of readProtobuf(f.bytes!, TEE, 'GCEInstanceInfo')) {
        if (y.field === 1) info.zone = str(y.bytes);
        else if (y.field === 2) info.projectId = str(y.bytes);
        else if (y.field === 3 && y.varint !== undefined) info.projectNumber = y.varint.toString();
        else if (y.field === 4) info.instanceName = str(y.bytes);
        else if (y.field === 5 && y.varint !== undefined) info.instanceId = y.varint.toString();
      }
      instanceInfo = info;
    } else if (f.field === 6) {
      needLen(f);
      if (f.bytes!.length > 0) akCert = f.bytes;
    } else if (f.field === 7) {
      needLen(f);
      intermediates.push(f.bytes!);
    }
  }
  if (!akPub) throw new EvidenceMalformed(TEE, `${PB}.ak_pub`, undefined, 'missing');
  if (quotes.length === 0) throw new EvidenceMalformed(TEE, `${PB}.quotes`, undefined, 'no quotes');
  return {
    source: 'go-tpm-tools',
    akPublic: parseTpmtPublic(akPub),
    ...(akCert ? { akCert } : {}),
    intermediates,
    quotes,
    pcrs,
    ...(eventLog ? { eventLog } : {}),
    ...(instanceInfo ? { instanceInfo } : {}),
  };
}

/** Parses either container (JSON bundle or go-tpm-tools protobuf). */
export function parseTpmEvidence(bytes: Uint8Array): TpmEvidence {
  if (isTpmBundle(bytes)) return parseTpmBundle(bytes);
  return parseGoTpmToolsAttestation(bytes);
}
