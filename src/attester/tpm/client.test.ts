import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestError } from '../../core/index.ts';
import { TPM_RC, TpmClient, TpmResponseError } from './client.ts';
import type { TpmTransport } from './transport.ts';

function response(rc: number, body: number[] = []): Uint8Array {
  const out = new Uint8Array(10 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0x8001);
  dv.setUint32(2, out.length);
  dv.setUint32(6, rc);
  out.set(body, 10);
  return out;
}

function fake(responses: Uint8Array[]): TpmTransport & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  return {
    sent,
    async transmit(cmd) {
      sent.push(cmd);
      const r = responses.shift();
      if (!r) throw new Error('no more responses');
      return r;
    },
    async close() {},
  };
}

const noSleep = { sleep: async () => undefined };

test('TPM client retries RETRY, YIELDED and TESTING warnings, then succeeds', async () => {
  for (const rc of [TPM_RC.RETRY, TPM_RC.YIELDED, TPM_RC.TESTING]) {
    const t = fake([response(rc), response(rc), response(0)]);
    await new TpmClient(t, noSleep).flush(0x80000000);
    assert.equal(t.sent.length, 3);
    assert.deepEqual(t.sent[0], t.sent[2], 'the same command is resubmitted');
  }
});

test('TPM client gives up after the retry budget and reports other codes as ERR_DEVICE', async () => {
  const t = fake(Array.from({ length: 4 }, () => response(TPM_RC.RETRY)));
  await assert.rejects(new TpmClient(t, { ...noSleep, retries: 3 }).flush(1), (e: unknown) => e instanceof TpmResponseError && e.rc === TPM_RC.RETRY && e.code === 'ERR_DEVICE');
  await assert.rejects(new TpmClient(fake([response(0x18b)]), noSleep).flush(1), (e: unknown) => e instanceof TpmResponseError && e.rc === 0x18b);
  // Startup on an already-started TPM (TPM_RC_INITIALIZE) is success.
  await new TpmClient(fake([response(TPM_RC.INITIALIZE)]), noSleep).startup();
  // A response whose size field lies, or that is truncated, is a device error.
  const lying = response(0, [1, 2]);
  new DataView(lying.buffer).setUint32(2, 99);
  await assert.rejects(new TpmClient(fake([lying]), noSleep).flush(1), (e: unknown) => e instanceof AttestError && e.code === 'ERR_DEVICE');
  await assert.rejects(new TpmClient(fake([response(0)]), noSleep).readPublic(0x81000000), (e: unknown) => e instanceof AttestError && e.code === 'ERR_DEVICE');
});
