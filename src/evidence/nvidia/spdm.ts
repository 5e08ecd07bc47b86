/**
 * NVIDIA GPU attestation report: an SPDM 1.1 GET_MEASUREMENTS request followed by the device's
 * MEASUREMENTS response (DMTF DSP0274 1.1, §10.11 "GET_MEASUREMENTS request and MEASUREMENTS
 * response"), as produced by the NVIDIA driver (nvtrust local GPU verifier, Trustee
 * deps/verifier/src/nvidia). All integers are little-endian.
 *
 * Request (37 bytes when a signature is requested):
 *   SPDMVersion u8 (0x11) | RequestResponseCode u8 (0xE0) | Param1 u8 (bit 0: signature requested)
 *   | Param2 u8 (measurement operation, 0xFF = all) | Nonce [32] | SlotIDParam u8
 * Response:
 *   SPDMVersion u8 | RequestResponseCode u8 (0x60) | Param1 u8 | Param2 u8 (slot id)
 *   | NumberOfBlocks u8 | MeasurementRecordLength u24 | MeasurementRecord
 *   | Nonce [32] | OpaqueDataLength u16 | OpaqueData | Signature [96] (ECDSA P-384 r‖s, big-endian)
 * Measurement block: Index u8 | MeasurementSpecification u8 (bit 0 = DMTF) | MeasurementSize u16
 *   | DMTFSpecMeasurementValueType u8 | DMTFSpecMeasurementValueSize u16 | Value.
 * Opaque data (NVIDIA): a sequence of {type u16, length u16, value} TLVs filling OpaqueDataLength.
 *
 * Parsing is strict: every declared length must match the bytes exactly, and any inconsistency is
 * EvidenceMalformed. Input may be binary or hex text (whitespace allowed).
 */
import { ByteReader, ByteWriter, EvidenceMalformed, UnsupportedVersion, concatBytes, fromHex } from '../../core/index.ts';

export const TEE = 'nvidia';
export const SPDM_VERSION_11 = 0x11;
export const SPDM_GET_MEASUREMENTS = 0xe0;
export const SPDM_MEASUREMENTS = 0x60;
export const NONCE_LEN = 32;
export const REQUEST_LEN = 37;
export const SIGNATURE_LEN = 96;
/** DMTF measurement specification bit in MeasurementSpecification. */
export const MEASUREMENT_SPEC_DMTF = 0x01;

export interface SpdmGetMeasurementsRequest {
  version: number;
  code: number;
  param1: number;
  /** Measurement operation: 0xFF = all blocks, 0 = count only, else a block index. */
  param2: number;
  nonce: Uint8Array;
  slotId: number;
}

export interface MeasurementBlock {
  index: number;
  specification: number;
  /** DMTFSpecMeasurementValueType: bit 7 = raw bit stream, bits 6:0 = the kind of value. */
  valueType: number;
  value: Uint8Array;
}

export interface OpaqueField {
  type: number;
  value: Uint8Array;
}

export interface SpdmMeasurementsResponse {
  version: number;
  code: number;
  param1: number;
  param2: number;
  blocks: MeasurementBlock[];
  nonce: Uint8Array;
  opaque: OpaqueField[];
  signature: Uint8Array;
}

export interface NvidiaReport {
  request: SpdmGetMeasurementsRequest;
  response: SpdmMeasurementsResponse;
  /** request ‖ response without the signature: the bytes the device signed (hashed with SHA-384). */
  signed: Uint8Array;
  /** The whole binary report. */
  raw: Uint8Array;
}

const HEX = /^[0-9a-fA-F\s]+$/;

