/**
 * `--dim name=N` (applyDimOverrides): every graph input's dim named `name` fixed at once, as a
 * KV-cache transformer needs (a past_key_values input per layer and direction, all
 * [batch, heads, past, head_dim]); checked against --shape, with one-line errors.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Graph, Model, Node, attr } from '../../src/ir/graph.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { applyDimOverrides, applyShapeOverrides, inferShapes, parseDimOverrides, staticShape } from '../../src/analysis/shapes.ts';
import { DnnfuseError } from '../../src/errors.ts';
import { loadModel, saveModel } from '../../src/onnx/io.ts';
import { runCli } from '../support/cli.ts';

const F = DataType.FLOAT;

/** A one-layer attention-cache shape pattern: q [batch, 2, seq, 4] against the cache
 * concat(past, new) [batch, 2, past + seq, 4] (Concat on axis 2), softmax(q k^T) v. */
function kvModel(): Model {
  const nodes = [
    new Node({ name: 'cat_k', opType: 'Concat', inputs: ['past_k', 'k'], outputs: ['kk'], attributes: [attr.int('axis', 2)] }),
    new Node({ name: 'cat_v', opType: 'Concat', inputs: ['past_v', 'v'], outputs: ['vv'], attributes: [attr.int('axis', 2)] }),
    new Node({ name: 'kt', opType: 'Transpose', inputs: ['kk'], outputs: ['kT'], attributes: [attr.ints('perm', [0, 1, 3, 2])] }),
    new Node({ name: 'qk', opType: 'MatMul', inputs: ['q', 'kT'], outputs: ['s'] }),
    new Node({ name: 'sm', opType: 'Softmax', inputs: ['s'], outputs: ['p'], attributes: [attr.int('axis', -1)] }),
    new Node({ name: 'pv', opType: 'MatMul', inputs: ['p', 'vv'], outputs: ['y'] }),
  ];
  const t = (shape: (number | string)[]) => ({ elemType: F, shape });
  const graph = new Graph({
    name: 'kv',
    nodes,
    inputs: [
      { name: 'q', type: t(['batch', 2, 'seq', 4]) },
      { name: 'k', type: t(['batch', 2, 'seq', 4]) },
      { name: 'v', type: t(['batch', 2, 'seq', 4]) },
      { name: 'past_k', type: t(['batch', 2, 'past', 4]) },
      { name: 'past_v', type: t(['batch', 2, 'past', 4]) },
    ],
    outputs: [{ name: 'y', type: t(['batch', 2, 'seq', 4]) }, { name: 'vv', type: t(['batch', 2, 'total', 4]) }],
  });
  return new Model({ graph, opsetImports: [{ domain: '', version: 17 }] });
}

const oneLine = (re: RegExp) => (e: unknown) => e instanceof DnnfuseError && e.exitCode === 2 && !e.message.includes('\n') && re.test(e.message);

test('--dim fixes a named dim in every input and output at once; shapes become static', () => {
  const m = kvModel();
  applyDimOverrides(m, ['batch=1', 'seq=3', 'past=5']);
  assert.deepEqual(m.graph.inputs.map((i) => i.type?.shape), [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 4]]);
  // an output's dim no input names stays symbolic (inference fills it)
  assert.deepEqual(m.graph.outputs.map((o) => o.type?.shape), [[1, 2, 3, 4], [1, 2, 'total', 4]]);
  inferShapes(m);
  assert.deepEqual(staticShape(m, 'kk'), [1, 2, 8, 4]);
  assert.deepEqual(staticShape(m, 'y'), [1, 2, 3, 4]);
});

test('--dim errors: unknown name lists the named dims; malformed or contradictory specs; --shape disagreeing with a --dim says so', () => {
  assert.throws(() => applyDimOverrides(kvModel(), ['batch=1', 'sq=2']), oneLine(/--dim sq=\.\.\.: no graph input has a dim named 'sq' \(named dims: batch, seq, past\)/));
  for (const bad of ['batch', '=1', 'batch=x', 'batch=-1', 'batch=1.5', 'batch=99999999999']) {
    assert.throws(() => parseDimOverrides([bad]), oneLine(/--dim '.*': expected NAME=N/), bad);
  }
  assert.throws(() => parseDimOverrides(['batch=1', 'batch=2']), oneLine(/--dim batch: given twice, as 1 and 2/));
  assert.deepEqual([...parseDimOverrides(['batch=1', 'batch=1'])], [['batch', 1]]);
  const m = kvModel();
  applyDimOverrides(m, ['batch=1']);
  assert.throws(() => applyShapeOverrides(m, ['q=2x2x3x4']), oneLine(/--shape q: dim 0 is fixed to 1 by --dim, not 2/));
  assert.throws(() => applyShapeOverrides(m, ['q=1x3x3x4']), oneLine(/--shape q: dim 1 is fixed to 2 in the model, not 3/));
  // --dim and --shape together: --shape fixes the rest of an input
  applyShapeOverrides(m, ['q=1x2x3x4']);
  assert.deepEqual(m.graph.inputs[0].type?.shape, [1, 2, 3, 4]);
});

test('a dynamic-shape error suggests --dim with the named dims left', () => {
  const m = kvModel();
  applyDimOverrides(m, ['batch=1']);
  inferShapes(m);
  assert.throws(() => staticShape(m, 'y'), oneLine(/--shape q=1x2x224x4\) or every input's named dims at once with --dim \(e\.g\. --dim seq=1 --dim past=1\)$/));
});

test('compile --dim: the written model has the dims fixed and onnxruntime agrees; without it, exit 2 naming --dim and nothing written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-dim-'));
  const file = join(dir, 'kv.onnx');
  saveModel(kvModel(), file);
  const out = join(dir, 'out');
  const bad = await runCli(['compile', file, '-o', out, '--dim', 'batch=1', '--quiet', '--option', 'plan.optimum=false']);
  assert.equal(bad.code, 2, bad.err);
  assert.match(bad.err, /--dim seq=1 --dim past=1/);
  assert.equal(existsSync(join(out, 'model.onnx')), false);
  const ok = await runCli(['compile', file, '-o', out, '--dim', 'batch=1', '--dim', 'seq=3', '--dim', 'past=5', '--quiet', '--option', 'plan.optimum=false']);
  assert.equal(ok.code, 0, ok.err.slice(-2000));
  const written = loadModel(join(out, 'model.onnx'));
  assert.deepEqual(written.graph.inputs.map((i) => i.type?.shape), [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 4]]);
});

test('rewrite --dim: the written model declares the fixed dims, --verify feeds them; an unknown name exits 2 and writes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-dim-rw-'));
  const file = join(dir, 'kv.onnx');
  saveModel(kvModel(), file);
  const out = join(dir, 'rw.onnx');
  const bad = await runCli(['rewrite', file, '-o', out, '--dim', 'sq=2']);
  assert.equal(bad.code, 2, bad.err);
  assert.match(bad.err, /--dim sq=\.\.\.: no graph input has a dim named 'sq'/);
  assert.equal(existsSync(out), false);
  const ok = await runCli(['rewrite', file, '-o', out, '--dim', 'batch=1', '--dim', 'seq=3', '--dim', 'past=5', '--shape', 'q=1x2x3x4', '--verify']);
  assert.equal(ok.code, 0, ok.err.slice(-2000));
  assert.deepEqual(loadModel(out).graph.inputs.map((i) => i.type?.shape), [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 4]]);
});
