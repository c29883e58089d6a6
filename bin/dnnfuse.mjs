#!/usr/bin/env node
// The `dnnfuse` command. Installed from npm it runs the compiled JavaScript in dist/ with
// Node's own loader (no tsx, no loader flag). In a git clone, where src/ sits next to it and
// tsx is installed, it runs the TypeScript sources through tsx instead: an edit is live
// without a rebuild, and the tests that spawn this file never run a stale dist/.
// DNNFUSE_DIST=1 makes a clone run dist/ too (`npm run build` first).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);

/** @returns {Promise<{ main: (argv: string[]) => Promise<number>, reportStall: () => number } | undefined>} */
async function fromSource() {
  if (process.env.DNNFUSE_DIST === '1' || !existsSync(source)) return undefined;
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    return undefined; // a clone installed without devDependencies: use dist/
  }
  tsx.register();
  return import(source.href);
}

const cli = (await fromSource()) ?? (existsSync(compiled) ? await import(compiled.href) : undefined);
if (!cli) {
  process.stderr.write('dnnfuse: dist/ is missing: run `npm run build` (or `npm ci`, which builds it)\n');
  process.exitCode = 2;
} else {
  // When the event loop empties while main() is pending (a pass whose promise never settles),
  // node would exit 13 without a word: say which pass and exit 1.
  let finished = false;
  process.once('beforeExit', () => {
    if (!finished) process.exit(cli.reportStall());
  });
  process.exitCode = await cli.main(process.argv.slice(2));
  finished = true;
}
