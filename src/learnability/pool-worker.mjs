// Worker-thread entry of the ensemble-training pool (piscina), as src/sweep/pool-worker.mjs:
//  - compiled build: pool-task.js sits next to this file and is imported as plain JavaScript;
//  - from source (through tsx): there is only pool-task.ts, so tsx's loader is registered in
//    this thread first (module hooks of the main thread do not reach worker threads on Node 20).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('./pool-task.js', import.meta.url);
let mod;
if (existsSync(fileURLToPath(compiled))) mod = await import(compiled.href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(new URL('./pool-task.ts', import.meta.url).href);
}
export default mod.default;
