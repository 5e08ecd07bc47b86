/**
 * Attester registry and `--tee auto` detection. Hardware attesters live in sibling folders written
 * per TEE (tsm = Linux configfs-tsm for SNP/TDX, snp = /dev/sev-guest, tdx = /dev/tdx_guest,
 * tpm = TPM 2.0); they are loaded lazily so that a missing or broken one never breaks the others.
 * Detection order: configfs-tsm, sev-guest, tdx-guest, TPM, then the INSECURE simulator.
 */
import { DeviceError, type PlatformId } from '../core/index.ts';
import { createSimAttester, type SimAttesterOptions } from './sim/index.ts';
import { isAttester, type Attester } from './types.ts';

export type { Attester } from './types.ts';
export { isAttester } from './types.ts';
export { createSimAttester, loadOrCreateSimKey, signSimEvidence, SIM_KEY_FILE, type SimAttesterOptions, type SimKey } from './sim/index.ts';

export type TeeChoice = 'auto' | 'snp' | 'tdx' | 'tpm' | 'sim';
export const TEE_CHOICES: readonly TeeChoice[] = ['auto', 'snp', 'tdx', 'tpm', 'sim'];

/** Hardware attester modules, in detection order (folder → platforms it may serve). */
const HARDWARE: readonly { folder: string; serves: PlatformId[] }[] = [
  { folder: 'tsm', serves: ['snp', 'tdx'] },
  { folder: 'snp', serves: ['snp'] },
  { folder: 'tdx', serves: ['tdx'] },
  { folder: 'tpm', serves: ['tpm'] },
];

export interface AttesterOptions {
  sim?: SimAttesterOptions;
  /** Options passed to hardware attester factories (device paths, TPM connection…). */
  hardware?: Record<string, unknown>;
}

/**
 * Every Attester a module exports: attester objects, or factories named create*Attester that
 * take an options object.
 */
async function attestersOf(folder: string, opts: AttesterOptions): Promise<{ found: Attester[]; error?: string }> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL(`./${folder}/index.ts`, import.meta.url).href)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND') return { found: [] };
    return { found: [], error: `attester module ${folder}: ${(e as Error).message}` };
  }
  const found: Attester[] = [];
  for (const [name, v] of Object.entries(mod)) {
    if (isAttester(v)) found.push(v);
    else if (typeof v === 'function' && /^create\w*Attester$/.test(name)) {
      try {
        const a: unknown = await (v as (o: unknown) => unknown)(opts.hardware ?? {});
        if (isAttester(a)) found.push(a);
      } catch {
        // a factory that cannot construct here (no device): not available
      }
    }
  }
  return { found };
}

async function firstAvailable(candidates: Attester[], want?: PlatformId): Promise<Attester | null> {
  for (const a of candidates) {
    if (want && a.id !== want) continue;
    try {
      if (await a.available()) return a;
    } catch {
      // probing failed: treat as unavailable
    }
  }
  return null;
}

/**
 * The attester for a --tee choice. 'auto' tries hardware in order and falls back to 'sim' only
 * when `allowSimFallback` (the CLI says so loudly).
 */
export async function selectAttester(choice: TeeChoice, opts: AttesterOptions = {}, allowSimFallback = true): Promise<Attester> {
  if (choice === 'sim') return createSimAttester(opts.sim);
  const problems: string[] = [];
  for (const h of HARDWARE) {
    if (choice !== 'auto' && !h.serves.includes(choice)) continue;
    const { found, error } = await attestersOf(h.folder, opts);
    if (error) problems.push(error);
    const a = await firstAvailable(found, choice === 'auto' ? undefined : choice);
    if (a) return a;
  }
  if (choice === 'auto' && allowSimFallback) return createSimAttester(opts.sim);
  throw new DeviceError(choice === 'auto' ? 'tee' : choice, `no usable ${choice === 'auto' ? 'TEE' : choice} attester on this machine${problems.length ? ` (${problems.join('; ')})` : ''}`);
}

/** What `--tee auto` would find, for diagnostics. */
export async function detectAttesters(opts: AttesterOptions = {}): Promise<{ id: PlatformId; module: string }[]> {
  const out: { id: PlatformId; module: string }[] = [];
  for (const h of HARDWARE) {
    const { found } = await attestersOf(h.folder, opts);
    for (const a of found) {
      try {
        if (await a.available()) out.push({ id: a.id, module: h.folder });
      } catch {
        // unavailable
      }
    }
  }
  out.push({ id: 'sim', module: 'sim' });
  return out;
}
