// Lint: typescript-eslint plus the import directions of DESIGN.md, enforced per folder.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = ['node:*', 'fs', 'fs/*', 'path', 'crypto', 'os', 'http', 'https', 'net', 'tls', 'child_process', 'worker_threads', 'stream', 'buffer', 'url', 'util'];
const nodeBan = { group: NODE_BUILTINS, message: 'The browser-safe core must not import Node built-ins (DESIGN.md): take time/network/files as parameters.' };
const ban = (groups, message) => ({ group: groups, message });

const up = {
  kbs: '**/kbs/**', cli: '**/cli/**', keep: '**/keep/**', store: '**/store/**', attester: '**/attester/**',
  platform: '**/platform/**', verify: '**/verify/**', collateral: '**/collateral/**', evidence: '**/evidence/**', policy: '**/policy/**', protocol: '**/protocol/**',
};
const nodeLayers = [up.kbs, up.cli, up.keep, up.store, up.attester];

/** Rule config forbidding the given import groups. */
const restrict = (...patterns) => ['error', { patterns }];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.teataster/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', globalThis: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  { files: ['src/**/*.ts'], rules: { 'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'No default exports (DESIGN.md).' }] } },
  // core: the bottom layer
  { files: ['src/core/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': restrict(nodeBan, ban([up.evidence, up.collateral, up.verify, up.platform, up.policy, up.protocol, ...nodeLayers], 'core imports nothing above it')) } },
  { files: ['src/evidence/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': restrict(nodeBan, ban([up.collateral, up.verify, up.platform, up.policy, up.protocol, ...nodeLayers], 'evidence is pure parsing: it imports core only')) } },
  { files: ['src/collateral/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': restrict(nodeBan, ban([up.verify, up.platform, up.policy, up.protocol, ...nodeLayers], 'collateral imports core and evidence only')) } },
  { files: ['src/verify/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': restrict(nodeBan, ban([up.platform, up.policy, up.protocol, ...nodeLayers], 'verify imports core, evidence and collateral only')) } },
  { files: ['src/policy/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': restrict(nodeBan, ban([up.evidence, up.collateral, up.verify, up.platform, up.protocol, ...nodeLayers], 'policy depends on core only (it never imports a TEE folder)')) } },
  { files: ['src/platform/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': restrict(nodeBan, ban([...nodeLayers], 'platform is browser-safe and sits below kbs/cli/keep')) } },
  { files: ['src/protocol/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': restrict(nodeBan, ban([...nodeLayers], 'protocol is browser-safe and shared by server, client and browser')) } },
  // TEE folders never import each other (shared formats move down into core or evidence/dcap).
  ...['snp', 'tdx', 'sgx', 'nitro', 'tpm', 'azure', 'sim'].flatMap((tee) => {
    const others = ['snp', 'tdx', 'sgx', 'nitro', 'tpm', 'azure', 'sim'].filter((t) => t !== tee);
    return ['evidence', 'collateral', 'verify', 'attester'].map((layer) => ({
      files: [`src/${layer}/${tee}/**/*.ts`],
      ignores: ['**/*.test.ts'],
      rules: {
        'no-restricted-imports': restrict(
          ...(layer === 'attester' ? [] : [nodeBan]),
          ban(others.flatMap((o) => [`**/evidence/${o}/**`, `**/collateral/${o}/**`, `**/verify/${o}/**`, `**/attester/${o}/**`]), `a TEE folder (${tee}) must not import another TEE folder`),
          ...(layer === 'attester' ? [] : [ban(layer === 'evidence' ? [up.collateral, up.verify, up.platform, up.policy, up.protocol, ...nodeLayers] : layer === 'collateral' ? [up.verify, up.platform, up.policy, up.protocol, ...nodeLayers] : [up.platform, up.policy, up.protocol, ...nodeLayers], `${layer} layer import direction (DESIGN.md)`)]),
        ),
      },
    }));
  }),
  { files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
);
