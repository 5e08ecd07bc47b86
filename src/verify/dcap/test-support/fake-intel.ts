/**
 * A fake Intel DCAP PKI for synthetic tests: root, PCK Platform CA, PCK leaf with the SGX
 * extension, TCB Signing certificate, CRLs, signed TCB Info / QE Identity bodies and quotes signed
 * by a fresh attestation key. Everything is real ECDSA P-256; only the root is not Intel's.
 */
import { x509, type X509Crl } from '../../../core/x509.ts';
import { concatBytes, sha256, toHex, toPem, utf8 } from '../../../core/index.ts';
import { mint, mintCrl, type TestIdentity } from '../../../../test/support/pki.ts';
import { encodeQuote, INTEL_QE_VENDOR_ID, type DcapQuote, type EnclaveReport, type TdReport } from '../../../evidence/dcap/index.ts';
import { emptyCollateral, type CollateralSet } from '../../../collateral/index.ts';

const EC = { kind: 'ec', curve: 'P-256' } as const;
const O = 'O=Intel Corporation, L=Santa Clara, ST=CA, C=US';

// ---- tiny DER encoder for the PCK extension ----
function len(n: number): Uint8Array {
  if (n < 0x80) return new Uint8Array([n]);
  if (n < 0x100) return new Uint8Array([0x81, n]);
  return new Uint8Array([0x82, n >> 8, n & 0xff]);
}
const tlv = (tag: number, v: Uint8Array): Uint8Array => concatBytes(new Uint8Array([tag]), len(v.length), v);
const seq = (...xs: Uint8Array[]): Uint8Array => tlv(0x30, concatBytes(...xs));
function oid(s: string): Uint8Array {
  const p = s.split('.').map(Number);
  const out = [40 * p[0]! + p[1]!];
  for (const n of p.slice(2)) {
    const b: number[] = [];
    let v = n;
    do {
      b.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < b.length - 1; i++) b[i]! |= 0x80;
    out.push(...b);
  }
  return tlv(0x06, new Uint8Array(out));
}
function int(n: number): Uint8Array {
  const b: number[] = [];
  let v = n;
  do {
    b.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (b[0]! & 0x80) b.unshift(0);
  return tlv(0x02, new Uint8Array(b));
}
const oct = (b: Uint8Array): Uint8Array => tlv(0x04, b);
const X = '1.2.840.113741.1.13.1';

export interface PckParams {
  fmspc?: string;
  pceId?: string;
  pceSvn?: number;
  comps?: number[];
}

export function pckExtension(p: PckParams = {}): x509.Extension {
  const comps = p.comps ?? [3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0];
  const tcb = seq(
    ...comps.map((c, i) => seq(oid(`${X}.2.${i + 1}`), int(c))),
    seq(oid(`${X}.2.17`), int(p.pceSvn ?? 11)),
    seq(oid(`${X}.2.18`), oct(new Uint8Array(comps))),
  );
  const value = seq(
    seq(oid(`${X}.1`), oct(new Uint8Array(16).fill(0xaa))),
    seq(oid(`${X}.2`), tcb),
    seq(oid(`${X}.3`), oct(hex(p.pceId ?? '0000'))),
    seq(oid(`${X}.4`), oct(hex(p.fmspc ?? '50806f000000'))),
    seq(oid(`${X}.5`), tlv(0x0a, new Uint8Array([1]))),
  );
  return new x509.Extension(X, false, value as Uint8Array<ArrayBuffer>);
}

function hex(s: string): Uint8Array {
  return new Uint8Array(s.match(/../g)!.map((h) => parseInt(h, 16)));
}

export interface FakeIntel {
  root: TestIdentity;
  platformCa: TestIdentity;
  pck: TestIdentity;
  tcbSigner: TestIdentity;
  rootCrl: X509Crl;
  pckCrl: X509Crl;
  extraRoots: { intel: string[] };
}

export async function fakeIntel(opts: { pck?: PckParams; pckNotAfter?: Date; revokePck?: boolean } = {}): Promise<FakeIntel> {
  const root = await mint({ subject: `CN=Intel SGX Root CA, ${O}`, alg: EC, ca: true });
  const platformCa = await mint({ subject: `CN=Intel SGX PCK Platform CA, ${O}`, alg: EC, ca: true, issuer: root });
  const pck = await mint({ subject: `CN=Intel SGX PCK Certificate, ${O}`, alg: EC, issuer: platformCa, extensions: [pckExtension(opts.pck)], ...(opts.pckNotAfter ? { notAfter: opts.pckNotAfter } : {}) });
  const tcbSigner = await mint({ subject: `CN=Intel SGX TCB Signing, ${O}`, alg: EC, issuer: root });
  const rootCrl = await mintCrl(root, { thisUpdate: new Date('2025-01-01T00:00:00Z'), nextUpdate: new Date('2026-01-01T00:00:00Z') });
  const pckCrl = await mintCrl(platformCa, { thisUpdate: new Date('2025-06-01T00:00:00Z'), nextUpdate: new Date('2025-07-01T00:00:00Z'), revokedSerials: opts.revokePck ? [pck.cert.serialNumber] : [] });
  return { root, platformCa, pck, tcbSigner, rootCrl, pckCrl, extraRoots: { intel: [root.fingerprint] } };
}

export const NOW = new Date('2025-06-15T00:00:00Z');

async function signRaw(key: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, data as Uint8Array<ArrayBuffer>));
}

