/**
 * The Keep's file-descriptor layer for WASI preview 1: stdio and read-only in-memory preopened
 * directories. It replaces node:wasi's fd_* and path_* imports, so a workload never reaches a host
 * file: node:wasi is given no preopens and only serves args, environ, clocks, random and exit.
 * Semantics follow the preview1 witx (WebAssembly/WASI, legacy/preview1/witx/*.witx); errno and
 * struct layouts are from there.
 */

export const Errno = {
  SUCCESS: 0, ACCES: 2, BADF: 8, EXIST: 20, FAULT: 21, INVAL: 28, IO: 29, ISDIR: 31, NAMETOOLONG: 37,
  NOENT: 44, NOSYS: 52, NOTDIR: 54, NOTEMPTY: 55, NOTSUP: 58, PERM: 63, ROFS: 69, SPIPE: 70, NOTCAPABLE: 76,
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

export type MemNode = { kind: 'dir'; ino: bigint; children: Map<string, MemNode> } | { kind: 'file'; ino: bigint; data: Uint8Array };

/** Builds the in-memory tree: files keyed by absolute path; returns the top-level (preopened) dirs. */
export function buildTree(files: ReadonlyMap<string, Uint8Array>, extraDirs: readonly string[] = []): Map<string, MemNode> {
  let ino = 1n;
  const roots = new Map<string, MemNode>();
  const ensureDir = (path: string): Map<string, MemNode> => {
    const parts = path.slice(1).split('/');
    const top = `/${parts[0]!}`;
    let node = roots.get(top);
    if (!node) {
      node = { kind: 'dir', ino: ino++, children: new Map() };
      roots.set(top, node);
    }
    for (const p of parts.slice(1)) {
      if (node.kind !== 'dir') throw new Error(`${path}: ${p} is a file`);
      let next = node.children.get(p);
      if (!next) {
        next = { kind: 'dir', ino: ino++, children: new Map() };
        node.children.set(p, next);
      }
      node = next;
    }
    if (node.kind !== 'dir') throw new Error(`${path} is a file`);
    return node.children;
  };
  for (const d of extraDirs) ensureDir(d);
  for (const [path, data] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const i = path.lastIndexOf('/');
    const dir = ensureDir(path.slice(0, i));
    const name = path.slice(i + 1);
    if (dir.has(name)) throw new Error(`${path} defined twice or is a directory`);
    dir.set(name, { kind: 'file', ino: ino++, data });
  }
  return roots;
}

type Fd =
  | { kind: 'stdin' }
  | { kind: 'stdout'; fd: 1 | 2 }
  | { kind: 'dir'; node: Extract<MemNode, { kind: 'dir' }>; preopen?: string }
  | { kind: 'file'; node: Extract<MemNode, { kind: 'file' }>; pos: number };

export interface WasiFsOptions {
  preopens: Map<string, MemNode>;
  /** Receives stdout (1) / stderr (2) bytes; the buffer is a fresh copy the callee may keep. */
  write: (fd: 1 | 2, data: Uint8Array) => void;
  memory: () => WebAssembly.Memory;
}

type Imp = (...args: (number | bigint)[]) => number;

/** Returns the preview1 functions this layer owns; spread them over node:wasi's import object. */
export function wasiFs(opts: WasiFsOptions): Record<string, Imp> {
  const fds = new Map<number, Fd>();
  fds.set(0, { kind: 'stdin' });
  fds.set(1, { kind: 'stdout', fd: 1 });
  fds.set(2, { kind: 'stdout', fd: 2 });
  let next = 3;
  for (const [path, node] of [...opts.preopens].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (node.kind === 'dir') fds.set(next++, { kind: 'dir', node, preopen: path });
  }
  const dv = (): DataView => new DataView(opts.memory().buffer);
  const u8 = (): Uint8Array => new Uint8Array(opts.memory().buffer);
  const num = (v: number | bigint): number => Number(v);
  const str = (ptr: number, len: number): string => new TextDecoder('utf-8', { fatal: false }).decode(u8().subarray(ptr, ptr + len));

  const iovecs = (iovs: number, n: number): { ptr: number; len: number }[] => {
    const v = dv();
    const out = [];
    for (let i = 0; i < n; i++) out.push({ ptr: v.getUint32(iovs + i * 8, true), len: v.getUint32(iovs + i * 8 + 4, true) });
    return out;
  };

  /** Resolves a path relative to a directory fd; no "..", no escape above the preopen. */
  const resolve = (dirfd: number, path: string): { node?: MemNode; errno: number; parent?: Extract<MemNode, { kind: 'dir' }>; name?: string } => {
    const d = fds.get(dirfd);
    if (!d) return { errno: Errno.BADF };
    if (d.kind !== 'dir') return { errno: Errno.NOTDIR };
    if (path.startsWith('/')) return { errno: Errno.NOTCAPABLE };
    const stack: Extract<MemNode, { kind: 'dir' }>[] = [d.node];
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    let node: MemNode = d.node;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (node.kind !== 'dir') return { errno: Errno.NOTDIR };
      if (p === '..') {
        if (stack.length <= 1) return { errno: Errno.NOTCAPABLE };
        stack.pop();
        node = stack[stack.length - 1]!;
        continue;
      }
      const child: MemNode | undefined = node.children.get(p);
      if (!child) return { errno: Errno.NOENT, parent: node, name: p };
      node = child;
      if (node.kind === 'dir') stack.push(node);
    }
    return { node, errno: Errno.SUCCESS };
  };

  const writeFilestat = (ptr: number, node: MemNode): void => {
    const v = dv();
    for (let i = 0; i < 64; i += 8) v.setBigUint64(ptr + i, 0n, true);
    v.setBigUint64(ptr + 8, node.ino, true);
    v.setUint8(ptr + 16, node.kind === 'dir' ? FILETYPE_DIRECTORY : FILETYPE_REGULAR_FILE);
    v.setBigUint64(ptr + 24, 1n, true);
    v.setBigUint64(ptr + 32, BigInt(node.kind === 'file' ? node.data.length : 0), true);
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
      const chunk = f.node.data.subarray(pos, Math.min(pos + len, f.node.data.length));
      mem.set(chunk, ptr);
      pos += chunk.length;
      if (chunk.length < len) break;
    }
    return pos - at;
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
      v.setUint16(p + 2, f.kind === 'stdout' ? FDFLAGS_APPEND : 0, true);
      v.setBigUint64(p + 8, RIGHTS_ALL, true);
      v.setBigUint64(p + 16, RIGHTS_ALL, true);
      return Errno.SUCCESS;
    },
    fd_fdstat_set_flags: (fd) => (fds.has(num(fd)) ? Errno.SUCCESS : Errno.BADF),
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
      if (f.kind !== 'stdout') return f.kind === 'dir' ? Errno.ISDIR : Errno.BADF;
      const parts = iovecs(num(iovs), num(n));
      const total = parts.reduce((s, p) => s + p.len, 0);
      const out = new Uint8Array(total);
      const mem = u8();
      let o = 0;
      for (const { ptr, len } of parts) {
        out.set(mem.subarray(ptr, ptr + len), o);
        o += len;
      }
      if (total > 0) opts.write(f.fd, out);
      dv().setUint32(num(nwritten), total, true);
      return Errno.SUCCESS;
    },
    fd_pwrite: (fd) => { const f = fds.get(num(fd)); return !f ? Errno.BADF : f.kind === 'file' ? Errno.ROFS : f.kind === 'dir' ? Errno.ISDIR : Errno.SPIPE; },
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
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      if (f.kind === 'dir') return Errno.ISDIR;
      if (f.kind !== 'file') return Errno.SPIPE;
      const off = BigInt(offset);
      const got = off >= BigInt(f.node.data.length) ? 0 : readInto(f, num(iovs), num(n), Number(off));
      dv().setUint32(num(nread), got, true);
      return Errno.SUCCESS;
    },
    fd_seek: (fd, offset, whence, newOffset) => {
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      if (f.kind !== 'file') return f.kind === 'dir' ? Errno.ISDIR : Errno.SPIPE;
      const base = num(whence) === 0 ? 0n : num(whence) === 1 ? BigInt(f.pos) : num(whence) === 2 ? BigInt(f.node.data.length) : -1n;
      if (base < 0n) return Errno.INVAL;
      const target = base + BigInt(offset);
      if (target < 0n || target > BigInt(Number.MAX_SAFE_INTEGER)) return Errno.INVAL;
      f.pos = Number(target);
      dv().setBigUint64(num(newOffset), target, true);
      return Errno.SUCCESS;
    },
    fd_tell: (fd, out) => {
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      if (f.kind !== 'file') return Errno.SPIPE;
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
    fd_allocate: (fd) => (fds.has(num(fd)) ? Errno.ROFS : Errno.BADF),
    fd_filestat_set_size: (fd) => (fds.has(num(fd)) ? Errno.ROFS : Errno.BADF),
    fd_filestat_set_times: (fd) => (fds.has(num(fd)) ? Errno.ROFS : Errno.BADF),
    fd_readdir: (fd, buf, bufLen, cookie, bufused) => {
      const f = fds.get(num(fd));
      if (!f) return Errno.BADF;
      if (f.kind !== 'dir') return Errno.NOTDIR;
      const entries: [string, MemNode][] = [['.', f.node], ['..', f.node], ...[...f.node.children].sort(([a], [b]) => (a < b ? -1 : 1))];
      const mem = u8();
      const v = dv();
      let p = num(buf);
      const end = p + num(bufLen);
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
      if (!r.node) {
        if (r.errno === Errno.NOENT && of & OFLAGS_CREAT) return Errno.ROFS;
        return r.errno;
      }
      if (of & OFLAGS_CREAT && of & OFLAGS_EXCL) return Errno.EXIST;
      if (of & OFLAGS_TRUNC) return Errno.ROFS;
      if (num(fdflags) & FDFLAGS_APPEND) return Errno.ROFS;
      if (of & OFLAGS_DIRECTORY && r.node.kind !== 'dir') return Errno.NOTDIR;
      const fd = next++;
      fds.set(fd, r.node.kind === 'dir' ? { kind: 'dir', node: r.node } : { kind: 'file', node: r.node, pos: 0 });
      dv().setUint32(num(outFd), fd, true);
      return Errno.SUCCESS;
    },
    path_filestat_get: (dirfd, _flags, path, pathLen, buf) => {
      const r = resolve(num(dirfd), str(num(path), num(pathLen)));
      if (!r.node) return r.errno;
      writeFilestat(num(buf), r.node);
      return Errno.SUCCESS;
    },
    path_filestat_set_times: (dirfd, _f, path, pathLen) => resolve(num(dirfd), str(num(path), num(pathLen))).errno || Errno.ROFS,
    path_readlink: (dirfd, path, pathLen) => resolve(num(dirfd), str(num(path), num(pathLen))).errno || Errno.INVAL,
    path_create_directory: (dirfd) => (fds.has(num(dirfd)) ? Errno.ROFS : Errno.BADF),
    path_remove_directory: (dirfd) => (fds.has(num(dirfd)) ? Errno.ROFS : Errno.BADF),
    path_unlink_file: (dirfd) => (fds.has(num(dirfd)) ? Errno.ROFS : Errno.BADF),
    path_rename: (dirfd) => (fds.has(num(dirfd)) ? Errno.ROFS : Errno.BADF),
    path_link: (dirfd) => (fds.has(num(dirfd)) ? Errno.ROFS : Errno.BADF),
    path_symlink: () => Errno.ROFS,
  };
  return Object.fromEntries(Object.entries(fns).map(([k, f]) => [k, guard(f)]));
}
