import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AttestError } from '../core/errors.ts';
import { ensureMasterKeyFile, generateMasterKey, loadMasterKey, localKeyId, localMasterKey, masterKeyFromEnv, masterKeyFromFile, parseMasterKey } from './master-key.ts';
import { Envelope, aadFor, gcmOpen, gcmSeal } from './envelope.ts';
import { hasCode } from '../../test/support/errors.ts';


describe('master keys', () => {
  test('parse raw, base64, base64url and hex; reject other lengths', () => {
    const k = generateMasterKey();
    const b = Buffer.from(k);
    for (const form of [k, b.toString('base64'), `${b.toString('base64')}\n`, b.toString('base64url'), b.toString('hex'), new Uint8Array(Buffer.from(b.toString('base64')))]) {
      assert.deepEqual(parseMasterKey(form, 'test'), k);
    }
    for (const bad of [new Uint8Array(31), Buffer.alloc(16).toString('base64'), 'zz'.repeat(32), '', '!!!']) assert.throws(() => parseMasterKey(bad, 'test'), hasCode('ERR_CONFIG_INVALID'));
  });

  test('env and files; loadMasterKey order; missing key is a config error', async () => {
    const k = generateMasterKey();
    const env = { TEATASTER_MASTER_KEY: Buffer.from(k).toString('base64') };
    assert.deepEqual(masterKeyFromEnv(env), k);
    assert.equal(masterKeyFromEnv({}), undefined);
    const dir = await mkdtemp(join(tmpdir(), 'teataster-mk-'));
    try {
      const f = join(dir, 'master.key');
      const other = generateMasterKey();
      await writeFile(f, Buffer.from(other).toString('hex'), { mode: 0o644 });
      const warnings: object[] = [];
      const logger = { info() {}, warn: (o: object) => warnings.push(o), error() {} };
      assert.deepEqual(await masterKeyFromFile(f, logger), other);
      assert.equal(warnings.length, 1, 'world-readable key file warns');
      assert.deepEqual(await loadMasterKey({ file: f, env }), other, 'file wins over env');
      assert.deepEqual(await loadMasterKey({ env }), k);
      await assert.rejects(loadMasterKey({ env: {} }), hasCode('ERR_CONFIG_INVALID'));
      await assert.rejects(masterKeyFromFile(join(dir, 'absent')), hasCode('ERR_CONFIG_INVALID'));

      // ensureMasterKeyFile: concurrent first use agrees on one key, file is 0600.
      const g = join(dir, 'sub', 'gen.key');
      const keys = await Promise.all([1, 2, 3, 4].map(() => ensureMasterKeyFile(g)));
      for (const x of keys) assert.deepEqual(x, keys[0]);
      assert.equal((await stat(g)).mode & 0o777, 0o600);
      assert.deepEqual(await ensureMasterKeyFile(g), keys[0]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('local provider: ids are stable per key and differ between keys; wrap binds the AAD', async () => {
    const k = generateMasterKey();
    const p = localMasterKey(k);
    assert.equal(p.id, localKeyId(k));
    assert.equal(localMasterKey(new Uint8Array(k)).id, p.id);
    assert.notEqual(localMasterKey(generateMasterKey()).id, p.id);
    assert.match(p.id, /^local:[0-9a-f]{16}$/);
    const dk = generateMasterKey();
    const w = await p.wrap(dk, aadFor('resource', 'a/b/c', 1));
    assert.deepEqual(await p.unwrap(w, aadFor('resource', 'a/b/c', 1)), dk);
    await assert.rejects(p.unwrap(w, aadFor('resource', 'a/b/c', 2)));
    await assert.rejects(localMasterKey(generateMasterKey()).unwrap(w, aadFor('resource', 'a/b/c', 1)));
    assert.throws(() => localMasterKey(new Uint8Array(16)), hasCode('ERR_CONFIG_INVALID'));
  });
});

describe('envelope', () => {
  test('round-trips any value; any single-byte change to ciphertext, wrapped key or AAD fails with integrity', async () => {
    const env = new Envelope(localMasterKey(generateMasterKey()));
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 40 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (pt, path, where, pick, flip) => {
        const aad = aadFor('resource', path, 1);
        const s = await env.seal(pt, aad);
        assert.deepEqual(await env.open(s, aad, 'x'), pt);
        const which = pick % 3;
        const target = which === 0 ? new Uint8Array(s.ciphertext) : which === 1 ? new Uint8Array(s.wrappedKey) : new Uint8Array(aad);
        target[where % target.length]! ^= flip;
        const tampered = which === 0 ? { ...s, ciphertext: target } : which === 1 ? { ...s, wrappedKey: target } : s;
        await assert.rejects(env.open(tampered, which === 2 ? target : aad, 'x'), (e) => e instanceof AttestError && e.code === 'ERR_INTERNAL' && e.details.reason === 'integrity');
      }),
      { numRuns: 150 },
    );
  });

  test('unknown master key id is ERR_CONFIG_INVALID; previous keys still open; rewrap moves to the current key', async () => {
    const old = localMasterKey(generateMasterKey());
    const cur = localMasterKey(generateMasterKey());
    const aad = aadFor('signing-key', 'kid');
    const s = await new Envelope(old).seal(new Uint8Array([1, 2, 3]), aad);
    await assert.rejects(new Envelope(cur).open(s, aad, 'k'), hasCode('ERR_CONFIG_INVALID'));
    const both = new Envelope(cur, [old]);
    assert.deepEqual(await both.open(s, aad, 'k'), new Uint8Array([1, 2, 3]));
    const w = await both.rewrap(s.wrappedKey, s.keyId, aad, 'k');
    assert.equal(w.keyId, cur.id);
    assert.deepEqual(await new Envelope(cur).open({ ...s, ...w }, aad, 'k'), new Uint8Array([1, 2, 3]));
  });

  test('gcmOpen rejects truncated and unknown-version input', () => {
    const k = generateMasterKey();
    const sealed = gcmSeal(k, new Uint8Array([9]), new Uint8Array());
    assert.deepEqual(gcmOpen(k, sealed, new Uint8Array(), 'x'), new Uint8Array([9]));
    for (const bad of [sealed.subarray(0, 20), new Uint8Array([2, ...sealed.subarray(1)]), new Uint8Array()]) {
      assert.throws(() => gcmOpen(k, bad, new Uint8Array(), 'x'), (e) => e instanceof AttestError && e.details.reason === 'integrity');
    }
  });
});
