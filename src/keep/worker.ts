/**
 * Worker-thread entry for one Keep workload: instantiates the (already decrypted and memory-capped)
 * module under node:wasi with the in-memory fd layer, and reports output and the exit status to the
 * parent over the worker port. Nothing here touches the host file system.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WASI } from 'node:wasi';
import { buildTree, wasiFs } from './wasi-fs.ts';
import { GROW_DENIED_EXPORT } from './wasm-instrument.ts';

export interface WorkerInput {
  module: Uint8Array;
  args: string[];
  env: Record<string, string>;
  files: [string, Uint8Array][];
  dirs: string[];
  /** Top-level directories that are writable scratch space. */
  writableDirs: string[];
  /** Byte quota of the writable directories. */
  scratchBytes: number;
}

export type WorkerMessage =
  | { t: 'started' }
  | { t: 'out'; fd: 1 | 2; data: Uint8Array }
  | { t: 'exit'; code: number; pages: number; growDenied: boolean | null }
  | { t: 'trap'; message: string; pages: number; growDenied: boolean | null }
  | { t: 'invalid'; message: string };

const port = parentPort;
if (!port) throw new Error('keep worker must run in a worker thread');
const input = workerData as WorkerInput;
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

let memory: WebAssembly.Memory | undefined;
const pages = (): number => (memory ? memory.buffer.byteLength / 65536 : 0);

async function run(): Promise<void> {
  let compiled: WebAssembly.Module;
  try {
    compiled = await WebAssembly.compile(input.module as Uint8Array<ArrayBuffer>);
  } catch (e) {
    post({ t: 'invalid', message: `compile: ${(e as Error).message}` });
    return;
  }
  if (!WebAssembly.Module.exports(compiled).some((x) => x.name === '_start' && x.kind === 'function')) {
    post({ t: 'invalid', message: 'module has no _start export (only WASI command modules run in a Keep)' });
    return;
  }
  // No preopens: node:wasi never sees a host directory. Its fd functions are replaced below.
  const wasi = new WASI({ version: 'preview1', args: input.args, env: input.env, returnOnExit: true });
  const fsImports = wasiFs({
    preopens: buildTree(new Map(input.files), input.dirs, input.writableDirs),
    quota: { used: 0, limit: input.scratchBytes },
    memory: () => memory!,
    write: (fd, data) => post({ t: 'out', fd, data }, [data.buffer as ArrayBuffer]),
  });
  const base = wasi.getImportObject() as { wasi_snapshot_preview1: Record<string, unknown> };
  const imports = { wasi_snapshot_preview1: { ...base.wasi_snapshot_preview1, ...fsImports } };
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(compiled, imports as WebAssembly.Imports);
  } catch (e) {
    post({ t: 'invalid', message: `instantiate: ${(e as Error).message}` });
    return;
  }
  memory = instance.exports.memory as WebAssembly.Memory | undefined;
  if (!(memory instanceof WebAssembly.Memory)) {
    post({ t: 'invalid', message: 'module does not export its memory as "memory"' });
    return;
  }
  // Set by the instrumented memory.grow sites (wasm-instrument.ts) when a grow was refused.
  const flag = instance.exports[GROW_DENIED_EXPORT];
  const growDenied = (): boolean | null => (flag instanceof WebAssembly.Global ? flag.value === 1 : null);
  // The wall-clock limit counts the workload's own run time, not the worker's start-up.
  post({ t: 'started' });
  try {
    const code = wasi.start(instance);
    post({ t: 'exit', code, pages: pages(), growDenied: growDenied() });
  } catch (e) {
    post({ t: 'trap', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e), pages: pages(), growDenied: growDenied() });
  }
}

void run();
