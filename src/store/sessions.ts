import { createHash } from 'node:crypto';
import { AttestError, ErrorCode } from '../core/errors.ts';
import type { Selectable } from 'kysely';
import { affected, hotQuery, type RepoContext } from './context.ts';
import { aadFor, gcmOpen, gcmSeal } from './envelope.ts';
import type { SessionsTable } from './schema.ts';
import type { ConsumeNonceResult, Jwk, NewSession, SessionRecord, SessionRepository } from './types.ts';

/** The cookie value is a bearer credential: only its hash is stored, so a dump cannot replay it. */
function idHash(id: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 512) throw new AttestError(ErrorCode.ConfigInvalid, 'session id must be a non-empty string of at most 512 characters');
  return createHash('sha256').update(id).digest('hex');
}

type Row = Selectable<SessionsTable>;
// The four statements of every handshake, pre-written (see hotQuery).
const CREATE = hotQuery<never>('insert into tt_sessions (id_hash, nonce, tee, hash_alg, extra_params, created_at, expires_at, nonce_used) values (?, ?, ?, ?, ?, ?, ?, ?)');
const GET = hotQuery<Row>('select * from tt_sessions where id_hash = ?');
// One statement: whichever UPDATE commits first flips nonce_used; every other racer (in this
// process or another replica) then fails the WHERE and gets no row back.
const CONSUME = hotQuery<Row>('update tt_sessions set nonce_used = ? where id_hash = ? and nonce = ? and nonce_used = ? and expires_at > ? returning *');
const ATTESTED = hotQuery<never>('update tt_sessions set attested_at = ?, token_ct = ?, token_id = ?, tee_pubkey = ?, claims = ?, attestation_expires_at = ? where id_hash = ?');

export function sessionRepository(ctx: RepoContext): SessionRepository {
  const { db, codec } = ctx;
  const create = CREATE(codec.dialect);
  const getRow = GET(codec.dialect);
  const consume = CONSUME(codec.dialect);
  const attested = ATTESTED(codec.dialect);

  function decode(id: string, r: Row): SessionRecord {
    let attestation: SessionRecord['attestation'] = null;
    if (r.attested_at !== null && r.token_ct !== null) {
      const token = new TextDecoder().decode(gcmOpen(ctx.sessionKey, codec.fromBytes(r.token_ct), aadFor('session-token', r.id_hash), 'session token'));
      attestation = {
        token,
        tokenId: r.token_id,
        teePubKey: codec.fromJson(r.tee_pubkey) as Jwk,
        claims: codec.fromJson(r.claims),
        expiresAt: codec.fromTime(r.attestation_expires_at),
        attestedAt: codec.fromTime(r.attested_at),
      };
    }
    return {
      id,
      nonce: r.nonce,
      tee: r.tee,
      hashAlgorithm: r.hash_alg,
      extraParams: codec.fromJson(r.extra_params),
      createdAt: codec.fromTime(r.created_at),
      expiresAt: codec.fromTime(r.expires_at),
      nonceUsed: codec.fromBool(r.nonce_used),
      attestation,
    };
  }

  async function get(id: string): Promise<SessionRecord | undefined> {
    const r = (await getRow(db, [idHash(id)])).rows[0];
    return r ? decode(id, r) : undefined;
  }

  return {
    async create(s: NewSession) {
      const row = {
        id_hash: idHash(s.id),
        nonce: s.nonce,
        tee: s.tee,
        hash_alg: s.hashAlgorithm,
        extra_params: codec.json(s.extraParams ?? null),
        created_at: codec.time(s.createdAt ?? new Date()),
        expires_at: codec.time(s.expiresAt),
        nonce_used: codec.bool(false),
        attested_at: null,
        token_ct: null,
        token_id: null,
        tee_pubkey: null,
        claims: null,
        attestation_expires_at: null,
      };
      await create(db, [row.id_hash, row.nonce, row.tee, row.hash_alg, row.extra_params, row.created_at, row.expires_at, row.nonce_used]);
      return decode(s.id, row);
    },

    get,

    async consumeNonce(id: string, nonce: string, now: Date): Promise<ConsumeNonceResult> {
      const h = idHash(id);
      const r = (await consume(db, [codec.bool(true), h, nonce, codec.bool(false), codec.time(now)])).rows[0];
      if (r) return { ok: true, session: decode(id, r) };
      const s = await get(id);
      if (!s) return { ok: false, reason: 'not-found' };
      if (s.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired', session: s };
      if (s.nonce !== nonce) return { ok: false, reason: 'nonce-mismatch', session: s };
      return { ok: false, reason: 'already-used', session: s };
    },

    async markAttested(id, a) {
      const h = idHash(id);
      const tokenCt = gcmSeal(ctx.sessionKey, new TextEncoder().encode(a.token), aadFor('session-token', h));
      const res = await attested(db, [
        codec.time(a.attestedAt ?? new Date()),
        codec.bytes(tokenCt),
        a.tokenId ?? null,
        codec.json(a.teePubKey),
        codec.json(a.claims),
        codec.time(a.expiresAt),
        h,
      ]);
      if (affected(res.numAffectedRows) === 0) throw new AttestError(ErrorCode.NotFound, 'session not found', { what: 'session' });
    },

    async delete(id) {
      const res = await db.deleteFrom('tt_sessions').where('id_hash', '=', idHash(id)).executeTakeFirst();
      return affected(res.numDeletedRows) > 0;
    },

    async purgeExpired(now) {
      const t = codec.time(now);
      const res = await db
        .deleteFrom('tt_sessions')
        .where('expires_at', '<=', t)
        .where((eb) => eb.or([eb('attestation_expires_at', 'is', null), eb('attestation_expires_at', '<=', t)]))
        .executeTakeFirst();
      return affected(res.numDeletedRows);
    },
  };
}
