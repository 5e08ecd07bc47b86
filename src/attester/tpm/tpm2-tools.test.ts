/**
 * Interop cross-check against tpm2-tools (installed by .ci/run): an AK made and a quote taken by
 * tpm2_createak / tpm2_quote on swtpm must parse with our structures (TPMT_PUBLIC, Name,
 * TPMS_ATTEST, TPMT_SIGNATURE) and verify with verifyQuote over PCR values read by our client.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AttestError, toHex, utf8 } from '../../core/index.ts';
import { objectName, parseTpmsAttest, parseTpmtPublic, parseTpmtSignature, TPM_ALG } from '../../evidence/tpm/index.ts';
import { verifyQuote } from '../../verify/tpm/index.ts';
import { openTpm } from './index.ts';
import { startSwtpm, type Swtpm } from './test-support/swtpm.ts';

const run = promisify(execFile);
let tpm: Swtpm;

before(async () => {
  tpm = await startSwtpm('sha256');
});
after(async () => {
  await tpm?.stop();
});

async function tool(args: string[]): Promise<void> {
  try {
    await run(args[0]!, args.slice(1), { cwd: tpm.dir, env: { ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${tpm.port}` }, timeout: 60_000 });
  } catch (e) {
    throw new Error(`${args.join(' ')} failed (tpm2-tools installed? .ci/run installs it): ${(e as { stderr?: string }).stderr ?? (e as Error).message}`, { cause: e });
  }
}

test('tpm2-tools AK and quote verify with our parser and verifyQuote', async () => {
  // No resource manager on a raw swtpm socket: flush transient objects between tools.
  await tool(['tpm2_createek', '-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub']);
  await tool(['tpm2_flushcontext', '-t']);
  await tool(['tpm2_createak', '-C', 'ek.ctx', '-c', 'ak.ctx', '-G', 'rsa', '-g', 'sha256', '-s', 'rsassa', '-u', 'ak.pub', '-n', 'ak.name', '-f', 'tss']);
  await tool(['tpm2_flushcontext', '-t']);
  await tool(['tpm2_flushcontext', '-s']);
  const nonce = '0123456789abcdef';
  await tool(['tpm2_quote', '-c', 'ak.ctx', '-l', 'sha256:0,1,7,16', '-q', nonce, '-m', 'q.msg', '-s', 'q.sig', '-g', 'sha256']);
  await tool(['tpm2_flushcontext', '-t']);
  const file = (n: string) => readFile(join(tpm.dir, n)).then((b) => new Uint8Array(b));
  const akPub = await file('ak.pub'); // TPM2B_PUBLIC
  const ak = parseTpmtPublic(akPub.subarray(2));
  assert.equal(toHex(await objectName(ak)), toHex(await file('ak.name')), 'our Name equals the TPM-computed Name');
  const attest = parseTpmsAttest(await file('q.msg'));
  const sig = parseTpmtSignature(await file('q.sig'));
  assert.equal(toHex(attest.extraData), nonce);
  const client = await openTpm({ tcp: { port: tpm.port } });
  try {
    const pcrs = await client.pcrRead([{ hash: TPM_ALG.SHA256, pcrs: [0, 1, 7, 16], sizeofSelect: 3 }]);
    const v = await verifyQuote(attest, sig, ak, { pcrs, nonce: Uint8Array.from(Buffer.from(nonce, 'hex')) });
    assert.equal(v.pcrs.get(TPM_ALG.SHA256)!.size, 4);
    await assert.rejects(verifyQuote(attest, sig, ak, { pcrs, nonce: utf8('other') }), (e: unknown) => e instanceof AttestError && e.code === 'ERR_BINDING_MISMATCH');
  } finally {
    await client.transport.close();
  }
});
