import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from './jcs.ts';

test('canonicalJson: RFC 8785 key order (UTF-16 code units), JSON.stringify treatment of undefined, non-JSON values refused', () => {
  // RFC 8785 §3.2.3 sorting example: "\u20ac" (U+20AC) sorts before "\ud83d\ude00" (U+1F600 as a surrogate pair) by code units.
  assert.equal(canonicalJson({ '\u{1F600}': 1, '\u20ac': 2, '\r': 3, '1': 4, 'a': 5 }), '{"\\r":3,"1":4,"a":5,"€":2,"😀":1}');
  assert.equal(canonicalJson({ a: undefined, b: [undefined, 1], c: { d: null } }), '{"b":[null,1],"c":{"d":null}}');
  assert.equal(canonicalJson([-0, 1e21, 1e-7, 'x"\u0001']), '[0,1e+21,1e-7,"x\\"\\u0001"]');
  for (const bad of [Number.NaN, Infinity, 1n, () => 1, Symbol('s')]) assert.throws(() => canonicalJson({ v: bad }), TypeError, String(bad));
});
