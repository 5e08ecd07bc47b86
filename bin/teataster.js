#!/usr/bin/env node
// Entry point. The project runs its TypeScript sources directly on Node >= 22.18 (type stripping);
// `npm ci` puts Node 24 on PATH for npm scripts and npx through the `node` devDependency.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`teataster needs Node.js >= 22.18 (found ${process.versions.node}). Run it through npm (npx teataster / npm run), which uses the pinned Node 24, or install a current Node.\n`);
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
