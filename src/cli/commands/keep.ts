/**
 * `teataster keep …` — package, deploy and run confidential WebAssembly Keeps (docs/keep.md).
 *   keep keygen [-o tenant.jwk] [--alg ES384|EdDSA]
 *   keep package <module.wasm> --config keep.toml --key <tenant.jwk> -o <bundle.keep> [--key-out <file>]
 *   keep inspect <bundle.keep> [--tenant-key <jwk|thumbprint>] [--json]
 *   keep deploy <bundle.keep> --kbs <url> [--token-file f] [--policy cel-file | --platform p --measurement name=hex…]
 *   keep run kbs://host:port/keeps/<name> [--tee auto|sim|tpm|snp|tdx] [--insecure-http] [--tenant-key …]
 * Exit codes of `keep run`: the workload's own exit code; 134 when it traps; 125 when the Keep
 * refuses or stops it (attestation denied, bad signature or hash, limit exceeded) — the error code
 * is printed on stderr; 2 usage errors.
 */
import { rm, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { adminToken } from './kbs.ts';
import { isAttestError } from '../../core/index.ts';
import { selectAttester, TEE_CHOICES, type TeeChoice } from '../../attester/index.ts';
import {
  bundleSignerJwk, deployKeep, encodeBundle, generateTenantKey, loadTenantKey, packageKeep, parseBundle, parseKeepRef, parseKeepToml, releasePolicy, runKeep, tenantThumbprint, verifyBundle,
  TENANT_ALGS, type MeasurementRequirement, type TenantAlg,
} from '../../keep/index.ts';
import { UsageError } from '../exit.ts';
import { readInput, readJson, readText, writeErr, writeOut } from '../io.ts';

export const KEEP_REFUSED_EXIT = 125;

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Creates the file afresh with mode 0600 (an existing file's wider mode is not inherited). */
async function writeSecretFile(path: string, text: string): Promise<void> {
  try {
    await rm(path, { force: true });
    await writeFile(path, text, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function parseMeasurements(list: string[]): MeasurementRequirement[] {
  const by = new Map<string, string[]>();
  for (const item of list) {
    const m = /^([a-z0-9.]+)=([0-9a-fA-F]+)$/.exec(item);
    if (!m) throw new UsageError(`--measurement must be name=hex (e.g. sim.measurement=ab12…), got ${item}`);
    by.set(m[1]!, [...(by.get(m[1]!) ?? []), m[2]!]);
  }
  return [...by].map(([name, values]) => ({ name, values }));
}

export function registerKeep(program: Command): void {
  const keep = program.command('keep').description('confidential WebAssembly workloads delivered only to an attested TEE');

  keep
    .command('keygen')
    .description('make a tenant signing key (private JWK, mode 0600) and its public JWK')
    .option('-o, --out <file>', 'private key file', 'tenant.jwk')
    .option('--alg <alg>', `signature algorithm (${TENANT_ALGS.join(', ')})`, 'ES384')
    .action(async (opts: { out: string; alg: string }) => {
      if (!(TENANT_ALGS as readonly string[]).includes(opts.alg)) throw new UsageError(`--alg must be one of ${TENANT_ALGS.join(', ')}`);
      const k = await generateTenantKey(opts.alg as TenantAlg);
      const pub = opts.out.endsWith('.jwk') ? `${opts.out.slice(0, -4)}.pub.jwk` : `${opts.out}.pub`;
      await writeSecretFile(opts.out, `${JSON.stringify(k.privateJwk)}\n`);
      await writeFile(pub, `${JSON.stringify(k.publicJwk)}\n`);
      writeOut(`tenant key ${opts.out} (public ${pub}), ${opts.alg}, thumbprint ${k.thumbprint}`);
    });

  keep
    .command('package')
    .description('encrypt and sign a WASI module into a .keep bundle; the workload key goes to a separate file')
    .argument('<module>', 'WebAssembly module (WASI preview 1 command)')
    .requiredOption('-c, --config <file>', 'keep.toml')
    .requiredOption('-k, --key <file>', 'tenant private JWK (teataster keep keygen)')
    .requiredOption('-o, --out <file>', 'output bundle (.keep)')
    .option('--key-out <file>', 'where to write the workload key (default <out>.key, mode 0600)')
    .action(async (modulePath: string, opts: { config: string; key: string; out: string; keyOut?: string }) => {
      const manifest = parseKeepToml(await readText(opts.config, 'keep.toml'));
      const tenant = await loadTenantKey(await readText(opts.key, 'tenant key'));
      const { bundle, workloadKey } = await packageKeep(await readInput(modulePath, 'module'), manifest, tenant);
      const keyOut = opts.keyOut ?? `${opts.out}.key`;
      await writeFile(opts.out, encodeBundle(bundle));
      await writeSecretFile(keyOut, `${JSON.stringify(workloadKey)}\n`);
      writeOut(`bundle ${opts.out}: keep ${manifest.name} ${manifest.version}, module sha384 ${bundle.module.sha384.slice(0, 16)}…, signed ${tenant.alg} by ${tenant.thumbprint}`);
      writeOut(`workload key ${keyOut} (secret: give it only to \`teataster keep deploy\`, then delete it)`);
    });

  keep
    .command('inspect')
    .description('show a bundle\'s manifest and signer (and verify it with --tenant-key)')
    .argument('<bundle>')
    .option('--tenant-key <jwk-or-thumbprint>', 'verify the signature against this tenant key (file or thumbprint)')
    .option('--json', 'machine-readable output')
    .action(async (path: string, opts: { tenantKey?: string; json?: boolean }) => {
      const bytes = await readInput(path, 'bundle');
      const b = parseBundle(bytes);
      let verified: string | null = null;
      if (opts.tenantKey) {
        const tp = /^[A-Za-z0-9_-]{43}$/.test(opts.tenantKey) ? opts.tenantKey : await tenantThumbprint(await readText(opts.tenantKey, 'tenant key'));
        verified = (await verifyBundle(bytes, [tp])).signer.thumbprint;
      }
      const out = { format: b.format, version: b.version, manifest: b.manifest, module: { alg: b.module.alg, sha384: b.module.sha384, size: b.module.size }, verifiedSigner: verified };
      writeOut(opts.json ? JSON.stringify(out) : JSON.stringify(out, null, 2));
    });

  keep
    .command('deploy')
    .description('upload a bundle and its workload key to a KBS and set the release policy')
    .argument('<bundle>')
    .requiredOption('--kbs <url>', 'KBS base URL (http(s)://host:port)')
    .option('--token-file <file>', 'admin JWT for the KBS admin API')
    .option('--policy <cel-file>', 'release policy (CEL over the attestation result)')
    .option('--platform <id>', 'platform for the generated policy (sim, snp, tdx, tpm, …)')
    .option('--measurement <name=hex>', 'accepted measurement for the generated policy (repeatable)', collect, [])
    .option('--allow-warning', 'generated policy also accepts attestation status "warning" (e.g. the sim TEE, stale collateral)')
    .option('--workload-key <file>', 'workload key written by package (default <bundle>.key)')
    .option('--tenant-key <jwk>', 'tenant public JWK the Keep must accept (default: the bundle\'s signer)')
    .option('--json', 'machine-readable output')
    .action(async (path: string, opts: { kbs: string; tokenFile?: string; policy?: string; platform?: string; measurement: string[]; allowWarning?: boolean; workloadKey?: string; tenantKey?: string; json?: boolean }) => {
      const bundle = await readInput(path, 'bundle');
      let policy: string;
      if (opts.policy) {
        if (opts.measurement.length) throw new UsageError('give either --policy or --measurement, not both');
        policy = (await readText(opts.policy, 'policy')).trim();
      } else {
        if (!opts.platform || opts.measurement.length === 0) throw new UsageError('a release policy is required: --policy <cel-file>, or --platform <id> with --measurement name=hex');
        policy = releasePolicy(opts.platform, parseMeasurements(opts.measurement), { allowWarning: Boolean(opts.allowWarning) });
      }
      let tenantJwk: string;
      if (opts.tenantKey) {
        const t = await readJson(opts.tenantKey, 'tenant key');
        const { d: _d, ...pub } = t;
        tenantJwk = JSON.stringify(pub);
      } else {
        tenantJwk = JSON.stringify(bundleSignerJwk(parseBundle(bundle)));
        writeErr(`keep: trusting the bundle's own signer ${await tenantThumbprint(tenantJwk)} (pin another with --tenant-key)`);
      }
      let u: URL;
      try {
        u = new URL(opts.kbs);
      } catch {
        throw new UsageError(`--kbs must be a URL, got ${opts.kbs}`);
      }
      const r = await deployKeep({
        kbsUrl: u.origin,
        // same token sources as `kbs admin`: --token-file, $TEATASTER_ADMIN_TOKEN, ./.teataster/admin-token
        adminToken: await adminToken({ url: u.origin, ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}) }),
        bundle,
        workloadKey: await readInput(opts.workloadKey ?? `${path}.key`, 'workload key'),
        tenantPublicJwk: tenantJwk,
        policy,
      });
      if (opts.json) writeOut(JSON.stringify(r));
      else {
        writeErr(`deployed keep ${r.name}: ${r.resources.join(', ')}; release policy on ${r.policies.map((p) => p.glob).join(', ')}:\n  ${policy}`);
        writeOut(r.ref);
      }
    });

  keep
    .command('run')
    .description('attest, fetch, verify, decrypt and run a deployed Keep; exits with the workload\'s code')
    .argument('<ref>', 'kbs://host:port/keeps/<name>')
    .option('--tee <tee>', `attester (${TEE_CHOICES.join(', ')})`, 'auto')
    .option('--insecure-http', 'talk to the KBS over plain HTTP (development only)')
    .option('--tenant-key <jwk-or-thumbprint>', 'trust only this tenant key (file or thumbprint); default: the key deployed in keeps/<name>/tenant')
    .option('-q, --quiet', 'no progress notes on stderr')
    .action(async (ref: string, opts: { tee: string; insecureHttp?: boolean; tenantKey?: string; quiet?: boolean }) => {
      if (!(TEE_CHOICES as readonly string[]).includes(opts.tee)) throw new UsageError(`--tee must be one of ${TEE_CHOICES.join(', ')}`);
      const note = (m: string): void => {
        if (!opts.quiet) writeErr(`keep: ${m}`);
      };
      try {
        const kref = parseKeepRef(ref, opts.insecureHttp);
        const thumbprints = opts.tenantKey ? [/^[A-Za-z0-9_-]{43}$/.test(opts.tenantKey) ? opts.tenantKey : await tenantThumbprint(await readText(opts.tenantKey, 'tenant key'))] : undefined;
        const attester = await selectAttester(opts.tee as TeeChoice, {}, opts.tee === 'auto');
        if (attester.id === 'sim') note('WARNING: using the simulated TEE: this proves nothing about the machine');
        const r = await runKeep({
          ref: kref,
          attester,
          ...(thumbprints ? { tenantThumbprints: thumbprints } : {}),
          stdout: (b) => process.stdout.write(b),
          stderr: (b) => process.stderr.write(b),
          log: note,
        });
        if (r.trap) note(`workload trapped: ${r.trap}`);
        note(`exit ${r.exitCode} after ${r.durationMs} ms`);
        process.exitCode = r.exitCode;
      } catch (e) {
        if (!isAttestError(e)) throw e;
        writeErr(`teataster keep: ${e.code}: ${e.message}`);
        const v = e.details.violations;
        if (Array.isArray(v)) for (const x of v as { rule?: string; message?: string }[]) writeErr(`  - ${x.rule ?? ''}: ${x.message ?? ''}`);
        process.exitCode = KEEP_REFUSED_EXIT;
      }
    });
}
