/**
 * The `dnnfuse` command line. Each command lives in src/cli/commands/<name>.ts and exports
 * `register(program)`; only the module of the command that runs is imported (commands/index.ts).
 * Exit codes: 0 success, 1 plan/verification failure, 2 bad input.
 * Errors print as one line on stderr (`dnnfuse: ...`), never a stack trace
 * (set DNNFUSE_DEBUG=1 to see one).
 */
import { Command, CommanderError } from 'commander';
import { isDnnfuseError } from '../errors.ts';
import { commandsFor } from './commands/index.ts';
import { TOOL_VERSION } from '../util/version.ts';

/**
 * A reader that closes its end early (`dnnfuse inspect m.onnx | head`, `dnnfuse rewrite --help |
 * head`, `dnnfuse compile m.onnx 2>&1 | head`) ends what is printed, not the command: node
 * reports the closed pipe as an 'error' event (EPIPE), which without a listener is an uncaught
 * exception with a stack trace. The command goes on with its work (a compile still writes its
 * outputs) and its exit code is what it would have been.
 */
let pipesQuiet = false;
function quietClosedPipes(): void {
  if (pipesQuiet) return; // once per process (main may run more than once in one)
  pipesQuiet = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  quietClosedPipes();
  const program = new Command('dnnfuse')
    .description('Compiler passes for ONNX models: layer fusion, conv reparameterization, GNN learnability checks')
    .version(TOOL_VERSION)
    .exitOverride()
    // Commander's own errors (unknown option, missing argument) get the `dnnfuse:` prefix like
    // every other error; subcommands inherit this configuration.
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(`dnnfuse: ${s.replace(/^error: /, '')}`) });
  try {
    // Only the command that runs is imported (with its dependencies): see commandsFor.
    for (const { register } of await Promise.all(commandsFor(argv).map((c) => c.load()))) register(program);
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
}

/** Passes (by name) started and not finished, most recent last: what a stalled run was doing. */
export const activePasses: string[] = [];

/**
 * Called by bin/dnnfuse.mjs when the event loop empties while main() is still pending: a promise
 * nobody can settle any more (a plugin pass returning a promise that never resolves). Node would
 * exit with code 13 and no message; this prints one line naming the pass and returns exit 1.
 */
export function reportStall(): number {
  const what = activePasses.length ? `pass '${activePasses[activePasses.length - 1]}' never finished: its promise can no longer settle (nothing left to wait for)` : 'the run stopped with work pending: a promise can no longer settle';
  process.stderr.write(`dnnfuse: ${what}; nothing was written\n`);
  return 1;
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
