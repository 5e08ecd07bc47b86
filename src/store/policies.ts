import { sql, type Selectable } from 'kysely';
import { AttestError, ErrorCode } from '../core/errors.ts';
import { normalizeReferenceValue, REF_NAME, REFERENCE_VALUE_KINDS } from '../policy/refs.ts';
import { affected, hotQuery, startsWith, type RepoContext } from './context.ts';
import type { AttestationPoliciesTable, ReferenceValuesTable, ResourcePoliciesTable } from './schema.ts';
import type {
  AttestationPolicyRepository,
  ReferenceValueKind,
  ReferenceValueRecord,
  ReferenceValueRepository,
  ResourcePolicyRecord,
  ResourcePolicyRepository,
} from './types.ts';

/** Policy text is bounded so one admin call cannot bloat every replica's cache. */
export const MAX_POLICY_BYTES = 1024 * 1024;

function nonEmpty(what: string, v: string, max = 1024): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new AttestError(ErrorCode.ConfigInvalid, `${what} must be a non-empty string of at most ${max} characters`, { what });
  return v;
}

function bounded(what: string, text: string): string {
  if (typeof text !== 'string') throw new AttestError(ErrorCode.ConfigInvalid, `${what} must be text`, { what });
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_POLICY_BYTES) throw new AttestError(ErrorCode.LimitExceeded, `${what} is ${size} bytes; the limit is ${MAX_POLICY_BYTES}`, { what, size, limit: MAX_POLICY_BYTES });
  return text;
}

// Read on every resource request / attestation: pre-written (see hotQuery).
const LIST_RESOURCE_POLICIES = hotQuery<Selectable<ResourcePoliciesTable>>('select * from tt_resource_policies order by glob');
const GET_ATTESTATION_POLICY = hotQuery<Selectable<AttestationPoliciesTable>>('select * from tt_attestation_policies where tee = ?');

