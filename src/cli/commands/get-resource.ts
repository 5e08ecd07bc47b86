/**
 * `teataster get-resource kbs://<host>:<port>/<repo>/<type>/<tag> [--tee auto|snp|tdx|tpm|sim]
 *   [--insecure-http] [-o <file>]` — runs the RCAR handshake with this machine's TEE, then fetches
 * and decrypts the secret with an ephemeral key that never leaves memory. Exit 0 ok, 1 refused, 2 usage.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { selectAttester, TEE_CHOICES, type Attester, type TeeChoice } from '../../attester/index.ts';
import { KbsClient, TEE_KEY_KINDS, teeOfPlatform, type EvidenceSource, type TeeKeyKind } from '../../protocol/index.ts';
import { Exit, UsageError } from '../exit.ts';
import { writeErr } from '../io.ts';

export function parseKbsUri(uri: string, insecureHttp: boolean): { base: string; path: string } {
  const m = /^(kbs|https?):\/\/([^/]+)\/([^/]+\/[^/]+\/[^/?#]+)$/.exec(uri);
  if (!m) throw new UsageError(`expected kbs://<host>:<port>/<repository>/<type>/<tag>, got ${JSON.stringify(uri)}`);
  const [, scheme, host, path] = m as unknown as [string, string, string, string];
  if (scheme === 'http' && !insecureHttp) throw new UsageError('plain http:// needs --insecure-http');
  const proto = scheme === 'kbs' ? (insecureHttp ? 'http' : 'https') : scheme;
  return { base: `${proto}://${host}`, path };
}

export function evidenceSourceOf(a: Attester): EvidenceSource {
  return {
    tee: teeOfPlatform(a.id),
    evidence: (rd) => (a.kbsEvidence ? a.kbsEvidence(rd) : a.evidence(rd)),
  };
}

export function registerGetResource(program: Command): void {
  program
    .command('get-resource <uri>')
    .description('attest this TEE to a KBS and fetch a secret: kbs://host:port/repository/type/tag')
    .option('--tee <tee>', `attester: ${TEE_CHOICES.join(' | ')}`, 'auto')
    .option('--insecure-http', 'talk plain HTTP (development KBS on loopback)')
    .option('-o, --output <file>', 'write the secret to a file (mode 0600) instead of stdout')
    .option('--key <kind>', `ephemeral key type: ${TEE_KEY_KINDS.join(' | ')}`, 'P-256')
    .option('--sim-dir <dir>', 'directory of the sim key (default ./.teataster)')
    .action(async (uri: string, o: { tee: string; insecureHttp?: boolean; output?: string; key: string; simDir?: string }) => {
      if (!(TEE_CHOICES as readonly string[]).includes(o.tee)) throw new UsageError(`--tee must be one of ${TEE_CHOICES.join(', ')}`);
      if (!(TEE_KEY_KINDS as readonly string[]).includes(o.key)) throw new UsageError(`--key must be one of ${TEE_KEY_KINDS.join(', ')}`);
      const { base, path } = parseKbsUri(uri, Boolean(o.insecureHttp));
      const attester = await selectAttester(o.tee as TeeChoice, { ...(o.simDir ? { sim: { dir: o.simDir } } : {}) });
      if (attester.id === 'sim') writeErr(`teataster: using the SIMULATED TEE${o.tee === 'auto' ? ' (no hardware TEE found)' : ''}: its evidence proves nothing about this machine`);
      const client = new KbsClient({ url: base, source: evidenceSourceOf(attester), keyKind: o.key as TeeKeyKind });
      const secret = await client.getResource(path);
      if (o.output) await writeFile(o.output, secret, { mode: 0o600 });
      else process.stdout.write(secret);
      process.exitCode = Exit.Ok;
    });
}
