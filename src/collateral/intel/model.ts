/**
 * Typed views of Intel PCS TCB Info (SGX and TDX; formats v2 and v3) and Enclave Identity
 * (QE, TD_QE; v2) as served by PCS v4 (Intel PCS API documentation, "TCB Info V2/V3",
 * "Enclave Identity V2"). Parsing validates every field the verifier relies on.
 */
import { CollateralInvalid, fromHex, parseTime } from '../../core/index.ts';

export const TCB_STATUSES = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'] as const;
export type IntelTcbStatus = (typeof TCB_STATUSES)[number];

export interface TcbComponent {
  svn: number;
  category?: string;
  type?: string;
}

export interface TcbLevel {
  sgxComponents: TcbComponent[];
  pceSvn: number;
  /** TDX TCB Info only: 16 components compared with TEE_TCB_SVN. */
  tdxComponents?: TcbComponent[];
  tcbDate: string;
  tcbStatus: IntelTcbStatus;
  advisoryIds: string[];
}

export interface TdxModuleIdentity {
  id: string;
  mrSigner: Uint8Array;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
  tcbLevels: { isvSvn: number; tcbDate: string; tcbStatus: IntelTcbStatus; advisoryIds: string[] }[];
}

export interface TcbInfo {
  id: 'SGX' | 'TDX';
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  /** Lowercase hex. */
  fmspc: string;
  /** Lowercase hex. */
  pceId: string;
  tcbType: number;
  tcbEvaluationDataNumber: number;
  tdxModule?: { mrSigner: Uint8Array; attributes: Uint8Array; attributesMask: Uint8Array };
  tdxModuleIdentities?: TdxModuleIdentity[];
  tcbLevels: TcbLevel[];
}

export interface QeIdentity {
  id: 'QE' | 'QVE' | 'TD_QE';
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  tcbEvaluationDataNumber: number;
  miscSelect: number;
  miscSelectMask: number;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  tcbLevels: { isvSvn: number; tcbDate: string; tcbStatus: IntelTcbStatus; advisoryIds: string[] }[];
}

type Obj = Record<string, unknown>;

class Reader {
  readonly what: string;
  constructor(what: string) {
    this.what = what;
  }
  fail(reason: string): never {
    throw new CollateralInvalid(this.what, reason);
  }
  obj(v: unknown, path: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`${path} is not an object`);
    return v as Obj;
  }
  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(`${path} is not an array`);
    return v;
  }
  int(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(`${path} is not a non-negative integer`);
    return v;
  }
  str(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(`${path} is not a string`);
    return v;
  }
  hex(v: unknown, path: string, size?: number): Uint8Array {
    const s = this.str(v, path);
    let b: Uint8Array;
    try {
      b = fromHex(s);
    } catch {
      this.fail(`${path} is not hex`);
    }
    if (size !== undefined && b.length !== size) this.fail(`${path} is ${b.length} bytes, expected ${size}`);
    return b;
  }
  time(v: unknown, path: string): Date {
    const s = this.str(v, path);
    try {
      return parseTime(s);
    } catch {
      this.fail(`${path} is not a time`);
    }
  }
  status(v: unknown, path: string): IntelTcbStatus {
    const s = this.str(v, path);
    if (!(TCB_STATUSES as readonly string[]).includes(s)) this.fail(`${path} "${s}" is not a known TCB status`);
    return s as IntelTcbStatus;
  }
  advisories(v: unknown, path: string): string[] {
    if (v === undefined) return [];
    return this.arr(v, path).map((x, i) => this.str(x, `${path}[${i}]`));
  }
  components(v: unknown, path: string): TcbComponent[] {
    const a = this.arr(v, path);
    if (a.length !== 16) this.fail(`${path} has ${a.length} components, expected 16`);
    return a.map((c, i) => {
      const o = this.obj(c, `${path}[${i}]`);
      return {
        svn: this.int(o.svn, `${path}[${i}].svn`),
        ...(typeof o.category === 'string' ? { category: o.category } : {}),
        ...(typeof o.type === 'string' ? { type: o.type } : {}),
      };
    });
  }
}

