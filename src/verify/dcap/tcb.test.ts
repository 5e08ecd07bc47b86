import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classifyCollateral } from '../../collateral/index.ts';
import { gatherIntelCollateral, isSealedLevelList, parseTcbInfo, type TcbInfo } from '../../collateral/intel/index.ts';
import { corpusAvailable, corpusFile } from '../../../test/support/corpus.ts';
import { matchPlatformTcb } from './tcb.ts';

const skip = !corpusAvailable() && 'corpus not available';

function tdxInfo(): { value: { tcbLevels: unknown[] }; info: TcbInfo } {
  const c = gatherIntelCollateral(classifyCollateral([{ name: 'v3', bytes: corpusFile('tdx/automata/solana_tcb_info_v3_with_tdx_module.json') }]));
  const value = c.tcbInfos[0]!.value as { tcbLevels: unknown[] };
  return { value, info: parseTcbInfo(value) };
}

test('parsed TCB level lists are deep-frozen and sealed; hand-built lists are not', { skip }, () => {
  const { info } = tdxInfo();
  assert.ok(isSealedLevelList(info.tcbLevels));
  assert.ok(Object.isFrozen(info.tcbLevels[0]!.sgxComponents));
  assert.throws(() => (info.tcbLevels as unknown[]).push({}), TypeError);
  assert.throws(() => ((info.tcbLevels[0]!.sgxComponents[0] as { svn: number }).svn = 0), TypeError);
  assert.ok(!isSealedLevelList([...info.tcbLevels]));
});

test('property: level matching is the same for any served order, memoised or not, and for copies', { skip }, () => {
  const { value, info } = tdxInfo();
  const n = info.tcbLevels.length;
  fc.assert(
    fc.property(
      fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
      fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 16, maxLength: 16 }),
      fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 16, maxLength: 16 }),
      fc.integer({ min: 0, max: 20 }),
      (order, cpu, tee, pceSvn) => {
        const shuffled = parseTcbInfo({ ...value, tcbLevels: order.map((i) => value.tcbLevels[i]) });
        const input = { cpuSvnComponents: cpu, pceSvn, teeTcbSvn: Uint8Array.from(tee) };
        const run = (t: TcbInfo): string => {
          try {
            const m = matchPlatformTcb(t, input);
            return `${m.status}|${m.tcbDate}|${m.advisoryIds.join(',')}`;
          } catch (e) {
            return `error ${(e as Error).name}`;
          }
        };
        const expected = run(info);
        assert.equal(run(shuffled), expected);
        assert.equal(run(shuffled), expected, 'memoised order');
        assert.equal(run({ ...shuffled, tcbLevels: [...shuffled.tcbLevels] }), expected, 'unsealed copy');
      },
    ),
    { numRuns: 150 },
  );
});
