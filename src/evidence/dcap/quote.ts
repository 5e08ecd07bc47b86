/**
 * Parsing and encoding of Intel DCAP ECDSA quotes v3 (SGX), v4 (TDX 1.0 / SGX) and v5 (SGX, TD 1.0,
 * TD 1.5). Pure: no crypto, no I/O. The parser stops at the declared signature-data length (real
 * quotes are often fixed-size buffers padded with zeros) and rejects every inconsistent length.
 */
import { ByteReader, ByteWriter, EvidenceMalformed, UnsupportedVersion, fromUtf8, isAllZero, toHex } from '../../core/index.ts';
import {
  ATT_KEY_ECDSA_P256,
  BODY_DESCRIPTOR_SIZE,
  BODY_TYPE_SGX,
  BODY_TYPE_TD10,
  BODY_TYPE_TD15,
  CERT_TYPE_PCK_CHAIN,
  CERT_TYPE_QE_REPORT,
  ECDSA_KEY_SIZE,
  ECDSA_SIG_SIZE,
  ENCLAVE_REPORT_SIZE,
  HEADER_SIZE,
  INTEL_QE_VENDOR_ID,
  TD10_REPORT_SIZE,
  TD15_REPORT_SIZE,
  TEE,
  TEE_TYPE_SGX,
  TEE_TYPE_TDX,
} from './layout.ts';

