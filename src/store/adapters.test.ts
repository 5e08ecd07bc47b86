/** src/policy's KeyRing and reference-value interfaces running on the real store. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, importJWK, SignJWT } from 'jose';
import { KeyRing } from '../policy/index.ts';
import { AttestError } from '../core/errors.ts';
import { generateMasterKey, keyRingStorage, openStore, referenceValueStore } from './index.ts';

const T0 = new Date('2026-03-01T00:00:00Z');

describe('policy adapters over a SQLite store', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('KeyRing: first use persists an encrypted key; a reopened store signs with it; rotation keeps the old key verifiable', async () => {
    dir = await mkdtemp(join(tmpdir(), 'teataster-adapters-'));
    const file = join(dir, 'kbs.db');
    const key = generateMasterKey();
    const s1 = await openStore(file, { masterKey: key });
    const ring1 = new KeyRing(keyRingStorage(s1));
    const signer = await ring1.signer(T0);
    const jwt = await new SignJWT({ hello: 'world' }).setProtectedHeader({ alg: signer.alg, kid: signer.kid }).sign(signer.key);
    const stored = await s1.signingKeys.list();
    assert.equal(stored.length, 1);
    const d = stored[0]!.privateJwk.d as string;
    assert.equal(typeof d, 'string');
    await s1.close();
    const bytes = Buffer.concat([await readFile(file), ...(existsSync(`${file}-wal`) ? [await readFile(`${file}-wal`)] : [])]);
    assert.equal(bytes.includes(Buffer.from(d)), false, 'private key not in the database file');

    const s2 = await openStore(file, { masterKey: key });
    const ring2 = new KeyRing(keyRingStorage(s2));
    assert.equal((await ring2.signer(new Date(T0.getTime() + 1000))).kid, signer.kid, 'same key after reopening');
    const next = await ring2.rotate(new Date(T0.getTime() + 2000));
    assert.notEqual(next.kid, signer.kid);
    const jwks = await ring2.jwks(new Date(T0.getTime() + 3000));
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [signer.kid, next.kid].sort());
    const old = jwks.keys.find((k) => k.kid === signer.kid)!;
    await compactVerify(jwt, await importJWK(old as Parameters<typeof importJWK>[0], signer.alg));
    assert.equal((await s2.signingKeys.get(signer.kid))?.retiredAt?.getTime(), T0.getTime() + 2000);
    await s2.close();
  });

  test('reference values are validated and normalised like the policy module does', async () => {
    const s = await openStore(':memory:', { masterKey: generateMasterKey() });
    const refs = referenceValueStore(s);
    const r = await refs.put({ name: 'snp/measurement', kind: 'digest', value: ['0xABCD', 'abcd', 'EF01'], source: 'build 7', addedBy: 'ci' });
    assert.deepEqual(r.value, ['abcd', 'ef01']);
    assert.deepEqual((await refs.get('snp/measurement'))?.value, ['abcd', 'ef01']);
    for (const bad of [
      { name: 'x', kind: 'digest' as const, value: 'not-hex' },
      { name: 'x', kind: 'svn' as const, value: -1 },
      { name: '-bad-name', kind: 'svn' as const, value: 1 },
    ]) {
      await assert.rejects(refs.put({ ...bad, source: 's', addedBy: 'a' }), (e) => e instanceof AttestError && e.code === 'ERR_CONFIG_INVALID');
    }
    await s.close();
  });
});
