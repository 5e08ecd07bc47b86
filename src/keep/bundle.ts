/**
 * The `.keep` bundle, format "teataster-keep" version 1 (docs/keep.md "Bundle format").
 *
 *   { format: "teataster-keep", version: 1,
 *     manifest: <validated manifest object>,
 *     module: { alg: "A256GCM", iv: b64url(12), ciphertext: b64url(ct‖tag), sha384: hex(plaintext), size },
 *     signature: <compact JWS> }
 *
 * The JWS (ES384 or EdDSA, protected header carries the signer's public `jwk`, typ
 * "teataster-keep+jws") signs the canonical JSON of
 *   { format, version, manifest_sha384, module_sha384, module_size, alg, iv, ciphertext_sha384 }
 * where manifest_sha384 = SHA-384(canonical JSON of manifest). The module is sealed with AES-256-GCM
 * under a fresh 256-bit workload key; AAD = "teataster-keep/1/" ‖ hex(manifest_sha384), so a
 * ciphertext cannot be moved under another manifest. The workload key is returned separately as an
 * `oct` JWK and never stored in the bundle.
 */
import { CompactSign, calculateJwkThumbprint, compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { z } from 'zod';
import { AttestError, canonicalJson, ErrorCode, SignatureInvalid, UnsupportedVersion, ab, bytesEqual, fromBase64Url, fromHex, fromUtf8, randomBytes, sha384, subtle, toBase64Url, toHex, utf8 } from '../core/index.ts';
import { WorkloadInvalid } from './errors.ts';
import { validateManifest, type Manifest } from './manifest.ts';
import type { TenantKey } from './tenant-key.ts';

export const BUNDLE_FORMAT = 'teataster-keep';
export const BUNDLE_VERSION = 1;
export const SIGNATURE_TYP = 'teataster-keep+jws';
/** Largest module a bundle may carry (wasm32 modules beyond this are not plausible workloads). */
export const MAX_MODULE_BYTES = 256 * 1024 * 1024;

export interface KeepBundle {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  manifest: Manifest;
  module: { alg: 'A256GCM'; iv: string; ciphertext: string; sha384: string; size: number };
  signature: string;
}

/** The secret half of a package: a JWK `oct` key. Never put it in logs or on a shared disk. */
export interface WorkloadKeyJwk {
  kty: 'oct';
  alg: 'A256GCM';
  k: string;
  kid: string;
}

export interface SignedPayload {
  format: string;
  version: number;
  manifest_sha384: string;
  module_sha384: string;
  module_size: number;
  alg: string;
  iv: string;
  ciphertext_sha384: string;
}

const b64u = z.string().regex(/^[A-Za-z0-9_-]*$/);
const hex384 = z.string().regex(/^[0-9a-f]{96}$/);
const EnvelopeSchema = z.object({
  format: z.string(),
  version: z.number(),
  manifest: z.unknown(),
  module: z.object({ alg: z.literal('A256GCM'), iv: b64u, ciphertext: b64u, sha384: hex384, size: z.number().int().min(8).max(MAX_MODULE_BYTES) }).strict(),
  signature: z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
}).strict();
const PayloadSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  version: z.literal(BUNDLE_VERSION),
  manifest_sha384: hex384,
  module_sha384: hex384,
  module_size: z.number().int(),
  alg: z.literal('A256GCM'),
  iv: b64u,
  ciphertext_sha384: hex384,
}).strict();

/*
 * Node's base64url codec: the module ciphertext is hundreds of KB and the portable core codec is
 * ~100x slower on it. Inputs were already checked against the base64url alphabet by the schema.
 */
const b64uDecode = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64url'));
const b64uEncode = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

export async function manifestDigest(m: Manifest): Promise<Uint8Array> {
  return sha384(utf8(canonicalJson(m)));
}

function aadFor(manifestSha384: Uint8Array): Uint8Array {
  return utf8(`${BUNDLE_FORMAT}/${BUNDLE_VERSION}/${toHex(manifestSha384)}`);
}

async function aesKey(raw: Uint8Array, usage: 'encrypt' | 'decrypt'): Promise<CryptoKey> {
  return subtle().importKey('raw', ab(raw), { name: 'AES-GCM' }, false, [usage]);
}

