import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttestError, ErrorCode } from '../../core/index.ts';
import { removeTree, tsmProvider, tsmReport } from './index.ts';
import { fakeConfigfs } from './test-support/fake-configfs.ts';

const echo = { name: 'tdx_guest', report: async (inblob: Uint8Array, privlevel: number) => ({ outblob: new Uint8Array([...inblob, privlevel]), auxblob: new Uint8Array([7, 7]) }) };

const deviceError = (e: unknown): boolean => e instanceof AttestError && e.code === ErrorCode.DeviceError;

test('tsmReport writes a 64-byte inblob (zero-padded), reads outblob/auxblob/provider, checks generation, removes the entry', async () => {
  const fake = await fakeConfigfs(echo);
  try {
    const r = await tsmReport(new Uint8Array([1, 2, 3]), { base: fake.base, fs: fake.fs });
    assert.equal(r.provider, 'tdx_guest');
    assert.equal(r.outblob.length, 65);
    assert.deepEqual([...r.outblob.subarray(0, 4)], [1, 2, 3, 0]);
    assert.deepEqual(r.auxblob, new Uint8Array([7, 7]));
    assert.equal(r.generation, 1);
    const withPriv = await tsmReport(new Uint8Array(64).fill(9), { base: fake.base, fs: fake.fs, privlevel: 2 });
    assert.equal(withPriv.outblob[64], 2);
    assert.equal(withPriv.generation, 2);
    assert.deepEqual(await fake.entries(), [], 'entries are removed');
    assert.equal(await tsmProvider({ base: fake.base, fs: fake.fs }), 'tdx_guest');
  } finally {
    await fake.cleanup();
  }
});

test('tsmReport: a concurrent writer (generation changes) is detected', async () => {
  const fake = await fakeConfigfs(echo);
  try {
    fake.raceOnOutblobRead = true;
    await assert.rejects(tsmReport(new Uint8Array(64), { base: fake.base, fs: fake.fs }), deviceError);
    assert.deepEqual(await fake.entries(), []);
  } finally {
    await fake.cleanup();
  }
});

test('tsmReport: bad input and missing interface are device errors', async () => {
  const fake = await fakeConfigfs(echo);
  try {
    await assert.rejects(tsmReport(new Uint8Array(65), { base: fake.base, fs: fake.fs }), deviceError);
    await assert.rejects(tsmReport(new Uint8Array(64), { base: fake.base, fs: fake.fs, privlevel: 4 }), deviceError);
    await assert.rejects(tsmReport(new Uint8Array(64), { base: join(fake.base, 'nope'), fs: fake.fs }), deviceError);
    assert.equal(await tsmProvider({ base: join(fake.base, 'nope'), fs: fake.fs }), undefined);
  } finally {
    await fake.cleanup();
  }
});

test('tsmReport with the real node fs on a plain directory (no provider behind it) fails cleanly', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plain-tsm-'));
  try {
    await assert.rejects(tsmReport(new Uint8Array(64), { base: dir }), deviceError);
    assert.equal(await tsmProvider({ base: dir }), undefined);
  } finally {
    await removeTree(dir);
  }
});
