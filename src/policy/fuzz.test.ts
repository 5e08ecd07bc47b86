/** Robustness: random inputs give a result or an AttestError, never another exception. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, PLATFORM_IDS, type Claims, type JsonValue } from '../core/index.ts';
import { appraise } from './appraise.ts';
import { parseEarClaims } from './ear.ts';
import { parsePolicy } from './schema.ts';
import { snpClaims } from './test-support/claims.ts';

const json: fc.Arbitrary<JsonValue> = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue>;
const NOW = new Date('2024-01-01T00:00:00Z');

describe('fuzz', () => {
  it('policy text: compiled or ERR_POLICY_INVALID', async () => {
    const frag = fc.constantFrom('version: 1\n', 'id: p\n', 'platforms:\n', '  snp:\n', '    debug: true\n', '    minTcb: { snp: x }\n', 'rules:\n', "  - { id: a, expr: 'claims.debug', message: m }\n", "  - { id: b, expr: '((', message: m }\n", '{', ']', ': :', '\t', 'version: "1"\n');
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), fc.array(frag, { maxLength: 10 }).map((a) => a.join(''))), async (text) => {
        try {
          await parsePolicy(text);
        } catch (e) {
          assert.ok(e instanceof AttestError, `not an AttestError: ${(e as Error)?.stack}`);
          assert.equal(e.code, 'ERR_POLICY_INVALID');
        }
      }),
      { numRuns: 200 },
    );
  });

  it('random CEL expressions: a position-carrying problem or a rule that evaluates without crashing the appraisal', async () => {
    const atoms = fc.constantFrom('claims.debug', 'claims.platformClaims.vmpl', 'claims.tcb.versions.snp', '1', '"x"', 'refs', 'warnings', 'now', '==', '&&', '||', '!', '(', ')', '[', ']', '.', 'size(', 'has(', 'in', ',', '>=', '+', 'claims.measurements["snp.measurement"]', 'int(', 'true');
    await fc.assert(
      fc.asyncProperty(fc.array(atoms, { minLength: 1, maxLength: 12 }), async (parts) => {
        const expr = parts.join(' ');
        const text = `version: 1\nid: p\nplatforms: { snp: {} }\nrules:\n  - id: r\n    expr: ${JSON.stringify(expr)}\n    message: m\n`;
        let policy;
        try {
          policy = await parsePolicy(text);
        } catch (e) {
          assert.ok(e instanceof AttestError, String(e));
          const p = (e.details.problems as { position?: { offset: number } }[])[0];
          assert.ok(p, 'problem listed');
          return;
        }
        const r = await appraise(snpClaims(), { policy, now: NOW });
        const row = r.rules.find((x) => x.id === 'r')!;
        assert.ok(row.outcome === 'pass' || row.outcome === 'fail');
      }),
      { numRuns: 200 },
    );
  });

  it('random claims: appraisal never throws and always explains', async () => {
    const policy = await parsePolicy("version: 1\nid: p\nplatforms: { snp: { measurements: { snp.measurement: ['00'] }, minTcb: { snp: 3 }, maxEvidenceAgeSeconds: 10, requireInitData: '00' }, tdx: {} }\nrules:\n  - { id: r, expr: 'claims.platformClaims.vmpl == 0', message: m }\n");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PLATFORM_IDS), fc.boolean(), fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 8 })), fc.dictionary(fc.string({ maxLength: 6 }), fc.integer({ min: 0, max: 300 })), fc.dictionary(fc.string({ maxLength: 8 }), json), fc.option(fc.string({ maxLength: 30 })), async (platform, debug, measurements, versions, platformClaims, evidenceTime) => {
        const c: Claims = { ...snpClaims(), platform, debug, measurements, tcb: { status: 'UpToDate', advisoryIds: [], versions }, platformClaims: platformClaims as Record<string, JsonValue>, ...(evidenceTime !== null ? { evidenceTime } : {}) };
        const r = await appraise(c, { policy, now: NOW });
        assert.ok(['none', 'affirming', 'warning', 'contraindicated'].includes(r.status));
        for (const v of r.violations) assert.ok(v.message.length > 0);
      }),
      { numRuns: 150 },
    );
  });

  it('random EAR claim sets: parsed or ERR_TOKEN_INVALID', () => {
    fc.assert(
      fc.property(fc.record({ eat_profile: fc.constantFrom('tag:github.com,2023:veraison/ear', 'x', 'tag:ietf.org,2026:rats/ear#04'), iat: fc.oneof(fc.integer(), fc.double()), 'ear.verifier-id': json, ear_verifier_id: json, submods: json }, { requiredKeys: [] }), (claims) => {
        try {
          parseEarClaims(claims as Record<string, unknown>);
        } catch (e) {
          assert.ok(e instanceof AttestError, String(e));
          assert.equal(e.code, 'ERR_TOKEN_INVALID');
        }
      }),
      { numRuns: 300 },
    );
  });
});
