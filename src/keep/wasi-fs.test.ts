import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { utf8 } from '../core/index.ts';
import { buildTree, Errno, wasiFs } from './wasi-fs.ts';

function harness(files: Record<string, string>, writable: string[] = [], quota = 1024) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const written: [number, string][] = [];
  const fs = wasiFs({
    preopens: buildTree(new Map(Object.entries(files).map(([k, v]) => [k, utf8(v)])), [], writable),
    memory: () => memory,
    // Like the worker: take the bytes and transfer (detach) their buffer.
    write: (fd, d) => written.push([fd, new TextDecoder().decode(structuredClone(d, { transfer: [d.buffer as ArrayBuffer] }))]),
    quota: { used: 0, limit: quota },
  });
  const mem = new Uint8Array(memory.buffer);
  const dv = new DataView(memory.buffer);
  const putStr = (at: number, s: string): number => {
    const b = utf8(s);
    mem.set(b, at);
    return b.length;
  };
  const open = (dirfd: number, path: string, oflags = 0, fdflags = 0): { errno: number; fd: number } => {
    const len = putStr(1024, path);
    const errno = fs.path_open!(dirfd, 0, 1024, len, oflags, 0n, 0n, fdflags, 64);
    return { errno, fd: dv.getUint32(64, true) };
  };
  const read = (fd: number, n = 256): { errno: number; text: string } => {
    dv.setUint32(0, 4096, true);
    dv.setUint32(4, n, true);
    const errno = fs.fd_read!(fd, 0, 1, 8);
    return { errno, text: new TextDecoder().decode(mem.subarray(4096, 4096 + dv.getUint32(8, true))) };
  };
  return { fs, mem, dv, open, read, written, putStr };
}

test('wasi-fs: preopens are enumerated in order, then EBADF ends the list', () => {
  const h = harness({ '/b/x': '1', '/a/y': '2' });
  const names: string[] = [];
  for (let fd = 3; ; fd++) {
    const e = h.fs.fd_prestat_get!(fd, 16);
    if (e !== Errno.SUCCESS) {
      assert.equal(e, Errno.BADF);
      break;
    }
    const len = h.dv.getUint32(20, true);
    assert.equal(h.fs.fd_prestat_dir_name!(fd, 32, len), Errno.SUCCESS);
    names.push(new TextDecoder().decode(h.mem.subarray(32, 32 + len)));
  }
  assert.deepEqual(names, ['/a', '/b']);
});

test('wasi-fs: open, read, seek, pread, stat', () => {
  const h = harness({ '/d/sub/f.txt': 'hello world' });
  const { errno, fd } = h.open(3, 'sub/f.txt');
  assert.equal(errno, Errno.SUCCESS);
  assert.deepEqual(h.read(fd, 5), { errno: 0, text: 'hello' });
  assert.equal(h.fs.fd_seek!(fd, -5n, 2, 200), Errno.SUCCESS);
  assert.equal(h.dv.getBigUint64(200, true), 6n);
  assert.deepEqual(h.read(fd), { errno: 0, text: 'world' });
  assert.deepEqual(h.read(fd), { errno: 0, text: '' });
  assert.equal(h.fs.fd_filestat_get!(fd, 300), Errno.SUCCESS);
  assert.equal(h.dv.getUint8(316), 4);
  assert.equal(h.dv.getBigUint64(332, true), 11n);
  assert.equal(h.fs.fd_close!(fd), Errno.SUCCESS);
  assert.equal(h.fs.fd_close!(fd), Errno.BADF);
  assert.equal(h.fs.fd_close!(3), Errno.NOTSUP, 'preopens stay open');
});

test('wasi-fs: read-only and confined', () => {
  const h = harness({ '/d/f': 'x', '/e/g': 'y' });
  assert.equal(h.open(3, 'f', 1 /* CREAT */).errno, Errno.SUCCESS, 'O_CREAT on an existing file opens it');
  assert.equal(h.open(3, 'new', 1).errno, Errno.ROFS);
  assert.equal(h.open(3, 'f', 8 /* TRUNC */).errno, Errno.ROFS);
  assert.equal(h.open(3, 'f', 0, 1 /* APPEND */).errno, Errno.ROFS);
  assert.equal(h.open(3, '../e/g').errno, Errno.NOTCAPABLE);
  assert.equal(h.open(3, '/etc/passwd').errno, Errno.NOTCAPABLE);
  assert.equal(h.open(3, 'missing').errno, Errno.NOENT);
  assert.equal(h.open(3, 'f/x').errno, Errno.NOTDIR);
  const { fd } = h.open(3, 'f');
  h.dv.setUint32(0, 0, true);
  h.dv.setUint32(4, 1, true);
  assert.equal(h.fs.fd_write!(fd, 0, 1, 8), Errno.BADF);
  const fl = h.putStr(3000, 'f');
  assert.equal(h.fs.path_unlink_file!(3, 3000, fl), Errno.ROFS);
  const nl = h.putStr(3000, 'newdir');
  assert.equal(h.fs.path_create_directory!(3, 3000, nl), Errno.ROFS);
});

