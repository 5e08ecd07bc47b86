import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CollateralItem } from '../collateral/index.ts';
import { fromUtf8, parseTime } from '../core/index.ts';
import { UsageError } from './exit.ts';

export async function readInput(path: string, what = 'file'): Promise<Uint8Array> {
  try {
    return new Uint8Array(path === '-' ? await readStdin() : await readFile(path));
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** A text file (or `-` for stdin), strictly UTF-8: invalid sequences are a usage error, not U+FFFD. */
export async function readText(path: string, what = 'file'): Promise<string> {
  const bytes = await readInput(path, what);
  try {
    return fromUtf8(bytes);
  } catch {
    throw new UsageError(`${what} ${path} is not UTF-8 text`);
  }
}

/** A JSON object file (or `-`); unreadable or not JSON is a usage error. */
export async function readJson(path: string, what = 'file'): Promise<Record<string, unknown>> {
  const text = await readText(path, what);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what} ${path} is not JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`${what} ${path} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** `--at <ISO-8601>`: the verification time; now when absent. */
export function parseAtOption(at: string | undefined): Date {
  if (at === undefined) return new Date();
  try {
    return parseTime(at);
  } catch {
    throw new UsageError(`--at must be an ISO-8601 time, got ${JSON.stringify(at)}`);
  }
}

/** `--trust-root <family>:<sha256-hex>` (repeatable) → extra pinned roots per family, lower-case hex without colons. */
export function parseTrustRoots(values: string[]): Record<string, string[]> {
  const extraRoots: Record<string, string[]> = {};
  for (const t of values) {
    const m = /^([a-z0-9-]+):([0-9a-fA-F:]{64,95})$/.exec(t);
    if (!m) throw new UsageError(`--trust-root takes <family>:<sha256-hex>, got ${JSON.stringify(t)}`);
    (extraRoots[m[1]!] ??= []).push(m[2]!.replace(/:/g, '').toLowerCase());
  }
  return extraRoots;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Reads files and directories (recursively, in sorted order) into collateral items. */
export async function readCollateralPaths(paths: string[]): Promise<CollateralItem[]> {
  const out: CollateralItem[] = [];
  const walk = async (p: string): Promise<void> => {
    let st;
    try {
      st = await stat(p);
    } catch (e) {
      throw new UsageError(`cannot read collateral ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (st.isDirectory()) {
      const names = (await readdir(p)).sort();
      for (const n of names) {
        if (n.startsWith('.')) continue;
        await walk(join(p, n));
      }
    } else if (st.isFile()) {
      out.push({ name: p, bytes: await readInput(p, 'collateral') });
    }
  };
  for (const p of paths) await walk(p);
  return out;
}

export function writeOut(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
export function writeErr(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}
