/**
 * Webhook notifications (failed attestations, denials): queued in the store's outbox so that any
 * replica can deliver them and none is lost on restart; delivered as JSON POSTs signed with
 * HMAC-SHA256 over "<timestamp>.<body>" (header `teataster-signature: t=<ts>,v1=<hex>`), retried
 * with exponential backoff until the outbox marks them dead.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JsonValue, Store } from '../store/index.ts';
import { AttestError, ErrorCode } from '../core/index.ts';
import type { KbsConfig } from './config.ts';

export interface WebhookTarget {
  url: string;
  secret: Uint8Array;
  events: string[];
}

export interface Log {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
}

export function resolveWebhooks(cfg: KbsConfig['webhooks'], env: Record<string, string | undefined> = process.env): WebhookTarget[] {
  return cfg.map((w) => {
    let secret: string | undefined;
    if (w.secretEnv) secret = env[w.secretEnv];
    else if (w.secretFile) secret = readFileSync(w.secretFile, 'utf8').trim();
    if (!secret) throw new AttestError(ErrorCode.ConfigInvalid, `webhook ${w.url}: no secret (set secretEnv or secretFile)`);
    return { url: w.url, secret: new TextEncoder().encode(secret), events: w.events };
  });
}

export function signWebhook(secret: Uint8Array, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class WebhookDispatcher {
  #store: Store;
  #targets: WebhookTarget[];
  #log: Log;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #fetch: typeof fetch;
  constructor(store: Store, targets: WebhookTarget[], log: Log, fetchImpl: typeof fetch = fetch) {
    this.#store = store;
    this.#targets = targets;
    this.#log = log;
    this.#fetch = fetchImpl;
  }

  get enabled(): boolean {
    return this.#targets.length > 0;
  }

  /** Queues the event for every webhook subscribed to it. Never throws (notifications are best effort to queue, but logged). */
  async notify(event: string, payload: JsonValue): Promise<void> {
    for (const t of this.#targets) {
      if (!t.events.includes(event) && !t.events.includes('*')) continue;
      try {
        await this.#store.webhookOutbox.enqueue({ event, payload, url: t.url });
      } catch (e) {
        this.#log.warn({ err: (e as Error).message, event }, 'cannot queue webhook');
      }
    }
  }

  start(intervalMs = 1000): void {
    if (!this.enabled || this.#timer) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.deliverDue()
        .then(() => undefined, (e: Error) => this.#log.warn({ err: e.message }, 'webhook round failed'))
        .finally(() => (this.#running = null));
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One delivery round; returns how many were delivered. */
  async deliverDue(now = new Date()): Promise<number> {
    const items = await this.#store.webhookOutbox.claimDue(now, 20, { leaseMs: 30_000 });
    let ok = 0;
    for (const it of items) {
      const target = this.#targets.find((t) => t.url === it.url);
      if (!target) {
        await this.#store.webhookOutbox.markFailed(it.id, 'webhook no longer configured', 0, now).catch(() => undefined);
        continue;
      }
      const body = JSON.stringify({ id: it.id, event: it.event, createdAt: it.createdAt.toISOString(), payload: it.payload });
      const ts = Math.floor(Date.now() / 1000);
      try {
        const res = await this.#fetch(target.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'teataster-event': it.event, 'teataster-delivery': String(it.id), 'teataster-signature': signWebhook(target.secret, ts, body) },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        await this.#store.webhookOutbox.markDone(it.id);
        ok++;
      } catch (e) {
        const backoff = Math.min(3_600_000, 1000 * 2 ** Math.min(it.attempts, 12));
        const status = await this.#store.webhookOutbox.markFailed(it.id, (e as Error).message, backoff, new Date());
        this.#log.warn({ url: target.url, event: it.event, attempts: it.attempts, status, err: (e as Error).message }, 'webhook delivery failed');
      }
    }
    return ok;
  }
}
