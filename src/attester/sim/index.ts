/**
 * The simulated TEE's attester: signs sim evidence with a per-install P-256 key kept in
 * <dir>/sim-key.jwk (default ./.teataster, created 0600 on first use). INSECURE by design: the key
 * is an ordinary file, so this proves nothing about the machine; it exists so that the whole
 * KBS flow can be developed and tested without TEE hardware.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ab, DeviceError, fromHex, sha384, utf8 } from '../../core/index.ts';
import { encodeSimEvidence, simSigningInput, SIM_VERSION, type SimBody, type SimPublicJwk } from '../../evidence/sim/index.ts';
import type { Attester } from '../types.ts';

export const SIM_KEY_FILE = 'sim-key.jwk';

export interface SimAttesterOptions {
  /** Directory of sim-key.jwk (default ./.teataster). */
  dir?: string;
  /** 48-byte launch measurement (default SHA-384("teataster-sim")). */
  measurement?: Uint8Array;
  svn?: number;
  debug?: boolean;
  hostData?: Uint8Array;
  initData?: Uint8Array;
  instance?: string;
  now?: () => Date;
  /** Use this key pair instead of the file (tests, benchmarks). */
  keyPair?: CryptoKeyPair;
}

export interface SimKey {
  keyPair: CryptoKeyPair;
  publicJwk: SimPublicJwk;
}

async function publicJwkOf(pub: CryptoKey): Promise<SimPublicJwk> {
  const j = await crypto.subtle.exportKey('jwk', pub);
  return { kty: 'EC', crv: 'P-256', x: j.x!, y: j.y! };
}

/** Loads the per-install key from <dir>/sim-key.jwk, creating it when absent. */
export async function loadOrCreateSimKey(dir = '.teataster'): Promise<SimKey> {
  const file = join(dir, SIM_KEY_FILE);
  let text: string | null = null;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new DeviceError(file, `cannot read the sim key: ${(e as Error).message}`);
  }
  if (text !== null) {
    try {
      const jwk = JSON.parse(text) as JsonWebKey;
      const privateKey = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
      const { d: _d, key_ops: _o, ...pubJwk } = jwk;
      const publicKey = await crypto.subtle.importKey('jwk', { ...pubJwk, key_ops: ['verify'] }, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
      return { keyPair: { privateKey, publicKey }, publicJwk: await publicJwkOf(publicKey) };
    } catch (e) {
      throw new DeviceError(file, `not a P-256 private JWK: ${(e as Error).message}`);
    }
  }
  const kp = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', kp.privateKey);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, `${JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d })}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // Another process created it first: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateSimKey(dir);
    throw new DeviceError(file, `cannot write the sim key: ${(e as Error).message}`);
  }
  return { keyPair: kp, publicJwk: await publicJwkOf(kp.publicKey) };
}

export const DEFAULT_SIM_MEASUREMENT_INPUT = 'teataster-sim';

export async function signSimEvidence(body: SimBody, key: SimKey): Promise<Uint8Array> {
  const { payload, signed } = simSigningInput(body);
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.keyPair.privateKey, ab(signed)));
  return encodeSimEvidence(payload, sig, key.publicJwk);
}

export function createSimAttester(opts: SimAttesterOptions = {}): Attester & { key(): Promise<SimKey> } {
  let keyP: Promise<SimKey> | null = null;
  const key = (): Promise<SimKey> => {
    keyP ??= opts.keyPair
      ? publicJwkOf(opts.keyPair.publicKey).then((publicJwk) => ({ keyPair: opts.keyPair!, publicJwk }))
      : loadOrCreateSimKey(opts.dir ?? (process.env.TEATASTER_SIM_DIR || '.teataster'));
    return keyP;
  };
  let measurementP: Promise<Uint8Array> | null = null;
  const measurement = (): Promise<Uint8Array> => {
    const env = process.env.TEATASTER_SIM_MEASUREMENT;
    measurementP ??= opts.measurement ? Promise.resolve(opts.measurement) : env ? Promise.resolve(fromHex(env)) : sha384(utf8(DEFAULT_SIM_MEASUREMENT_INPUT));
    return measurementP;
  };
  const evidence = async (reportData: Uint8Array): Promise<Uint8Array> => {
    if (reportData.length > 64) throw new DeviceError('sim', `report data is ${reportData.length} bytes (maximum 64)`);
    const rd = new Uint8Array(64);
    rd.set(reportData);
    const body: SimBody = {
      version: SIM_VERSION,
      measurement: await measurement(),
      reportData: rd,
      svn: opts.svn ?? 1,
      debug: opts.debug ?? false,
      time: (opts.now?.() ?? new Date()).toISOString(),
      ...(opts.hostData ? { hostData: opts.hostData } : {}),
      ...(opts.initData ? { initData: opts.initData } : {}),
      ...(opts.instance !== undefined ? { instance: opts.instance } : {}),
    };
    return signSimEvidence(body, await key());
  };
  return {
    id: 'sim',
    available: () => Promise.resolve(true),
    evidence,
    // The KBS wire carries sim evidence as a JSON object, like Trustee's sample attester.
    kbsEvidence: async (rd) => JSON.parse(new TextDecoder().decode(await evidence(rd))) as Record<string, unknown>,
    key,
  };
}
