/** Runs the real `teataster` CLI (bin/teataster.js) in a child process, for CLI-contract tests. */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEATASTER_BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'bin', 'teataster.js');

export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

export function runTeataster(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((res) => {
    execFile(process.execPath, [TEATASTER_BIN, ...args], { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 1 << 24, ...(opts.env ? { env: opts.env } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      res({ status, stdout, stderr });
    });
  });
}

/** The `teataster verify --json` object (README "Verify evidence"). */
export interface VerifyJsonOut {
  verified: boolean;
  platform: string | null;
  tcb: { status: string; advisoryIds: string[] } | null;
  claims: Record<string, unknown>;
  warnings: string[];
  error: { code: string; message?: string } | null;
}

/** `teataster verify <args> --json --offline --no-cache`, parsed; rejects when stdout is not JSON. */
export async function runVerifyJson(args: string[]): Promise<{ status: number; json: VerifyJsonOut }> {
  const r = await runTeataster(['verify', ...args, '--json', '--offline', '--no-cache']);
  try {
    return { status: r.status, json: JSON.parse(r.stdout) as VerifyJsonOut };
  } catch {
    throw new Error(`exit ${r.status}, not JSON: ${r.stdout}\n${r.stderr}`);
  }
}
