/** Assertions on error codes (DESIGN.md: tests assert on codes, not message text). */
import assert from 'node:assert/strict';
import { AttestError } from '../../src/core/errors.ts';

/**
 * A validator for assert.throws / assert.rejects: passes for an AttestError with `code`; anything
 * else fails with the actual code and message (not just "validation function returned false").
 */
export function hasCode(code: string): (e: unknown) => true {
  return (e: unknown) => {
    if (!(e instanceof AttestError)) throw new assert.AssertionError({ message: `expected AttestError ${code}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` });
    assert.equal(e.code, code, e.message);
    return true;
  };
}

/** Settles `p` and returns 'OK' or the AttestError code; any other exception fails the test. */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    assert.ok(e instanceof AttestError, String(e));
    return e.code;
  }
}
