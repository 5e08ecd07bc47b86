/**
 * A loopback HTTP server that lets a browser load the browser-safe core straight from the sources,
 * with no bundler: TypeScript files are type-stripped on the fly (ts.transpileModule; relative imports
 * keep their `.ts` names and are served as JavaScript), bare imports go through an import map whose
 * entries are the packages' ESM builds under node_modules (found by crawling the import graph with
 * the browser's export conditions), and corpus files are served from the shared corpus.
 *
 * Only what the browser-safe core may load is served: a request for any other repository file (a Node
 * layer such as src/kbs, a test file) is refused with 403 and recorded, so the test sees it.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { corpusFile, corpusPath } from '../support/corpus.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The browser-safe core (DESIGN.md; tsconfig.core.json): the only source folders the page may load. */
export const CORE_DIRS = ['src/core', 'src/evidence', 'src/collateral', 'src/verify', 'src/policy', 'src/platform', 'src/protocol'];
const HARNESS = 'test/browser/harness.ts';

/** Export conditions a browser bundler applies, in priority order. */
const CONDITIONS = new Set(['browser', 'import', 'module', 'default']);

export interface ImportMap {
  imports: Record<string, string>;
  scopes: Record<string, Record<string, string>>;
}

export interface ModuleGraph {
  importMap: ImportMap;
  /** Absolute paths of every node_modules file the page may load. */
  vendorFiles: Set<string>;
  /** Bare specifiers the core imports, with the file importing them (for the test's assertions). */
  bareImports: Map<string, string[]>;
}

const isBare = (s: string): boolean => !s.startsWith('.') && !s.startsWith('/') && !/^[a-z][a-z0-9+.-]*:/i.test(s.replace(/^@/, ''));
const toUrl = (abs: string): string => `/${relative(REPO_ROOT, abs).split(sep).join('/')}`;

function importsOf(file: string, text: string): string[] {
  if (!file.endsWith('.ts')) return vendorSpecifiers(file, text).map((x) => x.spec);
  // Type-only imports vanish when types are stripped: look at what the emitted JavaScript keeps.
  return ts.preProcessFile(transpile(text, file), true, true).importedFiles.map((f) => f.fileName);
}

interface SpecifierSpan {
  spec: string;
  /** Offsets of the string literal's text (without quotes). */
  start: number;
  end: number;
}

/** Static imports, re-exports and string-literal dynamic imports of a JavaScript file, with positions. */
function vendorSpecifiers(file: string, text: string): SpecifierSpan[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const out: SpecifierSpan[] = [];
  const add = (lit: ts.Node | undefined): void => {
    if (lit && ts.isStringLiteral(lit)) out.push({ spec: lit.text, start: lit.getStart(sf) + 1, end: lit.getEnd() - 1 });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) add(n.moduleSpecifier);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) add(n.arguments[0]);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/**
 * Some ESM builds (@peculiar/asn1-schema's es2015) import './converters' without an extension, which
 * only bundlers and Node's CommonJS resolver accept. Like a bundler, rewrite such specifiers to the
 * file they denote, so the browser gets one module instance per file.
 */
function rewriteVendorImports(file: string, text: string): string {
  let out = text;
  for (const s of vendorSpecifiers(file, text).reverse()) {
    if (!s.spec.startsWith('.')) continue;
    const target = probe(resolve(dirname(file), s.spec));
    if (!target) continue;
    let rel = relative(dirname(file), target).split(sep).join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    if (rel !== s.spec) out = out.slice(0, s.start) + rel + out.slice(s.end);
  }
  return out;
}

function probe(path: string): string | undefined {
  for (const p of [path, `${path}.js`, `${path}.mjs`, join(path, 'index.js')]) if (existsSync(p) && statSync(p).isFile()) return p;
  return undefined;
}

function exportTarget(t: unknown): string | undefined {
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    for (const x of t) {
      const r = exportTarget(x);
      if (r) return r;
    }
    return undefined;
  }
  if (t && typeof t === 'object') {
    for (const [k, v] of Object.entries(t)) {
      if (!CONDITIONS.has(k)) continue;
      const r = exportTarget(v);
      if (r) return r;
    }
  }
  return undefined;
}

