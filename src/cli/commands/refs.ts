/**
 * `teataster refs add|list|show|rm|import` — named reference values with provenance, in the
 * store the KBS uses (docs/policy.md "Reference values"):
 *   refs add <name> --kind <digest|svn|string|list|number|boolean|json> --value <v> [--value <v>…]
 *            [--source <where from>] [--by <who>] [--expires <ISO>] [--description <text>]
 *   refs list [--prefix <p>] [--all] [--json]    refs show <name> [--json]    refs rm <name>
 *   refs import <file.json|yaml> [--by <who>]
 * Exit: 0 ok, 1 not found / refused, 2 usage.
 */
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { AttestError, ErrorCode, iso, parseTime, type JsonValue } from '../../core/index.ts';
import { normalizeReferenceValue, parseReferenceValues, REF_NAME, REFERENCE_VALUE_KINDS, type ReferenceValue, type ReferenceValueKind } from '../../policy/index.ts';
import { Exit, UsageError } from '../exit.ts';
import { readText, writeErr, writeOut } from '../io.ts';
import { addStoreOptions, withStore, type StoreCliOptions } from './policy-store.ts';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function who(by?: string): string {
  return by ?? process.env.TEATASTER_USER ?? process.env.USER ?? 'cli';
}

function refJson(r: ReferenceValue): Record<string, JsonValue> {
  return { name: r.name, kind: r.kind, value: r.value, source: r.source, addedBy: r.addedBy, addedAt: iso(r.addedAt), expiresAt: r.expiresAt ? iso(r.expiresAt) : null, description: r.description };
}

