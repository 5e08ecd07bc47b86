/**
 * Linux configfs-tsm (Documentation/ABI/testing/configfs-tsm, kernel ≥ 6.7): the TEE-neutral
 * report interface that SEV-SNP (provider "sev_guest") and TDX (provider "tdx_guest") guests
 * expose under /sys/kernel/config/tsm/report. One report = one directory:
 *   mkdir <base>/<name>            create a report entry
 *   write privlevel (optional)     SNP VMPL to request (0..3)
 *   write inblob                   up to 64 bytes of report data (REPORT_DATA)
 *   read  outblob                  the report (SNP: the 1184-byte ATTESTATION_REPORT; TDX: a quote)
 *   read  auxblob                  SNP: the extended-report certificate table (may be empty)
 *   read  provider                 which driver answered
 *   read  generation               bumped by every write; read before and after to detect races
 *   rmdir <base>/<name>
 * Plain file I/O, so Node can do it (unlike /dev/sev-guest, which needs an ioctl).
 */
import { mkdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeviceError, randomBytes, toHex } from '../../core/index.ts';

export const TSM_REPORT_BASE = '/sys/kernel/config/tsm/report';
export const TSM_INBLOB_MAX = 64;

/** The file operations tsmReport needs; injectable so tests can stand a fake configfs up. */
export interface TsmFs {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  exists(path: string): Promise<boolean>;
}

export const nodeTsmFs: TsmFs = {
  mkdir: async (p) => void (await mkdir(p)),
  // configfs removes the attribute files with the directory; plain rmdir is what the kernel wants.
  rmdir: (p) => rmdir(p),
  readFile: async (p) => new Uint8Array(await readFile(p)),
  writeFile: (p, d) => writeFile(p, d),
  exists: async (p) => {
    try {
      await stat(p);
      return true;
    } catch {
      return false;
    }
  },
};

/** For fakes built on a real directory: removes the tree (a real configfs needs plain rmdir). */
export const removeTree = (p: string): Promise<void> => rm(p, { recursive: true, force: true });

export interface TsmOptions {
  /** Default /sys/kernel/config/tsm/report. */
  base?: string;
  fs?: TsmFs;
  /** SNP: the VMPL to request the report for (writes `privlevel`). */
  privlevel?: number;
  /** Entry name (default a random one, so concurrent callers never share an entry). */
  name?: string;
}

export interface TsmReport {
  provider: string;
  outblob: Uint8Array;
  /** SNP certificate table; undefined when the provider gives none. */
  auxblob?: Uint8Array;
  generation: number;
}

function errno(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b).trim();

/**
 * Requests one report through configfs-tsm. `reportData` (≤ 64 bytes) is zero-padded to 64 bytes,
 * matching how verifiers compare a shorter expected value as a prefix with a zero tail.
 */
export async function tsmReport(reportData: Uint8Array, opts: TsmOptions = {}): Promise<TsmReport> {
  const fs = opts.fs ?? nodeTsmFs;
  const base = opts.base ?? TSM_REPORT_BASE;
  if (reportData.length > TSM_INBLOB_MAX) throw new DeviceError('configfs-tsm', `report data is ${reportData.length} bytes; at most ${TSM_INBLOB_MAX} fit in inblob`);
  const inblob = new Uint8Array(TSM_INBLOB_MAX);
  inblob.set(reportData);
  if (!(await fs.exists(base))) throw new DeviceError('configfs-tsm', `${base} does not exist (kernel without CONFIG_TSM_REPORTS, configfs not mounted, or not a confidential guest)`);
  const dir = join(base, opts.name ?? `teataster-${toHex(randomBytes(8))}`);
  try {
    await fs.mkdir(dir);
  } catch (e) {
    throw new DeviceError('configfs-tsm', `cannot create report entry ${dir}: ${errno(e)}`, { cause: e });
  }
  try {
    let writes = 0;
    if (opts.privlevel !== undefined) {
      if (!Number.isInteger(opts.privlevel) || opts.privlevel < 0 || opts.privlevel > 3) throw new DeviceError('configfs-tsm', `privlevel must be 0..3, got ${opts.privlevel}`);
      await fs.writeFile(join(dir, 'privlevel'), String(opts.privlevel)).catch((e: unknown) => {
        throw new DeviceError('configfs-tsm', `writing privlevel: ${errno(e)}`, { cause: e });
      });
      writes++;
    }
    await fs.writeFile(join(dir, 'inblob'), inblob).catch((e: unknown) => {
      throw new DeviceError('configfs-tsm', `writing inblob: ${errno(e)}`, { cause: e });
    });
    writes++;
    const read = async (attr: string): Promise<Uint8Array> => {
      try {
        return await fs.readFile(join(dir, attr));
      } catch (e) {
        throw new DeviceError('configfs-tsm', `reading ${attr}: ${errno(e)}`, { cause: e });
      }
    };
    const before = Number(text(await read('generation')));
    const outblob = await read('outblob');
    let auxblob: Uint8Array | undefined;
    if (await fs.exists(join(dir, 'auxblob'))) {
      const a = await read('auxblob');
      if (a.length > 0) auxblob = a;
    }
    const provider = text(await read('provider'));
    const after = Number(text(await read('generation')));
    if (!Number.isInteger(before) || before !== after) {
      throw new DeviceError('configfs-tsm', `generation changed from ${before} to ${after} while reading: another writer raced this report entry`);
    }
    if (before !== writes) {
      throw new DeviceError('configfs-tsm', `generation is ${before} after our ${writes} write(s): another writer touched ${dir}; the report may not carry our report data`);
    }
    if (outblob.length === 0) throw new DeviceError('configfs-tsm', `provider ${provider || '(unknown)'} returned an empty outblob`);
    return { provider, outblob, ...(auxblob ? { auxblob } : {}), generation: after };
  } finally {
    await fs.rmdir(dir).catch(() => undefined);
  }
}

/**
 * Which provider serves configfs-tsm here ("sev_guest", "tdx_guest"), or undefined when the
 * interface is absent. Creates and removes a probe entry; writes nothing.
 */
export async function tsmProvider(opts: Omit<TsmOptions, 'privlevel'> = {}): Promise<string | undefined> {
  const fs = opts.fs ?? nodeTsmFs;
  const base = opts.base ?? TSM_REPORT_BASE;
  if (!(await fs.exists(base))) return undefined;
  const dir = join(base, opts.name ?? `teataster-probe-${toHex(randomBytes(8))}`);
  try {
    await fs.mkdir(dir);
  } catch {
    return undefined;
  }
  try {
    return text(await fs.readFile(join(dir, 'provider'))) || undefined;
  } catch {
    return undefined;
  } finally {
    await fs.rmdir(dir).catch(() => undefined);
  }
}
