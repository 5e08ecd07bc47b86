/**
 * `kbs serve --dev`: everything a first run needs in ./.teataster/ — a master key, an Ed25519
 * admin key whose public half is configured and whose token is written to admin-token (printed
 * once, when it is created), the sim key pinned as the only trusted sim signer, an attestation
 * policy that accepts the sim TEE and a starter resource policy. Never for production.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { loadOrCreateSimKey } from '../attester/index.ts';
import type { Store } from '../store/index.ts';
import { simKeyThumbprint } from '../verify/sim/index.ts';
import { signAdminToken } from './admin-auth.ts';

export const DEV_SIM_POLICY = `# DEVELOPMENT ONLY: accepts the software-simulated TEE (no hardware protection).
version: 1
id: dev-sim
revision: "1"
description: teataster kbs serve --dev — accepts the sim TEE of this install
platforms:
  sim:
    allowSimulated: true
    debug: false
rules: []
`;

export const DEV_RESOURCE_GLOB = '**';
export const DEV_RESOURCE_POLICY = 'status in ["affirming", "warning"]';

export interface DevSetup {
  dir: string;
  adminPublicJwk: JWK;
  adminToken: string;
  /** True when the token was minted now (the CLI prints it once). */
  tokenCreated: boolean;
  simThumbprint: string;
}

const TOKEN_DAYS = 90;

export async function prepareDev(dir: string, now = new Date()): Promise<DevSetup> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pubFile = join(dir, 'admin-key.pub.jwk');
  const tokFile = join(dir, 'admin-token');
  let pub: JWK | null = null;
  let token: string | null = null;
  try {
    pub = JSON.parse(await readFile(pubFile, 'utf8')) as JWK;
    token = (await readFile(tokFile, 'utf8')).trim();
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: number };
    if (!payload.exp || payload.exp * 1000 < now.getTime() + 86_400_000) token = null;
  } catch {
    // absent or unreadable: mint a new pair below
  }
  if (!pub || !token) {
    pub = null;
    token = null;
  }
  let created = false;
  if (!pub || !token) {
    // The private key exists only long enough to sign the dev token; it is never written.
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    pub = { ...(await exportJWK(publicKey)), kid: 'dev-admin' };
    token = await signAdminToken(privateKey, 'EdDSA', { roles: ['admin'], subject: 'dev-admin', kid: 'dev-admin', lifetimeSeconds: TOKEN_DAYS * 86_400, now });
    await writeFile(pubFile, `${JSON.stringify(pub)}\n`, { mode: 0o600 });
    await writeFile(tokFile, `${token}\n`, { mode: 0o600 });
    created = true;
  }
  const sim = await loadOrCreateSimKey(dir);
  return { dir, adminPublicJwk: pub, adminToken: token, tokenCreated: created, simThumbprint: await simKeyThumbprint(sim.publicJwk) };
}

/** Installs the dev policies unless the operator already set their own. */
export async function seedDevPolicies(store: Store, now = new Date()): Promise<void> {
  if (!(await store.attestationPolicies.get('sim'))) await store.attestationPolicies.set('sim', DEV_SIM_POLICY, 'kbs serve --dev', now);
  if ((await store.resourcePolicies.list()).length === 0) await store.resourcePolicies.set(DEV_RESOURCE_GLOB, DEV_RESOURCE_POLICY, { updatedBy: 'kbs serve --dev', description: 'dev starter policy: any attested TEE', at: now });
}
