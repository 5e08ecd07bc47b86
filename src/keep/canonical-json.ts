/**
 * Canonical JSON for signed Keep structures: object keys sorted by UTF-16 code units, no
 * whitespace, numbers in ECMAScript form (RFC 8785 "JCS": for the JSON values we sign, this is
 * exactly JCS). Signing canonical bytes means a bundle re-serialised by another JSON
 * library still verifies.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON: unsupported value of type ${typeof value}`);
  }
}
