/** Time is a parameter, never a global (DESIGN.md): these helpers only format and compare. */

export function iso(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, 'Z');
}

export function parseTime(text: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new RangeError(`not a valid time: ${JSON.stringify(text)}`);
  return d;
}

export function within(now: Date, notBefore: Date | undefined, notAfter: Date | undefined): boolean {
  const t = now.getTime();
  if (notBefore && t < notBefore.getTime()) return false;
  if (notAfter && t > notAfter.getTime()) return false;
  return true;
}
