/**
 * The verification run the browser test performs, written once and executed twice: in Chromium (served
 * by ./server.ts, driven over CDP) and in Node, so the test can require identical results. Browser-safe
 * on purpose: it imports only the browser entry point (src/platform/browser-entry.ts, which re-exports
 * src/platform/index.ts, src/collateral/index.ts and src/policy/index.ts) and reads files through the
 * `load` callback (fetch() in the page, the corpus on disk in Node).
 */
import { AttestError, appraise, classifyCollateral, defaultPolicy, issueEar, platforms, verifyEarToken, verifyEvidence, type EarSigner } from '../../src/platform/browser-entry.ts';

/** One evidence sample to verify offline at a fixed time. */
export interface SampleSpec {
  id: string;
  /** Corpus path of the evidence bytes. */
  evidence: string;
  /** Corpus paths of the collateral (roots, VCEK, Intel collateral JSON…). */
  collateral: string[];
  /** ISO time the verification is made "as of" (the manifest's verify_at). */
  at: string;
  platform?: string;
  /** XOR this mask into the evidence byte at `offset` (negative: from the end) before verifying. */
  flip?: { offset: number; mask: number };
}

export interface Plan {
  samples: SampleSpec[];
  /** Id of the sample whose verified claims are appraised with the default policy and wrapped in an EAR. */
  appraise: string;
}

export type JsonSafe = string | number | boolean | null | JsonSafe[] | { [k: string]: JsonSafe };

export interface SampleResult {
  id: string;
  verified: boolean;
  platform: string | null;
  /** AttestError code of a rejection, or 'NOT_ATTEST_ERROR: …' when something else was thrown. */
  error: string | null;
  errorDetails: JsonSafe;
  tcb: JsonSafe;
  claims: JsonSafe;
  warnings: string[];
  chain: JsonSafe;
}

export interface RunResult {
  environment: { userAgent: string; hasProcess: boolean; hasBuffer: boolean; subtle: boolean; platforms: string[] };
  samples: SampleResult[];
  appraisal: JsonSafe;
  /** An EAR issued over the appraisal with a key generated here (WebCrypto), and its verification here. */
  ear: { token: string; publicJwk: JsonSafe; status: string; verifiedStatus: string };
  /** Wall-clock milliseconds per sample (parse + verify, collateral already loaded); informative only. */
  timings: Record<string, number>;
}

/** Makes any value JSON-safe and comparable across runtimes (bytes → hex, bigint → string, Date → ISO). */
export function jsonSafe(v: unknown): JsonSafe {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return `hex:${Array.from(v, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  if (v instanceof ArrayBuffer) return jsonSafe(new Uint8Array(v));
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (typeof v === 'object') {
    const out: Record<string, JsonSafe> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined && typeof x !== 'function') out[k] = jsonSafe(x);
    }
    return out;
  }
  return `<${typeof v}>`;
}

async function verifySample(s: SampleSpec, load: (rel: string) => Promise<Uint8Array>, timings: Record<string, number>): Promise<SampleResult> {
  const bytes = new Uint8Array(await load(s.evidence));
  if (s.flip) {
    const at = s.flip.offset < 0 ? bytes.length + s.flip.offset : s.flip.offset;
    bytes[at] = bytes[at]! ^ s.flip.mask;
  }
  const items = await Promise.all(s.collateral.map(async (name) => ({ name, bytes: await load(name) })));
  const ctx = { now: new Date(s.at), collateral: classifyCollateral(items), offline: true };
  const t0 = performance.now();
  try {
    const v = await verifyEvidence(bytes, ctx, s.platform);
    timings[s.id] = performance.now() - t0;
    return { id: s.id, verified: true, platform: v.platform, error: null, errorDetails: null, tcb: jsonSafe(v.tcb), claims: jsonSafe(v.claims), warnings: v.warnings, chain: jsonSafe(v.chain) };
  } catch (e) {
    timings[s.id] = performance.now() - t0;
    const code = e instanceof AttestError ? e.code : `NOT_ATTEST_ERROR: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    return { id: s.id, verified: false, platform: null, error: code, errorDetails: e instanceof AttestError ? jsonSafe(e.details) : null, tcb: null, claims: null, warnings: [], chain: null };
  }
}

/** Runs the plan: every sample, then the default-policy appraisal and an EAR round trip on one of them. */
export async function runPlan(plan: Plan, load: (rel: string) => Promise<Uint8Array>): Promise<RunResult> {
  const g = globalThis as Record<string, unknown>;
  const samples: SampleResult[] = [];
  const timings: Record<string, number> = {};
  for (const s of plan.samples) samples.push(await verifySample(s, load, timings));

  const spec = plan.samples.find((s) => s.id === plan.appraise);
  if (!spec) throw new Error(`plan.appraise names an unknown sample ${plan.appraise}`);
  // Verify again to hand appraise() the real Claims object (not the JSON-safe copy).
  const bytes = await load(spec.evidence);
  const items = await Promise.all(spec.collateral.map(async (name) => ({ name, bytes: await load(name) })));
  const now = new Date(spec.at);
  const v = await verifyEvidence(bytes, { now, collateral: classifyCollateral(items), offline: true }, spec.platform);
  const appraisal = await appraise(v.claims, { policy: await defaultPolicy(v.platform), now, warnings: v.warnings });

  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const publicJwk = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as Record<string, unknown>;
  const signer: EarSigner = { kid: 'browser-test', alg: 'ES256', key: pair.privateKey };
  const token = await issueEar({ appraisal }, { signer, now });
  const jwk = { ...publicJwk, kid: 'browser-test', alg: 'ES256' };
  const checked = await verifyEarToken(token, { keys: [jwk], now });

  return {
    environment: {
      userAgent: typeof navigator === 'undefined' ? 'none' : navigator.userAgent,
      hasProcess: typeof g.process !== 'undefined',
      hasBuffer: typeof g.Buffer !== 'undefined',
      subtle: typeof crypto?.subtle?.verify === 'function',
      platforms: platforms.map((p) => p.id),
    },
    samples,
    appraisal: jsonSafe(appraisal),
    ear: { token, publicJwk: jsonSafe(jwk), status: appraisal.status, verifiedStatus: checked.status },
    timings,
  };
}
