/**
 * Drives a headless Chromium over the Chrome DevTools Protocol (CDP) with Node's global WebSocket:
 * no Playwright/Puppeteer download. Chromium listens on an ephemeral debugging port that it writes to
 * <user-data-dir>/DevToolsActivePort; we open one page, navigate, and Runtime.evaluate with
 * awaitPromise to collect the page's result.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** The Chromium binary: $CHROMIUM_BIN (or $CHROME_BIN), else the usual Debian/Ubuntu paths. */
export function findChromium(): string | undefined {
  const env = process.env.CHROMIUM_BIN ?? process.env.CHROME_BIN;
  if (env) return existsSync(env) ? env : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

type Listener = (params: Record<string, unknown>) => void;

export class CdpSession {
  readonly #ws: WebSocket;
  #next = 1;
  readonly #pending = new Map<number, { ok: (v: Record<string, unknown>) => void; fail: (e: Error) => void; method: string }>();
  readonly #listeners = new Map<string, Listener[]>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener('message', (ev) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { message: string; code: number } };
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        if (!p) return;
        this.#pending.delete(msg.id);
        if (msg.error) p.fail(new Error(`CDP ${p.method}: ${msg.error.message} (${msg.error.code})`));
        else p.ok(msg.result ?? {});
      } else if (msg.method) {
        for (const l of this.#listeners.get(msg.method) ?? []) l(msg.params ?? {});
      }
    });
    ws.addEventListener('close', () => {
      for (const p of this.#pending.values()) p.fail(new Error(`CDP connection closed during ${p.method}`));
      this.#pending.clear();
    });
  }

  static connect(url: string, timeoutMs: number): Promise<CdpSession> {
    return new Promise((ok, fail) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(() => {
        ws.close();
        fail(new Error(`CDP connect to ${url} timed out`));
      }, timeoutMs);
      ws.addEventListener('open', () => {
        clearTimeout(timer);
        ok(new CdpSession(ws));
      });
      ws.addEventListener('error', () => {
        clearTimeout(timer);
        fail(new Error(`CDP connect to ${url} failed`));
      });
    });
  }

  on(method: string, l: Listener): void {
    this.#listeners.set(method, [...(this.#listeners.get(method) ?? []), l]);
  }

  /** Resolves with the next event `method`, or rejects after timeoutMs. */
  once(method: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`timed out after ${timeoutMs} ms waiting for ${method}`)), timeoutMs);
      timer.unref();
      this.on(method, (p) => {
        clearTimeout(timer);
        ok(p);
      });
    });
  }

  send(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        fail(new Error(`CDP ${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        method,
        ok: (v) => {
          clearTimeout(timer);
          ok(v);
        },
        fail: (e) => {
          clearTimeout(timer);
          fail(e);
        },
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}

export interface Browser {
  /** The browser-level CDP endpoint (ws://127.0.0.1:<port>/devtools/browser/<id>). */
  endpoint: string;
  port: number;
  process: ChildProcess;
  /** Chromium's stderr so far (for failure messages). */
  stderr(): string;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));

/** Starts headless Chromium with a throwaway profile and waits for its DevTools endpoint. */
export async function launchChromium(bin: string, timeoutMs: number): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'teataster-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-quic',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-extensions',
    `--user-data-dir=${profile}`,
    '--remote-debugging-address=127.0.0.1',
    '--remote-debugging-port=0',
    'about:blank',
  ];
  // Its own process group, so that closing it also ends the renderer/zygote processes it forked.
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    err = (err + d).slice(-8000);
  });
  let exited: string | undefined;
  const exitedP = new Promise<void>((ok) =>
    child.once('exit', (code, signal) => {
      exited = `exited with ${code ?? signal}`;
      ok();
    }),
  );
  child.once('error', (e) => {
    exited = `failed to start: ${e.message}`;
  });
  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {
      // the group is already gone
    }
  };
  const close = async (): Promise<void> => {
    if (!exited) {
      signalGroup('SIGTERM');
      await Promise.race([exitedP, sleep(5000)]);
    }
    // Whatever is left of the group (a renderer that outlived the browser process) is killed too.
    signalGroup('SIGKILL');
    if (!exited) await Promise.race([exitedP, sleep(5000)]);
    rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
  };

  const file = join(profile, 'DevToolsActivePort');
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (exited) throw new Error(`Chromium ${exited} before opening its debugging port:\n${err}`);
      if (existsSync(file)) {
        const [portLine, path] = readFileSync(file, 'utf8').split('\n');
        const port = Number(portLine);
        if (port > 0 && path) return { endpoint: `ws://127.0.0.1:${port}${path}`, port, process: child, stderr: () => err, close };
      }
      if (Date.now() > deadline) throw new Error(`Chromium did not write ${file} within ${timeoutMs} ms:\n${err}`);
      await sleep(50);
    }
  } catch (e) {
    await close();
    throw e;
  }
}

export interface PageRun<T> {
  value: T;
  /** Console messages and uncaught exceptions seen on the page. */
  console: string[];
}

/**
 * Opens `url` in a new tab, waits for its load event, then evaluates `expression` (which may return a
 * promise) and returns its JSON value. Page exceptions are collected and reported on failure.
 */
export async function evaluateInPage<T>(browser: Browser, url: string, expression: string, timeoutMs: number): Promise<PageRun<T>> {
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  const root = await CdpSession.connect(browser.endpoint, left());
  let page: CdpSession | undefined;
  const log: string[] = [];
  try {
    const { targetId } = (await root.send('Target.createTarget', { url: 'about:blank' }, left())) as { targetId: string };
    page = await CdpSession.connect(`ws://127.0.0.1:${browser.port}/devtools/page/${targetId}`, left());
    page.on('Runtime.consoleAPICalled', (p) => log.push(`console.${String(p.type)}: ${JSON.stringify((p.args as { value?: unknown; description?: string }[]).map((a) => a.value ?? a.description))}`));
    page.on('Runtime.exceptionThrown', (p) => {
      const d = p.exceptionDetails as { text?: string; exception?: { description?: string } };
      log.push(`exception: ${d.exception?.description ?? d.text}`);
    });
    page.on('Log.entryAdded', (p) => {
      const e = p.entry as { level: string; text: string; url?: string };
      log.push(`log.${e.level}: ${e.text}${e.url ? ` (${e.url})` : ''}`);
    });
    await page.send('Runtime.enable', {}, left());
    await page.send('Log.enable', {}, left());
    await page.send('Page.enable', {}, left());
    const loaded = page.once('Page.loadEventFired', left());
    loaded.catch(() => undefined); // awaited below; a failed navigation throws first
    const nav = (await page.send('Page.navigate', { url }, left())) as { errorText?: string };
    if (nav.errorText) throw new Error(`navigation to ${url} failed: ${nav.errorText}`);
    await loaded;
    const r = (await page.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, left())) as {
      result: { value?: T; type: string; description?: string };
      exceptionDetails?: { text?: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) {
      const d = r.exceptionDetails;
      throw new Error(`page evaluation threw: ${d.exception?.description ?? d.text}\npage log:\n${log.join('\n')}`);
    }
    return { value: r.result.value as T, console: log };
  } finally {
    page?.close();
    root.close();
  }
}
