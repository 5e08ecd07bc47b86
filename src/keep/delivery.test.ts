import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileResourcePolicy, evaluateResourcePolicies } from '../kbs/index.ts';
import { keepRef, parseKeepRef, releasePolicy } from './delivery.ts';

const M = 'ab'.repeat(48);
const OTHER = 'cd'.repeat(48);

test('parseKeepRef / keepRef', () => {
  assert.deepEqual(parseKeepRef('kbs://kbs.example:8443/keeps/web'), { kbsUrl: 'https://kbs.example:8443', name: 'web' });
  assert.deepEqual(parseKeepRef('kbs://127.0.0.1:8080/keeps/a.b-c/', true), { kbsUrl: 'http://127.0.0.1:8080', name: 'a.b-c' });
  assert.equal(keepRef('http://127.0.0.1:8080', 'web'), 'kbs://127.0.0.1:8080/keeps/web');
  for (const bad of ['https://h/keeps/web', 'kbs://h/other/web', 'kbs://h/keeps/Web', 'kbs://h/keeps/web/x', 'kbs:///keeps/web', 'not a url']) {
    assert.throws(() => parseKeepRef(bad), { code: 'ERR_CONFIG_INVALID' }, bad);
  }
});

test('releasePolicy compiles in the KBS and releases only to the pinned measurement', () => {
  const cel = releasePolicy('sim', [{ name: 'sim.measurement', values: [M] }]);
  const p = compileResourcePolicy('keeps/web/*', cel);
  const input = (status: string, platform: string, m: string) => ({ path: 'keeps/web/key', status, platform, simulated: true, claims: { measurements: { 'sim.measurement': m } }, ear: {}, now: new Date() });
  assert.equal(evaluateResourcePolicies([p], input('affirming', 'sim', M)).allowed, true);
  assert.equal(evaluateResourcePolicies([p], input('affirming', 'sim', OTHER)).allowed, false);
  assert.equal(evaluateResourcePolicies([p], input('affirming', 'snp', M)).allowed, false);
  assert.equal(evaluateResourcePolicies([p], input('warning', 'sim', M)).allowed, false);
  const lenient = compileResourcePolicy('keeps/web/*', releasePolicy('sim', [{ name: 'sim.measurement', values: [M.toUpperCase(), OTHER] }], { allowWarning: true }));
  assert.equal(evaluateResourcePolicies([lenient], input('warning', 'sim', OTHER)).allowed, true);
  assert.equal(evaluateResourcePolicies([lenient], input('contraindicated', 'sim', M)).allowed, false);
  // A claim missing from the evidence denies (closed by default).
  assert.equal(evaluateResourcePolicies([p], { ...input('affirming', 'sim', M), claims: { measurements: {} } }).allowed, false);
});

test('releasePolicy refuses to build an open or injectable policy', () => {
  assert.throws(() => releasePolicy('sim', []), { code: 'ERR_CONFIG_INVALID' });
  assert.throws(() => releasePolicy('sim"||true||"', [{ name: 'sim.measurement', values: [M] }]), { code: 'ERR_CONFIG_INVALID' });
  assert.throws(() => releasePolicy('sim', [{ name: 'x"]||true||["', values: [M] }]), { code: 'ERR_CONFIG_INVALID' });
  assert.throws(() => releasePolicy('sim', [{ name: 'sim.measurement', values: ['" || true || "'] }]), { code: 'ERR_CONFIG_INVALID' });
});
