/**
 * Builds the example workloads of examples/keep/ into a fresh temp directory at test time (C with
 * clang --target=wasm32-wasi and Debian's wasi-libc; WAT with wabt's wat2wasm). Nothing is committed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXAMPLES_DIR = fileURLToPath(new URL('../../../examples/keep/', import.meta.url));
export type Example = 'secret-digest' | 'read-file' | 'memory-hog' | 'spin' | 'scratch';

let dir: string | undefined;
const built = new Map<Example, string>();

/** Where `clang --target=wasm32-wasi` finds wasi-libc: Debian puts it under /usr (include/wasm32-wasi). */
function sysrootArgs(): string[] {
  for (const s of ['/usr/share/wasi-sysroot', '/opt/wasi-sdk/share/wasi-sysroot']) {
    try {
      readFileSync(join(s, 'include', 'stdio.h'));
      return [`--sysroot=${s}`];
    } catch {
      // not there
    }
  }
  return [];
}

export function examplePath(name: Example): string {
  const have = built.get(name);
  if (have) return have;
  dir ??= mkdtempSync(join(tmpdir(), 'teataster-keep-examples-'));
  const out = join(dir, `${name}.wasm`);
  if (name === 'spin') execFileSync('wat2wasm', [join(EXAMPLES_DIR, 'spin.wat'), '-o', out]);
  else execFileSync('clang', ['--target=wasm32-wasi', ...sysrootArgs(), '-O2', '-o', out, join(EXAMPLES_DIR, `${name}.c`)]);
  built.set(name, out);
  return out;
}

export function exampleModule(name: Example): Uint8Array {
  return new Uint8Array(readFileSync(examplePath(name)));
}

export function cleanupExamples(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  built.clear();
}
