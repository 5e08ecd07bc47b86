/**
 * Resource responses: the secret as a JWE in flattened JSON serialization to the TEE's ephemeral
 * `tee-pubkey` (kbs_types::Response). Key management RSA-OAEP-256 for RSA keys, ECDH-ES+A256KW for
 * P-256/P-384/P-521; content encryption A256GCM; the AAD is the protected header as RFC 7516
 * §5.1 step 14 defines it (jose does exactly that).
 */
import { exportJWK, FlattenedEncrypt, flattenedDecrypt, generateKeyPair, importJWK, type CryptoKey as JoseKey } from 'jose';
import { ProtocolError } from '../core/index.ts';
import type { KbsResponse, TeePubKey } from './types.ts';

export type TeeKeyKind = 'RSA' | 'P-256' | 'P-384' | 'P-521';
export const TEE_KEY_KINDS: readonly TeeKeyKind[] = ['RSA', 'P-256', 'P-384', 'P-521'];
export const CONTENT_ENCRYPTION = 'A256GCM';

export function keyManagementAlg(key: TeePubKey): 'RSA-OAEP-256' | 'ECDH-ES+A256KW' {
  const want = key.kty === 'RSA' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW';
  if (key.alg !== undefined && key.alg !== want) {
    throw new ProtocolError(`tee-pubkey alg ${JSON.stringify(key.alg)} is not supported for a ${key.kty} key (use ${want})`, { alg: key.alg });
  }
  return want;
}

export interface TeeKeyPair {
  /** Non-extractable private key: it never leaves memory. */
  privateKey: JoseKey;
  publicJwk: TeePubKey;
  kind: TeeKeyKind;
}

/** An ephemeral key pair for one handshake, kept in memory only. */
export async function generateTeeKeyPair(kind: TeeKeyKind = 'P-256'): Promise<TeeKeyPair> {
  if (kind === 'RSA') {
    const { privateKey, publicKey } = await generateKeyPair('RSA-OAEP-256', { modulusLength: 3072, extractable: false });
    const j = await exportJWK(publicKey);
    return { privateKey, kind, publicJwk: { kty: 'RSA', alg: 'RSA-OAEP-256', n: j.n!, e: j.e! } };
  }
  const { privateKey, publicKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: kind, extractable: false });
  const j = await exportJWK(publicKey);
  return { privateKey, kind, publicJwk: { kty: 'EC', alg: 'ECDH-ES+A256KW', crv: kind, x: j.x!, y: j.y! } };
}

/** Encrypts a secret to the TEE key (server side). */
export async function encryptResponse(payload: Uint8Array, teePubkey: TeePubKey): Promise<KbsResponse> {
  const alg = keyManagementAlg(teePubkey);
  let key: JoseKey | Uint8Array;
  try {
    const jwk = teePubkey.kty === 'RSA' ? { kty: 'RSA', n: teePubkey.n, e: teePubkey.e } : { kty: 'EC', crv: teePubkey.crv, x: teePubkey.x, y: teePubkey.y };
    key = await importJWK(jwk, alg);
  } catch (e) {
    throw new ProtocolError(`tee-pubkey is not a usable ${teePubkey.kty} public key: ${(e as Error).message}`);
  }
  const jwe = await new FlattenedEncrypt(payload).setProtectedHeader({ alg, enc: CONTENT_ENCRYPTION }).encrypt(key);
  if (jwe.encrypted_key === undefined || jwe.tag === undefined || jwe.iv === undefined) throw new ProtocolError('JWE encryption produced an incomplete object');
  return { protected: jwe.protected!, encrypted_key: jwe.encrypted_key, iv: jwe.iv, ciphertext: jwe.ciphertext, tag: jwe.tag };
}

/** Decrypts a KBS resource response with the TEE's private key (client side). */
export async function decryptResponse(resp: KbsResponse, privateKey: JoseKey): Promise<Uint8Array> {
  try {
    const { plaintext, protectedHeader } = await flattenedDecrypt(
      { protected: resp.protected, encrypted_key: resp.encrypted_key, iv: resp.iv, ciphertext: resp.ciphertext, tag: resp.tag, ...(resp.aad !== undefined ? { aad: resp.aad } : {}) },
      privateKey,
      { keyManagementAlgorithms: ['RSA-OAEP-256', 'ECDH-ES+A256KW'], contentEncryptionAlgorithms: [CONTENT_ENCRYPTION] },
    );
    if (protectedHeader?.enc !== CONTENT_ENCRYPTION) throw new Error(`unexpected enc ${String(protectedHeader?.enc)}`);
    return plaintext;
  } catch (e) {
    throw new ProtocolError(`cannot decrypt the KBS response: ${(e as Error).message}`);
  }
}