/** A signed PCS body ({"tcbInfo": …, "signature": …}) with the inner object's exact text signed. */
export async function signedBody(kind: 'tcbInfo' | 'enclaveIdentity', inner: unknown, signer: TestIdentity, tamper?: (text: string) => string): Promise<string> {
  const text = JSON.stringify(inner);
  const sig = await signRaw(signer.keys.privateKey, utf8(text));
  return `{"${kind}":${tamper ? tamper(text) : text},"signature":"${toHex(sig)}"}`;
}

const comps = (xs: number[]): { svn: number }[] => xs.map((svn) => ({ svn }));

export interface TcbLevelSpec {
  sgx: number[];
  pcesvn: number;
  tdx?: number[];
  status: string;
  date?: string;
  advisories?: string[];
}

export function tcbInfoJson(p: { id?: 'TDX' | 'SGX'; fmspc?: string; pceId?: string; issueDate?: string; nextUpdate?: string; levels?: TcbLevelSpec[]; version?: number } = {}): Record<string, unknown> {
  const id = p.id ?? 'TDX';
  const levels: TcbLevelSpec[] = p.levels ?? [
    { sgx: [3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0], pcesvn: 11, tdx: [3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], status: 'UpToDate', date: '2025-01-01T00:00:00Z' },
    { sgx: [2, 2, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0], pcesvn: 11, tdx: [2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], status: 'OutOfDate', date: '2024-01-01T00:00:00Z', advisories: ['INTEL-SA-00001'] },
  ];
  return {
    id,
    version: p.version ?? 3,
    issueDate: p.issueDate ?? '2025-06-01T00:00:00Z',
    nextUpdate: p.nextUpdate ?? '2025-07-01T00:00:00Z',
    fmspc: p.fmspc ?? '50806F000000',
    pceId: p.pceId ?? '0000',
    tcbType: 0,
    tcbEvaluationDataNumber: 17,
    ...(id === 'TDX' ? { tdxModule: { mrsigner: '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' } } : {}),
    tcbLevels: levels.map((l) => ({
      tcb: { sgxtcbcomponents: comps(l.sgx), pcesvn: l.pcesvn, ...(id === 'TDX' ? { tdxtcbcomponents: comps(l.tdx ?? new Array(16).fill(0)) } : {}) },
      tcbDate: l.date ?? '2025-01-01T00:00:00Z',
      tcbStatus: l.status,
      ...(l.advisories ? { advisoryIDs: l.advisories } : {}),
    })),
  };
}

export const QE_MRSIGNER = 'dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5';

export function qeIdentityJson(p: { id?: 'TD_QE' | 'QE'; issueDate?: string; nextUpdate?: string; levels?: { isvsvn: number; status: string }[] } = {}): Record<string, unknown> {
  return {
    id: p.id ?? 'TD_QE',
    version: 2,
    issueDate: p.issueDate ?? '2025-06-01T00:00:00Z',
    nextUpdate: p.nextUpdate ?? '2025-07-01T00:00:00Z',
    tcbEvaluationDataNumber: 17,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: '11000000000000000000000000000000',
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: QE_MRSIGNER.toUpperCase(),
    isvprodid: 2,
    tcbLevels: (p.levels ?? [{ isvsvn: 4, status: 'UpToDate' }, { isvsvn: 0, status: 'OutOfDate' }]).map((l) => ({ tcb: { isvsvn: l.isvsvn }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: l.status })),
  };
}

function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}

function qeReport(reportData: Uint8Array): EnclaveReport {
  const attributes = zeros(16);
  attributes[0] = 0x11;
  const raw = zeros(384);
  return {
    kind: 'sgx', cpuSvn: zeros(16), miscSelect: 0, reserved1: zeros(12), isvExtProdId: zeros(16), attributes, mrEnclave: new Uint8Array(32).fill(0x5e),
    reserved2: zeros(32), mrSigner: hex(QE_MRSIGNER), reserved3: zeros(32), configId: zeros(64), isvProdId: 2, isvSvn: 4, configSvn: 0, reserved4: zeros(42), isvFamilyId: zeros(16), reportData, raw,
  };
}

