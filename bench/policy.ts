/**
 * Appraisal and EAR throughput, next to the raw crypto floor measured in the same run.
 *
 *   node bench/policy.ts [--seconds 2]
 *
 * - appraise: a realistic SNP policy (measurement ref, min TCB, host data, 2 CEL rules) over
 *   fixture claims, every check evaluated and explained (no crypto: pure CPU).
 * - EAR issue (ES256) vs the floor: one WebCrypto ECDSA P-256 sign over a token-sized payload.
 * - EAR verify (ES256) vs the floor: one WebCrypto ECDSA P-256 verify over the same bytes.
 */
import { appraise, issueEar, MemoryReferenceValueStore, parsePolicy, signerFromJwk, verifyEarToken, type AppraisalResult } from '../src/policy/index.ts';
import { HOST_DATA, SNP_MEASUREMENT, snpClaims } from '../src/policy/test-support/claims.ts';
import { exportJWK, generateKeyPair } from 'jose';
import { numberArg } from './support.ts';

const SECONDS = numberArg('--seconds', 2);

async function rate(name: string, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 50; i++) await fn();
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  while (performance.now() < end) {
    await fn();
    n++;
  }
  const r = n / SECONDS;
  console.log(`${name.padEnd(44)} ${r.toFixed(0).padStart(8)} ops/s`);
  return r;
}

const policy = await parsePolicy(`version: 1
id: bench
platforms:
  snp:
    measurements: { snp.measurement: [ref:app] }
    minTcb: { snp: 14, microcode: 72, bootloader: 3 }
    requireHostData: "${HOST_DATA}"
rules:
  - { id: vmpl0, expr: 'claims.platformClaims.vmpl == 0', message: VMPL0 }
  - { id: no-migration, expr: '!claims.platformClaims.policy.migrateMa', message: no migration agent, tier: warning }
`);
const refs = new MemoryReferenceValueStore([{ name: 'app', kind: 'digest', value: SNP_MEASUREMENT, source: 'bench', addedBy: 'bench' }]);
const claims = snpClaims();
const now = new Date('2024-01-01T00:00:00Z');
let last: AppraisalResult | undefined;
const appraiseRate = await rate('appraise (8 built-in checks + 2 CEL rules)', async () => {
  last = await appraise(claims, { policy, refs, now });
});
if (last?.status !== 'affirming') throw new Error('bench fixture must affirm');

const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
const signer = await signerFromJwk({ ...(await exportJWK(privateKey)), kid: 'bench', alg: 'ES256' });
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' }] };
let jwt = '';
const issueRate = await rate('EAR issue ES256', async () => {
  jwt = await issueEar({ appraisal: last! }, { signer, now: new Date() });
});
const signingInput = new TextEncoder().encode(jwt.split('.').slice(0, 2).join('.'));
const ecdsa = { name: 'ECDSA', hash: 'SHA-256' };
const signFloor = await rate('  floor: ECDSA P-256 sign (same bytes)', () => crypto.subtle.sign(ecdsa, privateKey as CryptoKey, signingInput));
const sig = await crypto.subtle.sign(ecdsa, privateKey as CryptoKey, signingInput);
const verifyRate = await rate('EAR verify ES256 (JWKS, claims, structure)', () => verifyEarToken(jwt, { jwks: jwks as never, now: new Date() }));
const verifyFloor = await rate('  floor: ECDSA P-256 verify (same bytes)', () => crypto.subtle.verify(ecdsa, publicKey as CryptoKey, sig, signingInput));
console.log(`\nappraise: ${appraiseRate.toFixed(0)}/s; EAR issue ${(issueRate / signFloor).toFixed(2)}x of the sign floor; EAR verify ${(verifyRate / verifyFloor).toFixed(2)}x of the verify floor`);
