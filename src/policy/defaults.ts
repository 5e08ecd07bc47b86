/**
 * The built-in secure default policy (issue 5): per platform, debug TEEs, the simulated TEE and a
 * revoked or unknown TCB status are contraindicated; OutOfDate (and the *Needed statuses) are a
 * warning; missing revocation data (no CRL) is a warning. It pins no measurements: the workload
 * is not appraised until you add reference values (the result says so in a 'measurements' row).
 */
import { PLATFORM_IDS, type PlatformId } from '../core/index.ts';
import { compilePolicy, type CompiledPolicy, type PolicyInput } from './schema.ts';

export function defaultPolicyDocument(platform?: PlatformId): PolicyInput {
  const ids = platform ? [platform] : PLATFORM_IDS;
  return {
    version: 1,
    id: platform ? `default-${platform}` : 'default',
    revision: '1',
    description: 'teataster secure default: debug, simulated, revoked or unknown TCB → contraindicated; out-of-date TCB or missing CRL → warning',
    platforms: Object.fromEntries(ids.map((p) => [p, { debug: false, allowSimulated: false, revocation: 'warn' as const }])),
    rules: [],
    verifierWarnings: 'report',
  };
}

const cache = new Map<string, Promise<CompiledPolicy>>();

/** The compiled default policy for one platform (or for all of them). */
export function defaultPolicy(platform?: PlatformId): Promise<CompiledPolicy> {
  const key = platform ?? '*';
  let p = cache.get(key);
  if (!p) {
    p = compilePolicy(defaultPolicyDocument(platform));
    cache.set(key, p);
  }
  return p;
}
