/**
 * Verifier of the simulated TEE. Checks the document's ECDSA P-256 signature, pins the signing key
 * by its RFC 7638 JWK thumbprint against ctx.extraRoots.sim when given (otherwise a loud warning:
 * anyone can mint such evidence), checks the report-data binding, and marks the claims
 * `simulated: true`. A passing result says nothing about hardware; policies must name 'sim'.
 */
import {
  concatBytes,
  DebugNotAllowed,
  ecdsaVerify,
  EvidenceExpired,
  fromBase64Url,
  importEcPublicRaw,
  iso,
  RootNotTrusted,
  sha256,
  SignatureInvalid,
  toHex,
  utf8,
  type Claims,
} from '../../core/index.ts';
import { detectSim, parseSimEvidence, type SimEvidence, type SimPublicJwk } from '../../evidence/sim/index.ts';
import { checkBinding, rootFingerprints } from '../binding.ts';
import type { Platform, Verified, VerifyContext } from '../types.ts';

/** RFC 7638 JWK thumbprint (SHA-256, lowercase hex): the pin of a sim signing key. */
export async function simKeyThumbprint(key: SimPublicJwk): Promise<string> {
  return toHex(await sha256(utf8(`{"crv":"${key.crv}","kty":"${key.kty}","x":"${key.x}","y":"${key.y}"}`)));
}

export const SIM_INSECURE_WARNING = 'SIMULATED TEE: software-signed evidence with no hardware protection; never accept it in production';

// A KBS sees the same few sim keys over and over: keep their imported form and thumbprint.
const keyCache = new Map<string, { key: CryptoKey; thumb: string }>();

async function importSimKey(jwk: SimPublicJwk): Promise<{ key: CryptoKey; thumb: string }> {
  const id = `${jwk.x}.${jwk.y}`;
  const hit = keyCache.get(id);
  if (hit) return hit;
  const key = await importEcPublicRaw(concatBytes(fromBase64Url(jwk.x), fromBase64Url(jwk.y)), 'P-256').catch(() => {
    throw new SignatureInvalid('sim evidence', 'the embedded key is not a valid P-256 point');
  });
  const entry = { key, thumb: await simKeyThumbprint(jwk) };
  if (keyCache.size >= 256) keyCache.clear();
  keyCache.set(id, entry);
  return entry;
}

export async function verifySim(e: SimEvidence, ctx: VerifyContext): Promise<Verified> {
  const warnings: string[] = [SIM_INSECURE_WARNING];
  const { key, thumb } = await importSimKey(e.key);
  if (!(await ecdsaVerify(key, 'SHA-256', e.signature, e.signed))) throw new SignatureInvalid('sim evidence');
  const pins = rootFingerprints([], ctx.extraRoots, 'sim');
  if (pins.size > 0) {
    if (!pins.has(thumb)) throw new RootNotTrusted(thumb, 'sim signing key', 'sim');
  } else {
    warnings.push(`UNPINNED sim key ${thumb}: no sim key thumbprint configured (extraRoots.sim / --trust-root sim:<thumbprint>), so any key is accepted`);
  }
  const b = e.body;
  if (b.debug && !ctx.options?.allowDebug) throw new DebugNotAllowed('sim', 'the simulated guest');
  checkBinding('report_data', ctx.expected?.reportData, b.reportData);
  const maxAge = ctx.options?.maxAgeSeconds;
  if (maxAge !== undefined) {
    const age = (ctx.now.getTime() - Date.parse(b.time)) / 1000;
    if (age > maxAge) throw new EvidenceExpired(`sim evidence is ${Math.round(age)} s old (maximum ${maxAge} s)`, { time: b.time, maxAgeSeconds: maxAge });
    if (age < -300) throw new EvidenceExpired(`sim evidence time ${b.time} is in the future`, { time: b.time });
  }
  const tcb = { status: 'NotApplicable' as const, advisoryIds: [], versions: { svn: b.svn } };
  const claims: Claims = {
    platform: 'sim',
    debug: b.debug,
    simulated: true,
    measurements: { 'sim.measurement': toHex(b.measurement) },
    tcb,
    reportData: toHex(b.reportData),
    ...(b.hostData ? { hostData: toHex(b.hostData) } : {}),
    ...(b.initData ? { initData: toHex(b.initData) } : {}),
    signers: { 'sim.key_thumbprint': thumb },
    instanceId: b.instance ?? thumb,
    evidenceTime: b.time,
    verifiedAt: iso(ctx.now),
    revocation: 'not-applicable',
    platformClaims: {
      format: 'teataster-sim-v1',
      svn: b.svn,
      key_thumbprint: thumb,
      key_pinned: pins.size > 0,
      ...(b.instance !== undefined ? { instance: b.instance } : {}),
    },
  };
  return { platform: 'sim', claims, tcb, warnings, chain: [] };
}

export const simPlatform: Platform<SimEvidence> = {
  id: 'sim',
  description: 'Simulated TEE (software-signed, INSECURE, development only; policies must name it)',
  detect: detectSim,
  parse: parseSimEvidence,
  verify: verifySim,
};
