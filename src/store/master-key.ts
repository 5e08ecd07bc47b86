/**
 * Master keys for the envelope encryption of secrets at rest (docs/store.md "Encryption").
 * The local provider wraps 32-byte data keys with AES-256-GCM under a 32-byte master key, binding
 * the row's identity as associated data (AES-KW has no AAD, so a wrapped key could be moved to
 * another row undetected; GCM prevents that). HSMs and KMSs plug in through MasterKeyProvider.
 */
import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes } from 'node:crypto';
import { chmod, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { AttestError, ErrorCode } from '../core/errors.ts';
import { fromBase64, fromHex } from '../core/encoding.ts';
import type { MasterKeyProvider, StoreLogger } from './types.ts';

export const MASTER_KEY_ENV = 'TEATASTER_MASTER_KEY';
const WRAP_VERSION = 0x01;
const IV_LEN = 12;
const TAG_LEN = 16;

function configError(message: string, details: Record<string, unknown> = {}): AttestError {
  return new AttestError(ErrorCode.ConfigInvalid, message, details);
}

/** Public, non-reversible id of a raw key: 'local:' + 16 hex of SHA-256(label || key). */
export function localKeyId(key: Uint8Array): string {
  return `local:${createHash('sha256').update('teataster master key id v1\0').update(key).digest('hex').slice(0, 16)}`;
}

/** A provider over a raw 32-byte AES-256 key held in process memory. */
export function localMasterKey(key: Uint8Array): MasterKeyProvider {
  if (key.length !== 32) throw configError(`master key must be 32 bytes (AES-256), got ${key.length}`, { length: key.length });
  // A KeyObject: a private copy (the caller may zero theirs), and no per-call key import.
  const k = createSecretKey(Buffer.from(key));
  const id = localKeyId(key);
  return {
    id,
    async wrap(dataKey, aad) {
      const iv = randomBytes(IV_LEN);
      const c = createCipheriv('aes-256-gcm', k, iv);
      c.setAAD(aad);
      const ct = Buffer.concat([c.update(dataKey), c.final()]);
      return new Uint8Array(Buffer.concat([Buffer.of(WRAP_VERSION), iv, ct, c.getAuthTag()]));
    },
    async unwrap(wrapped, aad) {
      if (wrapped.length < 1 + IV_LEN + TAG_LEN || wrapped[0] !== WRAP_VERSION) throw new Error('wrapped key has an unknown format');
      const iv = wrapped.subarray(1, 1 + IV_LEN);
      const ct = wrapped.subarray(1 + IV_LEN, wrapped.length - TAG_LEN);
      const tag = wrapped.subarray(wrapped.length - TAG_LEN);
      const d = createDecipheriv('aes-256-gcm', k, iv);
      d.setAAD(aad);
      d.setAuthTag(tag);
      return new Uint8Array(Buffer.concat([d.update(ct), d.final()]));
    },
  };
}

export function toMasterKeyProvider(k: Uint8Array | MasterKeyProvider): MasterKeyProvider {
  return k instanceof Uint8Array ? localMasterKey(k) : k;
}

/** Parses key material: 32 raw bytes, or base64 / base64url / 64 hex chars (whitespace ignored). */
export function parseMasterKey(material: Uint8Array | string, where: string): Uint8Array {
  if (typeof material !== 'string' && material.length === 32) return new Uint8Array(material);
  const text = (typeof material === 'string' ? material : Buffer.from(material).toString('utf8')).replace(/\s+/g, '');
  let key: Uint8Array | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(text)) key = fromHex(text);
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    try {
      key = fromBase64(text);
    } catch {
      key = undefined;
    }
  }
  if (!key || key.length !== 32) {
    throw configError(`${where}: master key must be 32 bytes (raw, base64 or hex), got ${key ? `${key.length} bytes` : 'unparseable text'}`, { where });
  }
  return new Uint8Array(key);
}

/** Reads `TEATASTER_MASTER_KEY` (base64 of 32 bytes); undefined when unset. */
export function masterKeyFromEnv(env: Record<string, string | undefined> = process.env): Uint8Array | undefined {
  const v = env[MASTER_KEY_ENV];
  if (v === undefined || v === '') return undefined;
  return parseMasterKey(v, MASTER_KEY_ENV);
}

/** Reads a key file (raw 32 bytes, base64 or hex). Warns when group/other can read it. */
export async function masterKeyFromFile(path: string, logger?: StoreLogger): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw configError(`cannot read master key file ${path}: ${(e as Error).message}`, { path });
  }
  if (process.platform !== 'win32') {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) logger?.warn({ path, mode: (st.mode & 0o777).toString(8) }, 'master key file is readable by group/other; chmod 600 it');
  }
  return parseMasterKey(bytes, path);
}

/**
 * Reads the key file, creating it (mode 0600, base64 of 32 random bytes) when absent. For `--dev`
 * and first runs; the exclusive create means two processes starting at once agree on one key.
 */
export async function ensureMasterKeyFile(path: string, logger?: StoreLogger): Promise<Uint8Array> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(`${randomBytes(32).toString('base64')}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(path, 0o600);
    logger?.info({ path }, 'generated a new master key file');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw configError(`cannot create master key file ${path}: ${(e as Error).message}`, { path });
  }
  // A concurrent creator may not have written yet: retry briefly on an empty file.
  for (let i = 0; ; i++) {
    const st = await stat(path);
    if (st.size > 0 || i >= 50) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return masterKeyFromFile(path, logger);
}

/**
 * The usual resolution order: explicit file, else `TEATASTER_MASTER_KEY`; ERR_CONFIG_INVALID when
 * neither is given.
 */
export async function loadMasterKey(opts: { file?: string; env?: Record<string, string | undefined>; logger?: StoreLogger }): Promise<Uint8Array> {
  if (opts.file) return masterKeyFromFile(opts.file, opts.logger);
  const fromEnv = masterKeyFromEnv(opts.env ?? process.env);
  if (fromEnv) return fromEnv;
  throw configError(`no master key: pass a key file or set ${MASTER_KEY_ENV} (base64 of 32 random bytes)`);
}

export function generateMasterKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}
