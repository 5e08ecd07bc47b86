/**
 * Named reference values with provenance (issue 5, "Reference values"). Policies refer to them as
 * `ref:<name>`; the store (src/store, ReferenceValueRepository) persists them. The record shape is
 * the store's, so a store repository can be passed wherever a `ReferenceValueSource` is expected.
 */
import { z } from 'zod';
import { AttestError, ErrorCode, type JsonValue } from '../core/index.ts';

export type ReferenceValueKind = 'digest' | 'svn' | 'string' | 'list' | 'number' | 'boolean' | 'json';
export const REFERENCE_VALUE_KINDS: readonly ReferenceValueKind[] = ['digest', 'svn', 'string', 'list', 'number', 'boolean', 'json'];

export interface ReferenceValue {
  name: string;
  kind: ReferenceValueKind;
  /**
   * digest: lowercase hex string or list of them (any of them matches); svn / number: integer;
   * string: text; list: list of strings; boolean; json: anything.
   */
  value: JsonValue;
  /** Provenance: where the value came from (URL, build id, file, 'manual'). */
  source: string;
  addedBy: string;
  addedAt: Date;
  expiresAt: Date | null;
  description: string | null;
}

export type NewReferenceValue = Omit<ReferenceValue, 'addedAt' | 'expiresAt' | 'description'> & {
  addedAt?: Date;
  expiresAt?: Date | null;
  description?: string | null;
};

/** What the appraisal needs: lookup by name. The store's ReferenceValueRepository satisfies it. */
export interface ReferenceValueSource {
  get(name: string): Promise<ReferenceValue | undefined>;
}

/** Full CRUD, as used by the CLI and the KBS admin API. */
export interface ReferenceValueStore extends ReferenceValueSource {
  put(rv: NewReferenceValue): Promise<ReferenceValue>;
  list(opts?: { prefix?: string; now?: Date }): Promise<ReferenceValue[]>;
  delete(name: string): Promise<boolean>;
}

export const REF_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

const hex = z.string().regex(/^(0x)?[0-9a-fA-F]+$/, 'must be hex').transform((s) => s.replace(/^0x/, '').toLowerCase());
const intLike = z.number().int().min(0);

/** Validates and normalises a value for its kind (hex lowercased, lists de-duplicated). */
export function normalizeReferenceValue(kind: ReferenceValueKind, value: unknown): JsonValue {
  const schema: z.ZodType<JsonValue> = (
    {
      digest: z.union([hex, z.array(hex).min(1)]).transform((v) => (Array.isArray(v) ? [...new Set(v)] : v)),
      svn: intLike,
      number: z.number().finite(),
      string: z.string(),
      list: z.array(z.string()).min(1),
      boolean: z.boolean(),
      json: z.json(),
    } as Record<ReferenceValueKind, z.ZodType<JsonValue>>
  )[kind];
  const r = schema.safeParse(value);
  if (!r.success) throw new AttestError(ErrorCode.ConfigInvalid, `reference value of kind ${kind} is invalid: ${r.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`, { kind });
  return r.data;
}

const dateLike = z.union([z.date(), z.iso.datetime({ offset: true }).transform((s) => new Date(s))]);

/** Schema of one entry of an import file (`teataster refs import`, `--refs <file>`). */
export const referenceValueInput = z
  .object({
    name: z.string().regex(REF_NAME, 'letters, digits and . _ : @ / - (max 128), starting with a letter or digit'),
    kind: z.enum(REFERENCE_VALUE_KINDS as [ReferenceValueKind, ...ReferenceValueKind[]]),
    value: z.json(),
    source: z.string().min(1).default('import'),
    addedBy: z.string().min(1).optional(),
    addedAt: dateLike.optional(),
    expiresAt: dateLike.nullable().optional(),
    description: z.string().nullable().optional(),
  })
  .strict();

export type ReferenceValueInput = z.input<typeof referenceValueInput>;

