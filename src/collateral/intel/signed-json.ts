/**
 * Intel PCS signs the exact bytes of the `tcbInfo` / `enclaveIdentity` object as served
 * (PCS API v4: "signature calculated over tcbInfo body"). Re-serialising parsed JSON would change
 * whitespace or key order and break the signature, so this scanner finds the raw substring of a
 * top-level member's value without re-encoding anything.
 */
import { CollateralInvalid } from '../../core/index.ts';

function skipWs(t: string, i: number): number {
  while (i < t.length && (t[i] === ' ' || t[i] === '\n' || t[i] === '\r' || t[i] === '\t')) i++;
  return i;
}

function skipString(t: string, i: number, what: string): number {
  if (t[i] !== '"') throw new CollateralInvalid(what, `expected a string at ${i}`);
  i++;
  while (i < t.length) {
    const c = t[i];
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else i++;
  }
  throw new CollateralInvalid(what, 'unterminated string');
}

/** Returns the end index (exclusive) of the JSON value starting at i. */
function skipValue(t: string, i: number, what: string): number {
  const c = t[i];
  if (c === '"') return skipString(t, i, what);
  if (c === '{' || c === '[') {
    let depth = 0;
    while (i < t.length) {
      const d = t[i];
      if (d === '"') {
        i = skipString(t, i, what);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    throw new CollateralInvalid(what, 'unterminated object or array');
  }
  let j = i;
  while (j < t.length && !',}] \n\r\t'.includes(t[j]!)) j++;
  if (j === i) throw new CollateralInvalid(what, `expected a value at ${i}`);
  return j;
}

/**
 * The raw text of each top-level member of a JSON object, keyed by member name. The input must
 * already be valid JSON (callers JSON.parse it too); this only locates spans.
 */
export function rawMembers(text: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = skipWs(text, 0);
  if (text[i] !== '{') throw new CollateralInvalid(what, 'not a JSON object');
  i = skipWs(text, i + 1);
  if (text[i] === '}') return out;
  for (;;) {
    const ks = i;
    i = skipString(text, i, what);
    const key = JSON.parse(text.slice(ks, i)) as string;
    i = skipWs(text, i);
    if (text[i] !== ':') throw new CollateralInvalid(what, `expected ':' at ${i}`);
    i = skipWs(text, i + 1);
    const vs = i;
    i = skipValue(text, i, what);
    if (out.has(key)) throw new CollateralInvalid(what, `duplicate member "${key}"`);
    out.set(key, text.slice(vs, i));
    i = skipWs(text, i);
    if (text[i] === ',') {
      i = skipWs(text, i + 1);
      continue;
    }
    if (text[i] === '}') return out;
    throw new CollateralInvalid(what, `expected ',' or '}' at ${i}`);
  }
}
