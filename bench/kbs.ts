/**
 * KBS benchmark: full RCAR handshakes per second (auth + attest + resource, sim TEE, a fresh
 * P-256 ephemeral key per handshake) against a KBS in a child process on loopback, for SQLite and
 * (when TEATASTER_TEST_PG_URL is set) PostgreSQL; p50/p99 handshake latency at N concurrent
 * clients, next to the raw crypto floor of one handshake measured in the same run.
 *
 *   node bench/kbs.ts [--seconds 10] [--concurrency 64] [--db sqlite|postgres|both] [--rate R]
 *                     [--fetch node-http|undici]
 *
 * Closed loop by default (N clients, each starting its next handshake when the last one ends, so
 * p50 ≈ N / throughput by Little's law); --rate R runs an open loop instead (a handshake due every
 * 1/R s, at most N in flight, latency counted from when it was due). Every handshake uses a fresh
 * ephemeral key, fresh evidence signed by the sim attester and a fresh session; the server's and
 * the load generator's CPU per handshake are printed separately (they share the machine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import { createSimAttester } from '../src/attester/index.ts';
import { evidenceSourceOf } from '../src/cli/commands/get-resource.ts';
import { randomBytes, toHex } from '../src/core/index.ts';
import { createKbsServer, createPolicyEngine, DEV_SIM_POLICY, validateConfig } from '../src/kbs/index.ts';
import { encryptResponseNode, reportDataSync, teePubKeySpki, withNodeSign } from '../src/kbs/node-crypto.ts';
import { decryptResponse, generateTeeKeyPair, KbsClient } from '../src/protocol/index.ts';
import { openStore } from '../src/store/index.ts';
import { simKeyThumbprint } from '../src/verify/sim/index.ts';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '64' }, db: { type: 'string', default: 'both' }, fetch: { type: 'string', default: 'node-http' }, rate: { type: 'string' }, serve: { type: 'string' } } });

let serverCpu: { ms: number; n: number } | null = null;

// ------------------------------------------------------------------------------ server side
if (args.serve) {
  const database = args.serve;
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    database,
    logLevel: 'silent',
    admin: { keys: [{ jwk: JSON.parse(process.env.BENCH_ADMIN_JWK!) as Record<string, unknown>, roles: ['admin'] }] },
    trustRoots: { sim: [process.env.BENCH_SIM_THUMBPRINT!] },
    verify: { offline: true },
  });
  const store = await openStore(database, { masterKey: Uint8Array.from(Buffer.from(process.env.BENCH_MASTER_KEY!, 'hex')) });
  const engine = await createPolicyEngine(store, config);
  const server = await createKbsServer({ config, store, engine });
  await store.attestationPolicies.set('sim', DEV_SIM_POLICY, 'bench');
  await store.resourcePolicies.set('bench/**', 'platform == "sim" && status != "contraindicated"', { updatedBy: 'bench' });
  await store.resources.put('bench/key/one', new TextEncoder().encode('benchmark secret'), { createdBy: 'bench' });
  const url = await server.listen();
  process.stdout.write(`${url}\n`);
  // CPU the server spends per handshake (user+system), independent of how loaded the machine is.
  let base = process.cpuUsage();
  let baseCount = 0;
  const handshakes = async () => ((await server.metrics.handshakes.get()).values.find((v) => v.labels.step === 'attest' && v.labels.outcome === 'ok')?.value ?? 0);
  process.on('SIGUSR2', () => {
    void handshakes().then((n) => {
      base = process.cpuUsage();
      baseCount = n;
    });
  });
  process.on('SIGTERM', () => {
    void handshakes().then((n) => {
      const u = process.cpuUsage(base);
      const cpuMs = (u.user + u.system) / 1000;
      process.stderr.write(`SERVER_CPU ${cpuMs.toFixed(0)} ${n - baseCount}\n`);
      return server.close();
    }).then(() => store.close()).then(() => process.exit(0));
  });
} else {
  await runBench();
}

async function startChild(database: string, env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--serve', database], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => {
    const m = /SERVER_CPU (\d+) (\d+)/.exec(d.toString());
    if (m) serverCpu = { ms: Number(m[1]), n: Number(m[2]) };
    else process.stderr.write(d);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n')[0];
      if (buf.includes('\n') && line) resolve(line.trim());
    });
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return { url, child };
}

/**
 * The load generator's HTTP: a `fetch` over node:http with keep-alive connections, about a third
 * of undici fetch's CPU per request. It returns just what KbsClient reads (ok, status,
 * statusText, headers.get, json, text); the client, its cookies and its checks are unchanged.
 */
