/**
 * Admin authentication: every admin route needs `Authorization: Bearer <JWT>` signed with EdDSA
 * (Ed25519) or ES256 by a key listed in the configuration. The token's `roles` claim, cut down to
 * what its key may grant, decides what it may do; `admin` may do everything.
 */
import { readFile } from 'node:fs/promises';
import { decodeProtectedHeader, importJWK, importSPKI, jwtVerify, SignJWT, type CryptoKey as JoseKey, type JWK } from 'jose';
import { AttestError, ErrorCode } from '../core/index.ts';
import type { AdminRole, KbsConfig } from './config.ts';
import { problems } from './problems.ts';

export interface AdminKey {
  kid?: string;
  key: JoseKey;
  alg: 'EdDSA' | 'ES256';
  roles: AdminRole[];
  subject?: string;
}

export interface AdminPrincipal {
  subject: string;
  roles: AdminRole[];
  kid?: string;
}

function algOfJwk(jwk: Record<string, unknown>): 'EdDSA' | 'ES256' {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new AttestError(ErrorCode.ConfigInvalid, `admin key must be Ed25519 (OKP) or P-256 (EC), got kty=${String(jwk.kty)} crv=${String(jwk.crv)}`);
}

async function fromPem(pem: string): Promise<{ key: JoseKey; alg: 'EdDSA' | 'ES256' }> {
  for (const alg of ['EdDSA', 'ES256'] as const) {
    try {
      return { key: await importSPKI(pem, alg), alg };
    } catch {
      // try the next algorithm
    }
  }
  throw new AttestError(ErrorCode.ConfigInvalid, 'admin key PEM is neither an Ed25519 nor a P-256 SPKI public key');
}

export async function loadAdminKeys(cfg: KbsConfig['admin']['keys']): Promise<AdminKey[]> {
  const out: AdminKey[] = [];
  for (const k of cfg) {
    let key: JoseKey;
    let alg: 'EdDSA' | 'ES256';
    let jwk = k.jwk;
    let pem = k.pem;
    if (k.file) {
      const text = await readFile(k.file, 'utf8').catch((e: Error) => {
        throw new AttestError(ErrorCode.ConfigInvalid, `cannot read admin key ${k.file}: ${e.message}`);
      });
      if (text.trimStart().startsWith('{')) jwk = JSON.parse(text) as Record<string, unknown>;
      else pem = text;
    }
    if (jwk) {
      if ('d' in jwk) throw new AttestError(ErrorCode.ConfigInvalid, 'admin key configuration must hold the PUBLIC key only');
      alg = algOfJwk(jwk);
      key = (await importJWK(jwk as JWK, alg)) as JoseKey;
    } else {
      ({ key, alg } = await fromPem(pem!));
    }
    out.push({ key, alg, roles: [...k.roles], ...(k.kid ? { kid: k.kid } : {}), ...(k.subject ? { subject: k.subject } : {}) });
  }
  return out;
}

export class AdminAuthenticator {
  #keys: AdminKey[];
  #audience: string | undefined;
  #issuer: string | undefined;
  constructor(keys: AdminKey[], opts: { audience?: string; issuer?: string } = {}) {
    this.#keys = keys;
    this.#audience = opts.audience;
    this.#issuer = opts.issuer;
  }

  get configured(): boolean {
    return this.#keys.length > 0;
  }

  /** Verifies the bearer token and that it grants `role`; throws an HttpProblem (401/403). */
  async authorize(authorization: string | undefined, role: AdminRole): Promise<AdminPrincipal> {
    const m = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\s*$/.exec(authorization ?? '');
    if (!m) throw problems.unauthenticated('admin routes require "Authorization: Bearer <admin JWT>"');
    const token = m[1]!;
    if (this.#keys.length === 0) throw problems.unauthenticated('no admin keys are configured on this KBS');
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw problems.unauthenticated('admin token is not a JWS');
    }
    const candidates = this.#keys.filter((k) => !kid || !k.kid || k.kid === kid);
    for (const k of candidates) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, k.key, {
          algorithms: [k.alg],
          requiredClaims: ['exp'],
          clockTolerance: 30,
          ...(this.#audience ? { audience: this.#audience } : {}),
          ...(this.#issuer ? { issuer: this.#issuer } : {}),
        }));
      } catch {
        continue;
      }
      const claimed = Array.isArray(payload.roles) ? payload.roles.filter((r): r is AdminRole => typeof r === 'string') : [];
      const roles = claimed.filter((r) => k.roles.includes(r) || k.roles.includes('admin'));
      const principal: AdminPrincipal = { subject: typeof payload.sub === 'string' ? payload.sub : (k.subject ?? k.kid ?? 'admin'), roles, ...(k.kid ? { kid: k.kid } : {}) };
      if (!grants(roles, role)) throw problems.forbidden(`admin token of ${principal.subject} lacks the role "${role}" (has: ${roles.join(', ') || 'none'})`);
      return principal;
    }
    throw problems.unauthenticated('admin token invalid: bad signature, unknown key, expired, or wrong audience/issuer');
  }
}

/**
 * Mints an admin token in the form `authorize` checks: `roles`, `sub`, `iat`, `exp` (and `aud`/`iss`
 * when the KBS is configured to require them), header `kid` when the key has one.
 */
export async function signAdminToken(
  key: JoseKey,
  alg: 'EdDSA' | 'ES256',
  o: { roles: readonly string[]; subject: string; lifetimeSeconds: number; now?: Date; kid?: string; audience?: string; issuer?: string },
): Promise<string> {
  const iat = Math.floor((o.now ?? new Date()).getTime() / 1000);
  let jwt = new SignJWT({ roles: [...o.roles] })
    .setProtectedHeader({ alg, ...(o.kid ? { kid: o.kid } : {}), typ: 'JWT' })
    .setSubject(o.subject)
    .setIssuedAt(iat)
    .setExpirationTime(iat + o.lifetimeSeconds);
  if (o.audience) jwt = jwt.setAudience(o.audience);
  if (o.issuer) jwt = jwt.setIssuer(o.issuer);
  return jwt.sign(key);
}

/** 'admin' implies every role; 'reader' is implied by every writer and by 'auditor'. */
export function grants(roles: readonly AdminRole[], needed: AdminRole): boolean {
  if (roles.includes('admin') || roles.includes(needed)) return true;
  if (needed === 'reader') return roles.length > 0;
  return false;
}
