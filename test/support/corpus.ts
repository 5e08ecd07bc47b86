/**
 * Access to the shared real-hardware corpus (../shared/corpus beside the repository, or
 * $TEATASTER_CORPUS). Conformance tests read it at test time; nothing is copied into the repo.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CORPUS_DIR = process.env.TEATASTER_CORPUS ?? join(repoRoot, '..', 'shared', 'corpus');
export const BENCH_FIXTURES_DIR = join(CORPUS_DIR, '..', 'bench-fixtures');

export interface ManifestEntry {
  id: string;
  platform: string;
  files: string[];
  kind: string;
  format?: string;
  verify_at: string | null;
  valid_window?: [string, string] | null;
  expected: Record<string, unknown> & { verdict: string; error?: string; tcb_status?: string; advisory_ids?: string[]; fields?: Record<string, unknown> };
  notes?: string;
  source?: Record<string, unknown>;
}

/**
 * Whether the corpus is present. Locally, tests that need it are skipped without it; under CI
 * (CI set) a missing corpus is an error, so conformance tests can never pass by being skipped.
 */
export function corpusAvailable(): boolean {
  const present = existsSync(join(CORPUS_DIR, 'MANIFEST.json'));
  if (!present && process.env.CI && process.env.CI !== 'false') {
    throw new Error(`the real-hardware corpus is missing at ${CORPUS_DIR} (set TEATASTER_CORPUS or check out shared/ beside the repository); CI never skips conformance tests`);
  }
  return present;
}

let manifest: ManifestEntry[] | undefined;
export function loadManifest(): ManifestEntry[] {
  if (!manifest) {
    const m = JSON.parse(readFileSync(join(CORPUS_DIR, 'MANIFEST.json'), 'utf8')) as { entries: ManifestEntry[] };
    manifest = m.entries;
  }
  return manifest;
}

export function corpusFile(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(join(CORPUS_DIR, rel)));
}

export function corpusText(rel: string): string {
  return readFileSync(join(CORPUS_DIR, rel), 'utf8');
}

export function corpusPath(rel: string): string {
  return join(CORPUS_DIR, rel);
}
