/**
 * Deploy (tenant side, KBS admin API) and run (guest side, RCAR) of a Keep.
 *
 * Deploy stores three resources and one resource policy:
 *   keeps/<name>/bundle  the signed, encrypted bundle (not secret, but released only to attested Keeps)
 *   keeps/<name>/key     the workload key (JWK) — the one secret that unlocks the module
 *   keeps/<name>/tenant  the tenant's public JWK: which signer the Keep must accept
 *   policy keeps/<name>/* and each [secrets]/[files] path: the release CEL
 * Run attests, fetches those through JWE to its ephemeral key, verifies and decrypts in memory.
 */
import { AttestError, ErrorCode, UnsupportedPlatform, fromUtf8, utf8 } from '../core/index.ts';
import { KbsClient, teeOfPlatform, type EvidenceSource } from '../protocol/index.ts';
import type { Attester } from '../attester/index.ts';
import { openModule, parseBundle, parseWorkloadKey, verifyBundle, type KeepBundle, type VerifiedBundle } from './bundle.ts';
import { WorkloadInvalid } from './errors.ts';
import { obtainKeepIdentity } from './identity.ts';
import { keepResourcePaths, preopenDirs, type Manifest } from './manifest.ts';
import { runWasm, type RunResult } from './runner.ts';
import { tenantThumbprint } from './tenant-key.ts';

export interface KeepRef {
  /** Base URL of the KBS (https unless insecure). */
  kbsUrl: string;
  name: string;
}

/** kbs://host:port/keeps/<name> → KBS base URL + Keep name. */
export function parseKeepRef(ref: string, insecureHttp = false): KeepRef {
  let u: URL;
  try {
    u = new URL(ref);
  } catch {
    throw new AttestError(ErrorCode.ConfigInvalid, `not a kbs:// reference: ${ref}`);
  }
  const m = /^\/keeps\/([a-z0-9][a-z0-9._-]{0,62})\/?$/.exec(u.pathname);
  if (u.protocol !== 'kbs:' || !u.host || !m) throw new AttestError(ErrorCode.ConfigInvalid, `expected kbs://host:port/keeps/<name>, got ${ref}`);
  return { kbsUrl: `${insecureHttp ? 'http' : 'https'}://${u.host}`, name: m[1]! };
}

export function keepRef(kbsUrl: string, name: string): string {
  return `kbs://${new URL(kbsUrl).host}/keeps/${name}`;
}

// ------------------------------------------------------------------ deploy

export interface DeployOptions {
  kbsUrl: string;
  /** Admin JWT for the KBS admin API. */
  adminToken?: string;
  bundle: Uint8Array;
  workloadKey: Uint8Array;
  tenantPublicJwk: string;
  /** Release policy (CEL over the attestation result); see releasePolicy(). */
  policy: string;
  fetch?: typeof fetch;
}

export interface MeasurementRequirement {
  /** Claim name, e.g. "sim.measurement", "snp.measurement", "tdx.mrtd", "tpm.sha256.pcr7". */
  name: string;
  /** Accepted hex values (any of). */
  values: string[];
}

const CEL_STRING = (s: string): string => JSON.stringify(s);

/**
 * Builds the default release CEL: the attestation status (affirming; "warning" too only when
 * asked), the platform, and each measurement.
 */
export function releasePolicy(platform: string, measurements: MeasurementRequirement[], opts: { allowWarning?: boolean } = {}): string {
  if (!/^[a-z0-9-]{1,32}$/.test(platform)) throw new AttestError(ErrorCode.ConfigInvalid, `invalid platform ${platform}`);
  if (measurements.length === 0) throw new AttestError(ErrorCode.ConfigInvalid, 'a Keep release policy needs at least one measurement (or give --policy)');
  const parts = [opts.allowWarning ? 'status in ["affirming", "warning"]' : 'status == "affirming"', `platform == ${CEL_STRING(platform)}`];
  for (const m of measurements) {
    if (!/^[a-z0-9]+(\.[a-z0-9]+)+$/.test(m.name)) throw new AttestError(ErrorCode.ConfigInvalid, `invalid measurement name ${m.name}`);
    const vals = m.values.map((v) => v.toLowerCase());
    for (const v of vals) if (!/^[0-9a-f]{16,256}$/.test(v)) throw new AttestError(ErrorCode.ConfigInvalid, `measurement ${m.name}: ${v} is not hex`);
    const lhs = `claims.measurements[${CEL_STRING(m.name)}]`;
    parts.push(vals.length === 1 ? `${lhs} == ${CEL_STRING(vals[0]!)}` : `${lhs} in [${vals.map(CEL_STRING).join(', ')}]`);
  }
  return parts.join(' && ');
}

