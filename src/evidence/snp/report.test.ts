import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { AttestError, ErrorCode } from '../../core/index.ts';
import { corpusAvailable, corpusFile, corpusPath } from '../../../test/support/corpus.ts';
import {
  SNP_REPORT_LAYOUT,
  SNP_REPORT_SIZE,
  decodeTcbVersion,
  encodeSnpReport,
  encodeTcbVersion,
  looksLikeSnpReport,
  parseSnpReport,
  snpSignatureFromRaw,
  snpSignatureToRaw,
} from './index.ts';

const skip = !corpusAvailable() && 'corpus not available';

function corpusReports(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of readdirSync(corpusPath(rel))) {
      const r = join(rel, n);
      const st = statSync(corpusPath(r));
      if (st.isDirectory()) walk(r);
      else if (n.endsWith('.bin') && st.size === SNP_REPORT_SIZE) out.push(r);
    }
  };
  walk('snp');
  return out.sort();
}

test('the layout table covers 0x000..0x4A0 exactly, in order, without gaps', () => {
  let at = 0;
  for (const f of SNP_REPORT_LAYOUT) {
    assert.equal(f.offset, at, `${f.name} starts at 0x${at.toString(16)}`);
    at += f.size;
  }
  assert.equal(at, SNP_REPORT_SIZE);
  assert.ok(Object.isFrozen(SNP_REPORT_LAYOUT) && SNP_REPORT_LAYOUT.every((f) => Object.isFrozen(f)));
});

test('every 1184-byte corpus report parses and re-encodes byte-exact', { skip }, () => {
  const files = corpusReports();
  assert.ok(files.length >= 10, `found ${files.length}`);
  for (const f of files) {
    const bytes = corpusFile(f);
    const r = parseSnpReport(bytes);
    assert.deepEqual(encodeSnpReport(r), bytes, f);
    assert.deepEqual(r.raw, bytes);
    assert.equal(r.signed.length, 0x2a0);
    assert.ok(looksLikeSnpReport(bytes));
  }
});

test('field decoding matches the go-sev-guest Milan v2 sample', { skip }, () => {
  const r = parseSnpReport(corpusFile('snp/go-sev-guest/milan_v2_attestation.bin'));
  assert.equal(r.version, 2);
  assert.equal(r.cpuid, undefined);
  assert.equal(r.reportedTcb.raw, 4901323769462652930n);
  assert.deepEqual([r.reportedTcb.bootloader, r.reportedTcb.tee, r.reportedTcb.snp, r.reportedTcb.microcode], [2, 0, 5, 68]);
  assert.equal(r.policy.raw, 0xb0000n);
  assert.deepEqual([r.policy.debug, r.policy.smt, r.policy.migrateMa, r.policy.abiMajor, r.policy.abiMinor], [true, true, false, 0, 0]);
  assert.equal(r.platformInfo.smtEnabled, true);
  assert.deepEqual(r.currentVersion, { build: 3, minor: 49, major: 1 });
  assert.equal(r.signerInfo.signingKey, 'vcek');
});

test('v3 CPUID bytes and the VLEK signer info decode', { skip }, () => {
  const r = parseSnpReport(corpusFile('snp/trustee/test-vlek-report.bin'));
  assert.deepEqual(r.cpuid, { family: 0x19, model: 1, stepping: 1 });
  assert.equal(r.signerInfo.signingKey, 'vlek');
  assert.equal(r.vmpl, 1);
  assert.equal(r.reportedTcb.raw, 0xd918000000000004n);
  assert.notEqual(r.reportedTcb.raw, r.committedTcb.raw, 'REPORTED_TCB differs from COMMITTED_TCB in this sample');
});

test('TCB_VERSION decodes in both layouts and round-trips', () => {
  const legacy = decodeTcbVersion(0x4405000000000002n, 'legacy');
  assert.deepEqual([legacy.bootloader, legacy.tee, legacy.snp, legacy.microcode, legacy.fmc], [2, 0, 5, 0x44, undefined]);
  const turin = decodeTcbVersion(0x4d00000004030201n, 'turin');
  assert.deepEqual([turin.fmc, turin.bootloader, turin.tee, turin.snp, turin.microcode], [1, 2, 3, 4, 0x4d]);
  assert.equal(encodeTcbVersion(turin, 'turin'), 0x4d00000004030201n);
  assert.equal(encodeTcbVersion(legacy, 'legacy'), 0x4405000000000002n);
});

/** A valid v3 report built from scratch (unsigned: parsing does not check signatures). */
function base(version = 3, family = 0x19): Uint8Array {
  const b = new Uint8Array(SNP_REPORT_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, version, true);
  v.setBigUint64(8, 0x30000n, true);
  v.setUint32(0x34, 1, true);
  if (version >= 3) b[0x188] = family;
  b[0x2a0] = 1;
  b[0x2e8] = 1;
  return b;
}

const mutate = (b: Uint8Array, f: (v: DataView, b: Uint8Array) => void): Uint8Array => {
  const c = b.slice();
  f(new DataView(c.buffer), c);
  return c;
};

