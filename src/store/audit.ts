import type { Selectable, SelectQueryBuilder } from 'kysely';
import { AttestError, ErrorCode } from '../core/errors.ts';
import { hotQuery, type RepoContext } from './context.ts';
import type { AuditTable, Database } from './schema.ts';
import type { AuditEvent, AuditFilter, AuditKind, AuditRepository } from './types.ts';

export const AUDIT_KINDS: readonly AuditKind[] = ['attestation', 'release', 'refusal', 'admin'];
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;
const EXPORT_PAGE = 500;

/** JSON-lines form of one event (times as RFC 3339). */
export function auditEventToJson(e: AuditEvent): Record<string, unknown> {
  return { ...e, at: e.at.toISOString() };
}

const APPEND = hotQuery<{ id: unknown }>(
  'insert into tt_audit (kind, at, platform, verdict, reasons, evidence_digest, client, resource, token_id, rule_results, actor, detail) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id',
);

export function auditRepository(ctx: RepoContext): AuditRepository {
  const { db, codec } = ctx;
  const append = APPEND(codec.dialect);

  const decode = (r: Selectable<AuditTable>): AuditEvent => ({
    id: codec.fromInt(r.id),
    kind: r.kind as AuditKind,
    at: codec.fromTime(r.at),
    platform: r.platform,
    verdict: r.verdict,
    reasons: codec.fromJson(r.reasons),
    evidenceDigest: r.evidence_digest,
    client: r.client,
    resource: r.resource,
    tokenId: r.token_id,
    ruleResults: codec.fromJson(r.rule_results),
    actor: r.actor,
    detail: codec.fromJson(r.detail),
  });

  function filtered(f: AuditFilter): SelectQueryBuilder<Database, 'tt_audit', Selectable<AuditTable>> {
    let q = db.selectFrom('tt_audit').selectAll();
    if (f.since) q = q.where('at', '>=', codec.time(f.since));
    if (f.until) q = q.where('at', '<', codec.time(f.until));
    if (f.kind !== undefined) {
      const kinds = Array.isArray(f.kind) ? f.kind : [f.kind];
      for (const k of kinds) if (!AUDIT_KINDS.includes(k)) throw new AttestError(ErrorCode.ConfigInvalid, `unknown audit kind ${JSON.stringify(k)}`, { kind: k });
      if (kinds.length === 0) return q.where((eb) => eb.val(1), '=', 0);
      q = q.where('kind', 'in', kinds);
    }
    if (f.platform !== undefined) q = q.where('platform', '=', f.platform);
    if (f.resource !== undefined) q = q.where('resource', '=', f.resource);
    if (f.verdict !== undefined) q = q.where('verdict', '=', f.verdict);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    return q.orderBy('at', 'desc').orderBy('id', 'desc');
  }

  function limitOf(n: number | undefined, dflt: number): number {
    if (n === undefined) return dflt;
    if (!Number.isInteger(n) || n < 1) throw new AttestError(ErrorCode.ConfigInvalid, `audit limit must be a positive integer, got ${n}`);
    return n;
  }

  return {
    async append(e) {
      if (!AUDIT_KINDS.includes(e.kind)) throw new AttestError(ErrorCode.ConfigInvalid, `unknown audit kind ${JSON.stringify(e.kind)}`, { kind: e.kind });
      const r = (
        await append(db, [
          e.kind,
          codec.time(e.at),
          e.platform ?? null,
          e.verdict ?? null,
          codec.json(e.reasons ?? []),
          e.evidenceDigest ?? null,
          e.client ?? null,
          e.resource ?? null,
          e.tokenId ?? null,
          codec.json(e.ruleResults ?? []),
          e.actor ?? null,
          codec.json(e.detail ?? {}),
        ])
      ).rows[0];
      if (!r) throw new AttestError(ErrorCode.Internal, 'audit insert returned no id');
      return codec.fromInt(r.id);
    },

    async query(filter = {}) {
      const limit = Math.min(limitOf(filter.limit, DEFAULT_LIMIT), MAX_LIMIT);
      return (await filtered(filter).limit(limit).execute()).map(decode);
    },

    async *exportJsonLines(filter = {}) {
      let remaining = filter.limit === undefined ? Infinity : limitOf(filter.limit, 0);
      // Keyset pagination on (at, id) descending: stable while new events are appended.
      let cursor: { at: Date; id: number } | undefined;
      while (remaining > 0) {
        let q = filtered(filter);
        if (cursor) {
          const c = cursor;
          q = q.where((eb) => eb.or([eb('at', '<', codec.time(c.at)), eb.and([eb('at', '=', codec.time(c.at)), eb('id', '<', c.id)])]));
        }
        const rows = (await q.limit(Math.min(EXPORT_PAGE, remaining)).execute()).map(decode);
        for (const e of rows) yield `${JSON.stringify(auditEventToJson(e))}\n`;
        remaining -= rows.length;
        const last = rows[rows.length - 1];
        if (!last || rows.length < EXPORT_PAGE) return;
        cursor = { at: last.at, id: last.id };
      }
    },
  };
}
