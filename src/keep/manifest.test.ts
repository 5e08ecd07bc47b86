import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepResourcePaths, parseKeepToml, preopenDirs, validateManifest } from './manifest.ts';
import { hasCode } from '../../test/support/errors.ts';

const FULL = `
name = "hello"
version = "1.2.0"
args = ["API_TOKEN"]
dirs = ["/tmp"]

[env]
GREETING = "hi"

[secrets]
API_TOKEN = "default/keep-hello/token"

[files]
"/secrets/config.txt" = "default/keep-hello/config"
"/data/sub/a.bin" = "default/keep-hello/a"

[limits]
memory_mb = 32
timeout_s = 10

[identity]
dns = ["hello.keep.example"]
`;

test('keep.toml: full example parses with every key', () => {
  const m = parseKeepToml(FULL);
  assert.equal(m.name, 'hello');
  assert.deepEqual(m.args, ['API_TOKEN']);
  assert.deepEqual(m.env, { GREETING: 'hi' });
  assert.deepEqual(m.secrets, { API_TOKEN: 'default/keep-hello/token' });
  assert.equal(m.files['/data/sub/a.bin'], 'default/keep-hello/a');
  assert.deepEqual(m.limits, { memory_mb: 32, timeout_s: 10, scratch_mb: 16 });
  assert.equal(m.identity?.dir, '/identity');
  assert.deepEqual(m.dirs, ['/tmp']);
  assert.deepEqual(preopenDirs(m), ['/data', '/identity', '/secrets', '/tmp']);
  assert.deepEqual(keepResourcePaths('hello'), { bundle: 'keeps/hello/bundle', key: 'keeps/hello/key', tenant: 'keeps/hello/tenant' });
});

test('keep.toml: defaults for omitted tables', () => {
  const m = parseKeepToml('name = "a"\nversion = "1"\n');
  assert.deepEqual(m.args, []);
  assert.deepEqual(m.env, {});
  assert.deepEqual(m.limits, { memory_mb: 64, timeout_s: 30, scratch_mb: 16 });
  assert.deepEqual(m.dirs, []);
  assert.equal(m.identity, undefined);
});

const BAD: [string, string][] = [
  ['not toml', 'name = '],
  ['missing version', 'name = "a"'],
  ['bad name', 'name = "A/b"\nversion = "1"'],
  ['unknown key', 'name = "a"\nversion = "1"\nfoo = 1'],
  ['bad secret path', 'name = "a"\nversion = "1"\n[secrets]\nX = "only/two"'],
  ['dotdot secret path', 'name = "a"\nversion = "1"\n[secrets]\nX = "a/../b"'],
  ['bad env name', 'name = "a"\nversion = "1"\n[env]\n"1X" = "v"'],
  ['file at root', 'name = "a"\nversion = "1"\n[files]\n"/top" = "a/b/c"'],
  ['file with ..', 'name = "a"\nversion = "1"\n[files]\n"/d/../x" = "a/b/c"'],
  ['relative file', 'name = "a"\nversion = "1"\n[files]\n"d/x" = "a/b/c"'],
  ['memory too large', 'name = "a"\nversion = "1"\n[limits]\nmemory_mb = 5000'],
  ['timeout zero', 'name = "a"\nversion = "1"\n[limits]\ntimeout_s = 0'],
  ['fractional memory', 'name = "a"\nversion = "1"\n[limits]\nmemory_mb = 1.5'],
  ['env/secret clash', 'name = "a"\nversion = "1"\n[env]\nX = "1"\n[secrets]\nX = "a/b/c"'],
  ['date value', 'name = "a"\nversion = 1979-05-27'],
  ['nested dir', 'name = "a"\nversion = "1"\ndirs = ["/tmp/x"]'],
  ['duplicate dir', 'name = "a"\nversion = "1"\ndirs = ["/tmp", "/tmp"]'],
  ['dotdot dir', 'name = "a"\nversion = "1"\ndirs = ["/.."]'],
  ['file inside identity dir', 'name = "a"\nversion = "1"\n[files]\n"/identity/x" = "a/b/c"\n[identity]\ndns = []'],
];
for (const [what, text] of BAD) {
  test(`keep.toml rejected: ${what}`, () => {
    assert.throws(() => parseKeepToml(text), hasCode('ERR_CONFIG_INVALID'));
  });
}

test('validateManifest rejects non-objects', () => {
  for (const v of [null, 1, 'x', []]) assert.throws(() => validateManifest(v), { code: 'ERR_CONFIG_INVALID' });
});