/** Builds and signs a bundle. Returns the bundle and the workload key (deliver it only to the KBS). */
export async function packageKeep(moduleBytes: Uint8Array, manifestIn: unknown, tenant: TenantKey): Promise<{ bundle: KeepBundle; workloadKey: WorkloadKeyJwk }> {
  const manifest = validateManifest(manifestIn);
  if (moduleBytes.length < 8 || moduleBytes.length > MAX_MODULE_BYTES) throw new WorkloadInvalid('module', `size ${moduleBytes.length} outside 8..${MAX_MODULE_BYTES} bytes`);
  // \0asm, version 1 (WebAssembly core spec §5.5.16): refuse to package something that is not a module.
  if (!bytesEqual(moduleBytes.subarray(0, 8), new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))) {
    throw new WorkloadInvalid('module', 'not a WebAssembly binary module (magic/version)');
  }
  if (!WebAssembly.validate(ab(moduleBytes))) throw new WorkloadInvalid('module', 'WebAssembly.validate() rejects the module');
  const mDigest = await manifestDigest(manifest);
  const keyBytes = randomBytes(32);
  const iv = randomBytes(12);
  const ct = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: ab(iv), additionalData: ab(aadFor(mDigest)), tagLength: 128 }, await aesKey(keyBytes, 'encrypt'), ab(moduleBytes)));
  const module = { alg: 'A256GCM' as const, iv: toBase64Url(iv), ciphertext: b64uEncode(ct), sha384: toHex(await sha384(moduleBytes)), size: moduleBytes.length };
  const payload: SignedPayload = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    manifest_sha384: toHex(mDigest),
    module_sha384: module.sha384,
    module_size: module.size,
    alg: module.alg,
    iv: module.iv,
    ciphertext_sha384: toHex(await sha384(ct)),
  };
  const signature = await new CompactSign(utf8(canonicalJson(payload)))
    .setProtectedHeader({ alg: tenant.alg, typ: SIGNATURE_TYP, jwk: tenant.publicJwk as JWK, kid: tenant.thumbprint })
    .sign(tenant.privateKey);
  const workloadKey: WorkloadKeyJwk = { kty: 'oct', alg: 'A256GCM', k: toBase64Url(keyBytes), kid: `keep:${manifest.name}:${toHex(mDigest).slice(0, 16)}` };
  keyBytes.fill(0);
  return { bundle: { format: BUNDLE_FORMAT, version: BUNDLE_VERSION, manifest, module, signature }, workloadKey };
}

export function encodeBundle(b: KeepBundle): Uint8Array {
  return utf8(`${JSON.stringify(b, null, 1)}\n`);
}

/** Structural parse only (no signature check): for `inspect` and for deploy to learn the name. */
export function parseBundle(bytes: Uint8Array): KeepBundle {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new WorkloadInvalid('bundle', 'not a JSON teataster-keep bundle');
  }
  const head = z.object({ format: z.string(), version: z.number() }).safeParse(json);
  if (!head.success || head.data.format !== BUNDLE_FORMAT) throw new WorkloadInvalid('format', `expected "${BUNDLE_FORMAT}"`);
  if (head.data.version !== BUNDLE_VERSION) throw new UnsupportedVersion('keep', 'bundle version', head.data.version, [BUNDLE_VERSION]);
  const r = EnvelopeSchema.safeParse(json);
  if (!r.success) throw new WorkloadInvalid('bundle', r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  let manifest: Manifest;
  try {
    manifest = validateManifest(r.data.manifest);
  } catch (e) {
    throw new WorkloadInvalid('manifest', (e as Error).message);
  }
  return { ...r.data, format: BUNDLE_FORMAT, version: BUNDLE_VERSION, manifest };
}