export interface QuoteSpec {
  version?: 3 | 4 | 5;
  kind?: 'sgx' | 'td10' | 'td15';
  teeTcbSvn?: number[];
  debug?: boolean;
  reportData?: Uint8Array;
}

/** Builds and signs a quote whose QE report is signed by the fake PCK key. */
export async function makeQuote(pki: FakeIntel, spec: QuoteSpec = {}): Promise<Uint8Array> {
  const kind = spec.kind ?? 'td10';
  const version = spec.version ?? (kind === 'sgx' ? 3 : 4);
  const att = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const attPub = new Uint8Array(await crypto.subtle.exportKey('raw', att.publicKey)).subarray(1);
  const auth = new Uint8Array(32).map((_, i) => i);
  const rd = concatBytes(await sha256(concatBytes(attPub, auth)), zeros(32));
  const qe = qeReport(rd);
  const reportData = spec.reportData ?? new Uint8Array(64).fill(0x42);
  let body: EnclaveReport | TdReport;
  if (kind === 'sgx') {
    const attributes = zeros(16);
    attributes[0] = spec.debug ? 0x07 : 0x05;
    body = { ...qeReport(reportData), attributes, mrEnclave: new Uint8Array(32).fill(0x77), mrSigner: new Uint8Array(32).fill(0x88), isvProdId: 1, isvSvn: 1 };
  } else {
    const tdAttributes = zeros(8);
    tdAttributes[3] = 0x10; // SEPT_VE_DISABLE (bit 28)
    if (spec.debug) tdAttributes[0] = 0x01;
    body = {
      kind, teeTcbSvn: new Uint8Array(spec.teeTcbSvn ?? [3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), mrSeam: new Uint8Array(48).fill(1), mrSignerSeam: zeros(48), seamAttributes: zeros(8), tdAttributes,
      xfam: zeros(8), mrTd: new Uint8Array(48).fill(2), mrConfigId: zeros(48), mrOwner: zeros(48), mrOwnerConfig: zeros(48), rtmr: [zeros(48), zeros(48), zeros(48), zeros(48)], reportData, raw: zeros(0),
      ...(kind === 'td15' ? { teeTcbSvn2: zeros(16), mrServiceTd: zeros(48) } : {}),
    };
  }
  const header = { version, attKeyType: 2, teeType: kind === 'sgx' ? 0 : 0x81, qeSvn: 0, pceSvn: 0, qeVendorId: hex(INTEL_QE_VENDOR_ID), userData: zeros(20) };
  const pem = [pki.pck.cert, pki.platformCa.cert, pki.root.cert].map((c) => toPem(new Uint8Array(c.rawData))).join('');
  const certData = concatBytes(utf8(pem), zeros(1));
  const draft: Pick<DcapQuote, 'header' | 'body' | 'bodyType' | 'signature'> = {
    header,
    body,
    signature: { isvSignature: zeros(64), attestationKey: attPub, outerCertType: version === 3 ? 5 : 6, qe: { qeReport: qe, qeReportSignature: zeros(64), qeAuthData: auth, certType: 5, certData } },
  };
  // QE report bytes = the 384 bytes after signature header in an encoded draft; sign them.
  const tmp = encodeQuote(draft);
  const bodyLen = kind === 'sgx' ? 384 : kind === 'td10' ? 584 : 648;
  const signedLen = 48 + (version === 5 ? 6 : 0) + bodyLen;
  const qeStart = signedLen + 4 + 128 + (version === 3 ? 0 : 6);
  const qeBytes = tmp.slice(qeStart, qeStart + 384);
  draft.signature.qe.qeReportSignature = await signRaw(pki.pck.keys.privateKey, qeBytes);
  draft.signature.isvSignature = await signRaw(att.privateKey, tmp.slice(0, signedLen));
  return encodeQuote(draft);
}

export interface CollOpts {
  tcbInfo?: Record<string, unknown>;
  qeIdentity?: Record<string, unknown>;
  crls?: X509Crl[];
  noCrls?: boolean;
  signer?: TestIdentity;
  tamperTcb?: (text: string) => string;
}

export async function collateralFor(pki: FakeIntel, o: CollOpts = {}): Promise<CollateralSet> {
  const set = emptyCollateral();
  const signer = o.signer ?? pki.tcbSigner;
  const tcb = await signedBody('tcbInfo', o.tcbInfo ?? tcbInfoJson(), signer, o.tamperTcb);
  const qe = await signedBody('enclaveIdentity', o.qeIdentity ?? qeIdentityJson(), signer);
  set.json.push({ name: 'tcb.json', text: tcb, value: JSON.parse(tcb) }, { name: 'qe.json', text: qe, value: JSON.parse(qe) });
  set.certificates.push(signer.cert, pki.root.cert);
  if (!o.noCrls) set.crls.push(...(o.crls ?? [pki.rootCrl, pki.pckCrl]));
  return set;
}
