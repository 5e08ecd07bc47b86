/**
 * keep.toml → the Keep manifest (the signed description of a workload). Parsed with smol-toml and
 * validated with zod; the validated, defaults-filled object is what the bundle signs, so a Keep
 * never sees a field the tenant did not sign.
 */
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { AttestError, ErrorCode } from '../core/index.ts';

/** KBS resource path `repo/type/tag` (each segment a KBS path component). */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const resourcePath = z.string().refine((p) => {
  const parts = p.split('/');
  return parts.length === 3 && parts.every((s) => SEGMENT.test(s));
}, { message: 'must be a KBS resource path "repo/type/tag" (segments [A-Za-z0-9._-], not starting with "." or "-")' });

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are [A-Za-z_][A-Za-z0-9_]*');

/** An absolute in-memory path "/dir/…/file": at least two segments, no ".", "..", or empty segment. */
const memPath = z.string().refine((p) => {
  if (!p.startsWith('/') || p.length > 1024) return false;
  const parts = p.slice(1).split('/');
  return parts.length >= 2 && parts.every((s) => s !== '' && s !== '.' && s !== '..' && !s.includes('\0'));
}, { message: 'must be an absolute path "/dir/file" inside a top-level in-memory directory (no ".", ".." or empty segments)' });

const dnsName = z.string().regex(/^(?=.{1,253}$)([A-Za-z0-9*]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, 'not a DNS name');

export const KEEP_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export const ManifestSchema = z.object({
  name: z.string().regex(KEEP_NAME, 'Keep names are [a-z0-9][a-z0-9._-]{0,62} (they become the KBS path keeps/<name>/…)'),
  version: z.string().min(1).max(64),
  args: z.array(z.string().max(4096)).max(256).default([]),
  env: z.record(envName, z.string().max(65536)).default({}),
  secrets: z.record(envName, resourcePath).default({}),
  files: z.record(memPath, resourcePath).default({}),
  /** Writable, initially empty, in-memory top-level directories ("/tmp"), bounded by limits.scratch_mb. */
  dirs: z.array(z.string().regex(/^\/[A-Za-z0-9._-]{1,64}$/, 'dirs are top-level in-memory directories like "/tmp"').refine((d) => d !== '/.' && d !== '/..', 'not a directory name')).max(16).default([]),
  limits: z.object({
    /** Ceiling for the module's linear memory (and the worker's JS heap), MiB. wasm32 tops out at 4096. */
    memory_mb: z.number().int().min(1).max(4096).default(64),
    /** Wall-clock limit from instantiation to exit, seconds. */
    timeout_s: z.number().int().min(1).max(86400).default(30),
    /** Bytes the workload may store in its writable `dirs`, MiB. */
    scratch_mb: z.number().int().min(0).max(1024).default(16),
  }).strict().default({ memory_mb: 64, timeout_s: 30, scratch_mb: 16 }),
  identity: z.object({
    /** Where cert.pem / key.pem / ca.pem appear in memory. */
    dir: memPath.or(z.string().regex(/^\/[A-Za-z0-9._-]+$/)).default('/identity'),
    dns: z.array(dnsName).max(32).default([]),
    uri: z.array(z.string().url().max(2048)).max(32).default([]),
    /** Requested certificate lifetime in seconds (the CA may cap it). */
    ttl_s: z.number().int().min(60).max(31 * 86400).optional(),
  }).strict().optional(),
}).strict().superRefine((m, ctx) => {
  for (const k of Object.keys(m.secrets)) {
    if (k in m.env) ctx.addIssue({ code: 'custom', path: ['secrets', k], message: `${k} is both a plain [env] variable and a [secrets] entry` });
  }
  if (new Set(m.dirs).size !== m.dirs.length) ctx.addIssue({ code: 'custom', path: ['dirs'], message: 'a directory is listed twice' });
  if (m.identity) {
    const dir = m.identity.dir;
    for (const f of Object.keys(m.files)) {
      if (f.startsWith(`${dir}/`)) ctx.addIssue({ code: 'custom', path: ['files', f], message: `${f} is inside the identity directory ${dir}` });
    }
  }
});

export type Manifest = z.output<typeof ManifestSchema>;
export type ManifestInput = z.input<typeof ManifestSchema>;

export class ManifestInvalid extends AttestError {
  constructor(issues: { path: string; message: string }[]) {
    super(ErrorCode.ConfigInvalid, `keep manifest invalid: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, { issues });
  }
}

/** Validates a manifest object (from TOML or from a bundle). Throws ManifestInvalid (ERR_CONFIG_INVALID). */
export function validateManifest(value: unknown): Manifest {
  const r = ManifestSchema.safeParse(value);
  if (!r.success) {
    throw new ManifestInvalid(r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })));
  }
  return r.data;
}

/** Parses keep.toml text. */
export function parseKeepToml(text: string): Manifest {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    throw new ManifestInvalid([{ path: '', message: `not valid TOML: ${(e as Error).message.split('\n')[0]}` }]);
  }
  return validateManifest(normaliseToml(raw));
}

/** smol-toml yields bigint-free numbers by default but Date objects for datetimes; reject those. */
function normaliseToml(v: unknown): unknown {
  if (v instanceof Date || (typeof v === 'object' && v !== null && v.constructor?.name === 'TomlDate')) {
    throw new ManifestInvalid([{ path: '', message: 'date/time values are not allowed in keep.toml' }]);
  }
  if (Array.isArray(v)) return v.map(normaliseToml);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normaliseToml(x)]));
  return v;
}

/** Top-level in-memory directories the Keep preopens for this manifest (sorted). */
export function preopenDirs(m: Manifest): string[] {
  const dirs = new Set<string>();
  for (const p of Object.keys(m.files)) dirs.add(`/${p.slice(1).split('/')[0]!}`);
  if (m.identity) dirs.add(`/${m.identity.dir.slice(1).split('/')[0]!}`);
  for (const d of m.dirs) dirs.add(d);
  return [...dirs].sort();
}

/** KBS resource paths a Keep named `name` uses for its own delivery (deploy uploads them, run reads them). */
export function keepResourcePaths(name: string): { bundle: string; key: string; tenant: string } {
  return { bundle: `keeps/${name}/bundle`, key: `keeps/${name}/key`, tenant: `keeps/${name}/tenant` };
}