export function resourcePolicyRepository(ctx: RepoContext): ResourcePolicyRepository {
  const { db, codec } = ctx;
  const listAll = LIST_RESOURCE_POLICIES(codec.dialect);
  const decode = (r: Selectable<ResourcePoliciesTable>): ResourcePolicyRecord => ({
    glob: r.glob,
    cel: r.cel,
    description: r.description,
    updatedBy: r.updated_by,
    updatedAt: codec.fromTime(r.updated_at),
    version: codec.fromInt(r.version),
  });
  return {
    async set(glob, celSource, meta) {
      nonEmpty('resource policy glob', glob, 512);
      bounded('resource policy', celSource);
      const at = codec.time(meta.at ?? new Date());
      const r = await db
        .insertInto('tt_resource_policies')
        .values({ glob, cel: celSource, description: meta.description ?? null, updated_by: meta.updatedBy, updated_at: at, version: 1 })
        .onConflict((oc) =>
          oc.column('glob').doUpdateSet({
            cel: celSource,
            description: meta.description ?? null,
            updated_by: meta.updatedBy,
            updated_at: at,
            version: sql<number>`tt_resource_policies.version + 1`,
          }),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
      return decode(r);
    },
    async get(glob) {
      const r = await db.selectFrom('tt_resource_policies').selectAll().where('glob', '=', glob).executeTakeFirst();
      return r ? decode(r) : undefined;
    },
    async list() {
      return (await listAll(db, [])).rows.map(decode);
    },
    async delete(glob) {
      return affected((await db.deleteFrom('tt_resource_policies').where('glob', '=', glob).executeTakeFirst()).numDeletedRows) > 0;
    },
  };
}

export function attestationPolicyRepository(ctx: RepoContext): AttestationPolicyRepository {
  const { db, codec } = ctx;
  const getOne = GET_ATTESTATION_POLICY(codec.dialect);
  const decode = (r: Selectable<AttestationPoliciesTable>) => ({
    tee: r.tee,
    document: r.document,
    updatedBy: r.updated_by,
    updatedAt: codec.fromTime(r.updated_at),
    version: codec.fromInt(r.version),
  });
  return {
    async set(tee, documentText, updatedBy, when) {
      nonEmpty('attestation policy tee', tee, 64);
      bounded('attestation policy', documentText);
      const at = codec.time(when ?? new Date());
      const r = await db
        .insertInto('tt_attestation_policies')
        .values({ tee, document: documentText, updated_by: updatedBy, updated_at: at, version: 1 })
        .onConflict((oc) =>
          oc.column('tee').doUpdateSet({ document: documentText, updated_by: updatedBy, updated_at: at, version: sql<number>`tt_attestation_policies.version + 1` }),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
      return decode(r);
    },
    async get(tee) {
      const r = (await getOne(db, [tee])).rows[0];
      return r ? decode(r) : undefined;
    },
    async list() {
      return (await db.selectFrom('tt_attestation_policies').selectAll().orderBy('tee').execute()).map(decode);
    },
    async delete(tee) {
      return affected((await db.deleteFrom('tt_attestation_policies').where('tee', '=', tee).executeTakeFirst()).numDeletedRows) > 0;
    },
  };
}

const KINDS: readonly ReferenceValueKind[] = REFERENCE_VALUE_KINDS;

export function referenceValueRepository(ctx: RepoContext): ReferenceValueRepository {
  const { db, codec } = ctx;
  const decode = (r: Selectable<ReferenceValuesTable>): ReferenceValueRecord => ({
    name: r.name,
    kind: r.kind as ReferenceValueKind,
    value: codec.fromJson(r.value),
    source: r.source,
    addedBy: r.added_by,
    addedAt: codec.fromTime(r.added_at),
    expiresAt: codec.fromTimeOrNull(r.expires_at),
    description: r.description,
  });
  return {
    async put(rv) {
      // Same rules as src/policy's in-memory store, so the database only ever holds canonical
      // values (hex lowercased, lists de-duplicated) whichever path wrote them.
      if (typeof rv.name !== 'string' || !REF_NAME.test(rv.name)) throw new AttestError(ErrorCode.ConfigInvalid, `invalid reference value name ${JSON.stringify(rv.name)} (expected ${REF_NAME.source})`, { name: rv.name });
      if (!KINDS.includes(rv.kind)) throw new AttestError(ErrorCode.ConfigInvalid, `reference value kind ${JSON.stringify(rv.kind)} is not one of ${KINDS.join(', ')}`, { kind: rv.kind });
      if (rv.value === undefined) throw new AttestError(ErrorCode.ConfigInvalid, `reference value ${rv.name} has no value`);
      for (const [field, v] of [['source', rv.source], ['addedBy', rv.addedBy]] as const) nonEmpty(`reference value ${field}`, v);
      const json = codec.json(normalizeReferenceValue(rv.kind, rv.value));
      if (json.length > MAX_POLICY_BYTES) throw new AttestError(ErrorCode.LimitExceeded, `reference value ${rv.name} is too large`, { name: rv.name });
      const row = {
        name: rv.name,
        kind: rv.kind,
        value: json,
        source: rv.source,
        added_by: rv.addedBy,
        added_at: codec.time(rv.addedAt ?? new Date()),
        expires_at: rv.expiresAt ? codec.time(rv.expiresAt) : null,
        description: rv.description ?? null,
      };
      const { name: _name, ...update } = row;
      const r = await db
        .insertInto('tt_reference_values')
        .values(row)
        .onConflict((oc) => oc.column('name').doUpdateSet(update))
        .returningAll()
        .executeTakeFirstOrThrow();
      return decode(r);
    },
    async get(name) {
      const r = await db.selectFrom('tt_reference_values').selectAll().where('name', '=', name).executeTakeFirst();
      return r ? decode(r) : undefined;
    },
    async list(opts = {}) {
      let q = db.selectFrom('tt_reference_values').selectAll().orderBy('name');
      if (opts.prefix) q = q.where(startsWith('name', opts.prefix));
      if (opts.now) {
        const t = codec.time(opts.now);
        q = q.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', t)]));
      }
      return (await q.execute()).map(decode);
    },
    async delete(name) {
      return affected((await db.deleteFrom('tt_reference_values').where('name', '=', name).executeTakeFirst()).numDeletedRows) > 0;
    },
  };
}
