import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CollateralItem } from '../collateral/index.ts';
import { UsageError } from './exit.ts';

export async function readInput(path: string, what = 'file'): Promise<Uint8Array> {
  try {
    return new Uint8Array(path === '-' ? await readStdin() : await readFile(path));
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
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