async function admin(o: DeployOptions, method: string, path: string, body: Uint8Array | string, contentType: string): Promise<unknown> {
  const f = o.fetch ?? fetch;
  const url = `${o.kbsUrl.replace(/\/+$/, '')}${path}`;
  let res: Response;
  try {
    res = await f(url, { method, headers: { 'content-type': contentType, accept: 'application/json', ...(o.adminToken ? { authorization: `Bearer ${o.adminToken}` } : {}) }, body: body as BodyInit });
  } catch (e) {
    throw new AttestError(ErrorCode.ProtocolError, `KBS admin ${method} ${path}: cannot reach ${o.kbsUrl}: ${(e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let code: string = ErrorCode.ProtocolError;
    let detail = text.slice(0, 300);
    try {
      const p = JSON.parse(text) as { code?: string; detail?: string };
      if (p.code && (Object.values(ErrorCode) as string[]).includes(p.code)) code = p.code;
      if (p.detail) detail = p.detail;
    } catch {
      // not JSON
    }
    // Never echo the request body (it may be the workload key); the KBS's problem detail only.
    throw new AttestError(code as ErrorCode, `KBS admin ${method} ${path} failed (HTTP ${res.status}): ${detail}`, { status: res.status });
  }
  return text ? (JSON.parse(text) as unknown) : null;
}

export interface DeployResult {
  ref: string;
  name: string;
  resources: string[];
  policies: { glob: string; cel: string }[];
}

export async function deployKeep(o: DeployOptions): Promise<DeployResult> {
  const bundle: KeepBundle = parseBundle(o.bundle);
  parseWorkloadKey(o.workloadKey);
  const thumbprint = await tenantThumbprint(o.tenantPublicJwk);
  // Refuse to deploy a bundle the Keep would refuse: the signer must be the given tenant key.
  await verifyBundle(o.bundle, [thumbprint]);
  const name = bundle.manifest.name;
  const paths = keepResourcePaths(name);
  const octets = 'application/octet-stream';
  const put = (p: string, v: Uint8Array | string) => admin(o, 'PUT', `/kbs/v0/admin/resources/${p}`, v, octets);
  await put(paths.bundle, o.bundle);
  await put(paths.tenant, utf8(o.tenantPublicJwk.trim()));
  // The key last: a Keep can never get a key whose bundle is missing.
  await put(paths.key, o.workloadKey);
  const globs = [`keeps/${name}/*`, ...new Set([...Object.values(bundle.manifest.secrets), ...Object.values(bundle.manifest.files)])];
  const policies: { glob: string; cel: string }[] = [];
  for (const glob of globs) {
    await admin(o, 'PUT', '/kbs/v0/admin/resource-policies', JSON.stringify({ glob, cel: o.policy, description: `teataster keep ${name} ${bundle.manifest.version}` }), 'application/json');
    policies.push({ glob, cel: o.policy });
  }
  return { ref: keepRef(o.kbsUrl, name), name, resources: [paths.bundle, paths.tenant, paths.key], policies };
}

// ------------------------------------------------------------------ run

export function evidenceSourceFor(a: Attester): EvidenceSource {
  return {
    tee: teeOfPlatform(a.id),
    evidence: (rd) => (a.kbsEvidence ? a.kbsEvidence(rd) : a.evidence(rd)),
  };
}

export interface RunKeepOptions {
  ref: KeepRef;
  attester: Attester;
  /** Trusted tenant thumbprint(s); when absent, keeps/<name>/tenant from the KBS is trusted. */
  tenantThumbprints?: string[];
  stdout?: (b: Uint8Array) => void;
  stderr?: (b: Uint8Array) => void;
  /** Progress notes (never secret values). */
  log?: (msg: string) => void;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export interface KeepRunResult extends RunResult {
  manifest: Manifest;
  signer: string;
}

/** Fetches, verifies, decrypts and runs a deployed Keep. Throws typed errors for every refusal. */
export async function runKeep(o: RunKeepOptions): Promise<KeepRunResult> {
  const log = o.log ?? (() => undefined);
  const source = evidenceSourceFor(o.attester);
  if (!source.tee) throw new UnsupportedPlatform(`no KBS wire name for ${o.attester.id}`);
  const client = new KbsClient({ url: o.ref.kbsUrl, source, ...(o.fetch ? { fetch: o.fetch } : {}) });
  const paths = keepResourcePaths(o.ref.name);
  log(`attesting to ${o.ref.kbsUrl} as ${o.attester.id}`);
  // The key first: it is the resource the release policy guards, and its denial carries the reasons.
  const keyBytes = await client.getResource(paths.key);
  const key = parseWorkloadKey(keyBytes);
  keyBytes.fill(0);
  const trusted = o.tenantThumbprints ?? [await tenantThumbprint(fromUtf8(await client.getResource(paths.tenant)))];
  const bundleBytes = await client.getResource(paths.bundle);
  const v: VerifiedBundle = await verifyBundle(bundleBytes, trusted);
  if (v.manifest.name !== o.ref.name) throw new WorkloadInvalid('manifest.name', `bundle is Keep "${v.manifest.name}", not "${o.ref.name}"`);
  const module = await openModule(v, key);
  log(`bundle ${v.manifest.name} ${v.manifest.version} signed by ${v.signer.thumbprint}; module verified (${module.length} bytes)`);

  const env: Record<string, string> = { ...v.manifest.env };
  for (const [name, path] of Object.entries(v.manifest.secrets)) {
    const b = await client.getResource(path);
    try {
      env[name] = fromUtf8(b, true);
    } catch {
      throw new WorkloadInvalid(`secrets.${name}`, `resource ${path} is not UTF-8 text; deliver binary secrets through [files]`);
    } finally {
      b.fill(0);
    }
  }
  const files = new Map<string, Uint8Array>();
  for (const [p, path] of Object.entries(v.manifest.files)) files.set(p, await client.getResource(path));
  if (v.manifest.identity) {
    const id = await obtainKeepIdentity(o.ref.kbsUrl, source, v.manifest.name, o.fetch ?? fetch);
    const dir = v.manifest.identity.dir;
    files.set(`${dir}/cert.pem`, utf8(id.certificatePem));
    files.set(`${dir}/key.pem`, utf8(id.keyPem));
    files.set(`${dir}/ca.pem`, utf8(id.caPem));
    log(`identity certificate issued, valid until ${id.notAfter}`);
  }
  log(`running with memory ${v.manifest.limits.memory_mb} MiB, timeout ${v.manifest.limits.timeout_s} s, preopens ${preopenDirs(v.manifest).join(', ') || '(none)'}`);
  const r = await runWasm({
    module,
    args: [v.manifest.name, ...v.manifest.args],
    env,
    files,
    dirs: preopenDirs(v.manifest),
    writableDirs: v.manifest.dirs,
    limits: { memoryMb: v.manifest.limits.memory_mb, timeoutS: v.manifest.limits.timeout_s, scratchMb: v.manifest.limits.scratch_mb },
    ...(o.stdout ? { stdout: o.stdout } : {}),
    ...(o.stderr ? { stderr: o.stderr } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  for (const f of files.values()) f.fill(0);
  return { ...r, manifest: v.manifest, signer: v.signer.thumbprint };
}
