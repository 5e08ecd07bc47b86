/**
 * Keep benchmarks, each next to its raw floor measured in the same run:
 *  1. bundle open: verifyBundle (JWS + digests) + openModule (AES-256-GCM + SHA-384) of a ~150 KB
 *     WASI module; floor = one ES384 verify with a pre-imported key + one AES-256-GCM decrypt of the
 *     same ciphertext (no parsing, no hashing).
 *  2. workload start-to-exit: runWasm (Worker, memory cap, in-memory fd layer) of a C program that
 *     hashes a secret; floor = compile + instantiate + _start of the same module under plain
 *     node:wasi in the main thread.
 *
 *   node bench/keep.ts [--seconds 2] [--runs 15]
 */
import { WASI } from 'node:wasi';
import { fromBase64Url, utf8 } from '../src/core/index.ts';
import { encodeBundle, generateTenantKey, loadTenantKey, openModule, packageKeep, runWasm, verifyBundle, manifestDigest } from '../src/keep/index.ts';
import { cleanupExamples, exampleModule } from '../src/keep/test-support/examples.ts';
import { importJWK, compactVerify, decodeProtectedHeader } from 'jose';
import { numberArg } from './support.ts';

const SECONDS = numberArg('--seconds', 2);
const RUNS = numberArg('--runs', 15);

async function rate(f: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() < end) {
    await f();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function median(f: () => Promise<unknown>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await f();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

const mod = exampleModule('secret-digest');
const t = await generateTenantKey('ES384');
const tenant = await loadTenantKey(JSON.stringify(t.privateJwk));
const { bundle, workloadKey } = await packageKeep(mod, { name: 'bench', version: '1', args: ['API_TOKEN'] }, tenant);
const bytes = encodeBundle(bundle);

// 1. bundle open
const full = await rate(async () => openModule(await verifyBundle(bytes, [t.thumbprint]), workloadKey));
const header = decodeProtectedHeader(bundle.signature);
const verifyKey = await importJWK(header.jwk as never, 'ES384');
const aes = await crypto.subtle.importKey('raw', fromBase64Url(workloadKey.k) as Uint8Array<ArrayBuffer>, 'AES-GCM', false, ['decrypt']);
const iv = fromBase64Url(bundle.module.iv) as Uint8Array<ArrayBuffer>;
const ct = fromBase64Url(bundle.module.ciphertext) as Uint8Array<ArrayBuffer>;
const aad = utf8(`teataster-keep/1/${Buffer.from(await manifestDigest(bundle.manifest)).toString('hex')}`) as Uint8Array<ArrayBuffer>;
const floor = await rate(async () => {
  await compactVerify(bundle.signature, verifyKey);
  await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, aes, ct);
});
console.log(`bundle open (${(mod.length / 1024).toFixed(0)} KiB module): ${full.toFixed(0)} ops/s; raw floor (ES384 verify + AES-GCM decrypt): ${floor.toFixed(0)} ops/s; ratio ${(full / floor).toFixed(2)}`);

// 2. start-to-exit
const keep = await median(() => runWasm({ module: mod, args: ['bench', 'API_TOKEN'], env: { API_TOKEN: 'x' }, files: new Map(), limits: { memoryMb: 16, timeoutS: 30 }, stdout: () => undefined }));
const plain = await median(async () => {
  const w = new WASI({ version: 'preview1', args: ['bench', 'API_TOKEN'], env: { API_TOKEN: 'x' }, returnOnExit: true, stdout: 2 });
  const { instance } = await WebAssembly.instantiate(mod as Uint8Array<ArrayBuffer>, w.getImportObject() as WebAssembly.Imports);
  w.start(instance);
});
console.log(`workload start-to-exit (median of ${RUNS}): Keep runner ${keep.toFixed(1)} ms; floor (main-thread node:wasi, no worker/limits) ${plain.toFixed(1)} ms`);
cleanupExamples();
