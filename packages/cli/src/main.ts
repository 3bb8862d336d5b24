/** The `storevision` command line. */
import { Command, CommanderError } from 'commander';
import { registerBench } from './commands/bench.ts';
import { registerDataset } from './commands/dataset.ts';
import { registerEdge } from './commands/edge.ts';
import { registerHub } from './commands/hub.ts';
import { registerModels } from './commands/models.ts';
import { registerOrchestrator } from './commands/orchestrator.ts';
import { registerSimulate } from './commands/simulate.ts';
import { registerUp } from './commands/up.ts';
import { CliError } from './errors.ts';

export function buildProgram(): Command {
  const program = new Command('storevision')
    .description('storevision: edge AI inference for retail stores')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerUp(program);
  registerEdge(program);
  registerHub(program);
  registerOrchestrator(program);
  registerModels(program);
  registerSimulate(program);
  registerDataset(program);
  registerBench(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof CliError) {
      console.error(`storevision: ${err.code}: ${err.message}`);
      return err.exitCode;
    }
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z]+_ERR_/.test(code)) {
      console.error(`storevision: ${code}: ${(err as Error).message}`);
      return 1;
    }
    console.error('storevision: unexpected error:', err);
    return 1;
  }
}

// `storevision … | head`: a reader that closes the pipe early loses the rest of the output, as with
// any Unix tool, instead of an unhandled EPIPE stack trace. Ignored rather than exiting, so a
// long-running command (`up`, `edge`) still stops its children cleanly on its signal.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

process.exitCode = await main(process.argv);
