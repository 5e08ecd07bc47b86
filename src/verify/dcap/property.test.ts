/**
 * Property tests (DESIGN.md): any single-byte change in a signed region is rejected, and corrupted
 * or truncated quotes always end in an AttestError, never another exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, ErrorCode } from '../../core/index.ts';
import { parseQuote } from '../../evidence/dcap/index.ts';
import { tdxPlatform } from '../tdx/index.ts';
import { NOW, collateralFor, fakeIntel, makeQuote } from './test-support/fake-intel.ts';

const pki = await fakeIntel();
const quote = await makeQuote(pki, { kind: 'td15', version: 5 });
const collateral = await collateralFor(pki);
const ctx = { now: NOW, collateral, extraRoots: pki.extraRoots };
const parsed = parseQuote(quote);
const signedLen = parsed.signed.length;
const qeStart = signedLen + 4 + 128 + 6;

async function outcome(bytes: Uint8Array): Promise<string> {
  try {
    await tdxPlatform.verify(tdxPlatform.parse(bytes), ctx);
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof AttestError, `not an AttestError: ${String(e)}`);
    return e.code;
  }
}

test('baseline verifies', async () => {
  assert.equal(await outcome(quote), 'ok');
});

test('property: any byte change in [0, signed_len) (header, v5 descriptor, TD15 body) is rejected', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: signedLen - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
      const b = quote.slice();
      b[i]! ^= x;
      assert.notEqual(await outcome(b), 'ok', `byte ${i}`);
    }),
    { numRuns: 150 },
  );
});

test('property: any byte change in the QE report or its signature is rejected with SignatureInvalid', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: qeStart, max: qeStart + 384 + 64 - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
      const b = quote.slice();
      b[i]! ^= x;
      assert.equal(await outcome(b), ErrorCode.SignatureInvalid, `byte ${i}`);
    }),
    { numRuns: 100 },
  );
});

test('property: corruption anywhere in the declared quote is rejected; truncation too', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: parsed.raw.length - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
      const b = quote.slice();
      b[i]! ^= x;
      const o = await outcome(b);
      // Flipping a byte of PEM armour whitespace can leave the chain intact; everything else must fail.
      if (o === 'ok') {
        const c = b[i]!;
        assert.ok(i >= parsed.raw.length - parsed.signature.qe.certData.length && (c === 0x0a || c === 0x0d || c === 0x20 || c === 0x09 || quote[i] === 0x0a || quote[i] === 0), `byte ${i} accepted`);
      }
    }),
    { numRuns: 150 },
  );
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: parsed.raw.length - 1 }), async (n) => {
      assert.notEqual(await outcome(quote.subarray(0, n)), 'ok');
    }),
    { numRuns: 100 },
  );
});
