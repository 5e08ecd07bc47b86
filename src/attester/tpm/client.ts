/**
 * A small TPM 2.0 client speaking raw command bytes (TPM 2.0 Part 3 "Commands"), enough for
 * attestation: Startup, GetCapability(PCRS), CreatePrimary, ReadPublic, NV_ReadPublic/NV_Read,
 * StartAuthSession + PolicySecret, ActivateCredential, PCR_Extend, PCR_Read, Quote, FlushContext.
 *
 * Commands with authorization use the password session TPM_RS_PW with an empty password (the
 * default for EK/AK templates here and for the hierarchies of a fresh TPM). Warnings that ask the
 * caller to resubmit — TPM_RC_RETRY (0x922), TPM_RC_YIELDED (0x908), TPM_RC_TESTING (0x90A) —
 * are retried with back-off.
 */
import { ByteReader, ByteWriter, DeviceError } from '../../core/index.ts';
import {
  encodePcrSelection,
  encodeTpmtPublic,
  parsePcrSelection,
  readTpmtPublic,
  TPM_ALG,
  TPMA_OBJECT,
  TPM_ECC,
  type PcrSelection,
  type TpmtPublic,
  type TpmtPublicTemplate,
} from '../../evidence/tpm/index.ts';
import type { TpmTransport } from './transport.ts';

export const TPM_ST_NO_SESSIONS = 0x8001;
export const TPM_ST_SESSIONS = 0x8002;
export const TPM_RS_PW = 0x40000009;
export const TPM_RH = { OWNER: 0x40000001, NULL: 0x40000007, ENDORSEMENT: 0x4000000b, PLATFORM: 0x4000000c } as const;
export const TPM_CC = {
  NV_Read: 0x14e,
  PolicySecret: 0x151,
  Create: 0x153,
  Quote: 0x158,
  Startup: 0x144,
  ActivateCredential: 0x147,
  CreatePrimary: 0x131,
  FlushContext: 0x165,
  NV_ReadPublic: 0x169,
  ReadPublic: 0x173,
  StartAuthSession: 0x176,
  GetCapability: 0x17a,
  PCR_Read: 0x17e,
  PCR_Extend: 0x182,
} as const;
export const TPM_RC = { SUCCESS: 0, INITIALIZE: 0x100, YIELDED: 0x908, TESTING: 0x90a, RETRY: 0x922 } as const;

/** NV index of the RSA-2048 EK certificate (TCG EK Credential Profile §2.2.1.4). */
export const EK_CERT_NV_RSA = 0x01c00002;

/** PolicySecret(TPM_RH_ENDORSEMENT) digest: the authPolicy of the TCG default EK templates. */
const EK_POLICY = new Uint8Array([
  0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
]);

/** TCG EK Credential Profile, Template L-1 (RSA 2048, AES-128-CFB, SHA-256). */
export const EK_RSA_TEMPLATE: TpmtPublicTemplate = {
  type: TPM_ALG.RSA,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes: TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.adminWithPolicy | TPMA_OBJECT.restricted | TPMA_OBJECT.decrypt,
  authPolicy: EK_POLICY,
  rsa: { symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }, scheme: { scheme: TPM_ALG.NULL }, keyBits: 2048, exponent: 0 },
  unique: new Uint8Array(256),
};

const AK_ATTRS = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth | TPMA_OBJECT.restricted | TPMA_OBJECT.sign;

export type AkKind = 'rsassa' | 'rsapss' | 'ecdsa';

/** A restricted signing key template (the same shape as go-tpm-tools' AK templates). */
export function akTemplate(kind: AkKind = 'rsassa'): TpmtPublicTemplate {
  if (kind === 'ecdsa') {
    return {
      type: TPM_ALG.ECC,
      nameAlg: TPM_ALG.SHA256,
      objectAttributes: AK_ATTRS,
      authPolicy: new Uint8Array(0),
      ecc: { symmetric: { algorithm: TPM_ALG.NULL }, scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 }, curveId: TPM_ECC.NIST_P256, kdf: { scheme: TPM_ALG.NULL } },
      x: new Uint8Array(0),
      y: new Uint8Array(0),
    };
  }
  return {
    type: TPM_ALG.RSA,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: AK_ATTRS,
    authPolicy: new Uint8Array(0),
    rsa: { symmetric: { algorithm: TPM_ALG.NULL }, scheme: { scheme: kind === 'rsapss' ? TPM_ALG.RSAPSS : TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 }, keyBits: 2048, exponent: 0 },
    unique: new Uint8Array(0),
  };
}

