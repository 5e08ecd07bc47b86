/**
 * Tenant signing keys: a private JWK (ES384 or EdDSA/Ed25519) that signs bundles. The Keep trusts a
 * signer by its RFC 7638 JWK thumbprint (SHA-256, base64url), never by a key carried in the bundle.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { AttestError, ErrorCode } from '../core/index.ts';

export type TenantAlg = 'ES384' | 'EdDSA';
export const TENANT_ALGS: readonly TenantAlg[] = ['ES384', 'EdDSA'];

export interface TenantKey {
  alg: TenantAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
  thumbprint: string;
}

export async function generateTenantKey(alg: TenantAlg = 'ES384'): Promise<{ privateJwk: JWK; publicJwk: JWK; thumbprint: string }> {
  const { privateKey, publicKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : 'ES384', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const thumbprint = await calculateJwkThumbprint(publicJwk, 'sha256');
  const privateJwk = await exportJWK(privateKey);
  return { privateJwk: { ...privateJwk, alg, kid: thumbprint, use: 'sig' }, publicJwk: { ...publicJwk, alg, kid: thumbprint, use: 'sig' }, thumbprint };
}

function algOf(jwk: JWK): TenantAlg {
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') return 'ES384';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  throw new AttestError(ErrorCode.ConfigInvalid, `tenant key must be an EC P-384 (ES384) or OKP Ed25519 (EdDSA) JWK, got kty=${String(jwk.kty)} crv=${String(jwk.crv)}`);
}

function publicPart(jwk: JWK): JWK {
  return jwk.kty === 'EC' ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

/** Loads a private tenant JWK (JSON text). */
export async function loadTenantKey(text: string): Promise<TenantKey> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new AttestError(ErrorCode.ConfigInvalid, 'tenant key is not a JSON Web Key');
  }
  const alg = algOf(jwk);
  if (typeof jwk.d !== 'string') throw new AttestError(ErrorCode.ConfigInvalid, 'tenant key has no private part ("d"); package needs the private JWK from `teataster keep keygen`');
  const privateKey = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
  const publicJwk = publicPart(jwk);
  return { alg, privateKey, publicJwk, thumbprint: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

/**
 * Resolves what `--tenant-key` names to a thumbprint: a JWK (public or private, JSON text) or the
 * thumbprint itself (43 base64url characters).
 */
export async function tenantThumbprint(text: string): Promise<string> {
  const t = text.trim();
  if (/^[A-Za-z0-9_-]{43}$/.test(t)) return t;
  let jwk: JWK;
  try {
    jwk = JSON.parse(t) as JWK;
  } catch {
    throw new AttestError(ErrorCode.ConfigInvalid, 'tenant key must be a JWK or an RFC 7638 SHA-256 thumbprint');
  }
  algOf(jwk);
  return calculateJwkThumbprint(publicPart(jwk), 'sha256');
}
