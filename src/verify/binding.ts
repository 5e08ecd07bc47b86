import { BindingMismatch, bytesEqual, isAllZero, normalizeFingerprint, toHex } from '../core/index.ts';

/**
 * Compares an expected value with a fixed-size evidence field: equal length must match exactly;
 * a shorter expected value must be a prefix with the remainder zero.
 */
export function checkBinding(field: string, expected: Uint8Array | undefined, actual: Uint8Array): void {
  if (!expected) return;
  if (expected.length > actual.length) {
    throw new BindingMismatch(field, `${toHex(expected)} (${expected.length} bytes)`, `a ${actual.length}-byte field`);
  }
  const head = actual.subarray(0, expected.length);
  if (!bytesEqual(head, expected) || !isAllZero(actual.subarray(expected.length))) {
    throw new BindingMismatch(field, toHex(expected), toHex(actual));
  }
}

export function rootFingerprints(pinned: readonly string[], ctxExtra: Partial<Record<string, string[]>> | undefined, family: string): Set<string> {
  const s = new Set(pinned.map(normalizeFingerprint));
  for (const f of ctxExtra?.[family] ?? []) s.add(normalizeFingerprint(f));
  return s;
}
