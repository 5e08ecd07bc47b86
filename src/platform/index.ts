import { UnsupportedPlatform, fromBase64, fromHex, type PlatformId } from '../core/index.ts';
import type { Platform, Verified, VerifyContext } from '../verify/types.ts';
import { platforms } from './registry.ts';

export { platforms };

export function getPlatform(id: string): Platform {
  const p = platforms.find((x) => x.id === id);
  if (!p) throw new UnsupportedPlatform(`unknown platform "${id}" (known: ${platforms.map((x) => x.id).join(', ')})`);
  return p;
}

export function detectPlatform(bytes: Uint8Array): Platform {
  for (const p of platforms) if (tryDetect(p, bytes)) return p;
  throw new UnsupportedPlatform(`cannot detect the evidence format of ${bytes.length} bytes; pass --platform (known: ${platforms.map((x) => x.id).join(', ')})`);
}

const HEX_TEXT = /^(0x)?[0-9a-fA-F\s]+$/;
const BASE64_TEXT = /^[A-Za-z0-9+/_\-\s]+={0,2}\s*$/;

/**
 * Evidence often travels as text: quotes and reports in hex (Intel's and AMD's tools, test
 * vectors), Nitro documents in base64. No binary evidence format here is pure ASCII hex or base64
 * (JSON formats start with `{`), so such input is decoded once before detection. Anything else is
 * returned unchanged.
 */
export function decodeEvidenceText(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 16 || bytes.length > 64 * 1024 * 1024) return bytes;
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7e || (bytes[i]! < 0x20 && bytes[i] !== 0x0a && bytes[i] !== 0x0d && bytes[i] !== 0x09)) return bytes;
  const text = new TextDecoder().decode(bytes).trim();
  try {
    if (HEX_TEXT.test(text)) {
      const hex = text.replace(/^0x/, '').replace(/\s+/g, '');
      if (hex.length % 2 === 0) return fromHex(hex);
    }
    if (BASE64_TEXT.test(text)) return fromBase64(text);
  } catch {
    return bytes;
  }
  return bytes;
}

/**
 * Parses and verifies evidence bytes with the named (or detected) platform. Hex or base64 text is
 * decoded first (decodeEvidenceText) when the raw bytes are not themselves recognised.
 */
export async function verifyEvidence(bytes: Uint8Array, ctx: VerifyContext, platform?: PlatformId | string): Promise<Verified> {
  const { platform: p, bytes: input } = resolveEvidence(bytes, platform);
  assertAcceptsContext(p, ctx);
  return p.verify(p.parse(input), ctx);
}

/** Picks the platform (named or detected) and the byte form to parse (raw, or decoded from text). */
export function resolveEvidence(bytes: Uint8Array, platform?: PlatformId | string): { platform: Platform; bytes: Uint8Array } {
  if (platform) {
    const p = getPlatform(platform);
    if (tryDetect(p, bytes)) return { platform: p, bytes };
    const decoded = decodeEvidenceText(bytes);
    return { platform: p, bytes: decoded !== bytes && tryDetect(p, decoded) ? decoded : bytes };
  }
  try {
    return { platform: detectPlatform(bytes), bytes };
  } catch (e) {
    const decoded = decodeEvidenceText(bytes);
    if (decoded === bytes) throw e;
    return { platform: detectPlatform(decoded), bytes: decoded };
  }
}

/** An explicit event log that the platform would ignore is refused, never silently dropped. */
export function assertAcceptsContext(p: Platform, ctx: VerifyContext): void {
  if (ctx.eventLog && !p.acceptsEventLog) {
    throw new UnsupportedPlatform(`an explicit event log (${ctx.eventLog.name}) cannot be checked against ${p.id} evidence; platforms that replay one: ${platforms.filter((x) => x.acceptsEventLog).map((x) => x.id).join(', ')}`);
  }
}

function tryDetect(p: Platform, bytes: Uint8Array): boolean {
  try {
    return p.detect(bytes);
  } catch {
    return false;
  }
}
