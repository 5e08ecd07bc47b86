import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GROW_DENIED_EXPORT, instrumentMemoryGrow } from './wasm-instrument.ts';
import { exampleModule } from './test-support/examples.ts';

/** (module (memory (export "memory") 1 2) (func (export "grow") (param i32) (result i32) local.get 0 memory.grow 0)) */
const GROW = new Uint8Array([
  0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
  1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f, // type (i32)->i32
  3, 2, 1, 0, // func
  5, 4, 1, 1, 1, 2, // memory 1..2
  7, 17, 2, 6, ...new TextEncoder().encode('memory'), 2, 0, 4, ...new TextEncoder().encode('grow'), 0, 0, // exports
  10, 8, 1, 6, 0, 0x20, 0, 0x40, 0, 0x0b, // code
]);

test('instrumented memory.grow behaves the same and records refusals', () => {
  assert.ok(WebAssembly.validate(GROW));
  const r = instrumentMemoryGrow(GROW);
  assert.equal(r.instrumented, true, r.reason);
  assert.equal(r.sites, 1);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(r.module as Uint8Array<ArrayBuffer>));
  const grow = inst.exports.grow as (n: number) => number;
  const flag = inst.exports[GROW_DENIED_EXPORT] as WebAssembly.Global;
  assert.equal(flag.value, 0);
  assert.equal(grow(1), 1, 'grow from 1 to 2 pages returns the old size');
  assert.equal(flag.value, 0);
  assert.equal(grow(1), -1, 'beyond max: refused');
  assert.equal(flag.value, 1);
});

test('real C modules are instrumented and still validate; modules without memory.grow are left alone', () => {
  for (const n of ['secret-digest', 'read-file', 'memory-hog', 'scratch'] as const) {
    const r = instrumentMemoryGrow(exampleModule(n));
    assert.equal(r.instrumented, true, `${n}: ${r.reason}`);
    assert.ok(r.sites >= 1);
    assert.ok(WebAssembly.validate(r.module as Uint8Array<ArrayBuffer>));
  }
  const spinIn = exampleModule('spin');
  const spin = instrumentMemoryGrow(spinIn);
  assert.equal(spin.instrumented, false);
  assert.equal(spin.module, spinIn);
});

test('unknown opcodes or garbage fall back (module unchanged), never throw', () => {
  const weird = GROW.slice();
  weird[weird.length - 4] = 0x14; // call_ref: not decoded here
  const r = instrumentMemoryGrow(weird);
  assert.equal(r.instrumented, false);
  assert.equal(r.module, weird);
  for (let i = 8; i < GROW.length; i++) {
    const m = GROW.slice();
    m[i]! ^= 0xff;
    const out = instrumentMemoryGrow(m);
    if (out.instrumented) assert.ok(WebAssembly.validate(out.module as Uint8Array<ArrayBuffer>));
  }
});

test('property: a corrupted real module is either left alone or instrumented into a valid module', () => {
  const mod = exampleModule('secret-digest');
  fc.assert(fc.property(fc.nat({ max: mod.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
    const m = mod.slice();
    m[i]! ^= x;
    const out = instrumentMemoryGrow(m);
    if (out.instrumented) assert.ok(WebAssembly.validate(out.module as Uint8Array<ArrayBuffer>));
    else assert.equal(out.module, m);
  }), { numRuns: 100 });
});

test('large function bodies are rewritten without spreading them into call arguments', () => {
  const nops = 3_000_000;
  const body = new Uint8Array(1 + nops + 5);
  body[0] = 0; // no locals
  body.fill(0x01, 1, 1 + nops); // nop × 3M
  body.set([0x20, 0, 0x40, 0, 0x0b], 1 + nops);
  const leb = (n: number): number[] => { const o: number[] = []; do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; o.push(b); } while (n); return o; };
  const head = GROW.subarray(0, GROW.length - 10); // everything before the code section
  const code = [1, ...leb(body.length)];
  const sec = new Uint8Array([10, ...leb(code.length + body.length), ...code]);
  const mod = new Uint8Array(head.length + sec.length + body.length);
  mod.set(head, 0);
  mod.set(sec, head.length);
  mod.set(body, head.length + sec.length);
  assert.ok(WebAssembly.validate(mod));
  const r = instrumentMemoryGrow(mod);
  assert.equal(r.instrumented, true, r.reason);
  assert.equal(r.sites, 1);
});
