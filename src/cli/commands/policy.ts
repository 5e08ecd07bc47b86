/**
 * `teataster policy check <file> [--refs <file>] [--json]` — validate an appraisal policy before
 * deploying it: schema, CEL syntax and types (with positions), and whether every ref:<name> it
 * uses exists (in --refs, else in the store). Exit 0 valid, 1 missing reference values, 2 invalid.
 * `teataster policy default [--platform <id>]` prints the built-in secure default as YAML.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { PLATFORM_IDS, type PlatformId } from '../../core/index.ts';
import { defaultPolicyDocument, parsePolicy, PolicyInvalid, type CompiledPolicy } from '../../policy/index.ts';
import { Exit, UsageError } from '../exit.ts';
import { readText, writeOut } from '../io.ts';
import { formatPolicyProblems } from './appraise.ts';
import { addStoreOptions, withStore, type StoreCliOptions } from './policy-store.ts';
import { readRefsFile, who } from './refs.ts';

export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('appraisal policies: check one, or print the secure default');

  addStoreOptions(policy.command('check <file>').description('validate a policy (schema, CEL, reference values)').option('--refs <file>', 'reference values file to resolve ref:<name> against first').option('--json', 'print JSON')).action(
    async (file: string, o: StoreCliOptions & { refs?: string; json?: boolean }) => {
      const text = await readText(file, 'policy');
      let compiled: CompiledPolicy;
      try {
        compiled = await parsePolicy(text);
      } catch (e) {
        if (!(e instanceof PolicyInvalid)) throw e;
        if (o.json) {
          writeOut(JSON.stringify({ valid: false, error: e.toJSON() }, null, 2));
          process.exitCode = Exit.Usage;
          return;
        }
        throw new UsageError(formatPolicyProblems(file, e));
      }
      const fromFile = new Set(o.refs ? (await readRefsFile(o.refs, who())).map((r) => r.name) : []);
      const rest = compiled.refNames.filter((n) => !fromFile.has(n));
      const missing = rest.length ? await withStore(o, async (s) => (await Promise.all(rest.map(async (n) => ((await s.referenceValues.get(n)) ? undefined : n)))).filter((n): n is string => !!n)) : [];
      const doc = compiled.document;
      if (o.json) writeOut(JSON.stringify({ valid: missing.length === 0, id: doc.id, version: doc.version, revision: doc.revision ?? null, digest: compiled.digest, platforms: Object.keys(doc.platforms), rules: doc.rules.map((r) => r.id), referenceValues: compiled.refNames, missingReferenceValues: missing }, null, 2));
      else {
        writeOut(`policy ${doc.id}${doc.revision ? `@${doc.revision}` : ''} (v${doc.version}, sha256 ${compiled.digest}): schema and CEL valid`);
        writeOut(`  platforms: ${Object.keys(doc.platforms).join(', ')}; rules: ${doc.rules.map((r) => r.id).join(', ') || 'none'}`);
        if (compiled.refNames.length) writeOut(`  reference values: ${compiled.refNames.join(', ')}`);
        for (const m of missing) writeOut(`  ✗ reference value ${m} is not defined: teataster refs add ${m} --kind … --value …`);
      }
      process.exitCode = missing.length ? Exit.Rejected : Exit.Ok;
    },
  );

  policy
    .command('default')
    .description('print the built-in secure default policy (YAML), a starting point for your own')
    .option('--platform <id>', `only this platform (${PLATFORM_IDS.join(', ')})`)
    .action((o: { platform?: string }) => {
      if (o.platform && !(PLATFORM_IDS as readonly string[]).includes(o.platform)) throw new UsageError(`--platform must be one of ${PLATFORM_IDS.join(', ')}`);
      writeOut(stringify(defaultPolicyDocument(o.platform as PlatformId | undefined)));
    });
}
