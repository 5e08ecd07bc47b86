import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capMemory, moduleImports, pagesFor } from './wasm-module.ts';
import { exampleModule } from './test-support/examples.ts';

/** (module (memory <min> <max?>) (func (export "_start"))) assembled by hand (core spec §5.5). */
function memModule(min: number, max?: number, extraImport?: string): Uint8Array {
  const parts: number[] = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
  parts.push(1, 4, 1, 0x60, 0, 0); // type section: () -> ()
  if (extraImport) {
    const name = [...new TextEncoder().encode(extraImport)];
    const body = [1, 3, 0x65, 0x6e, 0x76, name.length, ...name, 0, 0];
    parts.push(2, body.length, ...body);
  }
  parts.push(3, 2, 1, 0); // function section
  const lim = max === undefined ? [0, min] : [1, min, max];
  parts.push(5, 1 + lim.length, 1, ...lim);
  const exp = [1, 6, ...new TextEncoder().encode('_start'), 0, extraImport ? 1 : 0];
  parts.push(7, exp.length, ...exp);
  parts.push(10, 4, 1, 2, 0, 0x0b);
  return new Uint8Array(parts);
}

test('capMemory sets max when the module declares none', () => {
  const r = capMemory(memModule(1), 16);
  assert.deepEqual(r.before, { min: 1, max: undefined, shared: false });
  assert.deepEqual(r.after, { min: 1, max: 16, shared: false });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(r.module as Uint8Array<ArrayBuffer>));
  assert.ok(inst);
});

test('capMemory lowers a larger max and keeps a smaller one', () => {
  assert.equal(capMemory(memModule(1, 100), 16).after?.max, 16);
  assert.equal(capMemory(memModule(1, 8), 16).after?.max, 8);
});

test('capMemory: memory.grow past the cap fails at run time', () => {
  const capped = capMemory(exampleModule('secret-digest'), pagesFor(4)).module;
  const mod = new WebAssembly.Module(capped as Uint8Array<ArrayBuffer>);
  const imports: Record<string, Record<string, () => number>> = { wasi_snapshot_preview1: {} };
  for (const i of WebAssembly.Module.imports(mod)) imports[i.module]![i.name] = () => 0;
  const inst = new WebAssembly.Instance(mod, imports);
  const mem = inst.exports.memory as WebAssembly.Memory;
  assert.throws(() => mem.grow(pagesFor(4)), RangeError);
});

test('capMemory refuses an initial size above the limit (ERR_LIMIT_EXCEEDED)', () => {
  assert.throws(() => capMemory(memModule(20), 16), { code: 'ERR_LIMIT_EXCEEDED' });
});

test('capMemory refuses non-WASI imports and invalid modules', () => {
  assert.throws(() => capMemory(memModule(1, undefined, 'f'), 16), { code: 'ERR_WORKLOAD_INVALID' });
  assert.throws(() => capMemory(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 9]), 16), { code: 'ERR_WORKLOAD_INVALID' });
  assert.deepEqual(moduleImports(memModule(1, undefined, 'f')), [{ module: 'env', name: 'f', kind: 0 }]);
});

test('example C module imports only WASI preview 1', () => {
  const imps = moduleImports(exampleModule('read-file'));
  assert.ok(imps.length > 0);
  assert.ok(imps.every((i) => i.module === 'wasi_snapshot_preview1'));
});
