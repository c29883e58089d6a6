/** compile's onnxruntime check as it runs since issue 15 item 5 (bench:memory): the original is
 * read by onnxruntime from its file (refused when the file changed since it was loaded), the
 * rewritten model from a temporary file that is removed afterwards, sessions with onnxruntime's
 * memory arena only where tensors under 32 MiB hold most of the bytes (checkArena); same verdicts
 * and figures as before. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { saveModel } from '../../src/onnx/io.ts';
import { checkArena, compileModel } from '../../src/compile.ts';
import { ModelBuilder } from '../../src/models/builder.ts';
import { randomFeeds, runModel } from '../../src/analysis/ort.ts';
import { smallConvModel } from '../onnx/helpers.ts';
import type { Pass } from '../../src/passes/pass.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'dnnfuse-check-mem-'));

test('compile checks a model file against the rewritten model and leaves no temporary file', async () => {
  const dir = tmp();
  const p = join(dir, 'm.onnx');
  saveModel(smallConvModel(4), p);
  // A private temporary folder: test files run in parallel, and other compiles' check folders
  // would be seen in the shared one.
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = mkdtempSync(join(dir, 'tmp-'));
  try {
    const r = await compileModel(p, { pipeline: 'fold-constants,fold-bn,plan', seed: 0 });
    const v = r.schedule.verification!;
    assert.equal(v.checked, true, JSON.stringify(v));
    assert.ok(v.outputs!.every((o) => o.ok && o.mismatched === 0));
    assert.deepEqual(readdirSync(process.env.TMPDIR), [], 'the temporary folder of the check is removed');
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
});

test('a model file changed on disk during the compile is refused by the check (one line, exit code 2)', async () => {
  const dir = tmp();
  const p = join(dir, 'm.onnx');
  saveModel(smallConvModel(5), p);
  const touch: Pass = {
    name: 'touch-input',
    description: 'changes the input file’s mtime, as an editor saving over it would',
    reads: [],
    writes: [],
    run() {
      utimesSync(p, new Date(2001, 1, 1), new Date(2001, 1, 1));
      return { changed: false };
    },
  };
  await assert.rejects(compileModel(p, { pipeline: [touch] }), (e: Error & { exitCode?: number }) => {
    assert.match(e.message, /m\.onnx: the model file changed on disk while it was compiled/);
    assert.equal(e.message.includes('\n'), false);
    assert.equal(e.exitCode, 2);
    return true;
  });
});

test('runModel without the memory arena gives the same outputs as with it', async () => {
  const m = smallConvModel(6);
  const feeds = randomFeeds(m, 1);
  const a = await runModel(m, feeds, { graphOptimizationLevel: 'disabled' });
  const b = await runModel(m, feeds, { graphOptimizationLevel: 'disabled', cpuMemArena: false });
  assert.deepEqual(Object.keys(b), Object.keys(a));
  for (const k of Object.keys(a)) assert.deepEqual(b[k].data, a[k].data);
});

test('runModel without the memory pattern (as compile checks) gives the same outputs, bit for bit', async () => {
  const m = smallConvModel(7);
  const feeds = randomFeeds(m, 2);
  const a = await runModel(m, feeds, { graphOptimizationLevel: 'disabled', cpuMemArena: false });
  const b = await runModel(m, feeds, { graphOptimizationLevel: 'disabled', cpuMemArena: false, memPattern: false });
  assert.deepEqual(Object.keys(b), Object.keys(a));
  for (const k of Object.keys(a)) assert.deepEqual(b[k].data, a[k].data);
});

test('checkArena: the arena where tensors under 32 MiB hold most intermediate bytes, not where larger ones do or shapes are unknown', () => {
  assert.equal(checkArena(smallConvModel(2)), true);
  const big = (side: number, dynamic = false) => {
    const b = new ModelBuilder({ seed: 1 });
    let x = b.input('x', [1, 1, side, side]);
    x = b.relu(b.relu(x));
    x = b.globalAveragePool(x);
    b.output(x);
    const m = b.build('big');
    if (dynamic) m.graph.inputs[0].type!.shape![2] = 'height';
    return m;
  };
  // two 64 MiB float tensors and a 4-byte one
  assert.equal(checkArena(big(4096)), false);
  // two 16 MiB ones
  assert.equal(checkArena(big(2048)), true);
  assert.equal(checkArena(big(2048, true)), false, 'no static shape: no arena');
  // glibc's threshold fixed by the environment: tensors from that size on are mapped whole
  assert.equal(checkArena(big(2048), { MALLOC_MMAP_THRESHOLD_: '131072' }), false);
  assert.equal(checkArena(smallConvModel(2), { MALLOC_MMAP_THRESHOLD_: '131072' }), true, 'its 8 KiB tensors stay under it');
  assert.equal(checkArena(big(2048), { MALLOC_MMAP_THRESHOLD_: 'lots' }), true, 'not a number: ignored');
});
