/**
 * TCB level matching and status convergence as Intel's Quote Verification Library does it
 * (SGX-TDX-DCAP-QuoteVerificationLibrary: TcbLevelCheck, TdxModuleCheck, QuoteVerifier
 * convergeTcbStatus; PCS TCB Info v3 documentation). Pure functions over parsed collateral.
 */
import { TcbUnacceptable, bytesEqual, toHex } from '../../core/index.ts';
import { isSealedLevelList, type IntelTcbStatus, type QeIdentity, type TcbInfo, type TcbLevel } from '../../collateral/intel/index.ts';

export const STATUS_SEVERITY: readonly IntelTcbStatus[] = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'];

export interface LevelMatch {
  status: IntelTcbStatus;
  tcbDate: string;
  advisoryIds: string[];
  /** Index in the collateral's level list, for the claims. */
  index: number;
}

export interface PlatformTcbInput {
  /** The 16 SGX TCB components from the PCK certificate. */
  cpuSvnComponents: number[];
  pceSvn: number;
  /** TDX only: TEE_TCB_SVN of the TD report (16 bytes). */
  teeTcbSvn?: Uint8Array;
}

const sortedMemo = new WeakMap<readonly unknown[], readonly { l: unknown; index: number }[]>();

/**
 * The levels with their original indexes, sorted by `cmp`. The order of a parsed (deep-frozen)
 * level list cannot change, so it is computed once per list; any other list is sorted every time.
 */
function sortedLevels<T>(levels: readonly T[], cmp: (a: T, b: T) => number): readonly { l: T; index: number }[] {
  const sealed = isSealedLevelList(levels);
  if (sealed) {
    const hit = sortedMemo.get(levels);
    if (hit) return hit as readonly { l: T; index: number }[];
  }
  const sorted = levels.map((l, index) => ({ l, index })).sort((a, b) => cmp(a.l, b.l));
  if (sealed) sortedMemo.set(levels, sorted);
  return sorted;
}

const byIsvSvnDesc = (a: { isvSvn: number }, b: { isvSvn: number }): number => b.isvSvn - a.isvSvn;

