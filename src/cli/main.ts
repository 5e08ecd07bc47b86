import { Command, CommanderError } from 'commander';
import { isAttestError } from '../core/index.ts';
import { Exit, UsageError } from './exit.ts';
import { writeErr } from './io.ts';
import { registerVerify } from './commands/verify.ts';
import { registerPlatforms } from './commands/platforms.ts';
import { registerKbs } from './commands/kbs.ts';
import { registerGetResource } from './commands/get-resource.ts';
import { registerKeep } from './commands/keep.ts';
import { registerToken } from './commands/token.ts';
import { registerRefs } from './commands/refs.ts';
import { registerPolicy } from './commands/policy.ts';
import { registerTpm } from './commands/tpm.ts';

export function buildProgram(): Command {
  const program = new Command('teataster')
    .description('Remote attestation: verify TEE evidence, appraise it, broker secrets, run confidential WebAssembly Keeps')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  registerVerify(program);
  registerPlatforms(program);
  registerKeep(program);
  // command registrations (one line per command module) go here
  registerTpm(program);
  registerKbs(program);
  registerGetResource(program);
  registerToken(program);
  registerRefs(program);
  registerPolicy(program);
  return program;
}

/** Runs the CLI and returns the exit status (never throws). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : Exit.Ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return Exit.Ok;
      return Exit.Usage;
    }
    if (e instanceof UsageError) {
      writeErr(`teataster: ${e.message}`);
      return Exit.Usage;
    }
    if (isAttestError(e)) {
      writeErr(`teataster: ${e.code}: ${e.message}`);
      return Exit.Rejected;
    }
    writeErr(`teataster: internal error: ${(e as Error).stack ?? String(e)}`);
    return Exit.Rejected;
  }
}
