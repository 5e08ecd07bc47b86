/**
 * The guest-side role of a TEE (DESIGN.md "Plugging in a TEE"): produce evidence whose
 * REPORT_DATA is the given 64 bytes. `kbsEvidence` may return the Trustee-style JSON shape the KBS
 * wire carries; without it the raw bytes travel base64-encoded.
 */
import type { PlatformId } from '../core/index.ts';

export interface Attester {
  id: PlatformId;
  available(): Promise<boolean>;
  evidence(reportData: Uint8Array): Promise<Uint8Array>;
  kbsEvidence?(reportData: Uint8Array): Promise<Uint8Array | Record<string, unknown>>;
}

export function isAttester(x: unknown): x is Attester {
  if (!x || typeof x !== 'object') return false;
  const a = x as Record<string, unknown>;
  return typeof a.id === 'string' && typeof a.available === 'function' && typeof a.evidence === 'function';
}
