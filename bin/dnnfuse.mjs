#!/usr/bin/env node
// Entry point: runs the TypeScript sources through tsx's loader (no build step to forget).
import { register } from 'tsx/esm/api';
register();
const { main, reportStall } = await import('../src/cli/main.ts');
// When the event loop empties while main() is pending (a pass whose promise never settles),
// node would exit 13 without a word: say which pass and exit 1.
let finished = false;
process.once('beforeExit', () => {
  if (!finished) process.exit(reportStall());
});
process.exitCode = await main(process.argv.slice(2));
finished = true;
