/**
 * Exact memory-limit detection: rewrites every `memory.grow` instruction of a module into a call to
 * an appended function that performs the grow and, when it fails (returns -1), sets an appended
 * mutable global exported as `__keep_grow_denied`. The Keep reads that global after the run, so
 * "the workload hit memory_mb" is an observation, not a guess. Function and global indices are
 * appended at the end of their index spaces, so no existing index changes.
 *
 * Decoding follows the WebAssembly core spec 2.0 §5.4 (instructions) including the bulk-memory,
 * reference-types, SIMD, threads, tail-call and exception-handling opcodes. A module using an
 * opcode this decoder does not know is returned unchanged (`instrumented: false`) and the Keep
 * falls back to its heuristic.
 */

import { concatBytes } from '../core/index.ts';

const SEC = { custom: 0, type: 1, import: 2, func: 3, table: 4, memory: 5, global: 6, export: 7, start: 8, elem: 9, code: 10, data: 11, datacount: 12 } as const;
/** Canonical section order (§5.5.2); custom sections may appear anywhere. */
const ORDER = [SEC.type, SEC.import, SEC.func, SEC.table, SEC.memory, SEC.global, SEC.export, SEC.start, SEC.elem, SEC.datacount, SEC.code, SEC.data];
export const GROW_DENIED_EXPORT = '__keep_grow_denied';

class Unsupported extends Error {}

class R {
  p: number;
  readonly b: Uint8Array;
  readonly end: number;
  constructor(b: Uint8Array, p: number, end = b.length) {
    if (end > b.length || p > end) throw new Unsupported('range beyond the module');
    this.b = b;
    this.p = p;
    this.end = end;
  }
  u8(): number {
    if (this.p >= this.end) throw new Unsupported('truncated');
    return this.b[this.p++]!;
  }
  /** Any LEB128 (signed or unsigned, up to 10 bytes): we only need to skip it or read small values. */
  leb(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      const byte = this.u8();
      if (shift < 32) result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) return result;
    }
    throw new Unsupported('LEB128 too long');
  }
  skip(n: number): void {
    if (this.p + n > this.end) throw new Unsupported('truncated');
    this.p += n;
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
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** Concatenates byte parts (arrays or views). */
const cat = (parts: (Uint8Array | number[])[]): Uint8Array => concatBytes(...parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p))));

function blocktype(r: R): void {
  const b = r.b[r.p];
  if (b === 0x40 || (b !== undefined && b >= 0x6f && b <= 0x7f) || b === 0x70 || b === 0x6f) {
    r.p++;
    return;
  }
  r.leb(); // s33 type index
}
function memarg(r: R): void {
  const align = r.leb();
  if (align & 0x40) r.leb(); // multi-memory: explicit memidx
  r.leb(); // offset
}

/**
 * Scans one function body's instructions from r.p to `end`; returns the offsets of
 * `memory.grow 0` instructions (the 0x40 opcode byte; the memidx byte 0x00 follows).
 */
