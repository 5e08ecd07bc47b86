import type { Command } from 'commander';
import { platforms } from '../../platform/index.ts';
import { writeOut } from '../io.ts';

export function registerPlatforms(program: Command): void {
  program
    .command('platforms')
    .description('list the TEE platforms this build verifies')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      if (opts.json) writeOut(JSON.stringify(platforms.map((p) => ({ id: p.id, description: p.description }))));
      else for (const p of platforms) writeOut(`${p.id.padEnd(12)} ${p.description}`);
    });
}
