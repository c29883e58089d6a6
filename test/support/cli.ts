/** Runs the dnnfuse CLI in-process and captures what it writes to stderr. */
import { main } from '../../src/cli/main.ts';

export async function runCli(args: string[]): Promise<{ code: number; err: string }> {
  const orig = process.stderr.write.bind(process.stderr);
  let err = '';
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(args), err };
  } finally {
    process.stderr.write = orig;
  }
}
