/**
 * TPM 2.0 attester (guest side): produces a teataster.tpm/v1 JSON bundle whose quote's extraData is
 * the caller's report data (nonce). Talks to swtpm over TCP (`tcp: {host, port}`, or env
 * TEATASTER_TPM_TCP=host:port) or to /dev/tpmrm0.
 *
 * Keys: the EK from the TCG default RSA-2048 template (its certificate from NV 0x01c00002 when
 * provisioned) and an AK created as a primary restricted signing key in the owner hierarchy —
 * primary keys are re-derived from the hierarchy seed, so the AK (and its Name) is stable across
 * calls, which is what pinned-AK and credential-activation trust rely on.
 */
import { readFile, access } from 'node:fs/promises';
import { bytesEqual, DeviceError } from '../../core/index.ts';
import { encodeTpmBundle, hashAlgName, webCryptoHash, type PcrSelection } from '../../evidence/tpm/index.ts';
import type { Attester } from '../types.ts';
import { akTemplate, EK_RSA_TEMPLATE, TPM_RH, TpmClient, type AkKind, type CreatedKey } from './client.ts';
import { connectTcp, openDevice, type TpmTransport } from './transport.ts';

export * from './client.ts';
export { connectTcp, openDevice, type TpmTransport } from './transport.ts';

export const DEFAULT_EVENT_LOG = '/sys/kernel/security/tpm0/binary_bios_measurements';

export interface TpmAttesterOptions {
  /** swtpm command port. */
  tcp?: { host?: string; port: number };
  /** Character device (default /dev/tpmrm0) when no tcp is given. */
  device?: string;
  akKind?: AkKind;
  /** PCR indices to quote (default 0..23). */
  pcrs?: number[];
  /** Banks (TPM_ALG_IDs) to quote (default: every allocated bank). */
  banks?: number[];
  /** Event log to attach (default: the kernel's securityfs log when using the device and readable; none over TCP; false = none). */
  eventLog?: string | false;
  /** EK certificate to send when the TPM's NV has none. */
  ekCert?: Uint8Array;
}

function tcpFromEnv(): { host: string; port: number } | undefined {
  const v = process.env.TEATASTER_TPM_TCP;
  if (!v) return undefined;
  const m = /^(.*):(\d+)$/.exec(v);
  if (!m) return undefined;
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

export async function openTpm(opts: TpmAttesterOptions = {}): Promise<TpmClient> {
  const tcp = opts.tcp ?? tcpFromEnv();
  const transport: TpmTransport = tcp ? await connectTcp(tcp.host ?? '127.0.0.1', tcp.port) : await openDevice(opts.device ?? '/dev/tpmrm0');
  const client = new TpmClient(transport);
  try {
    await client.startup();
  } catch (e) {
    await transport.close();
    throw e;
  }
  return client;
}

/** Runs `f` with the EK and AK loaded, flushing both afterwards. */
export async function withKeys<T>(client: TpmClient, kind: AkKind, f: (ek: CreatedKey, ak: CreatedKey) => Promise<T>): Promise<T> {
  const ek = await client.createPrimary(TPM_RH.ENDORSEMENT, EK_RSA_TEMPLATE);
  try {
    const ak = await client.createPrimary(TPM_RH.OWNER, akTemplate(kind));
    try {
      return await f(ek, ak);
    } finally {
      await client.flush(ak.handle).catch(() => undefined);
    }
  } finally {
    await client.flush(ek.handle).catch(() => undefined);
  }
}

async function quoteConsistent(client: TpmClient, ak: number, nonce: Uint8Array, selection: PcrSelection[]): Promise<{ attest: Uint8Array; signature: Uint8Array; pcrs: Map<number, Map<number, Uint8Array>> }> {
  // PCR_Read and Quote are separate commands: re-read until the values bracket the quote.
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await client.pcrRead(selection);
    const q = await client.quote(ak, nonce, selection);
    const after = await client.pcrRead(selection);
    const same = [...before].every(([alg, bank]) => [...bank].every(([i, v]) => bytesEqual(v, after.get(alg)?.get(i) ?? new Uint8Array(0))));
    if (same) return { ...q, pcrs: after };
  }
  throw new DeviceError('tpm', 'PCR values kept changing while quoting');
}