function isHexText(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    const hex = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
    if (!hex && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return bytes.length > 0;
}

/** Binary report bytes from binary or hex-text input. Throws EvidenceMalformed on odd/invalid hex. */
export function nvidiaReportBytes(input: Uint8Array): Uint8Array {
  if (input.length >= 2 && input[0] === SPDM_VERSION_11 && input[1] === SPDM_GET_MEASUREMENTS) return input;
  if (!isHexText(input)) return input;
  const text = new TextDecoder().decode(input).replace(/\s+/g, '');
  if (!HEX.test(text) || text.length % 2 !== 0) throw new EvidenceMalformed(TEE, 'hex text', undefined, `${text.length} hex digits is not a whole number of bytes`);
  return fromHex(text);
}

/** Cheap content sniffing: binary or hex text starting with an SPDM 1.1 GET_MEASUREMENTS request. */
export function looksLikeNvidiaReport(input: Uint8Array): boolean {
  if (input.length >= 2 && input[0] === SPDM_VERSION_11 && input[1] === SPDM_GET_MEASUREMENTS) return input.length > REQUEST_LEN;
  // hex text: "11e0" (any case), possibly after leading whitespace
  let i = 0;
  while (i < input.length && (input[i] === 0x20 || input[i] === 0x0a || input[i] === 0x0d || input[i] === 0x09)) i++;
  if (input.length - i < 2 * REQUEST_LEN) return false;
  const head = String.fromCharCode(...input.subarray(i, i + 4)).toLowerCase();
  return head === '11e0' && isHexText(input.subarray(i, Math.min(input.length, i + 256)));
}

export function parseRequest(r: ByteReader): SpdmGetMeasurementsRequest {
  const version = r.u8('request SPDMVersion');
  if (version !== SPDM_VERSION_11) throw new UnsupportedVersion(TEE, 'SPDM request version', `0x${version.toString(16)}`, ['0x11']);
  const code = r.u8('request RequestResponseCode');
  if (code !== SPDM_GET_MEASUREMENTS) throw new EvidenceMalformed(TEE, 'request RequestResponseCode', r.offset - 1, `0x${code.toString(16)} is not GET_MEASUREMENTS (0xe0)`);
  const param1 = r.u8('request Param1');
  if ((param1 & 0x01) === 0) throw new EvidenceMalformed(TEE, 'request Param1', r.offset - 1, 'signature not requested (bit 0 clear): the request carries no nonce and the response no signature');
  const param2 = r.u8('request Param2');
  const nonce = r.take(NONCE_LEN, 'request Nonce');
  const slotId = r.u8('request SlotIDParam');
  if (slotId > 7) throw new EvidenceMalformed(TEE, 'request SlotIDParam', r.offset - 1, `slot ${slotId} is out of range 0..7`);
  return { version, code, param1, param2, nonce, slotId };
}

function parseBlocks(rec: ByteReader, count: number): MeasurementBlock[] {
  const blocks: MeasurementBlock[] = [];
  const seen = new Set<number>();
  while (rec.remaining > 0) {
    const at = rec.offset;
    const index = rec.u8('measurement block Index');
    if (index === 0 || index === 0xff) throw new EvidenceMalformed(TEE, 'measurement block Index', rec.base + at, `index ${index} is reserved`);
    if (seen.has(index)) throw new EvidenceMalformed(TEE, 'measurement block Index', rec.base + at, `index ${index} appears twice`);
    seen.add(index);
    const specification = rec.u8('measurement block MeasurementSpecification');
    if (specification !== MEASUREMENT_SPEC_DMTF) throw new EvidenceMalformed(TEE, 'measurement block MeasurementSpecification', rec.base + at + 1, `0x${specification.toString(16)} is not the DMTF specification (0x01)`);
    const size = rec.u16le('measurement block MeasurementSize');
    const m = new ByteReader(rec.bytesView(size, `measurement block ${index} Measurement`), TEE, rec.base + at + 4);
    const valueType = m.u8('DMTFSpecMeasurementValueType');
    const valueSize = m.u16le('DMTFSpecMeasurementValueSize');
    const value = m.take(valueSize, `measurement block ${index} value`);
    m.expectEnd(`measurement block ${index} (MeasurementSize ${size} != 3 + value size ${valueSize})`);
    blocks.push({ index, specification, valueType, value });
  }
  if (blocks.length !== count) throw new EvidenceMalformed(TEE, 'NumberOfBlocks', rec.base - 4, `declares ${count} blocks but the record holds ${blocks.length}`);
  return blocks;
}

function parseOpaque(o: ByteReader): OpaqueField[] {
  const fields: OpaqueField[] = [];
  while (o.remaining > 0) {
    const type = o.u16le('opaque data type');
    const len = o.u16le('opaque data length');
    fields.push({ type, value: o.take(len, `opaque data field ${type}`) });
  }
  return fields;
}

export function parseResponse(r: ByteReader, requestVersion: number): SpdmMeasurementsResponse {
  const version = r.u8('response SPDMVersion');
  if (version !== requestVersion) throw new EvidenceMalformed(TEE, 'response SPDMVersion', r.base + r.offset - 1, `0x${version.toString(16)} differs from the request's 0x${requestVersion.toString(16)}`);
  const code = r.u8('response RequestResponseCode');
  if (code !== SPDM_MEASUREMENTS) throw new EvidenceMalformed(TEE, 'response RequestResponseCode', r.base + r.offset - 1, `0x${code.toString(16)} is not MEASUREMENTS (0x60)`);
  const param1 = r.u8('response Param1');
  const param2 = r.u8('response Param2');
  const count = r.u8('NumberOfBlocks');
  const b = r.bytesView(3, 'MeasurementRecordLength');
  const recLen = b[0]! | (b[1]! << 8) | (b[2]! << 16);
  const recStart = r.offset;
  const blocks = parseBlocks(new ByteReader(r.bytesView(recLen, 'MeasurementRecord'), TEE, r.base + recStart), count);
  const nonce = r.take(NONCE_LEN, 'response Nonce');
  const opaqueLen = r.u16le('OpaqueDataLength');
  const opaqueStart = r.offset;
  const opaque = parseOpaque(new ByteReader(r.bytesView(opaqueLen, 'OpaqueData'), TEE, r.base + opaqueStart));
  const signature = r.take(SIGNATURE_LEN, 'Signature');
  r.expectEnd('after Signature');
  return { version, code, param1, param2, blocks, nonce, opaque, signature };
}

/** Parses a binary or hex-text report. Throws EvidenceMalformed / UnsupportedVersion. */
export function parseNvidiaReport(input: Uint8Array): NvidiaReport {
  let i = 0;
  while (i < input.length && (input[i] === 0x20 || input[i] === 0x0a || input[i] === 0x0d || input[i] === 0x09)) i++;
  if (input[i] === 0x7b) {
    // NRAS results and other JSON GPU evidence wrappers: JWTs whose keys are not available offline.
    throw new UnsupportedVersion(TEE, 'evidence format', 'JSON (e.g. an NRAS attestation result)', ['SPDM 1.1 GET_MEASUREMENTS request + MEASUREMENTS response, hex or binary']);
  }
  const raw = nvidiaReportBytes(input);
  const req = new ByteReader(raw.subarray(0, Math.min(REQUEST_LEN, raw.length)), TEE);
  const request = parseRequest(req);
  if (raw.length < REQUEST_LEN + SIGNATURE_LEN) throw new EvidenceMalformed(TEE, 'response', REQUEST_LEN, `report of ${raw.length} bytes is too short for a signed MEASUREMENTS response`);
  const response = parseResponse(new ByteReader(raw.subarray(REQUEST_LEN), TEE, REQUEST_LEN), request.version);
  return { request, response, signed: raw.subarray(0, raw.length - SIGNATURE_LEN), raw };
}

/** Serialises a request (37 bytes). */
export function encodeRequest(q: SpdmGetMeasurementsRequest): Uint8Array {
  return new ByteWriter(REQUEST_LEN).u8(q.version).u8(q.code).u8(q.param1).u8(q.param2).fixed(q.nonce, NONCE_LEN).u8(q.slotId).finish();
}

/** Serialises a response up to (not including) the signature: the part that is signed. */
export function encodeResponseUnsigned(s: Omit<SpdmMeasurementsResponse, 'signature'>, numberOfBlocks = s.blocks.length): Uint8Array {
  const rec = new ByteWriter(64 * s.blocks.length + 16);
  for (const blk of s.blocks) {
    rec.u8(blk.index).u8(blk.specification).u16le(3 + blk.value.length).u8(blk.valueType).u16le(blk.value.length).bytes(blk.value);
  }
  const record = rec.finish();
  const op = new ByteWriter(256);
  for (const f of s.opaque) op.u16le(f.type).u16le(f.value.length).bytes(f.value);
  const opaque = op.finish();
  return new ByteWriter(record.length + opaque.length + 64)
    .u8(s.version)
    .u8(s.code)
    .u8(s.param1)
    .u8(s.param2)
    .u8(numberOfBlocks)
    .u8(record.length & 0xff)
    .u8((record.length >> 8) & 0xff)
    .u8((record.length >> 16) & 0xff)
    .bytes(record)
    .fixed(s.nonce, NONCE_LEN)
    .u16le(opaque.length)
    .bytes(opaque)
    .finish();
}

/** Serialises a whole report: request ‖ response ‖ signature. */
export function encodeNvidiaReport(request: SpdmGetMeasurementsRequest, response: SpdmMeasurementsResponse): Uint8Array {
  return concatBytes(encodeRequest(request), encodeResponseUnsigned(response), response.signature);
}
