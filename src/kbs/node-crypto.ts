/**
 * Server-side hot-path crypto with node:crypto. Resource encryption: the same flattened JWE as
 * `encryptResponse` in src/protocol/jwe.ts (which stays the browser-safe WebCrypto/jose version),
 * without jose's generic path and the per-operation WebCrypto promise jobs — about a quarter of
 * the CPU. RFC 7516 flattened JSON; key management RSA-OAEP-256 (RFC 7518 §4.3) or
 * ECDH-ES+A256KW (§4.6: Concat KDF with SHA-256, empty apu/apv, then AES Key Wrap of the CEK);
 * content encryption A256GCM with the ASCII of the encoded protected header as AAD (§5.1 step 14).
 * The protected header is byte-for-byte what jose writes: {"alg","enc","epk":{x,crv,kty,y}}.
 * Tests decrypt every key type with jose's flattenedDecrypt.
 */
import { constants, createCipheriv, createECDH, ECDH, createHash, createPrivateKey, createPublicKey, KeyObject, publicEncrypt, randomBytes, sign as nodeSign, type JsonWebKey as NodeJwk } from 'node:crypto';
import { ProtocolError } from '../core/index.ts';
import type { EarSigner } from '../policy/index.ts';
import { CONTENT_ENCRYPTION, deviceRuntimeDataDocument, keyManagementAlg, runtimeDataDocument, type HashAlgorithm, type KbsResponse, type TeePubKey } from '../protocol/index.ts';

/**
 * protocol's computeReportData / computeDeviceReportData hashed synchronously with node:crypto
 * (WebCrypto's promise job costs several times the hash of a few hundred bytes). Same input
 * document, same digest; the tests compare them.
 */
export function reportDataSync(teePubkey: TeePubKey, nonce: string, additionalEvidence: string, algorithm: HashAlgorithm): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(runtimeDataDocument(teePubkey, nonce, additionalEvidence), 'utf8').digest());
}

export function deviceReportDataSync(teePubkey: TeePubKey, nonce: string, algorithm: HashAlgorithm): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(deviceRuntimeDataDocument(teePubkey, nonce), 'utf8').digest());
}

const CURVES = { 'P-256': { name: 'prime256v1', size: 32 }, 'P-384': { name: 'secp384r1', size: 48 }, 'P-521': { name: 'secp521r1', size: 66 } } as const;
const AES_KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** RFC 7518 §4.6.2 Concat KDF (one SHA-256 round: 256-bit key). */
function concatKdf(z: Buffer, alg: string): Buffer {
  const algId = Buffer.from(alg, 'ascii');
  return createHash('sha256')
    .update(be32(1))
    .update(z)
    .update(be32(algId.length))
    .update(algId)
    .update(be32(0)) // PartyUInfo: empty
    .update(be32(0)) // PartyVInfo: empty
    .update(be32(256)) // SuppPubInfo: keydatalen in bits
    .digest();
}

function b64u(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

function unusable(kty: string, reason: string): ProtocolError {
  return new ProtocolError(`tee-pubkey is not a usable ${kty} public key: ${reason}`);
}

/** Encrypts a secret to the TEE key; same output format (and checks) as protocol's encryptResponse. */
export function encryptResponseNode(payload: Uint8Array, teePubkey: TeePubKey): KbsResponse {
  const alg = keyManagementAlg(teePubkey);
  const cek = randomBytes(32);
  let header: string;
  let encryptedKey: Buffer;
  if (teePubkey.kty === 'RSA') {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: { kty: 'RSA', n: teePubkey.n, e: teePubkey.e }, format: 'jwk' });
    } catch (e) {
      throw unusable('RSA', (e as Error).message);
    }
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    // jose's rule for RSA-OAEP*: 2048-bit moduli or larger.
    if (bits < 2048) throw unusable('RSA', `${alg} requires key modulusLength to be 2048 bits or larger`);
    try {
      encryptedKey = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
    } catch (e) {
      throw unusable('RSA', (e as Error).message);
    }
    header = JSON.stringify({ alg, enc: CONTENT_ENCRYPTION });
  } else {
    const curve = CURVES[teePubkey.crv];
    if (!curve) throw unusable('EC', `unsupported curve ${String(teePubkey.crv)}`);
    const x = Buffer.from(teePubkey.x, 'base64url');
    const y = Buffer.from(teePubkey.y, 'base64url');
    if (x.length !== curve.size || y.length !== curve.size) throw unusable('EC', `coordinates must be ${curve.size} bytes for ${teePubkey.crv}`);
    const ecdh = createECDH(curve.name);
    const epk = ecdh.generateKeys();
    let z: Buffer;
    try {
      // Rejects points that are not on the curve.
      z = ecdh.computeSecret(Buffer.concat([Buffer.from([4]), x, y]));
    } catch (e) {
      throw unusable('EC', (e as Error).message);
    }
    const kek = concatKdf(z, alg);
    const wrap = createCipheriv('id-aes256-wrap', kek, AES_KW_IV);
    encryptedKey = Buffer.concat([wrap.update(cek), wrap.final()]);
    header = JSON.stringify({ alg, enc: CONTENT_ENCRYPTION, epk: { x: b64u(epk.subarray(1, 1 + curve.size)), crv: teePubkey.crv, kty: 'EC', y: b64u(epk.subarray(1 + curve.size)) } });
  }
  const protectedB64 = Buffer.from(header, 'utf8').toString('base64url');
  const iv = randomBytes(12);
  const gcm = createCipheriv('aes-256-gcm', cek, iv);
  gcm.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ct = Buffer.concat([gcm.update(payload), gcm.final()]);
  return { protected: protectedB64, encrypted_key: b64u(encryptedKey), iv: b64u(iv), ciphertext: b64u(ct), tag: b64u(gcm.getAuthTag()) };
}

