/**
 * Empty graph inputs (a dim of 0) are valid ONNX that onnxruntime runs: the key/value cache of an
 * LLM before its first token (`--dim past=0`, the prefill step), a batch of none, a split of size
 * 0. compile plans them like any other input (their tensors hold no bytes) and checks them; only
 * a Conv on an empty image, which onnxruntime refuses to run, is a one-line error naming the node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compileModel } from '../../src/compile.ts';
import { modelOf, valueInfo } from '../support/proto.ts';
import { ModelBuilder } from '../../src/models/builder.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { isDnnfuseError } from '../../src/errors.ts';

const NODE = '/usr/share/libonnx-testdata/data/node';
const skipTd = existsSync(NODE) ? false : `${NODE} not found (apt-get install libonnx-testdata; .ci/run does it)`;

/** One attention head group with a key/value cache: K = Concat(past_k, k), V = Concat(past_v, v)
 * on the sequence axis, O = Softmax(q K^T) V; present K and V are outputs, as LLM exports have. */
function kvAttention() {
  const t = (name: string, dims: (number | string)[]) => valueInfo(name, DataType.FLOAT, dims);
  return modelOf({
    node: [
      { op_type: 'Concat', name: 'cat_k', input: ['past_k', 'k'], output: ['K'], attribute: [{ name: 'axis', type: 2, i: 2 }] },
      { op_type: 'Concat', name: 'cat_v', input: ['past_v', 'v'], output: ['V'], attribute: [{ name: 'axis', type: 2, i: 2 }] },
      { op_type: 'Transpose', name: 'kt', input: ['K'], output: ['Kt'], attribute: [{ name: 'perm', type: 7, ints: [0, 1, 3, 2] }] },
      { op_type: 'MatMul', name: 'qk', input: ['q', 'Kt'], output: ['S'] },
      { op_type: 'Softmax', name: 'softmax', input: ['S'], output: ['P'], attribute: [{ name: 'axis', type: 2, i: -1 }] },
      { op_type: 'MatMul', name: 'pv', input: ['P', 'V'], output: ['O'] },
    ],
    input: [t('q', [1, 2, 'seq', 8]), t('k', [1, 2, 'seq', 8]), t('v', [1, 2, 'seq', 8]), t('past_k', [1, 2, 'past', 8]), t('past_v', [1, 2, 'past', 8])],
    output: [t('O', [1, 2, 'seq', 8]), t('K', [1, 2, 'total', 8]), t('V', [1, 2, 'total', 8])],
  });
}

function convNet(shape: number[]) {
  const b = new ModelBuilder({ seed: 1 });
  let x = b.input('x', shape);
  x = b.conv(x, { outChannels: 8, kernel: 3, pads: 'same', bias: true, name: 'conv1' });
  x = b.relu(x);
  x = b.conv(x, { outChannels: 4, kernel: 3, pads: 'same', name: 'conv2' });
  b.output(x);
  return b.build('small');
}

test('an LLM prefill step (--dim past=0): planned, the cache concat planned with it, and checked', { timeout: 120_000 }, async () => {
  for (const past of [0, 5]) {
    const r = await compileModel(kvAttention(), { dims: ['seq=3', `past=${past}`] });
    assert.equal(r.schedule.verification?.checked, true, `past=${past}: ${r.schedule.verification?.reason}`);
    const get = r.schedule.passes.find((p) => p.name === 'get')!.annotations as { groups: { nodes: string[] }[] };
    assert.ok(get.groups.flatMap((g) => g.nodes).includes('cat_k'), `past=${past}: the cache concat is planned`);
  }
});

test('a batch of 0 images: planned (no activation bytes) and checked; a Conv on an empty image is refused naming the node', { timeout: 120_000 }, async () => {
  const r = await compileModel(convNet([0, 3, 8, 8]), {});
  assert.equal(r.schedule.verification?.checked, true, r.schedule.verification?.reason);
  const one = await compileModel(convNet([1, 3, 8, 8]), {});
  const dram = (x: typeof r) => (x.schedule.passes.find((p) => p.name === 'plan')!.annotations as { totals: { layerByLayerDramBytes: number } }).totals.layerByLayerDramBytes;
  // Batch 0 moves the weights only: 8x3x3x3 + 4x8x3x3 int8 weights and 8 biases (int8 too).
  assert.equal(dram(r), 8 * 27 + 4 * 72 + 8, `batch 0 moves only weights (${dram(r)} B; batch 1: ${dram(one)} B)`);
  await assert.rejects(compileModel(convNet([1, 3, 0, 8]), {}), (e) => isDnnfuseError(e) && e.exitCode === 2
    && e.message === "node 'conv1' (Conv) input X 'x' has dims [1,3,0,8]: spatial dim #2 is 0 (onnxruntime runs no Conv on an empty image)");
});

test('ONNX conformance models with empty inputs compile and check on their own test data', { skip: skipTd, timeout: 120_000 }, async () => {
  for (const name of ['test_reduce_sum_empty_axes_input_noop_example', 'test_split_zero_size_splits', 'test_tril_zero', 'test_reshape_allowzero_reordered']) {
    const dir = join(NODE, name);
    const r = await compileModel(join(dir, 'model.onnx'), { inputs: [join(dir, 'test_data_set_0')] });
    assert.equal(r.schedule.verification?.checked, true, `${name}: ${r.schedule.verification?.reason}`);
  }
});