/** Parses import data: an array of entries or `{ "referenceValues": [...] }`. Collects every problem. */
export function parseReferenceValues(data: unknown, defaults: { addedBy: string; now: Date }): NewReferenceValue[] {
  const list = Array.isArray(data) ? data : data && typeof data === 'object' && Array.isArray((data as { referenceValues?: unknown }).referenceValues) ? (data as { referenceValues: unknown[] }).referenceValues : undefined;
  if (!list) throw new AttestError(ErrorCode.ConfigInvalid, 'reference values must be a list or an object { referenceValues: [...] }');
  const out: NewReferenceValue[] = [];
  const problems: string[] = [];
  list.forEach((item, i) => {
    const r = referenceValueInput.safeParse(item);
    if (!r.success) {
      problems.push(...r.error.issues.map((iss) => `[${i}].${iss.path.join('.')}: ${iss.message}`));
      return;
    }
    try {
      const e = r.data;
      out.push({
        name: e.name,
        kind: e.kind,
        value: normalizeReferenceValue(e.kind, e.value),
        source: e.source,
        addedBy: e.addedBy ?? defaults.addedBy,
        addedAt: e.addedAt ?? defaults.now,
        expiresAt: e.expiresAt ?? null,
        description: e.description ?? null,
      });
    } catch (err) {
      problems.push(`[${i}] (${r.data.name}): ${(err as Error).message}`);
    }
  });
  const names = out.map((r) => r.name);
  const dup = names.filter((n, i) => names.indexOf(n) !== i);
  if (dup.length) problems.push(`duplicate names: ${[...new Set(dup)].join(', ')}`);
  if (problems.length) throw new AttestError(ErrorCode.ConfigInvalid, `reference values invalid: ${problems.join('; ')}`, { problems });
  return out;
}

/** In-memory store (tests, `--refs <file>` overlays, browser use). */
export class MemoryReferenceValueStore implements ReferenceValueStore {
  readonly #rows = new Map<string, ReferenceValue>();
  constructor(initial: NewReferenceValue[] = []) {
    for (const r of initial) this.#set(r);
  }
  #set(rv: NewReferenceValue): ReferenceValue {
    if (!REF_NAME.test(rv.name)) throw new AttestError(ErrorCode.ConfigInvalid, `invalid reference value name ${JSON.stringify(rv.name)}`);
    const row: ReferenceValue = { ...rv, value: normalizeReferenceValue(rv.kind, rv.value), addedAt: rv.addedAt ?? new Date(0), expiresAt: rv.expiresAt ?? null, description: rv.description ?? null };
    this.#rows.set(rv.name, row);
    return row;
  }
  async put(rv: NewReferenceValue): Promise<ReferenceValue> {
    return this.#set(rv);
  }
  async get(name: string): Promise<ReferenceValue | undefined> {
    return this.#rows.get(name);
  }
  has(name: string): boolean {
    return this.#rows.has(name);
  }
  async list(opts: { prefix?: string; now?: Date } = {}): Promise<ReferenceValue[]> {
    return [...this.#rows.values()]
      .filter((r) => (opts.prefix ? r.name.startsWith(opts.prefix) : true))
      .filter((r) => (opts.now && r.expiresAt ? r.expiresAt.getTime() > opts.now.getTime() : true))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  async delete(name: string): Promise<boolean> {
    return this.#rows.delete(name);
  }
}

/** Looks names up in several sources in order (e.g. a `--refs` file before the database). */
export function chainSources(...sources: (ReferenceValueSource | undefined)[]): ReferenceValueSource {
  const list = sources.filter((s): s is ReferenceValueSource => s !== undefined);
  return {
    async get(name) {
      for (const s of list) {
        const r = await s.get(name);
        if (r) return r;
      }
      return undefined;
    },
  };
}

/** The values a digest/list reference allows, as lowercase strings. */
export function referenceStrings(rv: ReferenceValue): string[] | undefined {
  if (rv.kind === 'digest') return (Array.isArray(rv.value) ? rv.value : [rv.value]).map((v) => String(v).toLowerCase());
  if (rv.kind === 'list') return (rv.value as JsonValue[]).map((v) => String(v));
  if (rv.kind === 'string') return [String(rv.value)];
  return undefined;
}

export function referenceNumber(rv: ReferenceValue): number | undefined {
  return (rv.kind === 'svn' || rv.kind === 'number') && typeof rv.value === 'number' ? rv.value : undefined;
}
