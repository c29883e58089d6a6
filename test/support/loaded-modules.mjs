// Preload (`node --import ./test/support/loaded-modules.mjs ...`) that records every module the
// process loads into the file named by $DNNFUSE_LOADED_MODULES, one URL or path a line: ES
// modules (and the entry files of CommonJS packages imported from them) through a resolve hook,
// CommonJS files required from there through require.cache at exit. The tests use it to check
// that a command loads nothing it does not need (start-up time is spent loading modules).
// Node 20 runs module hooks on a separate thread: the hook appends each URL synchronously, so
// the list is complete whenever the process exits.
import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';

const out = process.env.DNNFUSE_LOADED_MODULES;
if (out) {
  register('./loaded-modules-hooks.mjs', { parentURL: import.meta.url, data: { out } });
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => appendFileSync(out, Object.keys(cache).map((f) => `${f}\n`).join('')));
}
