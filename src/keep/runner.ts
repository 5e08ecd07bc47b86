/**
 * Runs a decrypted WASI preview-1 command module in a worker thread under the manifest's limits:
 * - memory: the module's linear memory max is capped to memory_mb (wasm-module.ts); the worker's JS
 *   heap is bounded with resourceLimits;
 * - time: a wall-clock timer terminates the worker after timeout_s;
 * - output: stdout/stderr chunks are streamed to the callbacks as the module writes them;
 * - the module's exit code is returned; a trap returns 134 (128 + SIGABRT, as wasmtime does).
 */
import { Worker } from 'node:worker_threads';
import { LimitExceeded, WorkloadInvalid } from './errors.ts';
import { instrumentMemoryGrow } from './wasm-instrument.ts';
import { capMemory, pagesFor, WASM_PAGE } from './wasm-module.ts';
import type { WorkerInput, WorkerMessage } from './worker.ts';

export const TRAP_EXIT_CODE = 134;

export interface RunLimits {
  memoryMb: number;
  timeoutS: number;
  /** Bytes the workload may store in its writable in-memory directories, MiB (default 16). */
  scratchMb?: number;
}

export interface RunOptions {
  module: Uint8Array;
  /** argv[0] (the Keep name) followed by the manifest args. */
  args: string[];
  env: Record<string, string>;
  /** In-memory files by absolute path; their top-level directories are preopened. */
  files: ReadonlyMap<string, Uint8Array>;
  /** Extra (empty) in-memory directories to preopen. */
  dirs?: string[];
  /** Top-level in-memory directories the workload may write to (also preopened). */
  writableDirs?: string[];
  limits: RunLimits;
  stdout?: (chunk: Uint8Array) => void;
  stderr?: (chunk: Uint8Array) => void;
  /** Cancels the run (worker terminated, rejects with the signal's reason). */
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  trap?: string;
  /** True when a memory.grow was refused at the cap (null: module not instrumented, see docs). */
  memoryGrowDenied: boolean | null;
  memoryBytes: number;
  memoryLimitBytes: number;
  durationMs: number;
}

/** JS heap for the shim itself: file contents live in ArrayBuffers outside it. */
const WORKER_HEAP_MB = 64;
/** Upper bound for loading, compiling and instantiating a module before it runs. */
const STARTUP_TIMEOUT_S = 60;

export async function runWasm(opts: RunOptions): Promise<RunResult> {
  const limitPages = pagesFor(opts.limits.memoryMb);
  const capped = capMemory(opts.module, limitPages);
  const instrumented = instrumentMemoryGrow(capped.module);
  const input: WorkerInput = {
    module: instrumented.module,
    args: opts.args,
    env: opts.env,
    files: [...opts.files],
    dirs: opts.dirs ?? [],
    writableDirs: opts.writableDirs ?? [],
    scratchBytes: (opts.limits.scratchMb ?? 16) * 2 ** 20,
  };
  const started = performance.now();
  const worker = new Worker(new URL('./worker.ts', import.meta.url), {
    workerData: input,
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    stdout: true,
    stderr: true,
    env: {},
    execArgv: ['--no-warnings'],
  });
  // The worker's own console goes nowhere; the workload writes through the port only.
  worker.stdout.resume();
  worker.stderr.resume();

  return new Promise<RunResult>((resolve, reject) => {
    let settled = false;
    let outcome: WorkerMessage | undefined;
    let failure: Error | undefined;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const durationMs = Math.round(performance.now() - started);
      if (failure) return reject(failure);
      if (!outcome) return reject(new WorkloadInvalid('module', 'worker exited without a result'));
      if (outcome.t === 'invalid') return reject(new WorkloadInvalid('module', outcome.message));
      if (outcome.t === 'out' || outcome.t === 'started') return reject(new WorkloadInvalid('module', 'unexpected worker state'));
      const memoryBytes = outcome.pages * WASM_PAGE;
      const memoryLimitBytes = limitPages * WASM_PAGE;
      const abnormal = outcome.t === 'trap' || outcome.code !== 0;
      // memory.grow past the cap fails inside the module. Instrumented modules report the refusal
      // exactly; otherwise a run that ends abnormally with its memory at the ceiling (less than
      // max(1 MiB, limit/16) left) is attributed to the limit.
      const headroom = memoryLimitBytes - memoryBytes;
      const hitLimit = outcome.growDenied ?? headroom < Math.max(2 ** 20, memoryLimitBytes / 16);
      if (abnormal && hitLimit) {
        const why = outcome.growDenied ? `after a memory.grow beyond the ${opts.limits.memoryMb} MiB ceiling was refused` : `with its linear memory at the ${opts.limits.memoryMb} MiB ceiling`;
        return reject(new LimitExceeded('memory_mb', `workload ended (${outcome.t === 'trap' ? outcome.message : `exit ${outcome.code}`}) ${why}`, { memoryBytes, memoryLimitBytes, exitCode: outcome.t === 'exit' ? outcome.code : TRAP_EXIT_CODE, exact: outcome.growDenied !== null }));
      }
      resolve({
        exitCode: outcome.t === 'exit' ? outcome.code : TRAP_EXIT_CODE,
        ...(outcome.t === 'trap' ? { trap: outcome.message } : {}),
        memoryGrowDenied: outcome.growDenied,
        memoryBytes,
        memoryLimitBytes,
        durationMs,
      });
    };
    // Until the module starts, a generous start-up bound (loading, compiling, instantiating);
    // from the worker's 'started' message on, the manifest's wall-clock limit.
    const expire = (limit: 'timeout_s' | 'startup', message: string): void => {
      failure = new LimitExceeded(limit, message, { timeoutS: opts.limits.timeoutS });
      void worker.terminate();
    };
    let timer = setTimeout(() => expire('startup', `the Keep worker did not start the workload within ${STARTUP_TIMEOUT_S} s; terminated`), STARTUP_TIMEOUT_S * 1000);
    const onAbort = (): void => {
      failure = opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('aborted');
      void worker.terminate();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: WorkerMessage) => {
      if (m.t === 'started') {
        clearTimeout(timer);
        timer = setTimeout(() => expire('timeout_s', `workload still running after ${opts.limits.timeoutS} s; terminated`), opts.limits.timeoutS * 1000);
        return;
      }
      if (m.t === 'out') {
        (m.fd === 1 ? opts.stdout : opts.stderr)?.(m.data);
        return;
      }
      outcome = m;
    });
    worker.on('error', (e: Error & { code?: string }) => {
      if (failure) return;
      failure = e.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? new LimitExceeded('heap', `the Keep worker exceeded its ${WORKER_HEAP_MB} MiB JS heap`, { heapMb: WORKER_HEAP_MB })
        : new WorkloadInvalid('module', `worker failed: ${e.message}`);
    });
    worker.on('exit', finish);
  });
}
