/**
 * `teataster verify` on real Nitro documents, through a child process (the CLI contract: exit 0
 * verified / 1 rejected, --json object).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate, toHex } from '../../core/index.ts';
import { runVerifyJson } from '../../../test/support/cli.ts';
import { corpusAvailable, corpusFile, corpusPath } from '../../../test/support/corpus.ts';

const skip = !corpusAvailable() && 'corpus not available';

const run = runVerifyJson;

const GA = 'nitro/evervault/ga_valid_attestation_doc.cose';
const GA_AT = '2023-09-18T15:16:05Z';
const DSTACK = 'nitro/dstack/nsm_qvl_nitro_attestation_2025-12-25.cose';
const DSTACK_AT = '2025-12-25T13:15:37.578Z';

test('CLI: a real document verifies at its time (detected, no --platform); debug needs --allow-debug', { skip }, async () => {
  const ok = await run([corpusPath(DSTACK), '--at', DSTACK_AT]);
  assert.equal(ok.status, 0, JSON.stringify(ok.json.error));
  assert.equal(ok.json.verified, true);
  assert.equal(ok.json.platform, 'nitro');
  assert.equal(ok.json.tcb, null);
  assert.equal(ok.json.claims.instanceId, 'i-0827e799ec9232d44-enc019b55a68bd2ed4b');
  assert.equal((ok.json.claims.measurements as Record<string, string>)['nitro.pcr0'], '5cb702954321826d7939d6da829a940d787fcf32357beb8eae1ddf33c28c17d36f3ac3ba6828fdf7edeed02889702da6');

  const dbg = await run([corpusPath(GA), '--at', GA_AT]);
  assert.equal(dbg.status, 1);
  assert.equal(dbg.json.verified, false);
  assert.equal(dbg.json.error?.code, 'ERR_DEBUG_NOT_ALLOWED');

  const spki = toHex(new Uint8Array(parseCertificate(corpusFile('nitro/evervault/ga_tls_certificate.der')).publicKey.rawData));
  const allowed = await run([corpusPath('nitro/evervault/ga_valid_attestation_doc.b64'), '--at', GA_AT, '--allow-debug', '--user-data', spki]);
  assert.equal(allowed.status, 0, JSON.stringify(allowed.json.error));
  assert.equal(allowed.json.claims.debug, true);
});

test('CLI: --max-age, a later --at, and a wrong --nonce are rejected with their codes', { skip }, async () => {
  const stale = await run([corpusPath(DSTACK), '--at', '2025-12-25T13:20:00Z', '--max-age', '60']);
  assert.equal(stale.status, 1);
  assert.equal(stale.json.error?.code, 'ERR_EVIDENCE_EXPIRED');
  const fresh = await run([corpusPath(DSTACK), '--at', '2025-12-25T13:20:00Z', '--max-age', '600', '--platform', 'nitro']);
  assert.equal(fresh.status, 0, JSON.stringify(fresh.json.error));
  const later = await run([corpusPath(DSTACK), '--at', '2025-12-26T00:00:00Z']);
  assert.equal(later.status, 1);
  assert.equal(later.json.error?.code, 'ERR_CERTIFICATE_INVALID');
  const nonce = await run([corpusPath(DSTACK), '--at', DSTACK_AT, '--nonce', '00112233']);
  assert.equal(nonce.status, 1);
  assert.equal(nonce.json.error?.code, 'ERR_BINDING_MISMATCH');
});