/** Produces the JSON evidence bundle for `nonce` (≤ 64 bytes). */
export async function collectTpmEvidence(client: TpmClient, nonce: Uint8Array, opts: TpmAttesterOptions = {}): Promise<Uint8Array> {
  if (nonce.length > 64) throw new DeviceError('tpm', `nonce of ${nonce.length} bytes exceeds the 64-byte extraData limit`);
  const allocated = await client.pcrBanks();
  const want = opts.pcrs ?? Array.from({ length: 24 }, (_, i) => i);
  const selection: PcrSelection[] = allocated
    .filter((b) => (opts.banks ? opts.banks.includes(b.hash) : true) && webCryptoHash(b.hash))
    .map((b) => ({ hash: b.hash, pcrs: want.filter((p) => b.pcrs.includes(p)), sizeofSelect: 3 }))
    .filter((s) => s.pcrs.length);
  if (!selection.length) throw new DeviceError('tpm', 'no allocated PCR bank matches the requested banks');
  const ekCert = (await client.readEkCertificate()) ?? opts.ekCert;
  return withKeys(client, opts.akKind ?? 'rsassa', async (ek, ak) => {
    const q = await quoteConsistent(client, ak.handle, nonce, selection);
    const pcrs: Record<string, Record<number, Uint8Array>> = {};
    for (const [alg, bank] of q.pcrs) pcrs[hashAlgName(alg)] = Object.fromEntries(bank);
    let eventLog: Uint8Array | undefined;
    // The kernel's log describes the platform TPM; a TCP (swtpm) TPM's PCRs are unrelated to it.
    const logPath = opts.eventLog === undefined ? (opts.tcp ?? tcpFromEnv() ? false : DEFAULT_EVENT_LOG) : opts.eventLog;
    if (logPath) {
      try {
        eventLog = new Uint8Array(await readFile(logPath));
      } catch {
        eventLog = undefined;
      }
    }
    return encodeTpmBundle({
      akPublic: ak.public.raw,
      ekPublic: ek.public.raw,
      ...(ekCert ? { ekCert } : {}),
      quotes: [q],
      pcrs,
      ...(eventLog && eventLog.length ? { eventLog } : {}),
    });
  });
}

/** Attester side of credential activation: returns the secret the TPM recovers. */
export async function activateCredential(client: TpmClient, challenge: { credentialBlob: Uint8Array; encryptedSecret: Uint8Array }, kind: AkKind = 'rsassa'): Promise<Uint8Array> {
  return withKeys(client, kind, (ek, ak) => client.activateCredential(ak.handle, ek.handle, challenge.credentialBlob, challenge.encryptedSecret));
}

/** The EK/AK public areas and EK certificate (round 1 of credential activation). */
export async function describeKeys(client: TpmClient, kind: AkKind = 'rsassa'): Promise<{ ekPublic: Uint8Array; akPublic: Uint8Array; akName: Uint8Array; ekCert?: Uint8Array }> {
  const ekCert = await client.readEkCertificate();
  return withKeys(client, kind, async (ek, ak) => ({ ekPublic: ek.public.raw, akPublic: ak.public.raw, akName: ak.name, ...(ekCert ? { ekCert } : {}) }));
}

export function createTpmAttester(opts: TpmAttesterOptions = {}): Attester {
  return {
    id: 'tpm',
    async available() {
      if (opts.tcp ?? tcpFromEnv()) {
        try {
          const c = await openTpm(opts);
          await c.transport.close();
          return true;
        } catch {
          return false;
        }
      }
      try {
        await access(opts.device ?? '/dev/tpmrm0');
        return true;
      } catch {
        return false;
      }
    },
    async evidence(reportData: Uint8Array) {
      const client = await openTpm(opts);
      try {
        return await collectTpmEvidence(client, reportData, opts);
      } finally {
        await client.transport.close();
      }
    },
  };
}