function cmpLevelsDesc(a: TcbLevel, b: TcbLevel): number {
  for (let i = 0; i < 16; i++) {
    const d = (b.sgxComponents[i]?.svn ?? 0) - (a.sgxComponents[i]?.svn ?? 0);
    if (d !== 0) return d;
  }
  if (a.pceSvn !== b.pceSvn) return b.pceSvn - a.pceSvn;
  for (let i = 0; i < 16; i++) {
    const d = (b.tdxComponents?.[i]?.svn ?? 0) - (a.tdxComponents?.[i]?.svn ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The first TCB level (levels in PCS order, which is descending) that the platform meets: every
 * PCK component SVN ≥ the level's, PCK PCESVN ≥ the level's and, for TDX, every TEE_TCB_SVN byte ≥
 * the level's tdxtcbcomponents — all 16 bytes, including the module SVN and major version, which
 * the TDX module identity check evaluates again (PCS TCB Info v3 "tdxtcbcomponents"; dcap-qvl
 * `match_platform_tcb`; confirmed against the corpus: the Azure td-quote with TEE_TCB_SVN 02 01 06…
 * has no matching level). No match is TCB_NOT_SUPPORTED → TcbUnacceptable.
 */
export function matchPlatformTcb(info: TcbInfo, input: PlatformTcbInput): LevelMatch {
  if (input.cpuSvnComponents.length !== 16) throw new TcbUnacceptable('NoMatchingLevel', `PCK certificate carries ${input.cpuSvnComponents.length} TCB components, expected 16`);
  const isTdx = info.id === 'TDX';
  if (isTdx && (!input.teeTcbSvn || input.teeTcbSvn.length !== 16)) throw new TcbUnacceptable('NoMatchingLevel', 'TDX TCB evaluation needs the 16-byte TEE_TCB_SVN');
  // Order defensively: PCS serves levels sorted, but a re-ordered (still signed) list must not
  // make a lower level win.
  const levels = sortedLevels(info.tcbLevels, cmpLevelsDesc);
  for (const { l, index } of levels) {
    if (l.sgxComponents.length !== 16) throw new TcbUnacceptable('NoMatchingLevel', `TCB level ${index} has ${l.sgxComponents.length} SGX components, expected 16`);
    let ok = l.pceSvn <= input.pceSvn;
    for (let i = 0; ok && i < 16; i++) ok = l.sgxComponents[i]!.svn <= input.cpuSvnComponents[i]!;
    if (ok && isTdx) {
      const comps = l.tdxComponents;
      if (!comps || comps.length !== 16) throw new TcbUnacceptable('NoMatchingLevel', `TDX TCB level ${index} has no 16 tdxtcbcomponents`);
      for (let i = 0; ok && i < 16; i++) ok = comps[i]!.svn <= input.teeTcbSvn![i]!;
    }
    if (ok) return { status: l.tcbStatus, tcbDate: l.tcbDate, advisoryIds: l.advisoryIds, index };
  }
  throw new TcbUnacceptable('NoMatchingLevel', `no TCB level of ${info.id} TCB Info (fmspc ${info.fmspc}, tcbEvaluationDataNumber ${info.tcbEvaluationDataNumber}) is met by the platform (PCESVN ${input.pceSvn}, components [${input.cpuSvnComponents.join(',')}]${input.teeTcbSvn ? `, TEE_TCB_SVN ${toHex(input.teeTcbSvn)}` : ''}); Intel: TCB_NOT_SUPPORTED`, { fmspc: info.fmspc });
}

export interface ModuleMatch extends Partial<LevelMatch> {
  /** "TDX_01" etc., or "tdxModule" for the base entry. */
  identity: string;
}

function maskedEqual(value: Uint8Array, expected: Uint8Array, mask: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (((value[i] ?? 0) & (mask[i] ?? 0)) !== ((expected[i] ?? 0) & (mask[i] ?? 0))) return false;
  return true;
}

/**
 * TDX module identity (Intel QVL TdxModuleCheck): with module major version TEE_TCB_SVN[1] > 0 and
 * published tdxModuleIdentities, the identity "TDX_%02X" must exist, match MRSIGNERSEAM and the
 * masked SEAMATTRIBUTES, and its first level with isvsvn ≤ TEE_TCB_SVN[0] gives the module status.
 * Otherwise the base tdxModule entry is compared (no separate status).
 */
export function matchTdxModule(info: TcbInfo, teeTcbSvn: Uint8Array, mrSignerSeam: Uint8Array, seamAttributes: Uint8Array): ModuleMatch | undefined {
  const major = teeTcbSvn[1]!;
  const ids = info.tdxModuleIdentities;
  if (major > 0 && ids && ids.length > 0) {
    const id = `TDX_${major.toString(16).toUpperCase().padStart(2, '0')}`;
    const m = ids.find((x) => x.id.toUpperCase() === id);
    if (!m) throw new TcbUnacceptable('NoMatchingLevel', `TDX module identity ${id} is not in the TCB Info (known: ${ids.map((x) => x.id).join(', ')})`);
    if (!bytesEqual(m.mrSigner, mrSignerSeam)) throw new TcbUnacceptable('TdxModuleMismatch', `MRSIGNERSEAM ${toHex(mrSignerSeam)} does not match ${id} mrsigner ${toHex(m.mrSigner)}`);
    if (!maskedEqual(seamAttributes, m.attributes, m.attributesMask)) throw new TcbUnacceptable('TdxModuleMismatch', `SEAMATTRIBUTES ${toHex(seamAttributes)} do not match ${id} attributes ${toHex(m.attributes)} under mask ${toHex(m.attributesMask)}`);
    const sorted = sortedLevels(m.tcbLevels, byIsvSvnDesc);
    const hit = sorted.find(({ l }) => l.isvSvn <= teeTcbSvn[0]!);
    if (!hit) throw new TcbUnacceptable('NoMatchingLevel', `TDX module ${id} SVN ${teeTcbSvn[0]} is below every published module TCB level`);
    return { identity: id, status: hit.l.tcbStatus, tcbDate: hit.l.tcbDate, advisoryIds: hit.l.advisoryIds, index: hit.index };
  }
  if (info.tdxModule) {
    if (!bytesEqual(info.tdxModule.mrSigner, mrSignerSeam)) throw new TcbUnacceptable('TdxModuleMismatch', `MRSIGNERSEAM ${toHex(mrSignerSeam)} does not match tdxModule mrsigner ${toHex(info.tdxModule.mrSigner)}`);
    if (!maskedEqual(seamAttributes, info.tdxModule.attributes, info.tdxModule.attributesMask)) throw new TcbUnacceptable('TdxModuleMismatch', `SEAMATTRIBUTES ${toHex(seamAttributes)} do not match tdxModule attributes`);
    return { identity: 'tdxModule' };
  }
  return undefined;
}

/** QE TCB status: the first (highest) level whose isvsvn ≤ the QE report's ISVSVN. */
export function matchQeTcb(identity: QeIdentity, isvSvn: number): LevelMatch {
  const sorted = sortedLevels(identity.tcbLevels, byIsvSvnDesc);
  const hit = sorted.find(({ l }) => l.isvSvn <= isvSvn);
  if (!hit) throw new TcbUnacceptable('NoMatchingLevel', `${identity.id} ISVSVN ${isvSvn} is below every ${identity.id} Identity TCB level`);
  return { status: hit.l.tcbStatus, tcbDate: hit.l.tcbDate, advisoryIds: hit.l.advisoryIds, index: hit.index };
}

/**
 * Converges the platform status with a QE (or TDX module) status the way Intel QVL does: an
 * OutOfDate QE turns UpToDate/SWHardeningNeeded into OutOfDate and the two Configuration statuses
 * into OutOfDateConfigurationNeeded; Revoked anywhere is Revoked; otherwise the platform status.
 */
export function convergeStatus(platform: IntelTcbStatus, other: IntelTcbStatus): IntelTcbStatus {
  if (other === 'Revoked' || platform === 'Revoked') return 'Revoked';
  if (other === 'OutOfDate' || other === 'OutOfDateConfigurationNeeded') {
    if (platform === 'UpToDate' || platform === 'SWHardeningNeeded') return 'OutOfDate';
    if (platform === 'ConfigurationNeeded' || platform === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
    return platform;
  }
  // Any other non-UpToDate QE/module status: keep the worse of the two by severity.
  return STATUS_SEVERITY.indexOf(other) > STATUS_SEVERITY.indexOf(platform) ? other : platform;
}
