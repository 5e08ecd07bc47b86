/**
 * Wire TEE names (kbs_types::Tee, serde lowercase) ↔ teataster platform ids. Trustee's `sample`
 * (its software test TEE) maps to teataster's `sim`; `tpm`, `nitro` and `sim` are teataster
 * extensions a Trustee KBS would not know.
 */
import type { PlatformId } from '../core/index.ts';

const WIRE_TO_PLATFORM: Readonly<Record<string, PlatformId>> = {
  snp: 'snp',
  tdx: 'tdx',
  sgx: 'sgx',
  azsnpvtpm: 'az-snp-vtpm',
  aztdxvtpm: 'az-tdx-vtpm',
  sample: 'sim',
  sim: 'sim',
  tpm: 'tpm',
  nitro: 'nitro',
};

const PLATFORM_TO_WIRE: Readonly<Record<PlatformId, string>> = {
  snp: 'snp',
  tdx: 'tdx',
  sgx: 'sgx',
  'az-snp-vtpm': 'azsnpvtpm',
  'az-tdx-vtpm': 'aztdxvtpm',
  sim: 'sample',
  tpm: 'tpm',
  nitro: 'nitro',
  nvidia: 'nvidia',
};

/** The platform a wire TEE name denotes, or null when teataster has no verifier for it. */
export function platformOfTee(tee: string): PlatformId | null {
  return Object.hasOwn(WIRE_TO_PLATFORM, tee) ? (WIRE_TO_PLATFORM[tee] ?? null) : null;
}

/** The wire name to send for a platform (Trustee's name where one exists). */
export function teeOfPlatform(p: PlatformId): string {
  return PLATFORM_TO_WIRE[p];
}

export const KNOWN_TEES: readonly string[] = Object.keys(WIRE_TO_PLATFORM);
