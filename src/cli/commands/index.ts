import type { Command } from 'commander';

/** A CLI command: its name and its module (which exports `register(program)`). */
export interface CommandEntry {
  name: string;
  load: () => Promise<{ register: (program: Command) => void }>;
}

/** Every CLI command, in help order. Add a command by adding its module here. A command's module
 * is imported only when the command runs (see commandsFor): `dnnfuse --version` loads none, and
 * `dnnfuse compile` loads nothing of `sweep`'s DuckDB or `get`'s tfjs. */
export const commands: CommandEntry[] = [
  { name: 'compile', load: () => import('./compile.ts') },
  { name: 'get', load: () => import('./get.ts') },
  { name: 'inspect', load: () => import('./inspect.ts') },
  { name: 'learnability', load: () => import('./learnability.ts') },
  { name: 'plan', load: () => import('./plan.ts') },
  { name: 'report', load: () => import('./report.ts') },
  { name: 'rewrite', load: () => import('./rewrite.ts') },
  { name: 'sgs', load: () => import('./sgs.ts') },
  { name: 'sweep', load: () => import('./sweep.ts') },
  { name: 'worker', load: () => import('./worker.ts') },
];

/**
 * The commands to register for these arguments: the one they run, none for `--version` alone,
 * every command otherwise (`dnnfuse --help`, no argument, an unknown name: commander lists them
 * or reports the name as it always did). The command is the first argument that is not an
 * option (or the one after `help`): dnnfuse's own options, -V/--version and -h/--help, take no
 * value, so commander dispatches on that same argument. Start-up is mostly module loading, and
 * each command's module loads what its action needs (onnxruntime, DuckDB, tfjs, HiGHS, vega).
 */
export function commandsFor(argv: string[]): CommandEntry[] {
  const operands = argv.filter((a) => !a.startsWith('-'));
  const name = operands[0] === 'help' ? operands[1] : operands[0];
  const hit = commands.find((c) => c.name === name);
  if (hit) return [hit];
  if (name === undefined && argv.some((a) => a === '-V' || a === '--version')) return [];
  return commands;
}

/** Registers every command on `program` (what `dnnfuse --help` lists). */
export async function registerAll(program: Command): Promise<void> {
  for (const { register } of await Promise.all(commands.map((c) => c.load()))) register(program);
}