export interface QuoteHeader {
  /** VERSION: 3, 4 or 5. */
  version: number;
  /** ATT_KEY_TYPE: 2 = ECDSA-256-with-P-256 (the only supported type). */
  attKeyType: number;
  /** TEE_TYPE: 0x00 SGX, 0x81 TDX (reserved/zero in v3). */
  teeType: number;
  /** QE_SVN (v3; reserved in v4/v5 but kept as read). */
  qeSvn: number;
  /** PCE_SVN (v3; reserved in v4/v5 but kept as read). */
  pceSvn: number;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

/** SGX REPORTBODY: the enclave report in SGX quotes, and the QE report in every quote. */
export interface EnclaveReport {
  kind: 'sgx';
  cpuSvn: Uint8Array;
  miscSelect: number;
  reserved1: Uint8Array;
  isvExtProdId: Uint8Array;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  reserved2: Uint8Array;
  mrSigner: Uint8Array;
  reserved3: Uint8Array;
  configId: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  reserved4: Uint8Array;
  isvFamilyId: Uint8Array;
  reportData: Uint8Array;
  raw: Uint8Array;
}

/** TD Quote Body (TD 1.0, 584 bytes) or TD 1.5 (648 bytes with TEE_TCB_SVN2 and MRSERVICETD). */
export interface TdReport {
  kind: 'td10' | 'td15';
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr: [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  reportData: Uint8Array;
  teeTcbSvn2?: Uint8Array;
  mrServiceTd?: Uint8Array;
  raw: Uint8Array;
}

export interface QeCertificationData {
  qeReport: EnclaveReport;
  /** ECDSA P-256 r‖s (big-endian) by the PCK key over the 384-byte QE report. */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** Certification data type of the nested data: 5 = PCK chain PEM. */
  certType: number;
  certData: Uint8Array;
}

export interface QuoteSignatureData {
  /** ECDSA P-256 r‖s (big-endian) by the attestation key over the signed region. */
  isvSignature: Uint8Array;
  /** Attestation public key, raw X‖Y (64 bytes). */
  attestationKey: Uint8Array;
  /** Outer certification data type: 5 (v3) or 6 (v4/v5, wrapping the QE data). */
  outerCertType: number;
  qe: QeCertificationData;
}

export interface DcapQuote {
  header: QuoteHeader;
  /** v5 BODY_TYPE (1 SGX, 2 TD10, 3 TD15); undefined for v3/v4. */
  bodyType?: number;
  body: EnclaveReport | TdReport;
  signature: QuoteSignatureData;
  /** The PCK chain PEM text as carried in the quote (NUL padding stripped). */
  pckChainPem: string;
  /** Bytes [0, signedLength): what the attestation key signs (a view into `raw`). */
  signed: Uint8Array;
  /**
   * The quote up to its declared end (header, body, signature length and signature data): a
   * private copy of the input; every other byte field is a read-only view into it.
   */
  raw: Uint8Array;
  /** Number of bytes after the declared end (ignored; usually zero padding). */
  trailingBytes: number;
  /** True when the trailing bytes are all zero. */
  trailingZero: boolean;
}

function readEnclaveReport(r: ByteReader, field: string): EnclaveReport {
  const start = r.offset;
  const raw = r.bytesView(ENCLAVE_REPORT_SIZE, field);
  r.seek(start);
  const rep: EnclaveReport = {
    kind: 'sgx',
    cpuSvn: r.bytesView(16, `${field}.CPUSVN`),
    miscSelect: r.u32le(`${field}.MISCSELECT`),
    reserved1: r.bytesView(12, `${field}.RESERVED1`),
    isvExtProdId: r.bytesView(16, `${field}.ISVEXTPRODID`),
    attributes: r.bytesView(16, `${field}.ATTRIBUTES`),
    mrEnclave: r.bytesView(32, `${field}.MRENCLAVE`),
    reserved2: r.bytesView(32, `${field}.RESERVED2`),
    mrSigner: r.bytesView(32, `${field}.MRSIGNER`),
    reserved3: r.bytesView(32, `${field}.RESERVED3`),
    configId: r.bytesView(64, `${field}.CONFIGID`),
    isvProdId: r.u16le(`${field}.ISVPRODID`),
    isvSvn: r.u16le(`${field}.ISVSVN`),
    configSvn: r.u16le(`${field}.CONFIGSVN`),
    reserved4: r.bytesView(42, `${field}.RESERVED4`),
    isvFamilyId: r.bytesView(16, `${field}.ISVFAMILYID`),
    reportData: r.bytesView(64, `${field}.REPORTDATA`),
    raw,
  };
  return rep;
}

function writeEnclaveReport(w: ByteWriter, rep: EnclaveReport): void {
  w.fixed(rep.cpuSvn, 16).u32le(rep.miscSelect).fixed(rep.reserved1, 12).fixed(rep.isvExtProdId, 16).fixed(rep.attributes, 16);
  w.fixed(rep.mrEnclave, 32).fixed(rep.reserved2, 32).fixed(rep.mrSigner, 32).fixed(rep.reserved3, 32).fixed(rep.configId, 64);
  w.u16le(rep.isvProdId).u16le(rep.isvSvn).u16le(rep.configSvn).fixed(rep.reserved4, 42).fixed(rep.isvFamilyId, 16).fixed(rep.reportData, 64);
}

function readTdReport(r: ByteReader, kind: 'td10' | 'td15'): TdReport {
  const size = kind === 'td15' ? TD15_REPORT_SIZE : TD10_REPORT_SIZE;
  const start = r.offset;
  const raw = r.bytesView(size, 'TD_REPORT');
  r.seek(start);
  const rep: TdReport = {
    kind,
    teeTcbSvn: r.bytesView(16, 'TEE_TCB_SVN'),
    mrSeam: r.bytesView(48, 'MRSEAM'),
    mrSignerSeam: r.bytesView(48, 'MRSIGNERSEAM'),
    seamAttributes: r.bytesView(8, 'SEAMATTRIBUTES'),
    tdAttributes: r.bytesView(8, 'TDATTRIBUTES'),
    xfam: r.bytesView(8, 'XFAM'),
    mrTd: r.bytesView(48, 'MRTD'),
    mrConfigId: r.bytesView(48, 'MRCONFIGID'),
    mrOwner: r.bytesView(48, 'MROWNER'),
    mrOwnerConfig: r.bytesView(48, 'MROWNERCONFIG'),
    rtmr: [r.bytesView(48, 'RTMR0'), r.bytesView(48, 'RTMR1'), r.bytesView(48, 'RTMR2'), r.bytesView(48, 'RTMR3')],
    reportData: r.bytesView(64, 'REPORTDATA'),
    raw,
  };
  if (kind === 'td15') {
    rep.teeTcbSvn2 = r.bytesView(16, 'TEE_TCB_SVN2');
    rep.mrServiceTd = r.bytesView(48, 'MRSERVICETD');
  }
  return rep;
}

function writeTdReport(w: ByteWriter, rep: TdReport): void {
  w.fixed(rep.teeTcbSvn, 16).fixed(rep.mrSeam, 48).fixed(rep.mrSignerSeam, 48).fixed(rep.seamAttributes, 8).fixed(rep.tdAttributes, 8).fixed(rep.xfam, 8);
  w.fixed(rep.mrTd, 48).fixed(rep.mrConfigId, 48).fixed(rep.mrOwner, 48).fixed(rep.mrOwnerConfig, 48);
  for (const m of rep.rtmr) w.fixed(m, 48);
  w.fixed(rep.reportData, 64);
  if (rep.kind === 'td15') w.fixed(rep.teeTcbSvn2 ?? new Uint8Array(16), 16).fixed(rep.mrServiceTd ?? new Uint8Array(48), 48);
}

function bodySize(kind: 'sgx' | 'td10' | 'td15'): number {
  return kind === 'sgx' ? ENCLAVE_REPORT_SIZE : kind === 'td10' ? TD10_REPORT_SIZE : TD15_REPORT_SIZE;
}

/** Reads the QE report certification data (the content of cert type 6, or the v3 tail). */
function readQeData(r: ByteReader, end: number, field: string): QeCertificationData {
  const qeReport = readEnclaveReport(r, 'QE_REPORT');
  const qeReportSignature = r.bytesView(ECDSA_SIG_SIZE, 'QE_REPORT_SIGNATURE');
  const authLen = r.u16le('QE_AUTH_DATA_SIZE');
  if (r.offset + authLen > end) throw new EvidenceMalformed(TEE, 'QE_AUTH_DATA_SIZE', r.offset - 2, `${authLen} bytes overrun the ${field} (ends at 0x${end.toString(16)})`);
  const qeAuthData = r.bytesView(authLen, 'QE_AUTH_DATA');
  const certTypeOff = r.offset;
  const certType = r.u16le('CERT_DATA_TYPE');
  if (certType !== CERT_TYPE_PCK_CHAIN) {
    throw new UnsupportedVersion(TEE, 'nested certification data type', certType, [CERT_TYPE_PCK_CHAIN]);
  }
  const certSize = r.u32le('CERT_DATA_SIZE');
  if (r.offset + certSize !== end) {
    throw new EvidenceMalformed(TEE, 'CERT_DATA_SIZE', certTypeOff + 2, `certification data of ${certSize} bytes ends at 0x${(r.offset + certSize).toString(16)}, but the ${field} ends at 0x${end.toString(16)}`);
  }
  const certData = r.bytesView(certSize, 'CERT_DATA');
  return { qeReport, qeReportSignature, qeAuthData, certType, certData };
}

/** Extracts the PEM text from certification data type 5 (trailing NULs are common). */
function pemText(certData: Uint8Array, offset: number): string {
  let end = certData.length;
  while (end > 0 && certData[end - 1] === 0) end--;
  const text = fromUtf8(certData.subarray(0, end), false);
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new EvidenceMalformed(TEE, 'CERT_DATA', offset, 'PCK certification data (type 5) holds no PEM certificate');
  return text;
}

export const SUPPORTED_QUOTE_VERSIONS = [3, 4, 5];

/** Cheap content sniffing: header version, key type and TEE type. */
export function looksLikeDcapQuote(bytes: Uint8Array): { version: number; teeType: number } | undefined {
  if (bytes.length < HEADER_SIZE + ENCLAVE_REPORT_SIZE) return undefined;
  const v = bytes[0]! | (bytes[1]! << 8);
  const k = bytes[2]! | (bytes[3]! << 8);
  const t = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  if (!SUPPORTED_QUOTE_VERSIONS.includes(v) || k !== ATT_KEY_ECDSA_P256) return undefined;
  if (toHex(bytes.subarray(12, 28)) !== INTEL_QE_VENDOR_ID) return undefined;
  if (t !== TEE_TYPE_SGX && t !== TEE_TYPE_TDX) return undefined;
  return { version: v, teeType: t };
}

/**
 * The declared end of a well-formed quote (header, body of the size its type implies, signature
 * data length), or undefined when the header or lengths are not consistent with the input.
 */
function declaredEnd(bytes: Uint8Array): number | undefined {
  if (bytes.length < HEADER_SIZE + BODY_DESCRIPTOR_SIZE) return undefined;
  const version = bytes[0]! | (bytes[1]! << 8);
  const teeType = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  let bodyStart = HEADER_SIZE;
  let kind: 'sgx' | 'td10' | 'td15';
  if (version === 5) {
    const bodyType = bytes[HEADER_SIZE]! | (bytes[HEADER_SIZE + 1]! << 8);
    if (bodyType === BODY_TYPE_SGX) kind = 'sgx';
    else if (bodyType === BODY_TYPE_TD10) kind = 'td10';
    else if (bodyType === BODY_TYPE_TD15) kind = 'td15';
    else return undefined;
    bodyStart += BODY_DESCRIPTOR_SIZE;
  } else if (version === 3 || version === 4) {
    kind = teeType === TEE_TYPE_TDX ? 'td10' : 'sgx';
  } else return undefined;
  const lenOff = bodyStart + bodySize(kind);
  if (lenOff + 4 > bytes.length) return undefined;
  const sigLen = (bytes[lenOff]! | (bytes[lenOff + 1]! << 8) | (bytes[lenOff + 2]! << 16) | (bytes[lenOff + 3]! << 24)) >>> 0;
  const end = lenOff + 4 + sigLen;
  return end <= bytes.length ? end : undefined;
}

/**
 * Parses a quote. The result owns one private copy of the quote up to its declared end (`raw`);
 * every byte field (header, body, signature data, `signed`) is a read-only view into that copy,
 * so the caller may reuse its input buffer and nothing is copied field by field.
 */
export function parseQuote(bytes: Uint8Array): DcapQuote {
  // A malformed input is parsed in place, which throws the precise error; else the copy is parsed.
  const end = declaredEnd(bytes) ?? parseIn(bytes).raw.length;
  const raw = bytes.slice(0, end);
  const q = parseIn(raw);
  const trailing = bytes.subarray(end);
  q.trailingBytes = trailing.length;
  q.trailingZero = isAllZero(trailing);
  return q;
}

function parseIn(bytes: Uint8Array): DcapQuote {
  let r = new ByteReader(bytes, TEE);
  const version = r.u16le('VERSION');
  if (!SUPPORTED_QUOTE_VERSIONS.includes(version)) throw new UnsupportedVersion(TEE, 'quote version', version, SUPPORTED_QUOTE_VERSIONS);
  const attKeyType = r.u16le('ATT_KEY_TYPE');
  if (attKeyType !== ATT_KEY_ECDSA_P256) throw new UnsupportedVersion(TEE, 'attestation key type', attKeyType, [ATT_KEY_ECDSA_P256]);
  const teeType = r.u32le('TEE_TYPE');
  if (teeType !== TEE_TYPE_SGX && teeType !== TEE_TYPE_TDX) throw new EvidenceMalformed(TEE, 'TEE_TYPE', 4, `0x${teeType.toString(16)} is neither SGX (0x0) nor TDX (0x81)`);
  // v3 is SGX only (bytes 4..8 reserved); a TDX quote claiming v3 is a format that does not exist.
  if (version === 3 && teeType !== TEE_TYPE_SGX) throw new UnsupportedVersion(TEE, 'TDX quote version', version, [4, 5]);
  const header: QuoteHeader = {
    version,
    attKeyType,
    teeType,
    qeSvn: r.u16le('QE_SVN'),
    pceSvn: r.u16le('PCE_SVN'),
    qeVendorId: r.bytesView(16, 'QE_VENDOR_ID'),
    userData: r.bytesView(20, 'USER_DATA'),
  };

  let kind: 'sgx' | 'td10' | 'td15';
  let bodyType: number | undefined;
  if (version === 5) {
    bodyType = r.u16le('BODY_TYPE');
    const size = r.u32le('BODY_SIZE');
    if (bodyType === BODY_TYPE_SGX) kind = 'sgx';
    else if (bodyType === BODY_TYPE_TD10) kind = 'td10';
    else if (bodyType === BODY_TYPE_TD15) kind = 'td15';
    else throw new UnsupportedVersion(TEE, 'v5 body type', bodyType, [BODY_TYPE_SGX, BODY_TYPE_TD10, BODY_TYPE_TD15]);
    if (size !== bodySize(kind)) throw new EvidenceMalformed(TEE, 'BODY_SIZE', HEADER_SIZE + 2, `body type ${bodyType} is ${bodySize(kind)} bytes, header says ${size}`);
    if ((kind === 'sgx') !== (teeType === TEE_TYPE_SGX)) throw new EvidenceMalformed(TEE, 'BODY_TYPE', HEADER_SIZE, `body type ${bodyType} does not match TEE_TYPE 0x${teeType.toString(16)}`);
  } else {
    kind = teeType === TEE_TYPE_TDX ? 'td10' : 'sgx';
  }
  const body = kind === 'sgx' ? readEnclaveReport(r, 'ENCLAVE_REPORT') : readTdReport(r, kind);
  const signedLength = r.offset;
  const sigLenOff = r.offset;
  const sigLen = r.u32le('SIGNATURE_DATA_LEN');
  const sigStart = r.offset;
  const end = sigStart + sigLen;
  if (end > bytes.length) throw new EvidenceMalformed(TEE, 'SIGNATURE_DATA_LEN', sigLenOff, `declares ${sigLen} bytes but only ${bytes.length - sigStart} follow`);
  // From here on nothing may be read past the declared end.
  r = new ByteReader(bytes.subarray(0, end), TEE).seek(sigStart);
  const isvSignature = r.bytesView(ECDSA_SIG_SIZE, 'QUOTE_SIGNATURE');
  const attestationKey = r.bytesView(ECDSA_KEY_SIZE, 'ATTESTATION_KEY');
  let qe: QeCertificationData;
  let outerCertType: number;
  if (version === 3) {
    outerCertType = CERT_TYPE_PCK_CHAIN;
    qe = readQeData(r, end, 'signature data');
  } else {
    const typeOff = r.offset;
    outerCertType = r.u16le('CERT_DATA_TYPE');
    if (outerCertType !== CERT_TYPE_QE_REPORT) throw new UnsupportedVersion(TEE, 'certification data type', outerCertType, [CERT_TYPE_QE_REPORT]);
    const size = r.u32le('CERT_DATA_SIZE');
    if (r.offset + size !== end) {
      throw new EvidenceMalformed(TEE, 'CERT_DATA_SIZE', typeOff + 2, `QE report certification data of ${size} bytes ends at 0x${(r.offset + size).toString(16)}, but the signature data ends at 0x${end.toString(16)}`);
    }
    qe = readQeData(r, end, 'QE report certification data');
  }
  const pckChainPem = pemText(qe.certData, end - qe.certData.length);
  // Bytes after the declared end are neither signed nor interpreted (fixed-size buffers, and
  // go-tdx-guest's sample appends text); the verifier reports them.
  const trailing = bytes.subarray(end);
  return {
    header,
    ...(bodyType !== undefined ? { bodyType } : {}),
    body,
    signature: { isvSignature, attestationKey, outerCertType, qe },
    pckChainPem,
    signed: bytes.subarray(0, signedLength),
    raw: bytes.subarray(0, end),
    trailingBytes: trailing.length,
    trailingZero: isAllZero(trailing),
  };
}

function qeDataBytes(qe: QeCertificationData): Uint8Array {
  const w = new ByteWriter(1024 + qe.certData.length);
  writeEnclaveReport(w, qe.qeReport);
  w.fixed(qe.qeReportSignature, ECDSA_SIG_SIZE).u16le(qe.qeAuthData.length).bytes(qe.qeAuthData);
  w.u16le(qe.certType).u32le(qe.certData.length).bytes(qe.certData);
  return w.finish();
}

/** Serialises the header and body: the bytes the attestation key signs. */
export function encodeSignedRegion(q: Pick<DcapQuote, 'header' | 'body' | 'bodyType'>): Uint8Array {
  const w = new ByteWriter(700);
  const h = q.header;
  w.u16le(h.version).u16le(h.attKeyType).u32le(h.teeType).u16le(h.qeSvn).u16le(h.pceSvn).fixed(h.qeVendorId, 16).fixed(h.userData, 20);
  if (h.version === 5) {
    const kind = q.body.kind;
    w.u16le(q.bodyType ?? (kind === 'sgx' ? BODY_TYPE_SGX : kind === 'td10' ? BODY_TYPE_TD10 : BODY_TYPE_TD15)).u32le(bodySize(kind));
  }
  if (q.body.kind === 'sgx') writeEnclaveReport(w, q.body);
  else writeTdReport(w, q.body);
  return w.finish();
}

/** The inverse of parseQuote, up to the declared end (trailing padding is not reproduced). */
export function encodeQuote(q: Pick<DcapQuote, 'header' | 'body' | 'bodyType' | 'signature'>): Uint8Array {
  const signed = encodeSignedRegion(q);
  const s = q.signature;
  const qeBytes = qeDataBytes(s.qe);
  const w = new ByteWriter(signed.length + qeBytes.length + 200);
  w.bytes(signed);
  const inner = q.header.version === 3 ? qeBytes.length : 6 + qeBytes.length;
  w.u32le(ECDSA_SIG_SIZE + ECDSA_KEY_SIZE + inner);
  w.fixed(s.isvSignature, ECDSA_SIG_SIZE).fixed(s.attestationKey, ECDSA_KEY_SIZE);
  if (q.header.version !== 3) w.u16le(s.outerCertType).u32le(qeBytes.length);
  w.bytes(qeBytes);
  return w.finish();
}

export { BODY_DESCRIPTOR_SIZE };