function scanBody(r: R, end: number): number[] {
  const grows: number[] = [];
  while (r.p < end) {
    const at = r.p;
    const op = r.u8();
    switch (op) {
      case 0x02: case 0x03: case 0x04: case 0x06: blocktype(r); break; // block loop if try
      case 0x07: case 0x08: case 0x09: case 0x18: r.leb(); break; // catch throw rethrow delegate
      case 0x0c: case 0x0d: r.leb(); break;
      case 0x0e: { const n = r.leb(); for (let i = 0; i <= n; i++) r.leb(); break; }
      case 0x10: case 0x12: r.leb(); break; // call return_call
      case 0x11: case 0x13: r.leb(); r.leb(); break; // call_indirect return_call_indirect
      case 0x1c: { const n = r.leb(); r.skip(n); break; } // select t*
      case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26: r.leb(); break;
      case 0x3f: r.leb(); break; // memory.size
      case 0x40: {
        const mem = r.leb();
        if (mem !== 0 || r.b[at + 1] !== 0x00) throw new Unsupported('memory.grow on a memory other than 0');
        grows.push(at);
        break;
      }
      case 0x41: case 0x42: r.leb(); break;
      case 0x43: r.skip(4); break;
      case 0x44: r.skip(8); break;
      case 0xd0: r.u8(); break; // ref.null t
      case 0xd2: r.leb(); break; // ref.func
      case 0xfc: {
        const sub = r.leb();
        if (sub <= 7) break;
        if (sub === 8) { r.leb(); r.leb(); break; }
        if (sub === 9 || sub === 11 || sub === 13 || (sub >= 15 && sub <= 17)) { r.leb(); break; }
        if (sub === 10 || sub === 12 || sub === 14) { r.leb(); r.leb(); break; }
        throw new Unsupported(`0xfc ${sub}`);
      }
      case 0xfd: {
        const sub = r.leb();
        if (sub <= 11 || sub === 92 || sub === 93) memarg(r);
        else if (sub === 12 || sub === 13) r.skip(16);
        else if (sub >= 21 && sub <= 34) r.skip(1);
        else if (sub >= 84 && sub <= 91) { memarg(r); r.skip(1); }
        else if (sub > 0x113) throw new Unsupported(`0xfd ${sub}`);
        break;
      }
      case 0xfe: {
        const sub = r.leb();
        if (sub === 0x03) r.skip(1);
        else if (sub <= 0x4e) memarg(r);
        else throw new Unsupported(`0xfe ${sub}`);
        break;
      }
      default:
        if ((op >= 0x28 && op <= 0x3e)) memarg(r);
        else if (op === 0x00 || op === 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x19 || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4) || op === 0xd1) break;
        else throw new Unsupported(`opcode 0x${op.toString(16)}`);
    }
  }
  if (r.p !== end) throw new Unsupported('body overrun');
  return grows;
}

interface Section {
  id: number;
  start: number;
  bodyStart: number;
  end: number;
}

function sections(mod: Uint8Array): Section[] {
  const r = new R(mod, 8);
  const out: Section[] = [];
  while (r.p < mod.length) {
    const start = r.p;
    const id = r.u8();
    const size = r.leb();
    const bodyStart = r.p;
    r.skip(size);
    out.push({ id, start, bodyStart, end: r.p });
  }
  return out;
}

const vecCount = (mod: Uint8Array, s: Section | undefined): number => (s ? new R(mod, s.bodyStart).leb() : 0);
/** A section's vector with `extra` entries appended (count re-encoded). */
function appendToVec(mod: Uint8Array, s: Section | undefined, id: number, extra: number[][]): Uint8Array {
  const r = s ? new R(mod, s.bodyStart, s.end) : null;
  const n = r ? r.leb() : 0;
  const body = cat([leb(n + extra.length), r ? mod.subarray(r.p, s!.end) : [], ...extra]);
  return cat([[id], leb(body.length), body]);
}

export interface Instrumented {
  module: Uint8Array;
  instrumented: boolean;
  /** Number of memory.grow sites rewritten. */
  sites: number;
  reason?: string;
}

