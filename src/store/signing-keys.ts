import type { Selectable } from 'kysely';
import { AttestError, ErrorCode } from '../core/errors.ts';
import { bytesEqual } from '../core/encoding.ts';
import { affected, type RepoContext } from './context.ts';
import { aadFor } from './envelope.ts';
import type { SigningKeysTable } from './schema.ts';
import type { Jwk, SigningKeyRecord, SigningKeyRepository } from './types.ts';

export function signingKeyAad(kid: string): Uint8Array {
  return aadFor('signing-key', kid);
}

function isJwk(v: unknown): v is Jwk {
  return typeof v === 'object' && v !== null && typeof (v as { kty?: unknown }).kty === 'string';
}

interface Decrypted {
  ciphertext: Uint8Array;
  wrappedKey: Uint8Array;
  keyId: string;
  privateJson: string;
}

/**
 * Decrypted private JWKs per store (keyed by its Envelope), reused while the row's ciphertext,
 * wrapped key and key id are byte-identical. The key ring lists keys for every token it signs;
 * without this each token would cost one master-key unwrap per stored key (a KMS round trip).
 */
const decrypted = new WeakMap<object, Map<string, Decrypted>>();

export function signingKeyRepository(ctx: RepoContext): SigningKeyRepository {
  const { db, codec, envelope } = ctx;
  let cache = decrypted.get(envelope);
  if (!cache) decrypted.set(envelope, (cache = new Map()));
  const byKid = cache;

  async function privateJson(r: Selectable<SigningKeysTable>): Promise<string> {
    const sealed = { ciphertext: codec.fromBytes(r.private_ct), wrappedKey: codec.fromBytes(r.wrapped_key), keyId: r.key_id };
    const hit = byKid.get(r.kid);
    if (hit && hit.keyId === sealed.keyId && bytesEqual(hit.ciphertext, sealed.ciphertext) && bytesEqual(hit.wrappedKey, sealed.wrappedKey)) return hit.privateJson;
    const json = new TextDecoder().decode(await envelope.open(sealed, signingKeyAad(r.kid), `signing key ${r.kid}`));
    byKid.set(r.kid, { ciphertext: new Uint8Array(sealed.ciphertext), wrappedKey: new Uint8Array(sealed.wrappedKey), keyId: sealed.keyId, privateJson: json });
    return json;
  }

  async function decode(r: Selectable<SigningKeysTable>): Promise<SigningKeyRecord> {
    return {
      kid: r.kid,
      alg: r.alg,
      publicJwk: codec.fromJson(r.public_jwk) as Jwk,
      privateJwk: JSON.parse(await privateJson(r)) as Jwk,
      createdAt: codec.fromTime(r.created_at),
      notAfter: codec.fromTimeOrNull(r.not_after),
      retiredAt: codec.fromTimeOrNull(r.retired_at),
    };
  }

  return {
    async list() {
      const rows = await db.selectFrom('tt_signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute();
      return Promise.all(rows.map(decode));
    },
    async get(kid) {
      const r = await db.selectFrom('tt_signing_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
      return r ? decode(r) : undefined;
    },
    async put(k) {
      if (typeof k.kid !== 'string' || k.kid.length === 0 || k.kid.length > 256) throw new AttestError(ErrorCode.ConfigInvalid, 'signing key kid must be a non-empty string of at most 256 characters');
      if (!isJwk(k.publicJwk) || !isJwk(k.privateJwk)) throw new AttestError(ErrorCode.ConfigInvalid, `signing key ${k.kid}: publicJwk and privateJwk must be JWK objects`, { kid: k.kid });
      if ('d' in k.publicJwk) throw new AttestError(ErrorCode.ConfigInvalid, `signing key ${k.kid}: publicJwk contains a private member 'd'`, { kid: k.kid });
      const sealed = await envelope.seal(new TextEncoder().encode(JSON.stringify(k.privateJwk)), signingKeyAad(k.kid));
      const res = await db
        .insertInto('tt_signing_keys')
        .values({
          kid: k.kid,
          alg: k.alg,
          public_jwk: codec.json(k.publicJwk),
          private_ct: codec.bytes(sealed.ciphertext),
          wrapped_key: codec.bytes(sealed.wrappedKey),
          key_id: sealed.keyId,
          created_at: codec.time(k.createdAt),
          not_after: k.notAfter ? codec.time(k.notAfter) : null,
          retired_at: k.retiredAt ? codec.time(k.retiredAt) : null,
        })
        .onConflict((oc) => oc.column('kid').doNothing())
        .executeTakeFirst();
      if (affected(res.numInsertedOrUpdatedRows) === 0) throw new AttestError(ErrorCode.ConfigInvalid, `signing key ${k.kid} already exists`, { kid: k.kid, reason: 'exists' });
    },
    async retire(kid, at) {
      const res = await db.updateTable('tt_signing_keys').set({ retired_at: codec.time(at) }).where('kid', '=', kid).executeTakeFirst();
      if (affected(res.numUpdatedRows) === 0) throw new AttestError(ErrorCode.NotFound, `signing key ${kid} not found`, { kid });
    },
    async delete(kid) {
      byKid.delete(kid);
      return affected((await db.deleteFrom('tt_signing_keys').where('kid', '=', kid).executeTakeFirst()).numDeletedRows) > 0;
    },
  };
}