test('wasi-fs: stdout/stderr are delivered, stdin is empty', () => {
  const h = harness({});
  const len = h.putStr(2048, 'out!');
  h.dv.setUint32(0, 2048, true);
  h.dv.setUint32(4, len, true);
  assert.equal(h.fs.fd_write!(1, 0, 1, 8), Errno.SUCCESS);
  assert.equal(h.dv.getUint32(8, true), 4, 'nwritten survives the callee detaching the buffer');
  assert.equal(h.fs.fd_write!(2, 0, 1, 8), Errno.SUCCESS);
  assert.deepEqual(h.written, [[1, 'out!'], [2, 'out!']]);
  assert.deepEqual(h.read(0), { errno: 0, text: '' });
});

test('wasi-fs: readdir lists entries with cookies', () => {
  const h = harness({ '/d/a': '1', '/d/b/c': '2' });
  assert.equal(h.fs.fd_readdir!(3, 512, 512, 0n, 8), Errno.SUCCESS);
  const used = h.dv.getUint32(8, true);
  const names: string[] = [];
  for (let p = 512; p < 512 + used;) {
    const n = h.dv.getUint32(p + 16, true);
    names.push(new TextDecoder().decode(h.mem.subarray(p + 24, p + 24 + n)));
    p += 24 + n;
  }
  assert.deepEqual(names, ['.', '..', 'a', 'b']);
});

test('property: arbitrary paths never escape a preopen and never throw', () => {
  const h = harness({ '/d/in': 'inside', '/secret/out': 'outside' });
  fc.assert(fc.property(fc.array(fc.constantFrom('..', '.', 'in', 'out', 'secret', '', 'd', '\u0000', 'ünï'), { maxLength: 8 }).map((a) => a.join('/')), fc.boolean(), (path, abs) => {
    const p = abs ? `/${path}` : path;
    const { errno, fd } = h.open(3, p);
    if (errno === Errno.SUCCESS) {
      const r = h.read(fd);
      assert.notEqual(r.text, 'outside', `escaped via ${JSON.stringify(p)}`);
      h.fs.fd_close!(fd);
    } else assert.ok(Object.values(Errno).includes(errno as never));
  }), { numRuns: 300 });
});

test('wasi-fs: out-of-bounds pointers are EFAULT, not a crash', () => {
  const h = harness({ '/d/f': 'x' });
  assert.equal(h.fs.fd_filestat_get!(3, 65536 - 8), Errno.FAULT);
});

test('wasi-fs: writable dirs: create, write, append, truncate, rename, unlink, quota', () => {
  const h = harness({ '/tmp/given': 'ro' }, ['/tmp'], 10);
  const write = (fd: number, text: string): number => {
    const len = h.putStr(2048, text);
    h.dv.setUint32(0, 2048, true);
    h.dv.setUint32(4, len, true);
    return h.fs.fd_write!(fd, 0, 1, 8);
  };
  const a = h.open(3, 'a', 1 /* CREAT */);
  assert.equal(a.errno, Errno.SUCCESS);
  assert.equal(write(a.fd, 'hello'), Errno.SUCCESS);
  const ap = h.open(3, 'a', 0, 1 /* APPEND */);
  assert.equal(write(ap.fd, '!!'), Errno.SUCCESS);
  assert.equal(write(ap.fd, 'xxxx'), Errno.NOSPC, 'quota of 10 bytes: 7 used, 4 more refused');
  const r = h.open(3, 'a');
  assert.deepEqual(h.read(r.fd), { errno: 0, text: 'hello!!' });
  assert.equal(h.open(3, 'a', 1 | 4 /* CREAT|EXCL */).errno, Errno.EXIST);
  assert.equal(h.open(3, 'a', 8 /* TRUNC */).errno, Errno.SUCCESS);
  assert.equal(write(h.open(3, 'a').fd, '0123456789'), Errno.SUCCESS, 'truncation returned the bytes to the quota');
  // The delivered file stays read-only inside a writable dir.
  assert.equal(h.open(3, 'given', 8).errno, Errno.ROFS);
  assert.equal(write(h.open(3, 'given').fd, 'x'), Errno.BADF);
  const p = (s: string): [number, number] => { const at = 3000 + (s.length % 7) * 100; return [at, h.putStr(at, s)]; };
  assert.equal(h.fs.path_unlink_file!(3, ...p('given')), Errno.ROFS);
  assert.equal(h.fs.path_create_directory!(3, ...p('d')), Errno.SUCCESS);
  assert.equal(h.fs.path_create_directory!(3, ...p('d')), Errno.EXIST);
  const [fa, fl] = [3500, h.putStr(3500, 'a')];
  const [ta, tl] = [3600, h.putStr(3600, 'd/b')];
  assert.equal(h.fs.path_rename!(3, fa, fl, 3, ta, tl), Errno.SUCCESS);
  assert.equal(h.open(3, 'a').errno, Errno.NOENT);
  assert.deepEqual(h.read(h.open(3, 'd/b').fd), { errno: 0, text: '0123456789' });
  assert.equal(h.fs.path_remove_directory!(3, ...p('d')), Errno.NOTEMPTY);
  assert.equal(h.fs.path_unlink_file!(3, ta, tl), Errno.SUCCESS);
  assert.equal(h.fs.path_remove_directory!(3, ...p('d')), Errno.SUCCESS);
  assert.equal(write(h.open(3, 'c', 1).fd, '0123456789'), Errno.SUCCESS, 'unlink returned the bytes to the quota');
});
