import type { Selectable } from 'kysely';
import { AttestError, ErrorCode } from '../core/errors.ts';
import { affected, hotQuery, startsWith, type RepoContext } from './context.ts';
import { aadFor } from './envelope.ts';
import { validateResourcePath } from './resource-path.ts';
import type { ResourcesTable } from './schema.ts';
import type { ResourceInfo, ResourceRepository, ResourceValue } from './types.ts';

/** Largest secret accepted (a KBS resource is a key, a certificate, a config file — not a disk image). */
export const MAX_RESOURCE_BYTES = 16 * 1024 * 1024;
const PUT_RETRIES = 8;

/** AAD binds a ciphertext to its path and version: rows cannot be swapped or relabelled. */
export function resourceAad(path: string, version: number): Uint8Array {
  return aadFor('resource', path, version);
}

const GET = hotQuery<Selectable<ResourcesTable>>('select * from tt_resources where path = ?');

export function resourceRepository(ctx: RepoContext): ResourceRepository {
  const { db, codec, envelope } = ctx;
  const getRow = GET(codec.dialect);

  function info(r: Omit<Selectable<ResourcesTable>, 'ciphertext' | 'wrapped_key'>): ResourceInfo {
    return {
      path: r.path,
      version: codec.fromInt(r.version),
      contentType: r.content_type,
      size: codec.fromInt(r.size),
      createdAt: codec.fromTime(r.created_at),
      createdBy: r.created_by,
      updatedAt: codec.fromTime(r.updated_at),
      updatedBy: r.updated_by,
      keyId: r.key_id,
    };
  }
  const infoColumns = ['path', 'version', 'content_type', 'size', 'key_id', 'created_at', 'created_by', 'updated_at', 'updated_by'] as const;

  return {
    async put(path, value, meta) {
      validateResourcePath(path);
      if (!(value instanceof Uint8Array)) throw new AttestError(ErrorCode.ConfigInvalid, 'resource value must be bytes');
      if (value.length > MAX_RESOURCE_BYTES) throw new AttestError(ErrorCode.LimitExceeded, `resource ${path} is ${value.length} bytes; the limit is ${MAX_RESOURCE_BYTES}`, { path, size: value.length, limit: MAX_RESOURCE_BYTES });
      const at = meta.at ?? new Date();
      // Optimistic concurrency: the version is inside the AAD, so it must be known before
      // encrypting; a concurrent writer makes our conditional write touch 0 rows and we retry.
      for (let attempt = 0; attempt < PUT_RETRIES; attempt++) {
        const cur = await db.selectFrom('tt_resources').select(['version', 'created_at', 'created_by']).where('path', '=', path).executeTakeFirst();
        const version = cur ? codec.fromInt(cur.version) + 1 : 1;
        const sealed = await envelope.seal(value, resourceAad(path, version));
        const row = {
          path,
          version,
          content_type: meta.contentType ?? null,
          size: value.length,
          ciphertext: codec.bytes(sealed.ciphertext),
          wrapped_key: codec.bytes(sealed.wrappedKey),
          key_id: sealed.keyId,
          created_at: cur ? cur.created_at : codec.time(at),
          created_by: cur ? cur.created_by : meta.createdBy,
          updated_at: codec.time(at),
          updated_by: meta.createdBy,
        };
        let n: number;
        if (cur) {
          const res = await db.updateTable('tt_resources').set(row).where('path', '=', path).where('version', '=', version - 1).executeTakeFirst();
          n = affected(res.numUpdatedRows);
        } else {
          const res = await db.insertInto('tt_resources').values(row).onConflict((oc) => oc.column('path').doNothing()).executeTakeFirst();
          n = affected(res.numInsertedOrUpdatedRows);
        }
        if (n === 1) return info(row);
      }
      throw new AttestError(ErrorCode.Internal, `resource ${path}: too many concurrent writers`, { path, reason: 'contention' });
    },

    async get(path) {
      const r = (await getRow(db, [path])).rows[0];
      if (!r) return undefined;
      const i = info(r);
      const value = await envelope.open(
        { ciphertext: codec.fromBytes(r.ciphertext), wrappedKey: codec.fromBytes(r.wrapped_key), keyId: r.key_id },
        resourceAad(r.path, i.version),
        `resource ${path}`,
      );
      if (value.length !== i.size) throw new AttestError(ErrorCode.Internal, `resource ${path}: size column does not match the decrypted value`, { reason: 'integrity', what: `resource ${path}` });
      const out: ResourceValue = { ...i, value };
      return out;
    },

    async info(path) {
      const r = await db.selectFrom('tt_resources').select(infoColumns).where('path', '=', path).executeTakeFirst();
      return r ? info(r) : undefined;
    },

    async list(prefix) {
      let q = db.selectFrom('tt_resources').select(infoColumns).orderBy('path');
      if (prefix) q = q.where(startsWith('path', prefix));
      return (await q.execute()).map(info);
    },

    async delete(path) {
      const res = await db.deleteFrom('tt_resources').where('path', '=', path).executeTakeFirst();
      return affected(res.numDeletedRows) > 0;
    },
  };
}