export class TpmResponseError extends DeviceError {
  readonly rc: number;
  constructor(command: string, rc: number) {
    super('tpm', `${command} failed with response code 0x${rc.toString(16)}`);
    this.rc = rc;
  }
}

interface Session {
  handle: number;
  /** continueSession attribute. */
  cont?: boolean;
}

function pwSession(w: ByteWriter): void {
  w.u32be(TPM_RS_PW).u16be(0).u8(0).u16be(0);
}

function tpm2b(r: ByteReader, field: string): Uint8Array {
  return r.take(r.u16be(`${field}.size`), field);
}

export interface CreatedKey {
  handle: number;
  public: TpmtPublic;
  name: Uint8Array;
}

export interface TpmClientOptions {
  /** Retries of RETRY/YIELDED/TESTING warnings (default 20). */
  retries?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class TpmClient {
  readonly transport: TpmTransport;
  private readonly retries: number;
  private readonly sleep: (ms: number) => Promise<void>;
  constructor(transport: TpmTransport, opts: TpmClientOptions = {}) {
    this.transport = transport;
    this.retries = opts.retries ?? 20;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Sends a command: tag, size, code, handles, [auth area], params. Returns a reader positioned
   * at the response parameters (past handles and, for session commands, parameterSize), and the
   * response handles.
   */
  async command(name: string, code: number, handles: number[], sessions: (Session | 'pw')[] | null, params: Uint8Array, responseHandles = 0): Promise<{ r: ByteReader; handles: number[] }> {
    const w = new ByteWriter();
    w.u16be(sessions ? TPM_ST_SESSIONS : TPM_ST_NO_SESSIONS).u32be(0).u32be(code);
    for (const h of handles) w.u32be(h);
    if (sessions) {
      const a = new ByteWriter();
      for (const s of sessions) {
        if (s === 'pw') pwSession(a);
        else a.u32be(s.handle).u16be(0).u8(s.cont ? 1 : 0).u16be(0);
      }
      const auth = a.finish();
      w.u32be(auth.length).bytes(auth);
    }
    w.bytes(params);
    const cmd = w.finish();
    new DataView(cmd.buffer).setUint32(2, cmd.length);
    for (let attempt = 0; ; attempt++) {
      const resp = await this.transport.transmit(cmd);
      const r = new ByteReader(resp, 'tpm');
      try {
        r.u16be('tag');
        const size = r.u32be('size');
        if (size !== resp.length) throw new DeviceError('tpm', `${name}: response size field ${size} ≠ ${resp.length} bytes received`);
        const rc = r.u32be('responseCode');
        if (rc === TPM_RC.RETRY || rc === TPM_RC.YIELDED || rc === TPM_RC.TESTING) {
          if (attempt >= this.retries) throw new TpmResponseError(name, rc);
          await this.sleep(Math.min(1000, 10 * 2 ** attempt));
          continue;
        }
        if (rc !== TPM_RC.SUCCESS) throw new TpmResponseError(name, rc);
        const out: number[] = [];
        for (let i = 0; i < responseHandles; i++) out.push(r.u32be('handle'));
        if (sessions) r.u32be('parameterSize');
        return { r, handles: out };
      } catch (e) {
        if (e instanceof DeviceError) throw e;
        throw new DeviceError('tpm', `${name}: malformed response: ${(e as Error).message}`);
      }
    }
  }

  private async parse<T>(name: string, f: () => T): Promise<T> {
    try {
      return f();
    } catch (e) {
      if (e instanceof DeviceError) throw e;
      throw new DeviceError('tpm', `${name}: malformed response: ${(e as Error).message}`);
    }
  }

  /** TPM2_Startup(CLEAR); TPM_RC_INITIALIZE (already started) is success. */
  async startup(): Promise<void> {
    try {
      await this.command('TPM2_Startup', TPM_CC.Startup, [], null, new Uint8Array([0, 0]));
    } catch (e) {
      if (e instanceof TpmResponseError && e.rc === TPM_RC.INITIALIZE) return;
      throw e;
    }
  }

  /** Banks with at least one allocated PCR (TPM2_GetCapability(TPM_CAP_PCRS)). */
  async pcrBanks(): Promise<PcrSelection[]> {
    const { r } = await this.command('TPM2_GetCapability', TPM_CC.GetCapability, [], null, new ByteWriter().u32be(5).u32be(0).u32be(1).finish());
    return this.parse('TPM2_GetCapability', () => {
      r.u8('moreData');
      r.u32be('capability');
      return parsePcrSelection(r).filter((s) => s.pcrs.length > 0);
    });
  }

  async createPrimary(hierarchy: number, template: TpmtPublicTemplate): Promise<CreatedKey> {
    const pub = encodeTpmtPublic(template);
    const p = new ByteWriter();
    p.u16be(4).u16be(0).u16be(0); // TPM2B_SENSITIVE_CREATE { userAuth: empty, data: empty }
    p.u16be(pub.length).bytes(pub);
    p.u16be(0); // outsideInfo
    p.u32be(0); // creationPCR: empty TPML_PCR_SELECTION
    const { r, handles } = await this.command('TPM2_CreatePrimary', TPM_CC.CreatePrimary, [hierarchy], ['pw'], p.finish(), 1);
    return this.parse('TPM2_CreatePrimary', () => {
      const size = r.u16be('outPublic.size');
      const start = r.offset;
      const publicArea = readTpmtPublic(r);
      if (r.offset - start !== size) throw new Error('TPM2B_PUBLIC size mismatch');
      tpm2b(r, 'creationData');
      tpm2b(r, 'creationHash');
      r.u16be('creationTicket.tag');
      r.u32be('creationTicket.hierarchy');
      tpm2b(r, 'creationTicket.digest');
      const name = tpm2b(r, 'name');
      return { handle: handles[0]!, public: publicArea, name };
    });
  }

  async readPublic(handle: number): Promise<{ public: TpmtPublic; name: Uint8Array }> {
    const { r } = await this.command('TPM2_ReadPublic', TPM_CC.ReadPublic, [handle], null, new Uint8Array(0));
    return this.parse('TPM2_ReadPublic', () => {
      r.u16be('outPublic.size');
      const publicArea = readTpmtPublic(r);
      const name = tpm2b(r, 'name');
      return { public: publicArea, name };
    });
  }

  /** NV_ReadPublic → dataSize, or undefined when the index is not defined. */
  async nvSize(index: number): Promise<number | undefined> {
    try {
      const { r } = await this.command('TPM2_NV_ReadPublic', TPM_CC.NV_ReadPublic, [index], null, new Uint8Array(0));
      return await this.parse('TPM2_NV_ReadPublic', () => {
        r.u16be('nvPublic.size');
        r.u32be('nvIndex');
        r.u16be('nameAlg');
        r.u32be('attributes');
        tpm2b(r, 'authPolicy');
        return r.u16be('dataSize');
      });
    } catch (e) {
      if (e instanceof TpmResponseError) return undefined;
      throw e;
    }
  }

  async nvRead(index: number, chunk = 512): Promise<Uint8Array> {
    const size = await this.nvSize(index);
    if (size === undefined) throw new DeviceError('tpm', `NV index 0x${index.toString(16)} is not defined`);
    const out = new Uint8Array(size);
    for (let off = 0; off < size; off += chunk) {
      const n = Math.min(chunk, size - off);
      const { r } = await this.command('TPM2_NV_Read', TPM_CC.NV_Read, [index, index], ['pw'], new ByteWriter().u16be(n).u16be(off).finish());
      out.set(await this.parse('TPM2_NV_Read', () => tpm2b(r, 'data')), off);
    }
    return out;
  }

  /** The EK certificate from NV 0x01c00002, or undefined when none is provisioned. */
  async readEkCertificate(): Promise<Uint8Array | undefined> {
    if ((await this.nvSize(EK_CERT_NV_RSA)) === undefined) return undefined;
    const raw = await this.nvRead(EK_CERT_NV_RSA);
    // The index may be larger than the DER; trim to the outer SEQUENCE's length.
    if (raw[0] === 0x30 && raw[1] === 0x82) return raw.slice(0, 4 + ((raw[2]! << 8) | raw[3]!));
    return raw;
  }

  async flush(handle: number): Promise<void> {
    await this.command('TPM2_FlushContext', TPM_CC.FlushContext, [], null, new ByteWriter().u32be(handle).finish());
  }

  /** An unbound, unsalted policy session with SHA-256 (TPM2_StartAuthSession). */
  async startPolicySession(): Promise<number> {
    const nonce = globalThis.crypto.getRandomValues(new Uint8Array(16));
    const p = new ByteWriter().u16be(nonce.length).bytes(nonce).u16be(0).u8(0x01).u16be(TPM_ALG.NULL).u16be(TPM_ALG.SHA256).finish();
    const { handles } = await this.command('TPM2_StartAuthSession', TPM_CC.StartAuthSession, [TPM_RH.NULL, TPM_RH.NULL], null, p, 1);
    return handles[0]!;
  }

  async policySecret(authHandle: number, session: number): Promise<void> {
    const p = new ByteWriter().u16be(0).u16be(0).u16be(0).u32be(0).finish();
    await this.command('TPM2_PolicySecret', TPM_CC.PolicySecret, [authHandle, session], ['pw'], p);
  }

  /**
   * TPM2_ActivateCredential: the AK authorised by password, the EK by a PolicySecret(endorsement)
   * policy session (the EK template's authPolicy). Returns the recovered secret.
   */
  async activateCredential(ak: number, ek: number, credentialBlob: Uint8Array, encryptedSecret: Uint8Array): Promise<Uint8Array> {
    const session = await this.startPolicySession();
    try {
      await this.policySecret(TPM_RH.ENDORSEMENT, session);
      const p = new ByteWriter().u16be(credentialBlob.length).bytes(credentialBlob).u16be(encryptedSecret.length).bytes(encryptedSecret).finish();
      const { r } = await this.command('TPM2_ActivateCredential', TPM_CC.ActivateCredential, [ak, ek], ['pw', { handle: session, cont: false }], p);
      return await this.parse('TPM2_ActivateCredential', () => tpm2b(r, 'certInfo'));
    } catch (e) {
      await this.flush(session).catch(() => undefined);
      throw e;
    }
  }

  async pcrExtend(pcr: number, digests: { alg: number; digest: Uint8Array }[]): Promise<void> {
    const p = new ByteWriter().u32be(digests.length);
    for (const d of digests) p.u16be(d.alg).bytes(d.digest);
    await this.command('TPM2_PCR_Extend', TPM_CC.PCR_Extend, [pcr], ['pw'], p.finish());
  }

  /** Reads every selected PCR (looping, as the TPM returns at most 8 digests per call). */
  async pcrRead(selection: PcrSelection[]): Promise<Map<number, Map<number, Uint8Array>>> {
    const out = new Map<number, Map<number, Uint8Array>>();
    let pending = selection.map((s) => ({ ...s, pcrs: [...s.pcrs] })).filter((s) => s.pcrs.length);
    for (let guard = 0; pending.length && guard < 64; guard++) {
      const w = new ByteWriter();
      encodePcrSelection(w, pending);
      const { r } = await this.command('TPM2_PCR_Read', TPM_CC.PCR_Read, [], null, w.finish());
      const got = await this.parse('TPM2_PCR_Read', () => {
        r.u32be('pcrUpdateCounter');
        const sels = parsePcrSelection(r);
        const nd = r.u32be('pcrValues.count');
        const values: Uint8Array[] = [];
        for (let i = 0; i < nd; i++) values.push(tpm2b(r, 'digest'));
        return { sels, values };
      });
      let k = 0;
      let progress = 0;
      for (const s of got.sels) {
        let bank = out.get(s.hash);
        if (!bank) out.set(s.hash, (bank = new Map()));
        for (const p of s.pcrs) {
          const v = got.values[k++];
          if (!v) throw new DeviceError('tpm', 'TPM2_PCR_Read: fewer digests than selected PCRs');
          bank.set(p, v);
          progress++;
        }
      }
      if (progress === 0) throw new DeviceError('tpm', `TPM2_PCR_Read returned no values for ${pending.map((s) => `0x${s.hash.toString(16)}:${s.pcrs.join(',')}`).join(' ')} (bank not allocated?)`);
      pending = pending.map((s) => ({ ...s, pcrs: s.pcrs.filter((p) => !out.get(s.hash)?.has(p)) })).filter((s) => s.pcrs.length);
    }
    return out;
  }

  /** TPM2_Quote with the key's own scheme (inScheme = TPM_ALG_NULL). Returns raw TPMS_ATTEST and TPMT_SIGNATURE. */
  async quote(ak: number, nonce: Uint8Array, selection: PcrSelection[]): Promise<{ attest: Uint8Array; signature: Uint8Array }> {
    const p = new ByteWriter().u16be(nonce.length).bytes(nonce).u16be(TPM_ALG.NULL);
    encodePcrSelection(p, selection);
    const { r } = await this.command('TPM2_Quote', TPM_CC.Quote, [ak], ['pw'], p.finish());
    return this.parse('TPM2_Quote', () => {
      const attest = tpm2b(r, 'quoted');
      // TPMT_SIGNATURE is read structurally: the response auth area follows it.
      const start = r.offset;
      const sigAlg = r.u16be('sigAlg');
      r.u16be('hash');
      if (sigAlg === TPM_ALG.ECDSA) {
        tpm2b(r, 'r');
        tpm2b(r, 's');
      } else tpm2b(r, 'sig');
      const signature = r.bytes.slice(start, r.offset);
      return { attest, signature };
    });
  }
}

