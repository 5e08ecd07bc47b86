/**
 * Minimal WebAssembly binary inspection for Keep limits (WebAssembly core spec 2.0 §5.5: module
 * sections; §5.3.8 limits). The Keep caps linear memory by rewriting the module's memory section so
 * that its `max` is at most the manifest's memory_mb: `memory.grow` past it then fails inside the
 * module (returns -1, malloc returns NULL) instead of consuming host memory.
 */
import { ErrorCode, AttestError } from '../core/index.ts';
import { LimitExceeded, WorkloadInvalid } from './errors.ts';

export const WASM_PAGE = 65536;
const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;

class Reader {
  p: number;
  readonly b: Uint8Array;
  constructor(b: Uint8Array, p = 0) {
    this.b = b;
    this.p = p;
  }
  u8(): number {
    if (this.p >= this.b.length) throw new WorkloadInvalid('module', `truncated at byte ${this.p}`);
    return this.b[this.p++]!;
  }
  /** Unsigned LEB128 up to 32 bits (§5.2.2). */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const byte = this.u8();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (result > 0xffffffff) throw new WorkloadInvalid('module', `LEB128 u32 overflow at byte ${this.p}`);
        return result;
      }
      shift += 7;
    }
    throw new WorkloadInvalid('module', `LEB128 u32 too long at byte ${this.p}`);
  }
  name(): string {
    const n = this.u32();
    if (this.p + n > this.b.length) throw new WorkloadInvalid('module', 'truncated name');
    const s = new TextDecoder().decode(this.b.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export interface MemoryLimits {
  min: number;
  max: number | undefined;
  shared: boolean;
}

interface Section {
  id: number;
  start: number; // offset of the id byte
  bodyStart: number;
  end: number;
}

function sections(mod: Uint8Array): Section[] {
  const r = new Reader(mod, 8);
  const out: Section[] = [];
  while (r.p < mod.length) {
    const start = r.p;
    const id = r.u8();
    const size = r.u32();
    const bodyStart = r.p;
    if (bodyStart + size > mod.length) throw new WorkloadInvalid('module', `section ${id} runs past the end`);
    out.push({ id, start, bodyStart, end: bodyStart + size });
    r.p = bodyStart + size;
  }
  return out;
}

function readLimits(r: Reader): MemoryLimits {
  const flag = r.u8();
  if (flag > 0x03) throw new WorkloadInvalid('module', `memory limits flag 0x${flag.toString(16)} (memory64 or custom page sizes) is not supported by Keeps`);
  const min = r.u32();
  const max = flag & 0x01 ? r.u32() : undefined;
  return { min, max, shared: (flag & 0x02) !== 0 };
}

export interface ModuleImport {
  module: string;
  name: string;
  kind: number;
}

/** Lists the module's imports (func=0, table=1, memory=2, global=3, tag=4). */
export function moduleImports(mod: Uint8Array): ModuleImport[] {
  const sec = sections(mod).find((s) => s.id === SECTION_IMPORT);
  if (!sec) return [];
  const r = new Reader(mod, sec.bodyStart);
  const n = r.u32();
  const out: ModuleImport[] = [];
  for (let i = 0; i < n; i++) {
    const module = r.name();
    const name = r.name();
    const kind = r.u8();
    switch (kind) {
      case 0: r.u32(); break;
      case 1: r.u8(); readLimits(r); break;
      case 2: readLimits(r); break;
      case 3: r.u8(); r.u8(); break;
      case 4: r.u8(); r.u32(); break;
      default: throw new WorkloadInvalid('module', `unknown import kind ${kind}`);
    }
    out.push({ module, name, kind });
  }
  return out;
}

/**
 * Returns a copy of the module whose (single, defined) memory has max ≤ limitPages, and the limits
 * before and after. Refuses modules that import memory, define several memories, or need more
 * than the limit initially (ERR_LIMIT_EXCEEDED).
 */
export function capMemory(mod: Uint8Array, limitPages: number): { module: Uint8Array; before: MemoryLimits | null; after: MemoryLimits | null } {
  if (!WebAssembly.validate(mod as Uint8Array<ArrayBuffer>)) throw new WorkloadInvalid('module', 'WebAssembly.validate() rejects the module');
  const imports = moduleImports(mod);
  const foreign = imports.filter((i) => i.module !== 'wasi_snapshot_preview1');
  if (foreign.length > 0) {
    throw new WorkloadInvalid('module.imports', `imports outside WASI preview 1: ${foreign.slice(0, 5).map((i) => `${i.module}.${i.name}`).join(', ')}`);
  }
  const secs = sections(mod);
  const sec = secs.find((s) => s.id === SECTION_MEMORY);
  if (!sec) return { module: mod, before: null, after: null };
  const r = new Reader(mod, sec.bodyStart);
  const count = r.u32();
  if (count !== 1) throw new WorkloadInvalid('module.memory', `${count} memories defined; Keeps support exactly one`);
  const before = readLimits(r);
  if (r.p !== sec.end) throw new WorkloadInvalid('module.memory', 'trailing bytes in memory section');
  if (before.min > limitPages) {
    throw new LimitExceeded('memory_mb', `module needs ${before.min} pages (${(before.min * WASM_PAGE) / 2 ** 20} MiB) initially; the limit is ${limitPages} pages`, { requiredPages: before.min, limitPages });
  }
  const max = before.max === undefined ? limitPages : Math.min(before.max, limitPages);
  const after: MemoryLimits = { min: before.min, max, shared: before.shared };
  const body = [0x01, before.shared ? 0x03 : 0x01, ...leb(after.min), ...leb(max)];
  const head = [SECTION_MEMORY, ...leb(body.length)];
  const out = new Uint8Array(sec.start + head.length + body.length + (mod.length - sec.end));
  out.set(mod.subarray(0, sec.start), 0);
  out.set(head, sec.start);
  out.set(body, sec.start + head.length);
  out.set(mod.subarray(sec.end), sec.start + head.length + body.length);
  if (!WebAssembly.validate(out as Uint8Array<ArrayBuffer>)) throw new AttestError(ErrorCode.Internal, 'capped module does not validate');
  return { module: out, before, after };
}

export function pagesFor(memoryMb: number): number {
  return Math.floor((memoryMb * 2 ** 20) / WASM_PAGE);
}