function resolveExports(exportsField: unknown, sub: string): string | undefined {
  const map: Record<string, unknown> =
    typeof exportsField === 'string' || Array.isArray(exportsField) || (exportsField && typeof exportsField === 'object' && !Object.keys(exportsField).some((k) => k.startsWith('.')))
      ? { '.': exportsField }
      : (exportsField as Record<string, unknown>);
  if (sub in map) return exportTarget(map[sub]);
  for (const [k, v] of Object.entries(map)) {
    const star = k.indexOf('*');
    if (star < 0) continue;
    const pre = k.slice(0, star);
    const post = k.slice(star + 1);
    if (sub.startsWith(pre) && sub.endsWith(post) && sub.length >= pre.length + post.length) {
      const t = exportTarget(v);
      if (t) return t.replace('*', sub.slice(pre.length, sub.length - post.length));
    }
  }
  return undefined;
}

/** Resolves a bare specifier from `fromDir` the way a browser bundler would (node_modules lookup, browser/import conditions, `module` field). */
export function resolveBare(spec: string, fromDir: string): string {
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  const sub = spec.startsWith('@') ? parts.slice(2).join('/') : parts.slice(1).join('/');
  let dir = fromDir;
  for (;;) {
    const pkgDir = join(dir, 'node_modules', name);
    if (existsSync(join(pkgDir, 'package.json'))) {
      const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports?: unknown; module?: string; browser?: unknown; main?: string };
      let target: string | undefined;
      if (pkg.exports !== undefined) target = resolveExports(pkg.exports, sub ? `./${sub}` : '.');
      else if (sub) target = sub;
      else target = pkg.module ?? (typeof pkg.browser === 'string' ? pkg.browser : undefined) ?? pkg.main ?? 'index.js';
      const file = target ? probe(join(pkgDir, target)) : undefined;
      if (!file) throw new Error(`cannot resolve "${spec}" for the browser from ${fromDir} (package ${pkgDir})`);
      return file;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`package "${name}" not found from ${fromDir}`);
    dir = up;
  }
}

/** The package directory holding `file` (the innermost node_modules/<name>). */
function packageDir(file: string): string {
  const rel = relative(REPO_ROOT, file).split(sep);
  const i = rel.lastIndexOf('node_modules');
  const n = rel[i + 1]!.startsWith('@') ? 2 : 1;
  return join(REPO_ROOT, ...rel.slice(0, i + 1 + n));
}

/** CommonJS cannot be imported as an ES module; a file that is a plain global script (reflect-metadata) can. */
function assertNotCommonJs(file: string, text: string): void {
  if (/\bmodule\.exports\b|\brequire\s*\(\s*['"]|^\s*exports\.\w+\s*=/m.test(text) && !/^\s*(export|import)\b/m.test(text)) {
    throw new Error(`${toUrl(file)} is CommonJS: the browser cannot import it as a module (pick the package's ESM build)`);
  }
}

/** Crawls the import graph of the browser-safe core and the harness and builds the import map. */
export function buildModuleGraph(): ModuleGraph {
  const importMap: ImportMap = { imports: {}, scopes: {} };
  const vendorFiles = new Set<string>();
  const bareImports = new Map<string, string[]>();
  const seen = new Set<string>();
  const queue: string[] = [join(REPO_ROOT, HARNESS)];

  const mapBare = (spec: string, from: string): string => {
    const target = resolveBare(spec, dirname(from));
    const top = resolveBare(spec, REPO_ROOT);
    if (target === top) importMap.imports[spec] = toUrl(top);
    else (importMap.scopes[`${toUrl(packageDir(from))}/`] ??= {})[spec] = toUrl(target);
    return target;
  };

  while (queue.length) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const inVendor = file.includes(`${sep}node_modules${sep}`);
    if (inVendor) {
      vendorFiles.add(file);
      assertNotCommonJs(file, text);
    }
    for (const spec of importsOf(file, text)) {
      if (isBare(spec)) {
        if (!inVendor) bareImports.set(spec, [...(bareImports.get(spec) ?? []), toUrl(file)]);
        queue.push(mapBare(spec, file));
      } else if (spec.startsWith('.')) {
        const p = inVendor ? probe(resolve(dirname(file), spec)) : resolve(dirname(file), spec);
        if (!p) throw new Error(`${toUrl(file)} imports ${spec}, which does not exist`);
        queue.push(p);
      } else if (!inVendor) {
        // node:*, data:, absolute URLs: the browser-safe core must not have them. Recorded, not crawled.
        bareImports.set(spec, [...(bareImports.get(spec) ?? []), toUrl(file)]);
      }
    }
  }
  return { importMap, vendorFiles, bareImports };
}

const transpiled = new Map<string, string>();
function transpile(text: string, fileName: string): string {
  const key = `${fileName}\0${text.length}`;
  let out = transpiled.get(key);
  if (out === undefined) {
    out = ts.transpileModule(text, {
      fileName,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023, verbatimModuleSyntax: true, sourceMap: false, inlineSourceMap: true, inlineSources: false },
    }).outputText;
    transpiled.set(key, out);
  }
  return out;
}

