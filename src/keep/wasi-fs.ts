/**
 * The Keep's file-descriptor layer for WASI preview 1: stdio and in-memory preopened directories.
 * It replaces node:wasi's fd_* and path_* imports, so a workload never reaches a host file:
 * node:wasi is given no preopens and only serves args, environ, clocks, random and exit.
 *
 * Files delivered from the KBS ([files], identity) are read-only. Directories named in the
 * manifest's `dirs` are writable scratch space: files and subdirectories can be created, written,
 * truncated, renamed and removed there, all in memory, within a byte quota (ENOSPC beyond it).
 * Semantics follow the preview1 witx (WebAssembly/WASI, legacy/preview1/witx/*.witx); errno and
 * struct layouts are from there.
 */

export const Errno = {
  SUCCESS: 0, ACCES: 2, BADF: 8, EXIST: 20, FAULT: 21, FBIG: 22, INVAL: 28, IO: 29, ISDIR: 31, NAMETOOLONG: 37,
  NOENT: 44, NOSPC: 51, NOSYS: 52, NOTDIR: 54, NOTEMPTY: 55, NOTSUP: 58, PERM: 63, ROFS: 69, SPIPE: 70, NOTCAPABLE: 76,
} as const;

const FILETYPE_CHARACTER_DEVICE = 2;
const FILETYPE_DIRECTORY = 3;
const FILETYPE_REGULAR_FILE = 4;
const OFLAGS_CREAT = 1;
const OFLAGS_DIRECTORY = 2;
const OFLAGS_EXCL = 4;
const OFLAGS_TRUNC = 8;
const FDFLAGS_APPEND = 1;
const RIGHTS_ALL = 0x1fffffffn;
const PREOPENTYPE_DIR = 0;
/** Largest single in-memory file (also bounded by the quota). */
const MAX_FILE = 2 ** 30;

export type DirNode = { kind: 'dir'; ino: bigint; children: Map<string, MemNode>; writable: boolean };
export type FileNode = { kind: 'file'; ino: bigint; data: Uint8Array; size: number; readonly: boolean };
export type MemNode = DirNode | FileNode;

/** Byte quota shared by every writable directory of one Keep. */
export interface Quota {
  used: number;
  limit: number;
}

let inoCounter = 1n;
const newDir = (writable: boolean): DirNode => ({ kind: 'dir', ino: inoCounter++, children: new Map(), writable });

/**
 * Builds the in-memory tree: read-only files keyed by absolute path, plus writable (initially empty)
 * directories. Returns the top-level (preopened) directories by path.
 */
export function buildTree(files: ReadonlyMap<string, Uint8Array>, extraDirs: readonly string[] = [], writableDirs: readonly string[] = []): Map<string, DirNode> {
  const roots = new Map<string, DirNode>();
  const writable = new Set(writableDirs);
  const ensureDir = (path: string): DirNode => {
    const parts = path.slice(1).split('/');
    const top = `/${parts[0]!}`;
    let node: DirNode = roots.get(top) ?? newDir(writable.has(top));
    roots.set(top, node);
    for (const p of parts.slice(1)) {
      const child: MemNode = node.children.get(p) ?? newDir(node.writable);
      if (child.kind !== 'dir') throw new Error(`${path}: ${p} is a file`);
      node.children.set(p, child);
      node = child;
    }
    return node;
  };
  for (const d of [...extraDirs, ...writableDirs]) ensureDir(d);
  for (const [path, data] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const i = path.lastIndexOf('/');
    const dir = ensureDir(path.slice(0, i));
    const name = path.slice(i + 1);
    if (dir.children.has(name)) throw new Error(`${path} defined twice or is a directory`);
    dir.children.set(name, { kind: 'file', ino: inoCounter++, data, size: data.length, readonly: true });
  }
  return roots;
}

type Fd =
  | { kind: 'stdin' }
  | { kind: 'stdout'; fd: 1 | 2 }
  | { kind: 'dir'; node: DirNode; preopen?: string }
  | { kind: 'file'; node: FileNode; pos: number; append: boolean };