/** The public JWK the bundle's protected header names as signer (unverified: pin it, then verify). */
export function bundleSignerJwk(b: KeepBundle): JWK {
  let header;
  try {
    header = decodeProtectedHeader(b.signature);
  } catch {
    throw new SignatureInvalid('keep bundle signature', 'protected header is not decodable');
  }
  const jwk = header.jwk as JWK | undefined;
  if (!jwk) throw new SignatureInvalid('keep bundle signature', 'no signer jwk in protected header');
  return jwk.kty === 'EC' ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

export interface VerifiedBundle {
  bundle: KeepBundle;
  manifest: Manifest;
  manifestSha384: Uint8Array;
  signer: { thumbprint: string; alg: string; jwk: JWK };
  /** The decoded module ciphertext (checked against the signed digest). */
  ciphertext: Uint8Array;
}

/**
 * Checks the tenant signature and every digest it covers. `trusted` is the set of accepted signer
 * thumbprints: a bundle signed by any other key is refused even if its signature is valid.
 */
export async function verifyBundle(bytes: Uint8Array, trusted: readonly string[]): Promise<VerifiedBundle> {
  const bundle = parseBundle(bytes);
  let header;
  try {
    header = decodeProtectedHeader(bundle.signature);
  } catch {
    throw new SignatureInvalid('keep bundle signature', 'protected header is not decodable');
  }
  if (header.typ !== SIGNATURE_TYP) throw new SignatureInvalid('keep bundle signature', `typ is ${String(header.typ)}, expected ${SIGNATURE_TYP}`);
  if (header.alg !== 'ES384' && header.alg !== 'EdDSA') throw new SignatureInvalid('keep bundle signature', `alg ${String(header.alg)} not allowed (ES384, EdDSA)`);
  const jwk = header.jwk as JWK | undefined;
  if (!jwk) throw new SignatureInvalid('keep bundle signature', 'no signer jwk in protected header');
  let thumbprint: string;
  try {
    thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
  } catch (e) {
    throw new SignatureInvalid('keep bundle signature', `signer jwk is not a usable public key: ${(e as Error).message}`);
  }
  if (!trusted.includes(thumbprint)) {
    throw new AttestError(ErrorCode.SignatureInvalid, `keep bundle signature: signer ${thumbprint} is not a trusted tenant key (trusted: ${trusted.join(', ') || 'none'})`, { what: 'keep bundle signer', actual: thumbprint, expected: trusted });
  }
  let payloadBytes: Uint8Array;
  try {
    const key = await importJWK({ ...jwk, alg: header.alg }, header.alg);
    const r = await compactVerify(bundle.signature, key, { algorithms: [header.alg] });
    payloadBytes = r.payload;
  } catch (e) {
    throw new SignatureInvalid('keep bundle signature', `does not verify under signer ${thumbprint}: ${(e as Error).message}`);
  }
  let payload: SignedPayload;
  try {
    payload = PayloadSchema.parse(JSON.parse(fromUtf8(payloadBytes)));
  } catch {
    throw new SignatureInvalid('keep bundle signature', 'signed payload is not a teataster-keep v1 statement');
  }
  const mDigest = await manifestDigest(bundle.manifest);
  const mismatch = (field: string, expected: string, actual: string | number): never => {
    throw new WorkloadInvalid(field, `does not match the signed statement (signed ${expected}, bundle ${actual})`, { expected, actual });
  };
  if (payload.manifest_sha384 !== toHex(mDigest)) mismatch('manifest', payload.manifest_sha384, toHex(mDigest));
  if (payload.module_sha384 !== bundle.module.sha384) mismatch('module.sha384', payload.module_sha384, bundle.module.sha384);
  if (payload.module_size !== bundle.module.size) mismatch('module.size', String(payload.module_size), bundle.module.size);
  if (payload.iv !== bundle.module.iv) mismatch('module.iv', payload.iv, bundle.module.iv);
  const ciphertext = b64uDecode(bundle.module.ciphertext);
  const ctHash = toHex(await sha384(ciphertext));
  if (payload.ciphertext_sha384 !== ctHash) mismatch('module.ciphertext', payload.ciphertext_sha384, ctHash);
  return { bundle, manifest: bundle.manifest, manifestSha384: mDigest, signer: { thumbprint, alg: header.alg, jwk }, ciphertext };
}

export function parseWorkloadKey(bytes: Uint8Array): WorkloadKeyJwk {
  const r = z.object({ kty: z.literal('oct'), alg: z.literal('A256GCM'), k: b64u, kid: z.string() }).safeParse((() => {
    try {
      return JSON.parse(fromUtf8(bytes));
    } catch {
      return null;
    }
  })());
  if (!r.success) throw new WorkloadInvalid('workload key', 'not an A256GCM oct JWK');
  const raw = fromBase64Url(r.data.k);
  if (raw.length !== 32) throw new WorkloadInvalid('workload key', `key is ${raw.length} bytes, expected 32`);
  raw.fill(0);
  return { kty: 'oct', alg: 'A256GCM', k: r.data.k, kid: r.data.kid };
}

/** Decrypts the module of a verified bundle and checks its SHA-384. Plaintext stays in memory. */
export async function openModule(v: VerifiedBundle, key: WorkloadKeyJwk): Promise<Uint8Array> {
  const raw = fromBase64Url(key.k);
  let pt: Uint8Array;
  try {
    pt = new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: ab(fromBase64Url(v.bundle.module.iv)), additionalData: ab(aadFor(v.manifestSha384)), tagLength: 128 }, await aesKey(raw, 'decrypt'), ab(v.ciphertext)));
  } catch {
    throw new WorkloadInvalid('module.ciphertext', 'AES-256-GCM authentication failed (wrong workload key or modified ciphertext/manifest)');
  } finally {
    raw.fill(0);
  }
  const h = await sha384(pt);
  if (!bytesEqual(h, fromHex(v.bundle.module.sha384))) throw new WorkloadInvalid('module.sha384', `decrypted module hash ${toHex(h)} does not match the signed ${v.bundle.module.sha384}`);
  if (pt.length !== v.bundle.module.size) throw new WorkloadInvalid('module.size', `decrypted ${pt.length} bytes, signed ${v.bundle.module.size}`);
  return pt;
}
