import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fromUtf8, utf8 } from '../core/index.ts';
import { runWasm, type RunOptions } from './runner.ts';
import { cleanupExamples, exampleModule } from './test-support/examples.ts';

after(cleanupExamples);

async function run(opts: Partial<RunOptions> & { module: Uint8Array }) {
  let out = '';
  let err = '';
  const r = await runWasm({
    args: ['keep'],
    env: {},
    files: new Map(),
    limits: { memoryMb: 16, timeoutS: 10 },
    stdout: (b) => { out += fromUtf8(b); },
    stderr: (b) => { err += fromUtf8(b); },
    ...opts,
  });
  return { ...r, out, err };
}

test('runner: env secret reaches the workload; exit code 0', async () => {
  const r = await run({ module: exampleModule('secret-digest'), args: ['keep', 'API_TOKEN'], env: { API_TOKEN: 's3cret', GREETING: 'hello keep' } });
  assert.equal(r.exitCode, 0);
  assert.equal(r.out, `sha256(API_TOKEN)=${createHash('sha256').update('s3cret').digest('hex')}\nhello keep\n`);
});

test('runner: exit code is propagated', async () => {
  const r = await run({ module: exampleModule('secret-digest'), args: ['keep', 'MISSING'] });
  assert.equal(r.exitCode, 2);
  assert.match(r.err, /MISSING is not set/);
});

test('runner: in-memory preopened files are readable, listable and read-only', async () => {
  const files = new Map([['/secrets/config.txt', utf8('db=postgres://x')], ['/secrets/nested/b.txt', utf8('bee')]]);
  const r = await run({ module: exampleModule('read-file'), args: ['keep', '/secrets/config.txt', '/secrets/nested/b.txt'], files });
  assert.equal(r.exitCode, 0, r.err);
  assert.equal(r.out, 'dir: config.txt nested\ndb=postgres://x\nwrite-open: Read-only file system\ndir: b.txt\nbee\nwrite-open: Read-only file system\n');
});

test('runner: paths outside the preopens do not exist (no host file system)', async () => {
  for (const p of ['/etc/passwd', '/secrets/../etc/passwd', '/proc/self/environ']) {
    const r = await run({ module: exampleModule('read-file'), args: ['keep', p], files: new Map([['/secrets/a', utf8('a')]]) });
    assert.equal(r.exitCode, 3, `${p}: ${r.out}`);
  }
});

test('runner: memory limit → ERR_LIMIT_EXCEEDED (memory_mb)', async () => {
  await assert.rejects(run({ module: exampleModule('memory-hog'), limits: { memoryMb: 8, timeoutS: 20 } }), (e: Error & { code?: string; details?: Record<string, unknown> }) => {
    assert.equal(e.code, 'ERR_LIMIT_EXCEEDED');
    assert.equal(e.details?.limit, 'memory_mb');
    assert.equal(e.details?.exact, true);
    assert.ok((e.details?.memoryBytes as number) <= 8 * 2 ** 20);
    return true;
  });
});

test('runner: a refused memory.grow far below the ceiling is still detected exactly', async () => {
  // One 40 MiB malloc under a 32 MiB limit: memory stays small, the grow is refused.
  await assert.rejects(run({ module: exampleModule('memory-hog'), args: ['hog', '40'], limits: { memoryMb: 32, timeoutS: 20 } }), (e: Error & { code?: string; details?: Record<string, unknown> }) => {
    assert.equal(e.code, 'ERR_LIMIT_EXCEEDED');
    assert.equal(e.details?.exact, true);
    assert.ok((e.details?.memoryBytes as number) < 4 * 2 ** 20, 'memory was far below the ceiling');
    return true;
  });
  const ok = await run({ module: exampleModule('memory-hog'), args: ['hog', '4'], limits: { memoryMb: 32, timeoutS: 20 } });
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.memoryGrowDenied, false);
  assert.equal(ok.out, 'allocated 4 MiB\n');
});

test('runner: time limit → worker terminated, ERR_LIMIT_EXCEEDED (timeout_s), output streamed before', async () => {
  let out = '';
  const t0 = Date.now();
  await assert.rejects(runWasm({ module: exampleModule('spin'), args: ['spin'], env: {}, files: new Map(), limits: { memoryMb: 4, timeoutS: 1 }, stdout: (b) => { out += fromUtf8(b); } }), (e: Error & { code?: string; details?: Record<string, unknown> }) => {
    assert.equal(e.code, 'ERR_LIMIT_EXCEEDED', e.message);
    assert.equal(e.details?.limit, 'timeout_s');
    return true;
  });
  assert.ok(Date.now() - t0 < 15_000, "terminated promptly after the 1 s limit");
  assert.equal(out, 'spinning\n');
});

test('runner: a module needing more initial memory than the limit is refused before running', async () => {
  await assert.rejects(run({ module: exampleModule('spin'), limits: { memoryMb: 0.01, timeoutS: 1 } }), { code: 'ERR_LIMIT_EXCEEDED' });
});

test('runner: a reactor / non-command module is ERR_WORKLOAD_INVALID', async () => {
  // (module (memory (export "memory") 1))
  const mod = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, ...utf8('memory'), 2, 0]);
  await assert.rejects(run({ module: mod }), { code: 'ERR_WORKLOAD_INVALID' });
});

test('runner: writable in-memory dirs (create, append, rename, remove) within the scratch quota', async () => {
  const r = await run({ module: exampleModule('scratch'), args: ['keep', '8'], dirs: ['/tmp'], writableDirs: ['/tmp'], limits: { memoryMb: 16, timeoutS: 20, scratchMb: 2 } });
  assert.equal(r.exitCode, 0, r.out + r.err);
  assert.equal(r.out, 'read 33 bytes: written inside the keep\nappended\nls /tmp/sub: moved.txt\nafter cleanup: No such file or directory\nstopped after 2048 KiB: No space left on device\n');
});

test('runner: without `dirs` the same program cannot write (read-only file system)', async () => {
  const r = await run({ module: exampleModule('scratch'), dirs: ['/tmp'] });
  assert.equal(r.exitCode, 1);
  assert.equal(r.out, 'FAIL create: Read-only file system\n');
});