export interface WasiFsOptions {
  preopens: Map<string, DirNode>;
  /** Receives stdout (1) / stderr (2) bytes; the buffer is a fresh copy the callee may keep. */
  write: (fd: 1 | 2, data: Uint8Array) => void;
  memory: () => WebAssembly.Memory;
  /** Quota for bytes stored in writable directories (default 16 MiB). */
  quota?: Quota;
}

type Imp = (...args: (number | bigint)[]) => number;

/** Returns the preview1 functions this layer owns; spread them over node:wasi's import object. */
export function wasiFs(opts: WasiFsOptions): Record<string, Imp> {
  const quota: Quota = opts.quota ?? { used: 0, limit: 16 * 2 ** 20 };
  const fds = new Map<number, Fd>();
  fds.set(0, { kind: 'stdin' });
  fds.set(1, { kind: 'stdout', fd: 1 });
  fds.set(2, { kind: 'stdout', fd: 2 });
  let next = 3;
  for (const [path, node] of [...opts.preopens].sort(([a], [b]) => (a < b ? -1 : 1))) fds.set(next++, { kind: 'dir', node, preopen: path });
  const dv = (): DataView => new DataView(opts.memory().buffer);
  const u8 = (): Uint8Array => new Uint8Array(opts.memory().buffer);
  const num = (v: number | bigint): number => Number(v);
  const str = (ptr: number, len: number): string => {
    const b = u8();
    if (ptr + len > b.length) throw new RangeError('path out of bounds');
    return new TextDecoder('utf-8', { fatal: false }).decode(b.subarray(ptr, ptr + len));
  };

  const iovecs = (iovs: number, n: number): { ptr: number; len: number }[] => {
    const v = dv();
    const out = [];
    for (let i = 0; i < n; i++) out.push({ ptr: v.getUint32(iovs + i * 8, true), len: v.getUint32(iovs + i * 8 + 4, true) });
    return out;
  };
  const gather = (iovs: number, n: number): Uint8Array => {
    const parts = iovecs(iovs, n);
    const out = new Uint8Array(parts.reduce((s, p) => s + p.len, 0));
    const mem = u8();
    let o = 0;
    for (const { ptr, len } of parts) {
      if (ptr + len > mem.length) throw new RangeError('iovec out of bounds');
      out.set(mem.subarray(ptr, ptr + len), o);
      o += len;
    }
    return out;
  };

  interface Resolved {
    errno: number;
    node?: MemNode;
    parent?: DirNode;
    name?: string;
  }
  /** Resolves a path relative to a directory fd; no escape above the directory, no absolute paths. */
  const resolve = (dirfd: number, path: string): Resolved => {
    const d = fds.get(dirfd);
    if (!d) return { errno: Errno.BADF };
    if (d.kind !== 'dir') return { errno: Errno.NOTDIR };
    if (path.startsWith('/')) return { errno: Errno.NOTCAPABLE };
    if (path.includes('\0')) return { errno: Errno.INVAL };
    const stack: DirNode[] = [d.node];
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    let node: MemNode = d.node;
    let parent: DirNode | undefined;
    let name: string | undefined;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (node.kind !== 'dir') return { errno: Errno.NOTDIR };
      if (p === '..') {
        if (stack.length <= 1) return { errno: Errno.NOTCAPABLE };
        stack.pop();
        node = stack[stack.length - 1]!;
        parent = undefined;
        name = undefined;
        continue;
      }
      const child: MemNode | undefined = node.children.get(p);
      if (!child) return i === parts.length - 1 ? { errno: Errno.NOENT, parent: node, name: p } : { errno: Errno.NOENT };
      parent = node;
      name = p;
      node = child;
      if (node.kind === 'dir') stack.push(node);
    }
    return { node, errno: Errno.SUCCESS, ...(parent ? { parent } : {}), ...(name !== undefined ? { name } : {}) };
  };

  const writeFilestat = (ptr: number, node: MemNode): void => {
    const v = dv();
    if (ptr + 64 > v.byteLength) throw new RangeError('filestat out of bounds');
    for (let i = 0; i < 64; i += 8) v.setBigUint64(ptr + i, 0n, true);
    v.setBigUint64(ptr + 8, node.ino, true);
    v.setUint8(ptr + 16, node.kind === 'dir' ? FILETYPE_DIRECTORY : FILETYPE_REGULAR_FILE);
    v.setBigUint64(ptr + 24, 1n, true);
    v.setBigUint64(ptr + 32, BigInt(node.kind === 'file' ? node.size : 0), true);
  };

  /** Grows/shrinks a writable file to `size`, charging the quota. */
  const resize = (f: FileNode, size: number): number => {
    if (size > MAX_FILE) return Errno.FBIG;
    const delta = size - f.size;
    if (delta > 0 && quota.used + delta > quota.limit) return Errno.NOSPC;
    if (size > f.data.length) {
      const grown = new Uint8Array(Math.min(MAX_FILE, Math.max(size, f.data.length * 2, 256)));
      grown.set(f.data.subarray(0, f.size));
      f.data = grown;
    } else if (size < f.size) f.data.fill(0, size, f.size);
    quota.used += delta;
    f.size = size;
    return Errno.SUCCESS;
  };
  const writeAt = (f: FileNode, at: number, bytes: Uint8Array): number => {
    if (f.readonly) return Errno.BADF;
    const end = at + bytes.length;
    if (end > f.size) {
      const e = resize(f, end);
      if (e) return e;
    }
    f.data.set(bytes, at);
    return Errno.SUCCESS;
  };
  const release = (n: MemNode): void => {
    if (n.kind === 'file') {
      if (!n.readonly) quota.used -= n.size;
    } else for (const c of n.children.values()) release(c);
  };

  const guard = (f: Imp): Imp => (...a) => {
    try {
      return f(...a);
    } catch (e) {
      if (e instanceof RangeError) return Errno.FAULT;
      throw e;
    }
  };

  const readInto = (f: Extract<Fd, { kind: 'file' }>, iovs: number, n: number, at: number): number => {
    let pos = at;
    const mem = u8();
    for (const { ptr, len } of iovecs(iovs, n)) {
      if (ptr + len > mem.length) throw new RangeError('iovec out of bounds');
      const chunk = f.node.data.subarray(pos, Math.min(pos + len, f.node.size));
      mem.set(chunk, ptr);
      pos += chunk.length;
      if (chunk.length < len) break;
    }
    return pos - at;
  };

  const fileFd = (fd: number | bigint): Extract<Fd, { kind: 'file' }> | number => {
    const f = fds.get(num(fd));
    if (!f) return Errno.BADF;
    if (f.kind === 'dir') return Errno.ISDIR;
    if (f.kind !== 'file') return Errno.SPIPE;
    return f;
  };
  /** The writable directory a path's last component lives in, or an errno. */
  const writableParent = (dirfd: number | bigint, path: number | bigint, len: number | bigint): Resolved => {
    const r = resolve(num(dirfd), str(num(path), num(len)));
    if (r.errno && r.errno !== Errno.NOENT) return r;
    if (!r.parent || r.name === undefined) return { errno: r.errno || Errno.INVAL };
    if (!r.parent.writable) return { ...r, errno: Errno.ROFS };
    return r;
  };

  const fns: Record<string, Imp> = {
    fd_prestat_get: (fd, buf) => {
      const f = fds.get(num(fd));
      if (!f || f.kind !== 'dir' || f.preopen === undefined) return Errno.BADF;
      const v = dv();
      v.setUint8(num(buf), PREOPENTYPE_DIR);
      v.setUint32(num(buf) + 4, new TextEncoder().encode(f.preopen).length, true);
      return Errno.SUCCESS;
    },
    fd_prestat_dir_name: (fd, path, len) => {
      const f = fds.get(num(fd));
      if (!f || f.kind !== 'dir' || f.preopen === undefined) return Errno.BADF;
      const name = new TextEncoder().encode(f.preopen);
      if (num(len) < name.length) return Errno.NAMETOOLONG;
      u8().set(name, num(path));
      return Errno.SUCCESS;
    },
    fd_fdstat_get: (fd, buf) => {
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      const v = dv();
      const p = num(buf);
      v.setUint8(p, f.kind === 'dir' ? FILETYPE_DIRECTORY : f.kind === 'file' ? FILETYPE_REGULAR_FILE : FILETYPE_CHARACTER_DEVICE);
      v.setUint16(p + 2, f.kind === 'stdout' || (f.kind === 'file' && f.append) ? FDFLAGS_APPEND : 0, true);
      v.setBigUint64(p + 8, RIGHTS_ALL, true);
      v.setBigUint64(p + 16, RIGHTS_ALL, true);
      return Errno.SUCCESS;
    },
    fd_fdstat_set_flags: (fd, flags) => {
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      if (f.kind === 'file') f.append = (num(flags) & FDFLAGS_APPEND) !== 0;
      return Errno.SUCCESS;
    },
    fd_fdstat_set_rights: (fd) => (fds.has(num(fd)) ? Errno.SUCCESS : Errno.BADF),
    fd_filestat_get: (fd, buf) => {
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      if (f.kind === 'dir' || f.kind === 'file') {
        writeFilestat(num(buf), f.node);
        return Errno.SUCCESS;
      }
      const v = dv();
      for (let i = 0; i < 64; i += 8) v.setBigUint64(num(buf) + i, 0n, true);
      v.setUint8(num(buf) + 16, FILETYPE_CHARACTER_DEVICE);
      return Errno.SUCCESS;
    },
    fd_write: (fd, iovs, n, nwritten) => {
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      if (f.kind === 'dir') return Errno.ISDIR;
      if (f.kind === 'stdin') return Errno.BADF;
      const bytes = gather(num(iovs), num(n));
      // Read the length first: the callee may transfer (detach) the buffer.
      const count = bytes.length;
      if (f.kind === 'stdout') {
        if (count > 0) opts.write(f.fd, bytes);
      } else {
        const at = f.append ? f.node.size : f.pos;
        const e = writeAt(f.node, at, bytes);
        if (e) return e;
        f.pos = at + count;
      }
      dv().setUint32(num(nwritten), count, true);
      return Errno.SUCCESS;
    },
    fd_pwrite: (fd, iovs, n, offset, nwritten) => {
      const f = fileFd(fd);
      if (typeof f === 'number') return f;
      const bytes = gather(num(iovs), num(n));
      const e = writeAt(f.node, Number(BigInt(offset)), bytes);
      if (e) return e;
      dv().setUint32(num(nwritten), bytes.length, true);
      return Errno.SUCCESS;
    },
    fd_read: (fd, iovs, n, nread) => {
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      if (f.kind === 'stdin') {
        dv().setUint32(num(nread), 0, true);
        return Errno.SUCCESS;
      }
      if (f.kind === 'dir') return Errno.ISDIR;
      if (f.kind !== 'file') return Errno.BADF;
      const got = readInto(f, num(iovs), num(n), f.pos);
      f.pos += got;
      dv().setUint32(num(nread), got, true);
      return Errno.SUCCESS;
    },
    fd_pread: (fd, iovs, n, offset, nread) => {
      const f = fileFd(fd);
      if (typeof f === 'number') return f;
      const off = BigInt(offset);
      const got = off >= BigInt(f.node.size) ? 0 : readInto(f, num(iovs), num(n), Number(off));
      dv().setUint32(num(nread), got, true);
      return Errno.SUCCESS;
    },
    fd_seek: (fd, offset, whence, newOffset) => {
      const f = fileFd(fd);
      if (typeof f === 'number') return f;
      const base = num(whence) === 0 ? 0n : num(whence) === 1 ? BigInt(f.pos) : num(whence) === 2 ? BigInt(f.node.size) : -1n;
      if (base < 0n) return Errno.INVAL;
      const target = base + BigInt(offset);
      if (target < 0n || target > BigInt(MAX_FILE)) return Errno.INVAL;
      f.pos = Number(target);
      dv().setBigUint64(num(newOffset), target, true);
      return Errno.SUCCESS;
    },
    fd_tell: (fd, out) => {
      const f = fileFd(fd);
      if (typeof f === 'number') return f;
      dv().setBigUint64(num(out), BigInt(f.pos), true);
      return Errno.SUCCESS;
    },
    fd_close: (fd) => {
      const n = num(fd);
      const f = fds.get(n);
      if (!f) return Errno.BADF;
      if (f.kind === 'dir' && f.preopen !== undefined) return Errno.NOTSUP;
      fds.delete(n);
      return Errno.SUCCESS;
    },
    fd_renumber: (from, to) => {
      const f = fds.get(num(from));
      if (!f || !fds.has(num(to))) return Errno.BADF;
      fds.set(num(to), f);
      fds.delete(num(from));
      return Errno.SUCCESS;
    },
    fd_sync: (fd) => (fds.has(num(fd)) ? Errno.SUCCESS : Errno.BADF),
    fd_datasync: (fd) => (fds.has(num(fd)) ? Errno.SUCCESS : Errno.BADF),
    fd_advise: (fd) => (fds.has(num(fd)) ? Errno.SUCCESS : Errno.BADF),
    fd_allocate: (fd, offset, len) => {
      const f = fileFd(fd);
      if (typeof f === 'number') return f;
      if (f.node.readonly) return Errno.BADF;
      const end = Number(BigInt(offset) + BigInt(len));
      return end > f.node.size ? resize(f.node, end) : Errno.SUCCESS;
    },
    fd_filestat_set_size: (fd, size) => {
      const f = fileFd(fd);
      if (typeof f === 'number') return f;
      if (f.node.readonly) return Errno.BADF;
      return resize(f.node, Number(BigInt(size)));
    },
    fd_filestat_set_times: (fd) => (fds.has(num(fd)) ? Errno.SUCCESS : Errno.BADF),
    fd_readdir: (fd, buf, bufLen, cookie, bufused) => {
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      if (f.kind !== 'dir') return Errno.NOTDIR;
      const entries: [string, MemNode][] = [['.', f.node], ['..', f.node], ...[...f.node.children].sort(([a], [b]) => (a < b ? -1 : 1))];
      const mem = u8();
      const v = dv();
      let p = num(buf);
      const end = p + num(bufLen);
      if (end > mem.length) return Errno.FAULT;
      for (let i = Number(cookie); i < entries.length && p < end; i++) {
        const [name, node] = entries[i]!;
        const nameBytes = new TextEncoder().encode(name);
        // dirent: d_next u64, d_ino u64, d_namlen u32, d_type u8 (24 bytes), then the name.
        const ent = new Uint8Array(24 + nameBytes.length);
        const ev = new DataView(ent.buffer);
        ev.setBigUint64(0, BigInt(i + 1), true);
        ev.setBigUint64(8, node.ino, true);
        ev.setUint32(16, nameBytes.length, true);
        ev.setUint8(20, node.kind === 'dir' ? FILETYPE_DIRECTORY : FILETYPE_REGULAR_FILE);
        ent.set(nameBytes, 24);
        const take = Math.min(ent.length, end - p);
        mem.set(ent.subarray(0, take), p);
        p += take;
      }
      v.setUint32(num(bufused), p - num(buf), true);
      return Errno.SUCCESS;
    },
    path_open: (dirfd, _dirflags, path, pathLen, oflags, _rb, _ri, fdflags, outFd) => {
      const r = resolve(num(dirfd), str(num(path), num(pathLen)));
      const of = num(oflags);
      const append = (num(fdflags) & FDFLAGS_APPEND) !== 0;
      let node = r.node;
      if (!node) {
        if (r.errno !== Errno.NOENT || !(of & OFLAGS_CREAT)) return r.errno;
        if (!r.parent || r.name === undefined) return Errno.NOENT;
        if (!r.parent.writable) return Errno.ROFS;
        if (of & OFLAGS_DIRECTORY) return Errno.INVAL;
        node = { kind: 'file', ino: inoCounter++, data: new Uint8Array(0), size: 0, readonly: false };
        r.parent.children.set(r.name, node);
      } else {
        if (of & OFLAGS_CREAT && of & OFLAGS_EXCL) return Errno.EXIST;
        if (of & OFLAGS_DIRECTORY && node.kind !== 'dir') return Errno.NOTDIR;
        if (node.kind === 'file') {
          if (node.readonly && (of & OFLAGS_TRUNC || append)) return Errno.ROFS;
          if (of & OFLAGS_TRUNC) {
            const e = resize(node, 0);
            if (e) return e;
          }
        } else if (of & OFLAGS_TRUNC || append) return Errno.ISDIR;
      }
      const fd = next++;
      fds.set(fd, node.kind === 'dir' ? { kind: 'dir', node } : { kind: 'file', node, pos: 0, append });
      dv().setUint32(num(outFd), fd, true);
      return Errno.SUCCESS;
    },
    path_filestat_get: (dirfd, _flags, path, pathLen, buf) => {
      const r = resolve(num(dirfd), str(num(path), num(pathLen)));
      if (!r.node) return r.errno;
      writeFilestat(num(buf), r.node);
      return Errno.SUCCESS;
    },
    path_filestat_set_times: (dirfd, _f, path, pathLen) => resolve(num(dirfd), str(num(path), num(pathLen))).errno,
    path_readlink: (dirfd, path, pathLen) => resolve(num(dirfd), str(num(path), num(pathLen))).errno || Errno.INVAL,
    path_create_directory: (dirfd, path, pathLen) => {
      const r = writableParent(dirfd, path, pathLen);
      if (r.errno === Errno.SUCCESS) return Errno.EXIST;
      if (r.errno !== Errno.NOENT) return r.errno;
      r.parent!.children.set(r.name!, newDir(true));
      return Errno.SUCCESS;
    },
    path_remove_directory: (dirfd, path, pathLen) => {
      const r = writableParent(dirfd, path, pathLen);
      if (r.errno) return r.errno;
      if (r.node!.kind !== 'dir') return Errno.NOTDIR;
      if (r.node!.children.size > 0) return Errno.NOTEMPTY;
      r.parent!.children.delete(r.name!);
      return Errno.SUCCESS;
    },
    path_unlink_file: (dirfd, path, pathLen) => {
      const r = writableParent(dirfd, path, pathLen);
      if (r.errno) return r.errno;
      if (r.node!.kind === 'dir') return Errno.ISDIR;
      if (r.node!.readonly) return Errno.ROFS;
      r.parent!.children.delete(r.name!);
      release(r.node!);
      return Errno.SUCCESS;
    },
    path_rename: (fromFd, fromPath, fromLen, toFd, toPath, toLen) => {
      const a = writableParent(fromFd, fromPath, fromLen);
      if (a.errno) return a.errno;
      if (a.node!.kind === 'file' && a.node!.readonly) return Errno.ROFS;
      const b = writableParent(toFd, toPath, toLen);
      if (b.errno && b.errno !== Errno.NOENT) return b.errno;
      if (b.node) {
        if (b.node === a.node) return Errno.SUCCESS;
        if (b.node.kind !== a.node!.kind) return b.node.kind === 'dir' ? Errno.ISDIR : Errno.NOTDIR;
        if (b.node.kind === 'dir' && b.node.children.size > 0) return Errno.NOTEMPTY;
        if (b.node.kind === 'file' && b.node.readonly) return Errno.ROFS;
        release(b.node);
      }
      // A directory cannot move into itself.
      if (a.node!.kind === 'dir') {
        const inside = (d: DirNode): boolean => d === b.parent || [...d.children.values()].some((c) => c.kind === 'dir' && inside(c));
        if (inside(a.node as DirNode)) return Errno.INVAL;
      }
      a.parent!.children.delete(a.name!);
      b.parent!.children.set(b.name!, a.node!);
      return Errno.SUCCESS;
    },
    path_link: (dirfd) => (fds.has(num(dirfd)) ? Errno.NOTSUP : Errno.BADF),
    path_symlink: () => Errno.NOTSUP,
  };
  return Object.fromEntries(Object.entries(fns).map(([k, f]) => [k, guard(f)]));
}