/** DER SPKI header of an uncompressed EC point per curve (taken from a generated key once). */
const SPKI_PREFIX = new Map<string, Buffer>();
function spkiPrefix(crv: keyof typeof CURVES): Buffer {
  let p = SPKI_PREFIX.get(crv);
  if (!p) {
    const der = createECDH(CURVES[crv].name);
    der.generateKeys();
    const spki = createPublicKey({ key: { kty: 'EC', crv, x: b64u(der.getPublicKey().subarray(1, 1 + CURVES[crv].size)), y: b64u(der.getPublicKey().subarray(1 + CURVES[crv].size)) }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
    p = Buffer.from(spki.subarray(0, spki.length - (1 + 2 * CURVES[crv].size)));
    SPKI_PREFIX.set(crv, p);
  }
  return p;
}

/**
 * base64url SPKI of a tee-pubkey (the EAR key attestation's akpub), or undefined if unusable.
 * EC points are checked to be on the curve (ECDH.convertKey decodes them) and framed with the
 * curve's fixed SPKI header: a fifth of the cost of a JWK import and SPKI export.
 */
export function teePubKeySpki(k: TeePubKey): string | undefined {
  try {
    if (k.kty === 'RSA') return createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e }, format: 'jwk' }).export({ type: 'spki', format: 'der' }).toString('base64url');
    const curve = CURVES[k.crv];
    const x = Buffer.from(k.x, 'base64url');
    const y = Buffer.from(k.y, 'base64url');
    if (!curve || x.length !== curve.size || y.length !== curve.size) return undefined;
    const point = Buffer.concat([Buffer.from([4]), x, y]);
    ECDH.convertKey(point, curve.name, undefined, undefined, 'compressed');
    return Buffer.concat([spkiPrefix(k.crv), point]).toString('base64url');
  } catch {
    return undefined;
  }
}

/** The payload of a JWT this KBS issued (no signature check: callers hold it from a trusted place). */
export function jwtPayload(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) throw new ProtocolError('not a compact JWT');
  const v = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ProtocolError('JWT payload is not a JSON object');
  return v as Record<string, unknown>;
}

const SIGN_HASH: Record<EarSigner['alg'], string | null> = { ES256: 'sha256', ES384: 'sha384', EdDSA: null };

/**
 * The EAR signer with a synchronous node:crypto signature (same key, JWS r||s form), from the
 * stored private JWK of the same kid (or the CryptoKey itself when it is extractable); without
 * either the signer is returned unchanged (WebCrypto signs).
 */
export function withNodeSign(s: EarSigner, privateJwk?: Record<string, unknown>): EarSigner {
  let key: KeyObject;
  try {
    if (privateJwk && typeof privateJwk.d === 'string') key = createPrivateKey({ key: privateJwk as NodeJwk, format: 'jwk' });
    else if (s.key.extractable) key = KeyObject.from(s.key);
    else return s;
  } catch {
    return s;
  }
  const hash = SIGN_HASH[s.alg];
  const sign = (input: Uint8Array): Uint8Array => new Uint8Array(nodeSign(hash, input, s.alg === 'EdDSA' ? key : { key, dsaEncoding: 'ieee-p1363' }));
  return { ...s, sign };
}
