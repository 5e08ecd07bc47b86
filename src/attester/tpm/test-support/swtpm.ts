/**
 * Test helper: a real software TPM (swtpm) on a loopback port, manufactured by swtpm_setup with
 * an EK certificate from a test-local swtpm_localca CA (all state in a temp dir). swtpm serves one
 * connection at a time, so each test file starts its own. Missing swtpm is an error, not a skip.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Swtpm {
  port: number;
  dir: string;
  /** PEM of the local CA root and the issuing (intermediate) certificate. */
  caRootPem: string;
  caIssuerPem: string;
  stop(): Promise<void>;
}

async function freePortPair(): Promise<number> {
  const listen = (port: number): Promise<number | undefined> =>
    new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(undefined));
      s.listen(port, '127.0.0.1', () => {
        const a = s.address();
        const p = typeof a === 'object' && a ? a.port : undefined;
        s.close(() => resolve(p));
      });
    });
  for (let i = 0; i < 50; i++) {
    const p = await listen(0);
    if (p && p < 65535 && (await listen(p + 1)) === p + 1) return p;
  }
  throw new Error('no free loopback port pair for swtpm');
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`swtpm exited with ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`swtpm did not listen on ${port}: ${stderr()}`);
}

export async function startSwtpm(banks = 'sha1,sha256,sha384'): Promise<Swtpm> {
  const dir = await mkdtemp(join(tmpdir(), 'teataster-swtpm-'));
  const state = join(dir, 'state');
  const ca = join(dir, 'ca');
  await mkdir(state);
  await mkdir(ca);
  await writeFile(join(dir, 'swtpm-localca.conf'), `statedir = ${ca}\nsigningkey = ${ca}/signkey.pem\nissuercert = ${ca}/issuercert.pem\ncertserial = ${ca}/certserial\n`);
  await writeFile(join(dir, 'swtpm-localca.options'), '--platform-manufacturer teataster\n--platform-version 2.1\n--platform-model test\n');
  await writeFile(join(dir, 'swtpm_setup.conf'), `create_certs_tool = swtpm_localca\ncreate_certs_tool_config = ${dir}/swtpm-localca.conf\ncreate_certs_tool_options = ${dir}/swtpm-localca.options\n`);
  try {
    await run('swtpm_setup', ['--tpm2', '--tpmstate', state, '--create-ek-cert', '--config', join(dir, 'swtpm_setup.conf'), '--overwrite', '--pcr-banks', banks], { timeout: 60_000 });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`swtpm_setup failed (is swtpm-tools installed? .ci/run installs swtpm swtpm-tools): ${(e as Error).message}`, { cause: e });
  }
  // Another test file may grab the same free pair between probing and binding: retry.
  let port: number;
  let child: ChildProcess | undefined;
  let err = '';
  for (let attempt = 0; ; attempt++) {
    port = await freePortPair();
    err = '';
    const c = spawn('swtpm', ['socket', '--tpm2', '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`, '--flags', 'not-need-init,startup-clear', '--tpmstate', `dir=${state}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const spawnError = new Promise<never>((_, reject) => c.once('error', (e) => reject(new Error(`cannot start swtpm (not on PATH?): ${e.message}`, { cause: e }))));
    try {
      await Promise.race([waitForPort(port, c, () => err), spawnError]);
      child = c;
      break;
    } catch (e) {
      if (c.exitCode === null) c.kill('SIGKILL');
      if (attempt >= 2 || /not on PATH/.test((e as Error).message)) {
        await rm(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
  return {
    port,
    dir,
    caRootPem: await readFile(join(ca, 'swtpm-localca-rootca-cert.pem'), 'utf8'),
    caIssuerPem: await readFile(join(ca, 'issuercert.pem'), 'utf8'),
    async stop() {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