function lightFetch(agent: Agent): typeof fetch {
  return ((input: string | URL, init?: RequestInit) => {
    const u = new URL(String(input));
    return new Promise<Response>((resolve, reject) => {
      const req = request({ agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method: init?.method ?? 'GET', headers: init?.headers as Record<string, string> }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          resolve({
            ok: status >= 200 && status < 300,
            status,
            statusText: res.statusMessage ?? '',
            headers: {
              get: (n: string) => {
                const v = res.headers[n.toLowerCase()];
                return Array.isArray(v) ? v.join(', ') : (v ?? null);
              },
            },
            json: () => Promise.resolve(JSON.parse(text) as unknown),
            text: () => Promise.resolve(text),
          } as unknown as Response);
        });
      });
      req.on('error', reject);
      req.end(typeof init?.body === 'string' ? init.body : undefined);
    });
  }) as typeof fetch;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * One handshake's cryptography, sequentially in one process, split by side. Client: ephemeral
 * key, sim evidence signature, JWE decryption (jose). Server, as the KBS does it: sim evidence
 * verification, report-data hash, EAR signature (node:crypto), tee-pubkey SPKI, JWE encryption
 * (node:crypto ECDH-ES+A256KW + A256GCM).
 */
async function cryptoFloor(attester: ReturnType<typeof createSimAttester>): Promise<{ clientMs: number; serverMs: number }> {
  const { privateKey: earKey } = await generateKeyPair('ES256', { extractable: true });
  const signer = withNodeSign({ kid: 'bench', alg: 'ES256', key: earKey });
  const { parseSimEvidence } = await import('../src/evidence/sim/index.ts');
  const { verifySim } = await import('../src/verify/sim/index.ts');
  const { emptyCollateral } = await import('../src/collateral/index.ts');
  const secret = new TextEncoder().encode('benchmark secret');
  const n = 300;
  let client = 0;
  let server = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const k = await generateTeeKeyPair('P-256');
    const ev = await attester.evidence(randomBytes(64));
    const t1 = performance.now();
    await verifySim(parseSimEvidence(ev), { now: new Date(), collateral: emptyCollateral() });
    reportDataSync(k.publicJwk, 'bm9uY2U=', '', 'sha384');
    await signer.sign!(randomBytes(1500));
    teePubKeySpki(k.publicJwk);
    const r = encryptResponseNode(secret, k.publicJwk);
    const t2 = performance.now();
    await decryptResponse(r, k.privateKey);
    const t3 = performance.now();
    client += t1 - t0 + (t3 - t2);
    server += t2 - t1;
  }
  return { clientMs: client / n, serverMs: server / n };
}

