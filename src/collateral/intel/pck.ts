/**
 * The Intel SGX PCK certificate extension 1.2.840.113741.1.13.1 (Intel SGX PCK Certificate and CRL
 * Profile, section 3.5): PPID, TCB (16 CPUSVN components, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type,
 * and on Platform-CA certificates the platform instance id and configuration.
 */
import { CertificateInvalid, toHex, type X509Certificate } from '../../core/index.ts';
import { children, decodeOid, decodeUint, readTlv } from './der.ts';
import { OID_CONFIGURATION, OID_CPUSVN, OID_FMSPC, OID_PCEID, OID_PCESVN, OID_PLATFORM_INSTANCE_ID, OID_PPID, OID_SGX_EXTENSIONS, OID_SGX_TYPE, OID_TCB } from './roots.ts';

export type SgxType = 'Standard' | 'Scalable' | 'ScalableWithIntegrity';

export interface PckExtensions {
  /** Lowercase hex, 16 bytes. */
  ppid: string;
  /** The 16 SGX TCB component SVNs (sgxtcbcomp01svn..16svn). */
  cpuSvnComponents: number[];
  pceSvn: number;
  /** Raw CPUSVN, hex (16 bytes). */
  cpuSvn: string;
  /** Lowercase hex, 2 bytes. */
  pceId: string;
  /** Lowercase hex, 6 bytes. */
  fmspc: string;
  sgxType: SgxType;
  platformInstanceId?: string;
  configuration?: { dynamicPlatform?: boolean; cachedKeys?: boolean; smtEnabled?: boolean };
}

const SGX_TYPES: SgxType[] = ['Standard', 'Scalable', 'ScalableWithIntegrity'];

function fail(reason: string): never {
  throw new CertificateInvalid('pck-leaf', `SGX extension ${OID_SGX_EXTENSIONS}: ${reason}`);
}

export function parsePckExtensions(cert: X509Certificate): PckExtensions {
  const ext = cert.getExtension(OID_SGX_EXTENSIONS);
  if (!ext) fail('missing (not a PCK certificate)');
  const value = new Uint8Array(ext.value);
  let entries: Map<string, { tag: number; value: Uint8Array }>;
  const pairs = (buf: Uint8Array): Map<string, { tag: number; value: Uint8Array }> => {
    const m = new Map<string, { tag: number; value: Uint8Array }>();
    for (const item of children(buf)) {
      if (item.tag !== 0x30) fail('entry is not a SEQUENCE');
      const [oid, val] = children(item.value);
      if (!oid || oid.tag !== 0x06 || !val) fail('entry is not (OID, value)');
      const id = decodeOid(oid.value);
      if (m.has(id)) fail(`duplicate ${id}`);
      m.set(id, { tag: val.tag, value: val.value });
    }
    return m;
  };
  try {
    const outer = readTlv(value, 0);
    if (outer.tag !== 0x30 || outer.end !== value.length) fail('not a single SEQUENCE');
    entries = pairs(outer.value);
  } catch (e) {
    if (e instanceof CertificateInvalid) throw e;
    fail((e as Error).message);
  }
  const get = (oid: string, tag: number, name: string): Uint8Array => {
    const v = entries.get(oid);
    if (!v) fail(`${name} (${oid}) missing`);
    if (v.tag !== tag) fail(`${name} has tag 0x${v.tag.toString(16)}, expected 0x${tag.toString(16)}`);
    return v.value;
  };
  const octets = (oid: string, name: string, size: number): string => {
    const v = get(oid, 0x04, name);
    if (v.length !== size) fail(`${name} is ${v.length} bytes, expected ${size}`);
    return toHex(v);
  };
  try {
    const tcb = pairs(get(OID_TCB, 0x30, 'TCB'));
    const comps: number[] = [];
    for (let i = 1; i <= 16; i++) {
      const v = tcb.get(`${OID_TCB}.${i}`);
      if (!v || v.tag !== 0x02) fail(`TCB component ${i} missing or not an INTEGER`);
      comps.push(decodeUint(v.value));
    }
    const pce = tcb.get(OID_PCESVN);
    if (!pce || pce.tag !== 0x02) fail('PCESVN missing or not an INTEGER');
    const cpu = tcb.get(OID_CPUSVN);
    if (!cpu || cpu.tag !== 0x04 || cpu.value.length !== 16) fail('CPUSVN missing or not 16 bytes');
    const typeVal = get(OID_SGX_TYPE, 0x0a, 'SGX type');
    const sgxType = SGX_TYPES[decodeUint(typeVal)];
    if (!sgxType) fail(`unknown SGX type ${decodeUint(typeVal)}`);
    const out: PckExtensions = {
      ppid: octets(OID_PPID, 'PPID', 16),
      cpuSvnComponents: comps,
      pceSvn: decodeUint(pce.value),
      cpuSvn: toHex(cpu.value),
      pceId: octets(OID_PCEID, 'PCE-ID', 2),
      fmspc: octets(OID_FMSPC, 'FMSPC', 6),
      sgxType,
    };
    const pi = entries.get(OID_PLATFORM_INSTANCE_ID);
    if (pi && pi.tag === 0x04) out.platformInstanceId = toHex(pi.value);
    const conf = entries.get(OID_CONFIGURATION);
    if (conf && conf.tag === 0x30) {
      const c = pairs(conf.value);
      const bool = (i: number): boolean | undefined => {
        const v = c.get(`${OID_CONFIGURATION}.${i}`);
        return v && v.tag === 0x01 ? v.value[0] !== 0 : undefined;
      };
      out.configuration = Object.fromEntries(
        Object.entries({ dynamicPlatform: bool(1), cachedKeys: bool(2), smtEnabled: bool(3) }).filter(([, v]) => v !== undefined),
      );
    }
    return out;
  } catch (e) {
    if (e instanceof CertificateInvalid) throw e;
    fail((e as Error).message);
  }
}