export function isServableSource(rel: string): boolean {
  if (rel === HARNESS) return true;
  if (!rel.endsWith('.ts') || rel.endsWith('.test.ts') || rel.includes('/test-support/')) return false;
  return CORE_DIRS.some((d) => rel.startsWith(`${d}/`));
}

export function pageHtml(importMap: ImportMap): string {
  // The import map must precede any module load; the harness is imported dynamically so that a load
  // failure (a missing module, a Node-only import) surfaces as a rejected promise the test can read.
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>teataster browser verifier test</title>
<script type="importmap">${JSON.stringify(importMap)}</script>
<script>
window.__harness = import('/${HARNESS}');
window.__harness.catch(function (e) { window.__loadError = String((e && e.stack) || e); });
</script>
</head><body><p>teataster browser verifier test page</p></body></html>
`;
}

export interface RequestRecord {
  url: string;
  status: number;
}

export interface TestServer {
  origin: string;
  graph: ModuleGraph;
  requests: RequestRecord[];
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1 and an ephemeral port. */
export async function startServer(): Promise<TestServer> {
  const graph = buildModuleGraph();
  const requests: RequestRecord[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = decodeURIComponent(url.pathname);
    const send = (status: number, type: string, body: string | Uint8Array): void => {
      requests.push({ url: path, status });
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    try {
      if (req.method !== 'GET') return send(405, 'text/plain', 'GET only');
      if (path === '/' || path === '/index.html') return send(200, 'text/html; charset=utf-8', pageHtml(graph.importMap));
      if (path.startsWith('/corpus/')) {
        const rel = path.slice('/corpus/'.length);
        const abs = resolve(corpusPath(rel));
        if (rel.split('/').includes('..') || !abs.startsWith(resolve(corpusPath('.')) + sep) || !existsSync(abs)) return send(404, 'text/plain', 'no such corpus file');
        return send(200, 'application/octet-stream', corpusFile(rel));
      }
      const rel = path.slice(1);
      const abs = resolve(REPO_ROOT, rel);
      if (!abs.startsWith(REPO_ROOT + sep) || rel.split('/').includes('..')) return send(403, 'text/plain', 'outside the repository');
      if (graph.vendorFiles.has(abs)) return send(200, 'text/javascript; charset=utf-8', rewriteVendorImports(abs, readFileSync(abs, 'utf8')));
      if (isServableSource(rel) && existsSync(abs)) return send(200, 'text/javascript; charset=utf-8', transpile(readFileSync(abs, 'utf8'), rel));
      return send(existsSync(abs) ? 403 : 404, 'text/plain', `not served to the browser: ${rel}`);
    } catch (e) {
      return send(500, 'text/plain', String(e));
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('server has no TCP address');
  return {
    origin: `http://127.0.0.1:${addr.port}`,
    graph,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
