/**
 * Wires the Keep CA (ca-plugin.ts) to a teataster KBS: token verification through the KBS's
 * attestation engine, authorisation through its resource policies (the Keep must be allowed to
 * read keeps/<name>/key), resources from its store. Usage in the KBS:
 *
 *   createKbsServer({ config, store, engine,
 *     plugins: [keepCaPlugin({ store, engine, caKey, caCertPem, ttlSeconds: 3600 })] })
 */
import type { FastifyInstance } from 'fastify';
import { PolicyDenied } from '../core/index.ts';
import type { AttestationEngine } from '../kbs/engine.ts';
import { compileResourcePolicy, evaluateResourcePolicies } from '../kbs/resource-policy.ts';
import type { Store } from '../store/index.ts';
import { registerKeepCa, type KeepCaOptions } from './ca-plugin.ts';

export interface KeepCaKbsDeps {
  store: Pick<Store, 'resources' | 'resourcePolicies'>;
  engine: Pick<AttestationEngine, 'verifyToken'>;
  caKey: CryptoKey;
  caCertPem: string;
  ttlSeconds?: number;
  now?: () => Date;
}

export function keepCaOptions(d: KeepCaKbsDeps): KeepCaOptions {
  return {
    caKey: d.caKey,
    caCertPem: d.caCertPem,
    ...(d.ttlSeconds ? { ttlSeconds: d.ttlSeconds } : {}),
    ...(d.now ? { now: d.now } : {}),
    verifyToken: async (token, now) => {
      const f = await d.engine.verifyToken(token, now);
      return { teePubkey: f.teePubkey, payload: f.payload, status: f.status, platform: f.platform, claims: f.claims };
    },
    authorize: async (facts, path, now) => {
      const policies = (await d.store.resourcePolicies.list()).map((r) => compileResourcePolicy(r.glob, r.cel));
      const decision = evaluateResourcePolicies(policies, {
        path,
        status: facts.status,
        platform: facts.platform,
        simulated: Boolean((facts.claims as { simulated?: boolean } | null)?.simulated),
        claims: facts.claims,
        ear: facts.payload,
        now,
      });
      if (!decision.allowed) throw new PolicyDenied(decision.violations);
    },
    readResource: async (path) => (await d.store.resources.get(path))?.value ?? null,
  };
}

/** A plugin entry for KbsServerOptions.plugins. */
export function keepCaPlugin(d: KeepCaKbsDeps): { plugin: (app: FastifyInstance, opts: Record<string, unknown>) => Promise<void>; options: Record<string, unknown> } {
  const options = keepCaOptions(d);
  return {
    plugin: async (app) => {
      registerKeepCa(app, options);
    },
    options: {},
  };
}
