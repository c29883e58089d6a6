/**
 * Loading tfjs's WASM backend leaves the program's uncaught-error behaviour alone: its Emscripten
 * module adds process listeners that rethrow, which made every uncaught error of a program using
 * dnnfuse exit with code 7 and print a 38 KB minified line of tfjs-backend-wasm.js. initTf
 * removes them; a listener the program added itself stays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const TF = join(import.meta.dirname, '..', '..', 'src', 'get', 'tf.ts');

test('after initTf (WASM backend), an uncaught error exits 1 with the error, not 7 with tfjs code', { timeout: 60_000 }, () => {
  const script = `
    const mine = () => {};
    process.on('unhandledRejection', mine);
    const { initTf } = await import(${JSON.stringify(TF)});
    console.log('backend', await initTf());
    console.log('listeners', process.listeners('uncaughtException').length, process.listeners('unhandledRejection').includes(mine), process.listeners('unhandledRejection').length);
    process.removeListener('unhandledRejection', mine);
    setTimeout(() => { throw new TypeError('the program\\'s own bug'); });
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, DNNFUSE_TF_BACKEND: '' } });
  assert.match(r.stdout, /^backend wasm$/m, r.stdout + r.stderr);
  assert.match(r.stdout, /^listeners 0 true 1$/m, "only the program's own listener is left");
  assert.equal(r.status, 1, r.stderr.slice(0, 500));
  assert.match(r.stderr, /TypeError: the program's own bug/);
  assert.doesNotMatch(r.stderr, /tfjs-backend-wasm/);
  assert.ok(r.stderr.length < 2000, `${r.stderr.length} bytes of stderr`);
});