/** Level lists built (and deep-frozen) by this parser: their order can be memoised by identity. */
const sealedLevels = new WeakSet<readonly unknown[]>();

function deepFreeze(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v) || ArrayBuffer.isView(v)) return;
  for (const x of Object.values(v)) deepFreeze(x);
  Object.freeze(v);
}

function seal<T>(levels: T[]): T[] {
  deepFreeze(levels);
  sealedLevels.add(levels);
  return levels;
}

/** True for a TCB level list produced by parseTcbInfo / parseQeIdentity: deep-frozen, so it cannot change. */
export function isSealedLevelList(levels: readonly unknown[]): boolean {
  return sealedLevels.has(levels);
}

function isvLevels(r: Reader, v: unknown, path: string): QeIdentity['tcbLevels'] {
  return seal(isvLevelList(r, v, path));
}

function isvLevelList(r: Reader, v: unknown, path: string): QeIdentity['tcbLevels'] {
  return r.arr(v, path).map((l, i) => {
    const o = r.obj(l, `${path}[${i}]`);
    const tcb = r.obj(o.tcb, `${path}[${i}].tcb`);
    return {
      isvSvn: r.int(tcb.isvsvn, `${path}[${i}].tcb.isvsvn`),
      tcbDate: r.str(o.tcbDate, `${path}[${i}].tcbDate`),
      tcbStatus: r.status(o.tcbStatus, `${path}[${i}].tcbStatus`),
      advisoryIds: r.advisories(o.advisoryIDs, `${path}[${i}].advisoryIDs`),
    };
  });
}

/** Parses the `tcbInfo` object (already JSON-parsed from the exact signed text). */
export function parseTcbInfo(value: unknown, what = 'TCB Info'): TcbInfo {
  const r = new Reader(what);
  const o = r.obj(value, 'tcbInfo');
  const version = r.int(o.version, 'version');
  if (version !== 2 && version !== 3) r.fail(`version ${version} is not supported (2, 3)`);
  // v2 (SGX only) has no id; v3 names SGX or TDX.
  const id = o.id === undefined && version === 2 ? 'SGX' : r.str(o.id, 'id');
  if (id !== 'SGX' && id !== 'TDX') r.fail(`id "${id}" is neither SGX nor TDX`);
  if (id === 'TDX' && version < 3) r.fail('TDX TCB Info must be version 3');
  const info: TcbInfo = {
    id: id as TcbInfo['id'],
    version,
    issueDate: r.time(o.issueDate, 'issueDate'),
    nextUpdate: r.time(o.nextUpdate, 'nextUpdate'),
    fmspc: r.str(o.fmspc, 'fmspc').toLowerCase(),
    pceId: r.str(o.pceId, 'pceId').toLowerCase(),
    tcbType: r.int(o.tcbType, 'tcbType'),
    tcbEvaluationDataNumber: r.int(o.tcbEvaluationDataNumber, 'tcbEvaluationDataNumber'),
    tcbLevels: [],
  };
  r.hex(info.fmspc, 'fmspc', 6);
  r.hex(info.pceId, 'pceId', 2);
  if (info.tcbType !== 0) r.fail(`tcbType ${info.tcbType} is not supported (0)`);
  if (o.tdxModule !== undefined) {
    const m = r.obj(o.tdxModule, 'tdxModule');
    info.tdxModule = { mrSigner: r.hex(m.mrsigner, 'tdxModule.mrsigner', 48), attributes: r.hex(m.attributes, 'tdxModule.attributes', 8), attributesMask: r.hex(m.attributesMask, 'tdxModule.attributesMask', 8) };
  }
  if (o.tdxModuleIdentities !== undefined) {
    info.tdxModuleIdentities = r.arr(o.tdxModuleIdentities, 'tdxModuleIdentities').map((x, i) => {
      const m = r.obj(x, `tdxModuleIdentities[${i}]`);
      const p = `tdxModuleIdentities[${i}]`;
      return {
        id: r.str(m.id, `${p}.id`),
        mrSigner: r.hex(m.mrsigner, `${p}.mrsigner`, 48),
        attributes: r.hex(m.attributes, `${p}.attributes`, 8),
        attributesMask: r.hex(m.attributesMask, `${p}.attributesMask`, 8),
        tcbLevels: isvLevels(r, m.tcbLevels, `${p}.tcbLevels`),
      };
    });
  }
  info.tcbLevels = r.arr(o.tcbLevels, 'tcbLevels').map((l, i) => {
    const p = `tcbLevels[${i}]`;
    const lo = r.obj(l, p);
    const tcb = r.obj(lo.tcb, `${p}.tcb`);
    let sgxComponents: TcbComponent[];
    if (version === 2) {
      sgxComponents = [];
      for (let k = 1; k <= 16; k++) sgxComponents.push({ svn: r.int(tcb[`sgxtcbcomp${String(k).padStart(2, '0')}svn`], `${p}.tcb.sgxtcbcomp${String(k).padStart(2, '0')}svn`) });
    } else {
      sgxComponents = r.components(tcb.sgxtcbcomponents, `${p}.tcb.sgxtcbcomponents`);
    }
    const level: TcbLevel = {
      sgxComponents,
      pceSvn: r.int(tcb.pcesvn, `${p}.tcb.pcesvn`),
      tcbDate: r.str(lo.tcbDate, `${p}.tcbDate`),
      tcbStatus: r.status(lo.tcbStatus, `${p}.tcbStatus`),
      advisoryIds: r.advisories(lo.advisoryIDs, `${p}.advisoryIDs`),
    };
    if (id === 'TDX') level.tdxComponents = r.components(tcb.tdxtcbcomponents, `${p}.tcb.tdxtcbcomponents`);
    return level;
  });
  if (info.tcbLevels.length === 0) r.fail('no tcbLevels');
  seal(info.tcbLevels);
  return info;
}

