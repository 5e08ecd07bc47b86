import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AttestError, ErrorCode } from '../core/index.ts';
import { KbsClient } from './index.ts';

test('KbsClient: an unresponsive KBS fails with ERR_PROTOCOL within the time limit instead of hanging', async () => {
  const server = createServer(() => {
    /* accept and never answer */
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const client = new KbsClient({ url, timeoutMs: 300, source: { tee: 'sample', evidence: async () => new Uint8Array(0) } });
    const t0 = Date.now();
    await assert.rejects(client.handshake(), (e: unknown) => e instanceof AttestError && e.code === ErrorCode.ProtocolError);
    assert.ok(Date.now() - t0 < 5_000, 'gave up promptly');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
