/**
 * Property: changing any byte of the signed range [0x000, 0x2A0) or of the signature (R, S) of a
 * real report makes verification fail with an AttestError (never a crash); so does any input that
 * is not exactly a report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { AttestError, ErrorCode } from '../../core/index.ts';
import { classifyCollateral } from '../../collateral/index.ts';
import { corpusAvailable, corpusFile, corpusPath } from '../../../test/support/corpus.ts';
import { snpPlatform } from './verify.ts';
import type { VerifyContext } from '../types.ts';

const skip = !corpusAvailable() && 'corpus not available';

function ctx(): VerifyContext {
  const items = readdirSync(corpusPath('snp/roots')).map((f) => ({ name: f, bytes: corpusFile(`snp/roots/${f}`) }));
  items.push({ name: 'vcek', bytes: corpusFile('snp/trustee-e2e/genoa_v3_report_vcek.der') });
  return { now: new Date('2025-06-01T00:00:00Z'), collateral: classifyCollateral(items), offline: true };
}

async function outcome(bytes: Uint8Array, c: VerifyContext): Promise<string> {
  try {
    await snpPlatform.verify(snpPlatform.parse(bytes), c);
    return 'verified';
  } catch (e) {
    assert.ok(e instanceof AttestError, `not an AttestError: ${String(e)}`);
    return e.code;
  }
}

test('property: any single-byte change in 0x000-0x29F or in R/S is rejected', { skip }, async () => {
  const good = corpusFile('snp/trustee-e2e/genoa_v3_report.bin');
  const c = ctx();
  assert.equal(await outcome(good, c), 'verified');
  const seen = new Set<string>();
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.integer({ min: 0, max: 0x29f }), fc.integer({ min: 0x2a0, max: 0x2a0 + 143 })), fc.integer({ min: 1, max: 255 }), async (i, x) => {
      const b = good.slice();
      b[i] = b[i]! ^ x;
      const o = await outcome(b, c);
      seen.add(o);
      assert.notEqual(o, 'verified', `byte 0x${i.toString(16)} ^ 0x${x.toString(16)} still verified`);
    }),
    { numRuns: 250 },
  );
  assert.ok(seen.has(ErrorCode.SignatureInvalid));
});

test('property: truncated, oversized and random inputs give an AttestError', { skip }, async () => {
  const good = corpusFile('snp/trustee-e2e/genoa_v3_report.bin');
  const c = ctx();
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: good.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 32 }), async (n, tail) => {
      assert.notEqual(await outcome(good.subarray(0, n), c), 'verified');
      const longer = new Uint8Array(good.length + tail.length);
      longer.set(good);
      longer.set(tail, good.length);
      assert.notEqual(await outcome(longer, c), 'verified');
    }),
    { numRuns: 100 },
  );
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1184, maxLength: 1184 }), async (b) => {
      // Give random bytes a plausible header so they reach verification, not just parsing.
      const v = new DataView(b.buffer, b.byteOffset);
      v.setUint32(0, 3, true);
      v.setUint32(0x34, 1, true);
      assert.notEqual(await outcome(b, c), 'verified');
    }),
    { numRuns: 100 },
  );
});