/** Parses the `enclaveIdentity` object. */
export function parseQeIdentity(value: unknown, what = 'QE Identity'): QeIdentity {
  const r = new Reader(what);
  const o = r.obj(value, 'enclaveIdentity');
  const id = r.str(o.id, 'id');
  if (id !== 'QE' && id !== 'QVE' && id !== 'TD_QE') r.fail(`id "${id}" is not QE, QVE or TD_QE`);
  const version = r.int(o.version, 'version');
  if (version !== 2) r.fail(`version ${version} is not supported (2)`);
  const misc = r.hex(o.miscselect, 'miscselect', 4);
  const miscMask = r.hex(o.miscselectMask, 'miscselectMask', 4);
  // The hex bytes are compared with the report's MISCSELECT as stored (little-endian u32), as
  // dcap-qvl does; every published value is 00000000 / FFFFFFFF, where the order cannot matter.
  const u32 = (b: Uint8Array): number => (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  const q: QeIdentity = {
    id: id as QeIdentity['id'],
    version,
    issueDate: r.time(o.issueDate, 'issueDate'),
    nextUpdate: r.time(o.nextUpdate, 'nextUpdate'),
    tcbEvaluationDataNumber: r.int(o.tcbEvaluationDataNumber, 'tcbEvaluationDataNumber'),
    miscSelect: u32(misc),
    miscSelectMask: u32(miscMask),
    attributes: r.hex(o.attributes, 'attributes', 16),
    attributesMask: r.hex(o.attributesMask, 'attributesMask', 16),
    mrSigner: r.hex(o.mrsigner, 'mrsigner', 32),
    isvProdId: r.int(o.isvprodid, 'isvprodid'),
    tcbLevels: isvLevels(r, o.tcbLevels, 'tcbLevels'),
  };
  if (q.tcbLevels.length === 0) r.fail('no tcbLevels');
  return q;
}
