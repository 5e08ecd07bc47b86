/** Public face of the Key Broker Service (docs/kbs.md). Node only. */
import { join } from 'node:path';
import { AttestError, ErrorCode } from '../core/index.ts';
import { ensureMasterKeyFile, loadMasterKey, openStore, type Store } from '../store/index.ts';
import type { KbsConfig } from './config.ts';
import type { AttestationEngine } from './engine.ts';
import { createPolicyEngine } from './policy-engine.ts';
import { createKbsServer, type KbsServer, type KbsServerOptions } from './server.ts';

export { ADMIN_ROUTES } from './admin-routes.ts';
export { AdminAuthenticator, grants, loadAdminKeys, signAdminToken, type AdminPrincipal } from './admin-auth.ts';
export { ADMIN_ROLES, KbsConfigSchema, loadConfig, validateConfig, type AdminRole, type KbsConfig, type KbsConfigInput } from './config.ts';
export { DEV_RESOURCE_POLICY, DEV_SIM_POLICY, prepareDev, seedDevPolicies, type DevSetup } from './dev.ts';
export type { AppraisalOutcome, AttestationEngine, EarStatus, TokenFacts } from './engine.ts';
export { globMatches, isValidGlob } from './glob.ts';
export { createPolicyEngine, redactExpected } from './policy-engine.ts';
export { HttpProblem, problems } from './problems.ts';
export { compileResourcePolicy, evaluateResourcePolicies } from './resource-policy.ts';
export { createKbsServer, evidenceBytes, type KbsServer, type KbsServerOptions } from './server.ts';
export { signWebhook, WebhookDispatcher } from './webhooks.ts';

export interface StartedKbs extends KbsServer {
  store: Store;
  url: string;
  /** Closes the server, then the store. */
  shutdown(): Promise<void>;
}

/** Opens the store, builds the engine and the server, listens. */
type KbsPlugin = NonNullable<KbsServerOptions['plugins']>[number];

export async function startKbs(
  config: KbsConfig,
  opts: Partial<Omit<KbsServerOptions, 'config' | 'store' | 'engine'>> & {
    masterKey?: Uint8Array;
    devDir?: string;
    /** Plugins that need the store and the engine (e.g. the Keep CA). */
    pluginFactories?: ((deps: { store: Store; engine: AttestationEngine; config: KbsConfig }) => KbsPlugin | Promise<KbsPlugin>)[];
  } = {},
): Promise<StartedKbs> {
  let masterKey = opts.masterKey;
  if (!masterKey) {
    if (config.masterKey.file) masterKey = await loadMasterKey({ file: config.masterKey.file });
    else if (config.masterKey.env) {
      const v = process.env[config.masterKey.env];
      if (!v) throw new AttestError(ErrorCode.ConfigInvalid, `master key environment variable ${config.masterKey.env} is not set`);
      masterKey = await loadMasterKey({ env: { TEATASTER_MASTER_KEY: v } });
    } else if (config.dev) masterKey = await ensureMasterKeyFile(join(opts.devDir ?? '.teataster', 'master-key'));
    else masterKey = await loadMasterKey({});
  }
  const store = await openStore(config.database, { masterKey });
  try {
    const engine = await createPolicyEngine(store, config);
    const plugins = [...(opts.plugins ?? [])];
    for (const f of opts.pluginFactories ?? []) plugins.push(await f({ store, engine, config }));
    const server = await createKbsServer({ ...opts, plugins, config, store, engine });
    const url = await server.listen();
    return {
      ...server,
      store,
      url,
      async shutdown() {
        await server.close();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}
