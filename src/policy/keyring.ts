/**
 * The EAR signing key ring: pure logic over a small storage interface (the store's
 * SigningKeyRepository has exactly this shape, so the KBS passes `store.signingKeys`).
 *
 * - First use generates a key (ES256 by default; ES384 and EdDSA/Ed25519 too).
 * - Rotation with overlap: a new key becomes active, the old one is retired but stays in the
 *   JWKS until every token it could have signed has expired (retiredAt + maxTokenTtl), so
 *   relying parties never see a valid token they cannot verify.
 * - Keys have a signing lifetime (notAfter; an imported key with an x5c certificate uses the
 *   certificate's notAfter). The ring rotates automatically `rotateBeforeSeconds` before that,
 *   and `status()` warns `warnBeforeSeconds` ahead, long before anything lapses.
 */
import { exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint, type JWK } from 'jose';
import { fromBase64, iso, parseCertificate } from '../core/index.ts';
import { EAR_ALGORITHMS, type EarAlgorithm, type EarSigner, type EarSignerSource } from './ear.ts';
import { TokenInvalid } from './errors.ts';

export type Jwk = { kty: string; [key: string]: unknown };

export interface StoredKey {
  kid: string;
  alg: string;
  publicJwk: Jwk;
  privateJwk: Jwk;
  createdAt: Date;
  /** End of the signing lifetime (null: unlimited, not recommended). */
  notAfter: Date | null;
  retiredAt: Date | null;
}

export interface KeyRingStorage {
  /** All keys, retired ones too, oldest first. */
  list(): Promise<StoredKey[]>;
  put(k: StoredKey): Promise<void>;
  retire(kid: string, at: Date): Promise<void>;
  delete?(kid: string): Promise<boolean>;
}

export class MemoryKeyRingStorage implements KeyRingStorage {
  readonly keys: StoredKey[] = [];
  async list(): Promise<StoredKey[]> {
    return this.keys.map((k) => ({ ...k }));
  }
  async put(k: StoredKey): Promise<void> {
    if (this.keys.some((x) => x.kid === k.kid)) throw new Error(`key ${k.kid} exists`);
    this.keys.push({ ...k });
  }
  async retire(kid: string, at: Date): Promise<void> {
    const k = this.keys.find((x) => x.kid === kid);
    if (!k) throw new Error(`key ${kid} not found`);
    k.retiredAt = at;
  }
  async delete(kid: string): Promise<boolean> {
    const i = this.keys.findIndex((x) => x.kid === kid);
    if (i < 0) return false;
    this.keys.splice(i, 1);
    return true;
  }
}

export interface KeyRingOptions {
  alg?: EarAlgorithm;
  /** Signing lifetime of generated keys (default 90 days). */
  keyLifetimeSeconds?: number;
  /** Rotate automatically when the active key has less than this left (default 14 days; 0 disables). */
  rotateBeforeSeconds?: number;
  /** Warn when the active key (or its certificate) lapses within this (default 30 days). */
  warnBeforeSeconds?: number;
  /** Longest token lifetime; retired keys stay verifiable this long (default 1 hour). */
  maxTokenTtlSeconds?: number;
}

export interface KeyState {
  kid: string;
  alg: string;
  state: 'active' | 'retired' | 'expired';
  createdAt: string;
  notAfter: string | null;
  retiredAt: string | null;
  /** Tokens signed by this key verify until then. */
  verifiableUntil: string | null;
}

const DAY = 86_400;

export class KeyRing implements EarSignerSource {
  readonly storage: KeyRingStorage;
  readonly alg: EarAlgorithm;
  readonly keyLifetimeSeconds: number;
  readonly rotateBeforeSeconds: number;
  readonly warnBeforeSeconds: number;
  readonly maxTokenTtlSeconds: number;
  #lock: Promise<unknown> = Promise.resolve();
  readonly #imported = new Map<string, CryptoKey>();

