/**
 * Envelope encryption at rest (docs/store.md "Encryption"): each secret gets a fresh 256-bit data
 * key; the value is AES-256-GCM under it with the row's identity as AAD; the data key is wrapped
 * by the master key (with the same AAD) and stored with the master key's id. Moving a ciphertext
 * or a wrapped key to another row, or editing either, makes decryption fail.
 */
import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { AttestError, ErrorCode } from '../core/errors.ts';
import type { MasterKeyProvider } from './types.ts';

const CT_VERSION = 0x01;
const IV_LEN = 12;
const TAG_LEN = 16;

export interface Sealed {
  ciphertext: Uint8Array;
  wrappedKey: Uint8Array;
  keyId: string;
}

export function aadFor(kind: string, ...parts: (string | number)[]): Uint8Array {
  return new TextEncoder().encode(['teataster', kind, 'v1', ...parts.map(String)].join('\0'));
}

export function integrityError(what: string, cause?: unknown): AttestError {
  return new AttestError(ErrorCode.Internal, `${what}: authentication failed (ciphertext, wrapped key or row identity was altered)`, { reason: 'integrity', what }, { cause });
}

/** AES-256-GCM with a random IV; output = 0x01 || iv || ciphertext || tag. */
export function gcmSeal(key: Uint8Array | KeyObject, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const iv = randomBytes(IV_LEN);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return new Uint8Array(Buffer.concat([Buffer.of(CT_VERSION), iv, ct, c.getAuthTag()]));
}

export function gcmOpen(key: Uint8Array | KeyObject, sealed: Uint8Array, aad: Uint8Array, what: string): Uint8Array {
  if (sealed.length < 1 + IV_LEN + TAG_LEN || sealed[0] !== CT_VERSION) throw integrityError(what);
  try {
    const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 1 + IV_LEN));
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
    return new Uint8Array(Buffer.concat([d.update(sealed.subarray(1 + IV_LEN, sealed.length - TAG_LEN)), d.final()]));
  } catch (e) {
    throw integrityError(what, e);
  }
}

export class Envelope {
  readonly current: MasterKeyProvider;
  private readonly byId: Map<string, MasterKeyProvider>;

  constructor(current: MasterKeyProvider, previous: MasterKeyProvider[] = []) {
    this.current = current;
    this.byId = new Map([...previous, current].map((p) => [p.id, p]));
  }

  knows(keyId: string): boolean {
    return this.byId.has(keyId);
  }

  async seal(plaintext: Uint8Array, aad: Uint8Array): Promise<Sealed> {
    const dataKey = randomBytes(32);
    try {
      const ciphertext = gcmSeal(dataKey, plaintext, aad);
      const wrappedKey = await this.current.wrap(new Uint8Array(dataKey), aad);
      return { ciphertext, wrappedKey, keyId: this.current.id };
    } finally {
      dataKey.fill(0);
    }
  }

  /** Throws ERR_CONFIG_INVALID when the wrapping master key is not configured, integrity otherwise. */
  async unwrapKey(wrappedKey: Uint8Array, keyId: string, aad: Uint8Array, what: string): Promise<Uint8Array> {
    const provider = this.byId.get(keyId);
    if (!provider) {
      throw new AttestError(ErrorCode.ConfigInvalid, `${what} is wrapped by master key ${keyId}, which is not configured (configured: ${[...this.byId.keys()].join(', ')}): wrong master key?`, { what, keyId, configured: [...this.byId.keys()] });
    }
    try {
      const k = await provider.unwrap(wrappedKey, aad);
      if (k.length !== 32) throw new Error(`unwrapped key has ${k.length} bytes`);
      return k;
    } catch (e) {
      if (e instanceof AttestError) throw e;
      throw integrityError(what, e);
    }
  }

  async open(s: Sealed, aad: Uint8Array, what: string): Promise<Uint8Array> {
    const dataKey = await this.unwrapKey(s.wrappedKey, s.keyId, aad, what);
    try {
      return gcmOpen(dataKey, s.ciphertext, aad, what);
    } finally {
      dataKey.fill(0);
    }
  }

  /** New wrapping of the same data key under the current master key (ciphertext unchanged). */
  async rewrap(wrappedKey: Uint8Array, keyId: string, aad: Uint8Array, what: string): Promise<{ wrappedKey: Uint8Array; keyId: string }> {
    const dataKey = await this.unwrapKey(wrappedKey, keyId, aad, what);
    try {
      return { wrappedKey: await this.current.wrap(dataKey, aad), keyId: this.current.id };
    } finally {
      dataKey.fill(0);
    }
  }
}