test('malformed reports are rejected with the right code and field', () => {
  const cases: [string, Uint8Array, string, string?][] = [
    ['empty', new Uint8Array(0), ErrorCode.EvidenceMalformed],
    ['truncated', base().subarray(0, 1183), ErrorCode.EvidenceMalformed],
    ['oversized', new Uint8Array(1185), ErrorCode.EvidenceMalformed],
    ['version 1', mutate(base(), (v) => v.setUint32(0, 1, true)), ErrorCode.UnsupportedVersion],
    ['version 4', mutate(base(), (v) => v.setUint32(0, 4, true)), ErrorCode.UnsupportedVersion],
    ['version 6', mutate(base(), (v) => v.setUint32(0, 6, true)), ErrorCode.UnsupportedVersion],
    ['signature algo 0', mutate(base(), (v) => v.setUint32(0x34, 0, true)), ErrorCode.EvidenceMalformed, 'SIGNATURE_ALGO'],
    ['signature algo 2', mutate(base(), (v) => v.setUint32(0x34, 2, true)), ErrorCode.EvidenceMalformed, 'SIGNATURE_ALGO'],
    ['policy bit 17 clear', mutate(base(), (v) => v.setBigUint64(8, 0x10000n, true)), ErrorCode.EvidenceMalformed, 'POLICY'],
    ['signer info reserved bit 5', mutate(base(), (v) => v.setUint32(0x48, 1 << 5, true)), ErrorCode.EvidenceMalformed, 'SIGNER_INFO'],
    ...[2, 3, 4, 5, 6].map((k): [string, Uint8Array, string, string] => [`signing key ${k}`, mutate(base(), (v) => v.setUint32(0x48, k << 2, true)), ErrorCode.EvidenceMalformed, 'SIGNING_KEY']),
    ['reserved 0x4C', mutate(base(), (_v, b) => void (b[0x4d] = 1)), ErrorCode.EvidenceMalformed, 'RESERVED_04C'],
    ['reserved 0x18B (v3)', mutate(base(), (_v, b) => void (b[0x19f] = 1)), ErrorCode.EvidenceMalformed, 'RESERVED_18B'],
    ['CPUID bytes in a v2 report', mutate(base(2), (_v, b) => void (b[0x188] = 0x19)), ErrorCode.EvidenceMalformed, 'RESERVED_188'],
    ['reserved 0x1EB', mutate(base(), (_v, b) => void (b[0x1eb] = 1)), ErrorCode.EvidenceMalformed, 'RESERVED_1EB'],
    ['reserved 0x1EF', mutate(base(), (_v, b) => void (b[0x1ef] = 1)), ErrorCode.EvidenceMalformed, 'RESERVED_1EF'],
    ['mitigation vector in a v3 report', mutate(base(), (_v, b) => void (b[0x1f8] = 1)), ErrorCode.EvidenceMalformed, 'RESERVED_1F8'],
    ['reserved 0x208 (v5)', mutate(base(5), (_v, b) => void (b[0x29f] = 1)), ErrorCode.EvidenceMalformed, 'RESERVED_208'],
    ['signature reserved tail', mutate(base(), (_v, b) => void (b[0x49f] = 1)), ErrorCode.EvidenceMalformed, 'RESERVED_SIGNATURE'],
  ];
  for (const [name, bytes, code, field] of cases) {
    assert.throws(
      () => parseSnpReport(bytes),
      (e: unknown) => {
        assert.ok(e instanceof AttestError, `${name}: ${String(e)}`);
        assert.equal(e.code, code, `${name}: ${e.message}`);
        if (field) assert.equal(e.details.field, field, name);
        return true;
      },
      name,
    );
  }
  for (const v of [2, 3, 5]) assert.equal(parseSnpReport(base(v)).version, v);
});

test('v5: mitigation vectors parse and round-trip; family 1Ah selects the Turin TCB layout', () => {
  const b = mutate(base(5, 0x1a), (v) => {
    v.setBigUint64(0x1f8, 0x1234n, true);
    v.setBigUint64(0x200, 0x5678n, true);
    v.setBigUint64(0x180, 0x4d00000004030201n, true);
  });
  const r = parseSnpReport(b);
  assert.equal(r.launchMitVector, 0x1234n);
  assert.equal(r.currentMitVector, 0x5678n);
  assert.equal(r.reportedTcb.layout, 'turin');
  assert.equal(r.reportedTcb.fmc, 1);
  assert.equal(r.reportedTcb.microcode, 0x4d);
  assert.deepEqual(encodeSnpReport(r), b);
  // Family 19h v3 keeps the legacy layout.
  assert.equal(parseSnpReport(base(3, 0x19)).reportedTcb.layout, 'legacy');
});

test('signature conversion: 72-byte LE components ↔ raw big-endian r‖s', () => {
  const raw = Uint8Array.from({ length: 96 }, (_, i) => i + 1);
  const sig = snpSignatureFromRaw(raw);
  assert.equal(sig.r[0], 48);
  assert.equal(sig.s[0], 96);
  assert.deepEqual(snpSignatureToRaw(sig), raw);
  const big = { r: sig.r.slice(), s: sig.s };
  big.r[50] = 1;
  assert.equal(snpSignatureToRaw(big), undefined, 'components wider than 48 bytes are not P-384');
});

test('property: random, truncated and oversized inputs give an AttestError, never another exception', () => {
  const ok = (b: Uint8Array): void => {
    try {
      parseSnpReport(b);
    } catch (e) {
      assert.ok(e instanceof AttestError, String(e));
    }
  };
  fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 2048 }), (b) => ok(b)), { numRuns: 200 });
  fc.assert(fc.property(fc.uint8Array({ minLength: SNP_REPORT_SIZE, maxLength: SNP_REPORT_SIZE }), (b) => ok(b)), { numRuns: 200 });
  const valid = base();
  fc.assert(
    fc.property(fc.integer({ min: 0, max: SNP_REPORT_SIZE - 1 }), fc.integer({ min: 1, max: 255 }), fc.nat({ max: 64 }), (i, x, extra) => {
      ok(mutate(valid, (_v, b) => void (b[i] = b[i]! ^ x)));
      ok(valid.subarray(0, i));
      const longer = new Uint8Array(SNP_REPORT_SIZE + extra + 1);
      longer.set(valid);
      ok(longer);
    }),
    { numRuns: 300 },
  );
});
