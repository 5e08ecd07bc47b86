/**
 * teataster tpm — talk to a TPM and run credential activation (docs/tpm.md):
 *
 *   tpm quote    [--tcp host:port | --device /dev/tpmrm0] [--nonce hex] [--ak rsassa|rsapss|ecdsa] [--pcrs 0,1,7] [--out f]
 *   tpm keys     [--tcp …] [--ak …]                       → {ekPublic, ekCert, akPublic, akName} (base64/hex JSON)
 *   tpm make-credential --keys keys.json --collateral ca.pem --trust-root tpm:<sha256> --state state.json → challenge JSON
 *   tpm activate --challenge challenge.json [--tcp …]     → recovered secret (hex)
 *   tpm finish   --state state.json --secret <hex>        → teataster.tpm-trust/v1 item for --collateral
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { fromBase64, fromHex, fromUtf8, toBase64, toHex } from '../../core/index.ts';
import { classifyCollateral, emptyCollateral } from '../../collateral/index.ts';
import { TPM_TRUST_FORMAT } from '../../collateral/tpm/index.ts';
import { finishActivation, startActivation, type ActivationState } from '../../verify/tpm/index.ts';
import { activateCredential, collectTpmEvidence, describeKeys, openTpm, type AkKind, type TpmAttesterOptions } from '../../attester/tpm/index.ts';
import { UsageError } from '../exit.ts';
import { parseTrustRoots, readCollateralPaths, readJson, writeOut } from '../io.ts';

interface Conn {
  tcp?: string;
  device?: string;
  ak?: string;
}

function connection(o: Conn): TpmAttesterOptions {
  const out: TpmAttesterOptions = {};
  if (o.tcp) {
    const m = /^(.*):(\d+)$/.exec(o.tcp);
    if (!m) throw new UsageError(`--tcp takes host:port, got ${JSON.stringify(o.tcp)}`);
    out.tcp = { host: m[1] || '127.0.0.1', port: Number(m[2]) };
  }
  if (o.device) out.device = o.device;
  if (o.ak) {
    if (!['rsassa', 'rsapss', 'ecdsa'].includes(o.ak)) throw new UsageError('--ak takes rsassa, rsapss or ecdsa');
    out.akKind = o.ak as AkKind;
  }
  return out;
}

async function withClient<T>(o: Conn, f: (c: Awaited<ReturnType<typeof openTpm>>, opts: TpmAttesterOptions) => Promise<T>): Promise<T> {
  const opts = connection(o);
  const c = await openTpm(opts);
  try {
    return await f(c, opts);
  } finally {
    await c.transport.close();
  }
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];
const conn = (c: Command): Command => c.option('--tcp <host:port>', 'swtpm command port (default env TEATASTER_TPM_TCP, else the device)').option('--device <path>', 'TPM character device', '/dev/tpmrm0').option('--ak <kind>', 'AK kind: rsassa, rsapss or ecdsa', 'rsassa');

export function registerTpm(program: Command): void {
  const tpm = program.command('tpm').description('TPM 2.0: quote into a teataster.tpm/v1 bundle, credential activation');
  conn(tpm.command('quote').description('quote the PCRs with a nonce and print the JSON evidence bundle'))
    .option('--nonce <hex>', 'qualifying data (≤ 64 bytes)', '')
    .option('--pcrs <list>', 'comma-separated PCR indices (default 0-23)')
    .option('--no-event-log', 'do not attach the kernel event log')
    .option('--out <file>', 'write the bundle here instead of stdout')
    .action(async (o: Conn & { nonce: string; pcrs?: string; eventLog: boolean; out?: string }) => {
      const nonce = fromHex(o.nonce);
      const pcrs = o.pcrs?.split(',').map((s) => Number(s.trim()));
      if (pcrs?.some((p) => !Number.isInteger(p) || p < 0 || p > 23)) throw new UsageError('--pcrs takes indices 0..23');
      const bundle = await withClient(o, (c, opts) => collectTpmEvidence(c, nonce, { ...opts, ...(pcrs ? { pcrs } : {}), ...(o.eventLog ? {} : { eventLog: false }) }));
      if (o.out) await writeFile(o.out, bundle);
      else writeOut(fromUtf8(bundle));
    });
  conn(tpm.command('keys').description('print the EK/AK public areas, EK certificate and AK Name (activation round 1 input)')).action(async (o: Conn) => {
    const k = await withClient(o, (c, opts) => describeKeys(c, opts.akKind));
    writeOut(JSON.stringify({ ekPublic: toBase64(k.ekPublic), akPublic: toBase64(k.akPublic), akName: toHex(k.akName), ...(k.ekCert ? { ekCert: toBase64(k.ekCert) } : {}) }, null, 2));
  });
  tpm
    .command('make-credential')
    .description('verifier: check the EK certificate and AK, make a credential for the AK (prints the challenge)')
    .requiredOption('--keys <file>', 'output of `teataster tpm keys`')
    .requiredOption('--state <file>', 'where to write the verifier state (needed by `tpm finish`)')
    .option('--collateral <file-or-dir>', 'EK CA certificates', collect, [])
    .option('--trust-root <family:sha256>', 'trust an EK CA root by fingerprint (tpm:<sha256>)', collect, [])
    .action(async (o: { keys: string; state: string; collateral: string[]; trustRoot: string[] }) => {
      const k = await readJson(o.keys, 'keys');
      if (typeof k.ekPublic !== 'string' || typeof k.akPublic !== 'string' || typeof k.ekCert !== 'string') throw new UsageError('keys file needs ekPublic, akPublic and ekCert');
      const extraRoots = parseTrustRoots(o.trustRoot);
      const collateral = classifyCollateral(await readCollateralPaths(o.collateral), emptyCollateral());
      const { challenge, state } = await startActivation({ ekPublic: fromBase64(k.ekPublic), ekCert: fromBase64(k.ekCert), akPublic: fromBase64(k.akPublic) }, { now: new Date(), collateral, extraRoots });
      await writeFile(o.state, JSON.stringify(state, null, 2));
      writeOut(JSON.stringify({ credentialBlob: toBase64(challenge.credentialBlob), encryptedSecret: toBase64(challenge.encryptedSecret) }, null, 2));
    });
  conn(tpm.command('activate').description('attester: ActivateCredential on the TPM and print the recovered secret (hex)'))
    .requiredOption('--challenge <file>', 'output of `teataster tpm make-credential`')
    .action(async (o: Conn & { challenge: string }) => {
      const ch = await readJson(o.challenge, 'challenge');
      if (typeof ch.credentialBlob !== 'string' || typeof ch.encryptedSecret !== 'string') throw new UsageError('challenge needs credentialBlob and encryptedSecret');
      const secret = await withClient(o, (c, opts) => activateCredential(c, { credentialBlob: fromBase64(ch.credentialBlob as string), encryptedSecret: fromBase64(ch.encryptedSecret as string) }, opts.akKind));
      writeOut(toHex(secret));
    });
  tpm
    .command('finish')
    .description('verifier: check the recovered secret and print a teataster.tpm-trust/v1 item (use with --collateral)')
    .requiredOption('--state <file>', 'state written by `tpm make-credential`')
    .requiredOption('--secret <hex>', 'output of `tpm activate`')
    .action(async (o: { state: string; secret: string }) => {
      const state = (await readJson(o.state, 'state')) as unknown as ActivationState;
      const record = await finishActivation(state, fromHex(o.secret), new Date());
      writeOut(JSON.stringify({ format: TPM_TRUST_FORMAT, activations: [record] }, null, 2));
    });
}
