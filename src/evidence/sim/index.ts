/**
 * The simulated TEE's evidence ("sim"): a software-signed document for development and tests.
 * It offers NO hardware protection; every default policy rejects it and the verifier marks its
 * claims `simulated: true`. Layout (UTF-8 JSON, one object):
 *   { "format": "teataster-sim-v1",
 *     "payload": base64url(JSON body),          ← the signed bytes are the ASCII of this string
 *     "signature": base64url(r || s),           ← ECDSA P-256 / SHA-256, raw 64 bytes
 *     "key": { "kty": "EC", "crv": "P-256", "x", "y" } }   ← the per-install signing key
 * Body: { version: 1, measurement: hex(48), report_data: hex(64), svn: u32, debug: bool,
 *         host_data?: hex(32), init_data?: hex(≤64), time: ISO-8601, instance?: string }
 * Pure parsing: no crypto, no I/O.
 */
import { EvidenceMalformed, fromBase64Url, fromHex, fromUtf8, toBase64Url, toHex, UnsupportedVersion, utf8 } from '../../core/index.ts';

export const SIM_FORMAT = 'teataster-sim-v1';
export const SIM_VERSION = 1;
export const SIM_REPORT_DATA_SIZE = 64;
export const SIM_MEASUREMENT_SIZE = 48;

export interface SimPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

export interface SimBody {
  version: number;
  /** Launch measurement (48 bytes, like SNP's MEASUREMENT). */
  measurement: Uint8Array;
  /** 64-byte REPORT_DATA chosen by the guest. */
  reportData: Uint8Array;
  svn: number;
  debug: boolean;
  hostData?: Uint8Array;
  initData?: Uint8Array;
  time: string;
  instance?: string;
}

export interface SimEvidence {
  raw: Uint8Array;
  body: SimBody;
  /** The exact signed bytes (ASCII of the base64url payload). */
  signed: Uint8Array;
  /** Raw r||s, 64 bytes. */
  signature: Uint8Array;
  key: SimPublicJwk;
}

const bad = (field: string, reason: string): EvidenceMalformed => new EvidenceMalformed('sim', field, undefined, reason);

function hexField(o: Record<string, unknown>, name: string, size: number | [number, number], optional: boolean): Uint8Array | undefined {
  const v = o[name];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || !/^[0-9a-f]*$/.test(v) || v.length % 2) throw bad(name, 'must be lowercase hex');
  const b = fromHex(v);
  const [lo, hi] = Array.isArray(size) ? size : [size, size];
  if (b.length < lo || b.length > hi) throw bad(name, `must be ${lo === hi ? lo : `${lo}..${hi}`} bytes, got ${b.length}`);
  return b;
}

function b64Field(o: Record<string, unknown>, name: string): Uint8Array {
  const v = o[name];
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]+$/.test(v)) throw bad(name, 'must be base64url');
  return fromBase64Url(v);
}

function parseJsonObject(bytes: Uint8Array, field: string): Record<string, unknown> {
  let j: unknown;
  try {
    j = JSON.parse(fromUtf8(bytes));
  } catch (e) {
    throw bad(field, `not UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw bad(field, 'must be a JSON object');
  return j as Record<string, unknown>;
}

export function detectSim(bytes: Uint8Array): boolean {
  if (bytes.length < 20 || bytes.length > 65536 || bytes[0] !== 0x7b) return false;
  return fromUtf8(bytes.subarray(0, Math.min(bytes.length, 4096)), false).includes(`"${SIM_FORMAT}"`);
}

export function parseSimBody(bytes: Uint8Array): SimBody {
  const b = parseJsonObject(bytes, 'payload');
  if (b.version !== SIM_VERSION) throw new UnsupportedVersion('sim', 'version', String(b.version), [SIM_VERSION]);
  const svn = b.svn;
  if (typeof svn !== 'number' || !Number.isInteger(svn) || svn < 0 || svn > 0xffffffff) throw bad('svn', 'must be a u32');
  if (typeof b.debug !== 'boolean') throw bad('debug', 'must be a boolean');
  if (typeof b.time !== 'string' || Number.isNaN(Date.parse(b.time))) throw bad('time', 'must be an ISO-8601 time');
  if (b.instance !== undefined && (typeof b.instance !== 'string' || b.instance.length > 256)) throw bad('instance', 'must be a string of at most 256 characters');
  const body: SimBody = {
    version: SIM_VERSION,
    measurement: hexField(b, 'measurement', SIM_MEASUREMENT_SIZE, false)!,
    reportData: hexField(b, 'report_data', SIM_REPORT_DATA_SIZE, false)!,
    svn,
    debug: b.debug,
    time: b.time,
  };
  const hostData = hexField(b, 'host_data', 32, true);
  if (hostData) body.hostData = hostData;
  const initData = hexField(b, 'init_data', [0, 64], true);
  if (initData) body.initData = initData;
  if (typeof b.instance === 'string') body.instance = b.instance;
  return body;
}

export function parseSimEvidence(bytes: Uint8Array): SimEvidence {
  const o = parseJsonObject(bytes, 'document');
  if (o.format !== SIM_FORMAT) throw bad('format', `must be "${SIM_FORMAT}", got ${JSON.stringify(o.format)}`);
  if (typeof o.payload !== 'string') throw bad('payload', 'must be a base64url string');
  const payloadBytes = b64Field(o, 'payload');
  const signature = b64Field(o, 'signature');
  if (signature.length !== 64) throw bad('signature', `must be 64 bytes (P-256 r||s), got ${signature.length}`);
  const k = o.key as Record<string, unknown> | undefined;
  if (!k || typeof k !== 'object' || k.kty !== 'EC' || k.crv !== 'P-256') throw bad('key', 'must be a P-256 EC public JWK');
  const x = b64Field(k, 'x');
  const y = b64Field(k, 'y');
  if (x.length !== 32 || y.length !== 32) throw bad('key', 'P-256 coordinates must be 32 bytes each');
  if ('d' in k) throw bad('key', 'must not contain a private key');
  return {
    raw: bytes,
    body: parseSimBody(payloadBytes),
    signed: utf8(o.payload),
    signature,
    key: { kty: 'EC', crv: 'P-256', x: toBase64Url(x), y: toBase64Url(y) },
  };
}

/** The JSON body bytes (what is base64url-encoded into `payload`). */
export function encodeSimBody(body: SimBody): Uint8Array {
  const o: Record<string, unknown> = {
    version: body.version,
    measurement: toHex(body.measurement),
    report_data: toHex(body.reportData),
    svn: body.svn,
    debug: body.debug,
    time: body.time,
  };
  if (body.hostData) o.host_data = toHex(body.hostData);
  if (body.initData) o.init_data = toHex(body.initData);
  if (body.instance !== undefined) o.instance = body.instance;
  return utf8(JSON.stringify(o));
}

/** The bytes a signer signs for a body: ASCII of base64url(body JSON). */
export function simSigningInput(body: SimBody): { payload: string; signed: Uint8Array } {
  const payload = toBase64Url(encodeSimBody(body));
  return { payload, signed: utf8(payload) };
}

/** Assembles the evidence document from a payload string, a raw signature and the public key. */
export function encodeSimEvidence(payload: string, signature: Uint8Array, key: SimPublicJwk): Uint8Array {
  return utf8(JSON.stringify({ format: SIM_FORMAT, payload, signature: toBase64Url(signature), key: { kty: key.kty, crv: key.crv, x: key.x, y: key.y } }));
}
