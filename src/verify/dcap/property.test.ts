/**
 * Property tests (DESIGN.md): any single-byte change in a signed region is rejected, and corrupted
 * or truncated quotes always end in an AttestError, never another exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, ErrorCode, type FetchResponseLike } from '../../core/index.ts';
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

test('property: the quote signature decides first — a body edit is SignatureInvalid, whatever else it breaks', async () => {
  // The body starts after the header and the v5 descriptor; edits there never change the parse, but
  // can also set DEBUG, lower TEE_TCB_SVN or change MRSIGNERSEAM. The offline path checks the
  // signature while the collateral is evaluated: it must still be the reported failure.
  const bodyStart = 48 + 6;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: bodyStart, max: signedLen - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
      const b = quote.slice();
      b[i]! ^= x;
      assert.equal(await outcome(b), ErrorCode.SignatureInvalid, `byte ${i}`);
    }),
    { numRuns: 120 },
  );
  // The debug bit with a report-data expectation that also fails: still the signature.
  const debugged = quote.slice();
  debugged[bodyStart + 120] = debugged[bodyStart + 120]! | 1;
  await assert.rejects(tdxPlatform.verify(tdxPlatform.parse(debugged), { ...ctx, expected: { reportData: new Uint8Array(64).fill(7) } }), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.SignatureInvalid);
});

test('a quote with a broken signature never makes a collateral request, even when a fetcher is configured', async () => {
  const urls: string[] = [];
  // PCS answers 404 (not retried): the control quote then fails on missing collateral, after asking.
  const fetcher = async (url: string): Promise<FetchResponseLike> => {
    urls.push(url);
    return { status: 404, headers: { get: () => null }, arrayBuffer: async () => new ArrayBuffer(0) };
  };
  const b = quote.slice();
  b[signedLen - 1]! ^= 1;
  const set = { ...collateral, json: [], crls: [] }; // no TCB Info, QE Identity or CRLs supplied
  await assert.rejects(tdxPlatform.verify(tdxPlatform.parse(b), { ...ctx, collateral: set, fetcher }), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.SignatureInvalid);
  assert.deepEqual(urls, []);
  // The same quote unbroken does go to the network for the missing collateral.
  await tdxPlatform.verify(tdxPlatform.parse(quote), { ...ctx, collateral: set, fetcher }).catch(() => undefined);
  assert.ok(urls.length > 0, 'the control quote fetched nothing: the collateral was not missing');
});