function valueText(v: JsonValue, n = 56): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Parses the --value options for a kind (several values make a list for digest/list). */
export function parseCliValue(kind: ReferenceValueKind, values: string[]): JsonValue {
  if (values.length === 0) throw new UsageError('give at least one --value');
  const one = (): string => {
    if (values.length !== 1) throw new UsageError(`kind ${kind} takes exactly one --value`);
    return values[0]!;
  };
  let raw: unknown;
  switch (kind) {
    case 'digest':
      raw = values.length === 1 ? values[0] : values;
      break;
    case 'list':
      raw = values;
      break;
    case 'svn':
    case 'number': {
      const t = one();
      raw = /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : NaN;
      break;
    }
    case 'boolean': {
      const t = one();
      if (t !== 'true' && t !== 'false') throw new UsageError('kind boolean takes --value true|false');
      raw = t === 'true';
      break;
    }
    case 'json':
      try {
        raw = JSON.parse(one());
      } catch {
        throw new UsageError('kind json takes a JSON --value');
      }
      break;
    default:
      raw = one();
  }
  try {
    return normalizeReferenceValue(kind, raw);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

interface AddOpts extends StoreCliOptions {
  kind: string;
  value: string[];
  source?: string;
  by?: string;
  expires?: string;
  description?: string;
  json?: boolean;
}

export function registerRefs(program: Command): void {
  const refs = program.command('refs').description('named reference values (measurements, minimum SVNs, …) used by appraisal policies as ref:<name>');

  addStoreOptions(
    refs
      .command('add <name>')
      .description('add or replace a reference value')
      .requiredOption('--kind <kind>', `one of ${REFERENCE_VALUE_KINDS.join(', ')}`)
      .option('--value <v>', 'the value; repeat for several digests or list items', collect, [])
      .option('--source <where>', 'provenance: build URL, release, file (default "manual")')
      .option('--by <who>', 'who adds it (default $USER)')
      .option('--expires <iso-time>', 'stop using it after this time')
      .option('--description <text>', 'free text')
      .option('--json', 'print the stored record as JSON'),
  ).action(async (name: string, o: AddOpts) => {
    if (!REF_NAME.test(name)) throw new UsageError(`invalid name ${JSON.stringify(name)}: letters, digits and . _ : @ / - (max 128), starting with a letter or digit`);
    if (!(REFERENCE_VALUE_KINDS as readonly string[]).includes(o.kind)) throw new UsageError(`--kind must be one of ${REFERENCE_VALUE_KINDS.join(', ')}`);
    const kind = o.kind as ReferenceValueKind;
    const value = parseCliValue(kind, o.value);
    let expiresAt: Date | null = null;
    if (o.expires) {
      try {
        expiresAt = parseTime(o.expires);
      } catch {
        throw new UsageError(`--expires must be an ISO-8601 time, got ${JSON.stringify(o.expires)}`);
      }
    }
    const rec = await withStore(o, (s) => s.referenceValues.put({ name, kind, value, source: o.source ?? 'manual', addedBy: who(o.by), addedAt: new Date(), expiresAt, description: o.description ?? null }));
    if (o.json) writeOut(JSON.stringify(refJson(rec), null, 2));
    else writeOut(`added ${rec.name} (${rec.kind}) = ${valueText(rec.value)}  [source ${rec.source}, by ${rec.addedBy}]`);
  });

  addStoreOptions(refs.command('list').description('list reference values').option('--prefix <p>', 'only names starting with p').option('--all', 'include expired values').option('--json', 'print JSON')).action(
    async (o: StoreCliOptions & { prefix?: string; all?: boolean; json?: boolean }) => {
      const rows = await withStore(o, (s) => s.referenceValues.list({ ...(o.prefix ? { prefix: o.prefix } : {}), ...(o.all ? {} : { now: new Date() }) }));
      if (o.json) {
        writeOut(JSON.stringify(rows.map(refJson), null, 2));
        return;
      }
      if (rows.length === 0) {
        writeOut('no reference values');
        return;
      }
      const w = Math.max(4, ...rows.map((r) => r.name.length));
      writeOut(`${'NAME'.padEnd(w)}  ${'KIND'.padEnd(7)}  ${'VALUE'.padEnd(56)}  ${'SOURCE'.padEnd(24)}  ADDED BY / AT / EXPIRES`);
      for (const r of rows) writeOut(`${r.name.padEnd(w)}  ${r.kind.padEnd(7)}  ${valueText(r.value).padEnd(56)}  ${valueText(r.source, 24).padEnd(24)}  ${r.addedBy} ${iso(r.addedAt)}${r.expiresAt ? ` expires ${iso(r.expiresAt)}` : ''}`);
    },
  );

  addStoreOptions(refs.command('show <name>').description('show one reference value with its provenance').option('--json', 'print JSON')).action(async (name: string, o: StoreCliOptions & { json?: boolean }) => {
    const r = await withStore(o, (s) => s.referenceValues.get(name));
    if (!r) throw new AttestError(ErrorCode.NotFound, `no reference value named ${name}`, { name });
    if (o.json) {
      writeOut(JSON.stringify(refJson(r), null, 2));
      return;
    }
    const expired = r.expiresAt && r.expiresAt.getTime() <= Date.now();
    writeOut(
      [
        `name         ${r.name}`,
        `kind         ${r.kind}`,
        `value        ${Array.isArray(r.value) ? r.value.map((v) => String(v)).join('\n             ') : typeof r.value === 'string' ? r.value : JSON.stringify(r.value)}`,
        `source       ${r.source}`,
        `added by     ${r.addedBy}`,
        `added at     ${iso(r.addedAt)}`,
        `expires      ${r.expiresAt ? `${iso(r.expiresAt)}${expired ? '  (EXPIRED: policies no longer use it)' : ''}` : 'never'}`,
        ...(r.description ? [`description  ${r.description}`] : []),
      ].join('\n'),
    );
  });

  addStoreOptions(refs.command('rm <name>').description('delete a reference value')).action(async (name: string, o: StoreCliOptions) => {
    const gone = await withStore(o, (s) => s.referenceValues.delete(name));
    if (!gone) throw new AttestError(ErrorCode.NotFound, `no reference value named ${name}`, { name });
    writeErr(`removed ${name}`);
  });

  addStoreOptions(refs.command('import <file>').description('add or replace reference values from a JSON or YAML file (a list, or { referenceValues: [...] })').option('--by <who>', 'who imports them (default $USER)').option('--json', 'print the stored records')).action(
    async (file: string, o: StoreCliOptions & { by?: string; json?: boolean }) => {
      const list = await readRefsFile(file, who(o.by));
      const stored = await withStore(o, (s) =>
        s.transaction(async (tx) => {
          const out: ReferenceValue[] = [];
          for (const r of list) out.push(await tx.referenceValues.put(r));
          return out;
        }),
      );
      if (o.json) writeOut(JSON.stringify(stored.map(refJson), null, 2));
      else writeOut(`imported ${stored.length} reference value(s): ${stored.map((r) => r.name).join(', ')}`);
      process.exitCode = Exit.Ok;
    },
  );
}

/** Reads a refs file (JSON or YAML); ERR_CONFIG_INVALID lists every bad entry. */
export async function readRefsFile(file: string, addedBy: string): Promise<ReturnType<typeof parseReferenceValues>> {
  const text = await readText(file, 'reference values');
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new UsageError(`${file} is not JSON or YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  try {
    return parseReferenceValues(data, { addedBy, now: new Date() });
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
}