  constructor(storage: KeyRingStorage, opts: KeyRingOptions = {}) {
    this.storage = storage;
    this.alg = opts.alg ?? 'ES256';
    if (!(EAR_ALGORITHMS as readonly string[]).includes(this.alg)) throw new TokenInvalid('key', `unsupported signing algorithm ${this.alg}`);
    this.keyLifetimeSeconds = opts.keyLifetimeSeconds ?? 90 * DAY;
    this.rotateBeforeSeconds = opts.rotateBeforeSeconds ?? 14 * DAY;
    this.warnBeforeSeconds = opts.warnBeforeSeconds ?? 30 * DAY;
    this.maxTokenTtlSeconds = opts.maxTokenTtlSeconds ?? 3600;
  }

  /** Serialises mutations within this process (the storage arbitrates between processes). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  verifiableUntil(k: StoredKey): Date | null {
    const ends = [k.retiredAt, k.notAfter].filter((d): d is Date => d !== null).map((d) => d.getTime());
    if (ends.length === 0) return null;
    return new Date(Math.min(...ends) + this.maxTokenTtlSeconds * 1000);
  }

  #canSign(k: StoredKey, now: Date): boolean {
    return k.retiredAt === null && (k.notAfter === null || k.notAfter.getTime() > now.getTime()) && k.createdAt.getTime() <= now.getTime() + 60_000;
  }

  #active(keys: StoredKey[], now: Date): StoredKey | undefined {
    return keys.filter((k) => this.#canSign(k, now)).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
  }

  async #generate(now: Date, alg: EarAlgorithm): Promise<StoredKey> {
    const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
    const publicJwk = (await exportJWK(publicKey)) as Jwk;
    const privateJwk = (await exportJWK(privateKey)) as Jwk;
    const kid = await calculateJwkThumbprint(publicJwk as JWK, 'sha256');
    const k: StoredKey = {
      kid,
      alg,
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
      privateJwk: { ...privateJwk, kid, alg },
      createdAt: now,
      notAfter: new Date(now.getTime() + this.keyLifetimeSeconds * 1000),
      retiredAt: null,
    };
    await this.storage.put(k);
    return k;
  }

  /** The current signing key; generates one on first use and rotates when the active one is near its end. */
  async signer(now: Date): Promise<EarSigner> {
    const k = await this.#exclusive(async () => {
      const keys = await this.storage.list();
      let active = this.#active(keys, now);
      if (!active) return this.#generate(now, this.alg);
      if (this.rotateBeforeSeconds > 0 && active.notAfter && active.notAfter.getTime() - now.getTime() < this.rotateBeforeSeconds * 1000) {
        const next = await this.#generate(now, this.alg);
        await this.storage.retire(active.kid, now);
        active = next;
      }
      return active;
    });
    return { kid: k.kid, alg: k.alg as EarAlgorithm, key: await this.#key(k) };
  }

  async #key(k: StoredKey): Promise<CryptoKey> {
    let key = this.#imported.get(k.kid);
    if (!key) {
      key = (await importJWK(k.privateJwk as JWK, k.alg)) as CryptoKey;
      this.#imported.set(k.kid, key);
    }
    return key;
  }

  /** Makes a new key active now; the previous ones are retired and keep verifying for maxTokenTtl. */
  async rotate(now: Date, alg: EarAlgorithm = this.alg): Promise<StoredKey> {
    return this.#exclusive(async () => {
      const keys = await this.storage.list();
      const next = await this.#generate(now, alg);
      for (const k of keys) if (k.retiredAt === null) await this.storage.retire(k.kid, now);
      return next;
    });
  }

  /**
   * Adds an operator-provided private JWK (ES256/ES384/EdDSA), e.g. from an HSM export or with a
   * certificate chain in `x5c`: its signing lifetime ends at the certificate's notAfter.
   */
  async importKey(privateJwk: Jwk, now: Date, opts: { notAfter?: Date; activate?: boolean } = {}): Promise<StoredKey> {
    const alg = (privateJwk.alg ?? (privateJwk.kty === 'OKP' ? 'EdDSA' : privateJwk.crv === 'P-384' ? 'ES384' : 'ES256')) as EarAlgorithm;
    if (!(EAR_ALGORITHMS as readonly string[]).includes(alg) || typeof privateJwk.d !== 'string') throw new TokenInvalid('key', 'import needs a private ES256/ES384/EdDSA JWK');
    await importJWK(privateJwk as JWK, alg);
    const { d: _d, ...pub } = privateJwk;
    const kid = typeof privateJwk.kid === 'string' ? privateJwk.kid : await calculateJwkThumbprint(pub as JWK, 'sha256');
    let notAfter = opts.notAfter ?? null;
    if (Array.isArray(privateJwk.x5c) && typeof privateJwk.x5c[0] === 'string') {
      const cert = parseCertificate(fromBase64(privateJwk.x5c[0]), 'EAR signing certificate');
      if (cert.notAfter.getTime() <= now.getTime()) throw new TokenInvalid('key', `the signing certificate expired at ${iso(cert.notAfter)}`);
      notAfter = notAfter && notAfter < cert.notAfter ? notAfter : cert.notAfter;
    }
    const k: StoredKey = { kid, alg, publicJwk: { ...pub, kid, alg, use: 'sig' }, privateJwk: { ...privateJwk, kid, alg }, createdAt: now, notAfter, retiredAt: null };
    return this.#exclusive(async () => {
      const keys = await this.storage.list();
      await this.storage.put(k);
      if (opts.activate !== false) for (const o of keys) if (o.retiredAt === null) await this.storage.retire(o.kid, now);
      return k;
    });
  }

  /** JWKS for relying parties: every key whose tokens can still be valid at `now`. */
  async jwks(now: Date): Promise<{ keys: Jwk[] }> {
    const keys = await this.storage.list();
    return {
      keys: keys
        .filter((k) => {
          const until = this.verifiableUntil(k);
          return until === null || until.getTime() > now.getTime();
        })
        .map((k) => {
          const { d: _d, ...pub } = k.publicJwk;
          return { ...pub, kid: k.kid, alg: k.alg, use: 'sig' };
        }),
    };
  }

  /** Key states and expiry warnings (for `teataster token keys`, health checks and logs). */
  async status(now: Date): Promise<{ keys: KeyState[]; warnings: string[] }> {
    const keys = await this.storage.list();
    const active = this.#active(keys, now);
    const states: KeyState[] = keys.map((k) => {
      const until = this.verifiableUntil(k);
      const state: KeyState['state'] = k === active ? 'active' : until !== null && until.getTime() <= now.getTime() ? 'expired' : this.#canSign(k, now) ? 'active' : 'retired';
      return { kid: k.kid, alg: k.alg, state, createdAt: iso(k.createdAt), notAfter: k.notAfter ? iso(k.notAfter) : null, retiredAt: k.retiredAt ? iso(k.retiredAt) : null, verifiableUntil: until ? iso(until) : null };
    });
    const warnings: string[] = [];
    if (!active) warnings.push('no active signing key: one is generated on the next token');
    else if (active.notAfter) {
      const left = (active.notAfter.getTime() - now.getTime()) / 1000;
      const cert = Array.isArray(active.publicJwk.x5c) ? ' (its certificate)' : '';
      if (left < this.warnBeforeSeconds) {
        const auto = this.rotateBeforeSeconds > 0 && !cert ? `; it is rotated automatically from ${iso(new Date(active.notAfter.getTime() - this.rotateBeforeSeconds * 1000))}` : '; rotate it (teataster token rotate) or import a renewed key';
        warnings.push(`signing key ${active.kid}${cert} expires at ${iso(active.notAfter)}, in ${Math.floor(left / DAY)} day(s)${auto}`);
      }
    } else warnings.push(`signing key ${active.kid} has no expiry; rotate keys regularly`);
    return { keys: states, warnings };
  }

  /** Deletes keys that can no longer verify any valid token; returns their kids. */
  async prune(now: Date): Promise<string[]> {
    if (!this.storage.delete) return [];
    const gone: string[] = [];
    for (const k of await this.storage.list()) {
      const until = this.verifiableUntil(k);
      if (until !== null && until.getTime() <= now.getTime() && (await this.storage.delete(k.kid))) gone.push(k.kid);
    }
    return gone;
  }
}