async function runBench(): Promise<void> {
  const seconds = Number(args.seconds);
  const conc = Number(args.concurrency);
  const pgUrl = process.env.TEATASTER_TEST_PG_URL;
  const dir = await mkdtemp(join(tmpdir(), 'teataster-bench-kbs-'));
  const attester = createSimAttester({ dir });
  const thumb = await simKeyThumbprint((await attester.key()).publicJwk);
  const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const env = { BENCH_ADMIN_JWK: JSON.stringify(await exportJWK(publicKey)), BENCH_SIM_THUMBPRINT: thumb, BENCH_MASTER_KEY: toHex(randomBytes(32)) };
  const floor = await cryptoFloor(attester);
  console.log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await import('node:os')).availableParallelism()} CPUs`);
  console.log(`crypto floor per handshake (one process, sequential): server ${floor.serverMs.toFixed(2)} ms, client ${floor.clientMs.toFixed(2)} ms`);
  const targets: { name: string; database: string; cleanup?: () => Promise<void> }[] = [];
  if (args.db !== 'postgres') targets.push({ name: 'sqlite', database: join(dir, 'kbs.sqlite') });
  if (args.db !== 'sqlite' && pgUrl) {
    const name = `teataster_bench_${toHex(randomBytes(4))}`;
    const pg = createRequire(import.meta.url)('pg') as { Client: new (o: { connectionString: string }) => { connect(): Promise<void>; query(s: string): Promise<unknown>; end(): Promise<void> } };
    const admin = async (q: string) => {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(q);
      await c.end();
    };
    await admin(`CREATE DATABASE ${name}`);
    const u = new URL(pgUrl);
    u.pathname = `/${name}`;
    targets.push({ name: 'postgres', database: u.toString(), cleanup: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) });
  } else if (args.db !== 'sqlite') console.log('postgres: skipped (TEATASTER_TEST_PG_URL unset)');
  for (const t of targets) {
    const { url, child } = await startChild(t.database, env);
    const agent = new Agent({ keepAlive: true, maxSockets: conc });
    try {
      const source = evidenceSourceOf(attester);
      const fetchImpl = args.fetch === 'undici' ? undefined : lightFetch(agent);
      const client = () => new KbsClient({ url, source, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
      // warm-up (signing key generation, JIT)
      for (let i = 0; i < 20; i++) await client().getResource('bench/key/one');
      const lat: number[] = [];
      let errors = 0;
      const end = performance.now() + 100 + seconds * 1000;
      const worker = async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          try {
            await client().getResource('bench/key/one');
            lat.push(performance.now() - t0);
          } catch {
            errors++;
          }
        }
      };
      child.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 100));
      const mode = args.rate ? `open loop at ${args.rate}/s, ≤ ${conc} in flight` : `${conc} clients`;
      // Open loop (--rate R): handshake i is due at t0 + i/R with at most `conc` in flight, and its
      // latency counts from when it was due, so queueing behind a slow server is not hidden.
      const openLoop = async (rate: number) => {
        let inFlight = 0;
        let wake: (() => void) | null = null;
        const pending = new Set<Promise<void>>();
        for (let i = 0; ; i++) {
          const due = t0 + (i * 1000) / rate;
          if (due >= end) break;
          const wait = due - performance.now();
          if (wait > 1) await new Promise((r) => setTimeout(r, wait));
          while (inFlight >= conc) await new Promise<void>((r) => (wake = r));
          inFlight++;
          const p = client()
            .getResource('bench/key/one')
            .then(
              () => void lat.push(performance.now() - due),
              () => void errors++,
            )
            .finally(() => {
              inFlight--;
              pending.delete(p);
              const w = wake;
              wake = null;
              w?.();
            });
          pending.add(p);
        }
        await Promise.all(pending);
      };
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      if (args.rate) await openLoop(Number(args.rate));
      else await Promise.all(Array.from({ length: conc }, worker));
      const el = (performance.now() - t0) / 1000;
      const cu = process.cpuUsage(c0);
      lat.sort((a, b) => a - b);
      console.log(
        `${t.name.padEnd(8)} ${mode}, ${el.toFixed(1)} s: ${(lat.length / el).toFixed(0)} handshakes/s (auth+attest+resource), p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, errors ${errors}`,
      );
      console.log(`${t.name.padEnd(8)} client CPU ${((cu.user + cu.system) / 1000 / Math.max(1, lat.length)).toFixed(2)} ms per handshake (load generator: key generation, evidence signing, HTTP, JWE decryption)`);
    } finally {
      serverCpu = null;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      if (serverCpu) {
        const { ms, n } = serverCpu as { ms: number; n: number };
        const per = ms / Math.max(1, n);
        console.log(`${t.name.padEnd(8)} server CPU ${per.toFixed(2)} ms per handshake (${n} handshakes): ≈ ${(1000 / per).toFixed(0)} handshakes/s per dedicated core`);
      }
      agent.destroy();
      await t.cleanup?.();
    }
  }
  await rm(dir, { recursive: true, force: true });
}
