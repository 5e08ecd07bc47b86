import { sql, type Selectable } from 'kysely';
import { AttestError, ErrorCode } from '../core/errors.ts';
import { affected, type RepoContext } from './context.ts';
import type { OutboxTable } from './schema.ts';
import type { JsonValue, KvRepository, OutboxItem, OutboxStatus, WebhookOutboxRepository } from './types.ts';

const DEFAULT_MAX_ATTEMPTS = 10;
const DEFAULT_LEASE_MS = 60_000;

export function webhookOutboxRepository(ctx: RepoContext): WebhookOutboxRepository {
  const { db, codec } = ctx;
  const decode = (r: Selectable<OutboxTable>): OutboxItem => ({
    id: codec.fromInt(r.id),
    event: r.event,
    payload: codec.fromJson(r.payload),
    url: r.url,
    status: r.status as OutboxStatus,
    attempts: codec.fromInt(r.attempts),
    maxAttempts: codec.fromInt(r.max_attempts),
    createdAt: codec.fromTime(r.created_at),
    nextAttemptAt: codec.fromTime(r.next_attempt_at),
    lastError: r.last_error,
  });

  return {
    async enqueue(e) {
      if (typeof e.event !== 'string' || e.event.length === 0) throw new AttestError(ErrorCode.ConfigInvalid, 'outbox event name must be a non-empty string');
      const maxAttempts = e.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
      if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new AttestError(ErrorCode.ConfigInvalid, `maxAttempts must be a positive integer, got ${maxAttempts}`);
      const at = e.at ?? new Date();
      const r = await db
        .insertInto('tt_webhook_outbox')
        .values({
          event: e.event,
          payload: codec.json(e.payload),
          url: e.url ?? null,
          status: 'pending',
          attempts: 0,
          max_attempts: maxAttempts,
          created_at: codec.time(new Date()),
          next_attempt_at: codec.time(at),
          last_error: null,
          done_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return codec.fromInt(r.id);
    },

    async claimDue(now, limit, opts = {}) {
      if (!Number.isInteger(limit) || limit < 1) return [];
      const lease = new Date(now.getTime() + (opts.leaseMs ?? DEFAULT_LEASE_MS));
      // Items whose last attempt used up maxAttempts and whose lease ran out without an outcome
      // (the worker died) are dead, not retried forever.
      await db
        .updateTable('tt_webhook_outbox')
        .set({ status: 'dead', done_at: codec.time(now), last_error: sql<string>`coalesce(last_error, 'lease expired without an outcome')` })
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', codec.time(now))
        .where((eb) => eb('attempts', '>=', eb.ref('max_attempts')))
        .execute();
      // One statement in both dialects. PostgreSQL: the subquery's FOR UPDATE SKIP LOCKED lets
      // concurrent claimers pass over rows another claimer is taking. SQLite: a single writer
      // at a time makes the statement atomic.
      let due = db
        .selectFrom('tt_webhook_outbox')
        .select('id')
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', codec.time(now))
        .orderBy('next_attempt_at')
        .orderBy('id')
        .limit(limit);
      if (codec.dialect === 'postgres') due = due.forUpdate().skipLocked();
      const rows = await db
        .updateTable('tt_webhook_outbox')
        .set({ attempts: sql<number>`attempts + 1`, next_attempt_at: codec.time(lease) })
        .where('id', 'in', due)
        .returningAll()
        .execute();
      return rows.map(decode).sort((a, b) => a.id - b.id);
    },

    async markDone(id, at) {
      const res = await db.updateTable('tt_webhook_outbox').set({ status: 'done', done_at: codec.time(at ?? new Date()), last_error: null }).where('id', '=', id).executeTakeFirst();
      if (affected(res.numUpdatedRows) === 0) throw new AttestError(ErrorCode.NotFound, `outbox item ${id} not found`, { id });
    },

    async markFailed(id, error, backoffMs, now) {
      const next = new Date(now.getTime() + Math.max(0, backoffMs));
      const r = await db
        .updateTable('tt_webhook_outbox')
        .set({
          status: sql<string>`case when attempts >= max_attempts then 'dead' else 'pending' end`,
          next_attempt_at: codec.time(next),
          last_error: error.slice(0, 2000),
          done_at:
            codec.dialect === 'postgres'
              ? sql`case when attempts >= max_attempts then cast(${codec.time(now)} as timestamptz) else null end`
              : sql`case when attempts >= max_attempts then ${codec.time(now)} else null end`,
        })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .returning('status')
        .executeTakeFirst();
      if (!r) throw new AttestError(ErrorCode.NotFound, `outbox item ${id} not found or not pending`, { id });
      return r.status as OutboxStatus;
    },

    async get(id) {
      const r = await db.selectFrom('tt_webhook_outbox').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? decode(r) : undefined;
    },

    async purge(before) {
      const res = await db.deleteFrom('tt_webhook_outbox').where('status', 'in', ['done', 'dead']).where('done_at', '<', codec.time(before)).executeTakeFirst();
      return affected(res.numDeletedRows);
    },
  };
}

export function kvRepository(ctx: RepoContext): KvRepository {
  const { db, codec } = ctx;
  return {
    async get(key) {
      const r = await db.selectFrom('tt_kv').select('value').where('key', '=', key).executeTakeFirst();
      return r ? codec.fromJson(r.value) : undefined;
    },
    async set(key, value: JsonValue, at) {
      const t = codec.time(at ?? new Date());
      const v = codec.json(value);
      await db.insertInto('tt_kv').values({ key, value: v, updated_at: t }).onConflict((oc) => oc.column('key').doUpdateSet({ value: v, updated_at: t })).execute();
    },
    async setIfAbsent(key, value, at) {
      const res = await db
        .insertInto('tt_kv')
        .values({ key, value: codec.json(value), updated_at: codec.time(at ?? new Date()) })
        .onConflict((oc) => oc.column('key').doNothing())
        .executeTakeFirst();
      return affected(res.numInsertedOrUpdatedRows) > 0;
    },
    async delete(key) {
      return affected((await db.deleteFrom('tt_kv').where('key', '=', key).executeTakeFirst()).numDeletedRows) > 0;
    },
  };
}
