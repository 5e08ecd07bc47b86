import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyInvalid } from './errors.ts';
import { compilePolicy, parsePolicy } from './schema.ts';
import { tierOf, statusOf } from './trust.ts';

async function problems(text: string) {
  try {
    await parsePolicy(text);
  } catch (e) {
    assert.ok(e instanceof PolicyInvalid, `PolicyInvalid, got ${(e as Error).message}`);
    assert.equal(e.code, 'ERR_POLICY_INVALID');
    return e.problems;
  }
  assert.fail('policy was accepted');
}

describe('policy documents', () => {
  it('parses YAML and JSON to the same document and digest', async () => {
    const y = await parsePolicy('version: 1\nid: p\nplatforms:\n  tdx:\n    measurements: { tdx.mrtd: "0xAB" }\n');
    const j = await parsePolicy(JSON.stringify({ id: 'p', version: 1, platforms: { tdx: { measurements: { 'tdx.mrtd': ['ab'] } } } }));
    assert.deepEqual(y.document, j.document);
    assert.equal(y.digest, j.digest);
    assert.deepEqual(y.document.platforms.tdx!.measurements, { 'tdx.mrtd': ['ab'] });
    assert.equal(y.document.platforms.tdx!.revocation, 'warn');
  });

  it('collects ref names from sections and rules', async () => {
    const p = await parsePolicy('version: 1\nid: p\nplatforms:\n  snp:\n    measurements: { snp.measurement: [ref:a] }\n    minTcb: { snp: ref:b }\n    requireHostData: ref:c\nrules:\n  - { id: r, expr: \'claims.measurements["snp.measurement"] in refs["d"]\', message: m }\n');
    assert.deepEqual(p.refNames, ['a', 'b', 'c', 'd']);
  });

  it('reports a CEL syntax error with its position (ERR_POLICY_INVALID)', async () => {
    const ps = await problems("version: 1\nid: p\nplatforms: { snp: {} }\nrules:\n  - id: broken\n    expr: 'claims.platformClaims.vmpl == 0 &&'\n    message: m\n");
    assert.equal(ps.length, 1);
    assert.equal(ps[0]!.rule, 'broken');
    assert.equal(ps[0]!.path, 'rules[0].expr');
    assert.match(ps[0]!.message, /syntax error/);
    assert.deepEqual(ps[0]!.position, { offset: 34, line: 1, column: 35 });
    assert.equal(ps[0]!.documentLine, 6);
    assert.match(ps[0]!.excerpt!, /\^$/);
  });

  it('reports CEL type errors: misspelt claim, bad operator, non-bool result — all of them, each with a position', async () => {
    const ps = await problems(
      "version: 1\nid: p\nplatforms: { snp: {} }\nrules:\n  - { id: a, expr: 'claims.debgu == false', message: m }\n  - { id: b, expr: 'claims.debug + 1 == 2', message: m }\n  - { id: c, expr: 'claims.platform', message: m }\n  - { id: d, expr: \"claims.tcb.status == 'UpToDate'\", message: ok }\n",
    );
    assert.deepEqual(ps.map((p) => p.rule), ['a', 'b', 'c']);
    assert.match(ps[0]!.message, /type error: No such key: debgu/);
    assert.equal(ps[0]!.position!.column, 8);
    assert.match(ps[1]!.message, /no such overload: bool \+ int/);
    assert.match(ps[2]!.message, /must evaluate to bool.*string/);
    assert.ok(ps.every((p) => p.documentLine !== undefined));
  });

  it('rejects unknown fields, unknown platforms, bad hex, bad versions and duplicate rule ids', async () => {
    let ps = await problems('version: 1\nid: p\nplatforms:\n  snp:\n    debugg: true\n');
    assert.match(ps[0]!.message, /unknown field.*debugg/);
    assert.equal(ps[0]!.path, 'platforms.snp');
    assert.equal(ps[0]!.documentLine, 5, 'the line of the unknown key');
    ps = await problems('version: 1\nid: p\nplatforms:\n  sev: {}\n');
    assert.match(ps[0]!.message, /unknown platform "sev"/);
    ps = await problems('version: 1\nid: p\nplatforms:\n  snp:\n    measurements: { snp.measurement: [xyz] }\n');
    assert.match(ps[0]!.message, /hex or ref/);
    ps = await problems('version: 2\nid: p\nplatforms: { snp: {} }\n');
    assert.match(ps[0]!.message, /unsupported policy version 2/);
    ps = await problems("version: 1\nid: p\nplatforms: { snp: {} }\nrules:\n  - { id: a, expr: 'true', message: m }\n  - { id: a, expr: 'true', message: m }\n");
    assert.match(ps[0]!.message, /duplicate rule id/);
    ps = await problems('version: 1\nid: p\nplatforms: { snp: {} }\nplatforms: { tdx: {} }\n');
    assert.match(ps[0]!.message, /syntax error/);
  });

  it('needs at least one platform', async () => {
    await assert.rejects(compilePolicy({ version: 1, id: 'p', platforms: {} }), (e: unknown) => e instanceof PolicyInvalid);
  });
});

describe('AR4SI tiers', () => {
  it('maps code points to tiers (ar4si §2.3)', () => {
    const t = (v: number) => tierOf(v);
    assert.deepEqual([-1, 0, 1].map(t), ['none', 'none', 'none']);
    assert.deepEqual([2, 31, -2, -32].map(t), ['affirming', 'affirming', 'affirming', 'affirming']);
    assert.deepEqual([32, 95, -33, -96].map(t), ['warning', 'warning', 'warning', 'warning']);
    assert.deepEqual([96, 127, -97, -128].map(t), ['contraindicated', 'contraindicated', 'contraindicated', 'contraindicated']);
    assert.throws(() => tierOf(128), RangeError);
  });
  it('status is the worst claim; an empty vector is none', () => {
    assert.equal(statusOf({}), 'none');
    assert.equal(statusOf({ hardware: 2, executables: 33 }), 'warning');
    assert.equal(statusOf({ hardware: 2 }, ['contraindicated']), 'contraindicated');
  });
});
