import { UnsupportedPlatform, type PlatformId } from '../core/index.ts';
import type { Platform, Verified, VerifyContext } from '../verify/types.ts';
import { platforms } from './registry.ts';

export { platforms };

export function getPlatform(id: string): Platform {
  const p = platforms.find((x) => x.id === id);
  if (!p) throw new UnsupportedPlatform(`unknown platform "${id}" (known: ${platforms.map((x) => x.id).join(', ')})`);
  return p;
}

export function detectPlatform(bytes: Uint8Array): Platform {
  for (const p of platforms) {
    let hit: boolean;
    try {
      hit = p.detect(bytes);
    } catch {
      hit = false;
    }
    if (hit) return p;
  }
  throw new UnsupportedPlatform(`cannot detect the evidence format of ${bytes.length} bytes; pass --platform (known: ${platforms.map((x) => x.id).join(', ')})`);
}

/** Parses and verifies evidence bytes with the named (or detected) platform. */
export async function verifyEvidence(bytes: Uint8Array, ctx: VerifyContext, platform?: PlatformId | string): Promise<Verified> {
  const p = platform ? getPlatform(platform) : detectPlatform(bytes);
  const parsed = p.parse(bytes);
  return p.verify(parsed, ctx);
}
