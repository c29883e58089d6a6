/**
 * The `dnnfuse` command line. Each command lives in src/cli/commands/<name>.ts and exports
 * `register(program)`. Exit codes: 0 success, 1 plan/verification failure, 2 bad input.
 * Errors print as one line on stderr (`dnnfuse: ...`), never a stack trace
 * (set DNNFUSE_DEBUG=1 to see one).
 */
import { Command, CommanderError } from 'commander';
import { isDnnfuseError } from '../errors.ts';
import { commands } from './commands/index.ts';
import { TOOL_VERSION } from '../passes/manager.ts';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('dnnfuse')
    .description('Compiler passes for ONNX models: layer fusion, conv reparameterization, GNN learnability checks')
    .version(TOOL_VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of commands) register(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return 2; // commander already printed its one-line message
  }
  if (process.env.DNNFUSE_DEBUG) console.error(e);
  if (isDnnfuseError(e)) {
    process.stderr.write(`dnnfuse: ${e.message}\n`);
    return e.exitCode;
  }
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`dnnfuse: internal error: ${msg.split('\n')[0]}\n`);
  return 1;
}