export function instrumentMemoryGrow(mod: Uint8Array): Instrumented {
  try {
    const secs = sections(mod);
    const get = (id: number): Section | undefined => secs.find((s) => s.id === id);
    if (secs.some((s) => s.id !== SEC.custom && secs.filter((t) => t.id === s.id).length > 1)) throw new Unsupported('duplicate section');
    const code = get(SEC.code);
    if (!code) return { module: mod, instrumented: false, sites: 0, reason: 'no code section' };
    // Index spaces: imported functions/globals come first.
    let importedFuncs = 0;
    let importedGlobals = 0;
    const imp = get(SEC.import);
    if (imp) {
      const r = new R(mod, imp.bodyStart, imp.end);
      const n = r.leb();
      for (let i = 0; i < n; i++) {
        r.skip(r.leb());
        r.skip(r.leb());
        const kind = r.u8();
        if (kind === 0) { r.leb(); importedFuncs++; }
        else if (kind === 1) { r.u8(); const f = r.u8(); r.leb(); if (f & 1) r.leb(); }
        else if (kind === 2) { const f = r.u8(); r.leb(); if (f & 1) r.leb(); }
        else if (kind === 3) { r.u8(); r.u8(); importedGlobals++; }
        else if (kind === 4) { r.u8(); r.leb(); }
        else throw new Unsupported(`import kind ${kind}`);
      }
    }
    const typeCount = vecCount(mod, get(SEC.type));
    const definedFuncs = vecCount(mod, get(SEC.func));
    const definedGlobals = vecCount(mod, get(SEC.global));
    const hookFunc = importedFuncs + definedFuncs;
    const flagGlobal = importedGlobals + definedGlobals;

    // Rewrite each body: memory.grow 0 (0x40 0x00) → call $hook.
    const cr = new R(mod, code.bodyStart, code.end);
    const nBodies = cr.leb();
    const bodies: Uint8Array[] = [];
    let sites = 0;
    const call = [0x10, ...leb(hookFunc)];
    for (let i = 0; i < nBodies; i++) {
      const size = cr.leb();
      const bodyStart = cr.p;
      const bodyEnd = bodyStart + size;
      if (bodyEnd > code.end) throw new Unsupported('function body runs past the code section');
      const br = new R(mod, bodyStart, bodyEnd);
      const nLocals = br.leb();
      for (let j = 0; j < nLocals; j++) {
        br.leb();
        br.u8();
      }
      const grows = scanBody(br, bodyEnd);
      const parts: (Uint8Array | number[])[] = [];
      let last = bodyStart;
      for (const g of grows) {
        parts.push(mod.subarray(last, g), call);
        last = g + 2;
      }
      parts.push(mod.subarray(last, bodyEnd));
      const body = cat(parts);
      sites += grows.length;
      bodies.push(cat([leb(body.length), body]));
      cr.p = bodyEnd;
    }
    if (sites === 0) return { module: mod, instrumented: false, sites: 0, reason: 'no memory.grow' };
    // (func $hook (param i32) (result i32) (local i32)
    //   local.get 0  memory.grow 0  local.tee 1  i32.const -1  i32.eq
    //   if  i32.const 1  global.set $flag  end  local.get 1)
    const hookBody = [0x01, 0x01, 0x7f, 0x20, 0x00, 0x40, 0x00, 0x22, 0x01, 0x41, ...sleb(-1), 0x46, 0x04, 0x40, 0x41, 0x01, 0x24, ...leb(flagGlobal), 0x0b, 0x20, 0x01, 0x0b];
    bodies.push(cat([leb(hookBody.length), hookBody]));
    const codeBody = cat([leb(bodies.length), ...bodies]);

    const name = [...new TextEncoder().encode(GROW_DENIED_EXPORT)];
    const replaced = new Map<number, Uint8Array>([
      [SEC.type, appendToVec(mod, get(SEC.type), SEC.type, [[0x60, 0x01, 0x7f, 0x01, 0x7f]])],
      [SEC.func, appendToVec(mod, get(SEC.func), SEC.func, [leb(typeCount)])],
      [SEC.global, appendToVec(mod, get(SEC.global), SEC.global, [[0x7f, 0x01, 0x41, 0x00, 0x0b]])],
      [SEC.export, appendToVec(mod, get(SEC.export), SEC.export, [[...leb(name.length), ...name, 0x03, ...leb(flagGlobal)]])],
      [SEC.code, cat([[SEC.code], leb(codeBody.length), codeBody])],
    ]);
    // Re-emit in order, inserting sections the module lacked at their canonical place.
    const out: Uint8Array[] = [mod.subarray(0, 8)];
    const emitted = new Set<number>();
    const emitMissingBefore = (id: number): void => {
      for (const want of ORDER) {
        if (want === id) break;
        if (!emitted.has(want) && replaced.has(want) && !get(want)) {
          out.push(replaced.get(want)!);
          emitted.add(want);
        }
      }
    };
    for (const s of secs) {
      if (s.id !== SEC.custom) emitMissingBefore(s.id);
      if (replaced.has(s.id) && s.id !== SEC.custom) {
        out.push(replaced.get(s.id)!);
        emitted.add(s.id);
      } else out.push(mod.subarray(s.start, s.end));
    }
    for (const [id, bytes] of replaced) if (!emitted.has(id)) out.push(bytes);
    const result = cat(out);
    if (!WebAssembly.validate(result as Uint8Array<ArrayBuffer>)) return { module: mod, instrumented: false, sites: 0, reason: 'instrumented module does not validate' };
    return { module: result, instrumented: true, sites };
  } catch (e) {
    if (e instanceof Unsupported) return { module: mod, instrumented: false, sites: 0, reason: e.message };
    throw e;
  }
}
