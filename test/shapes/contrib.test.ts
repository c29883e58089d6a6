/**
 * onnxruntime's contrib ops (domain com.microsoft), as models saved after its graph
 * optimizations carry them: FusedMatMul's shape rule against onnxruntime's own output shapes,
 * the geometry (kernel, MACs) of FusedConv and FusedMatMul, and what shape inference writes
 * when a value's element type is unknown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyzeShapes, inferShapes } from '../../src/analysis/shapes.ts';
import { modelStats, nodeMacs } from '../../src/analysis/stats.ts';
import { randomFeeds, runModel } from '../../src/analysis/ort.ts';
import { buildOpGraph } from '../../src/fusion/op-graph.ts';
import { decodeModel, encodeModel, loadModel } from '../../src/onnx/io.ts';
import { Graph, Model, Node } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { CORPUS } from '../../corpus/models.ts';
import { modelMissing, modelPath } from '../../corpus/fetch.ts';

const int = (name: string, v: number) => ({ name, type: 'int' as const, value: BigInt(v) });

interface Flags { transA: number; transB: number; transBatchA: number; transBatchB: number }

/** A FusedMatMul whose operands are laid out so that op(A) = [...batch, m, k], op(B) = [...batch, k, n]. */
function fusedMatmulModel(batch: number[], m: number, k: number, n: number, f: Flags): Model {
  const layout = (rows: number, cols: number, t: number, tb: number): number[] => {
    let s = [...batch, rows, cols];
    if (t) s = [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]];
    // transBatch reads s as [d0, d1..d(R-2), d(R-1)] and moves d0 before the last dim: undo it.
    if (tb) s = [s[s.length - 2], ...s.slice(0, -2), s[s.length - 1]];
    return s;
  };
  const node = new Node({ name: 'fmm', opType: 'FusedMatMul', domain: 'com.microsoft', inputs: ['a', 'b'], outputs: ['y'], attributes: [int('transA', f.transA), int('transB', f.transB), int('transBatchA', f.transBatchA), int('transBatchB', f.transBatchB), { name: 'alpha', type: 'float', value: 0.5 }] });
  const graph = new Graph({
    name: 'g',
    nodes: [node],
    inputs: [{ name: 'a', type: { elemType: DataType.FLOAT, shape: layout(m, k, f.transA, f.transBatchA) } }, { name: 'b', type: { elemType: DataType.FLOAT, shape: layout(k, n, f.transB, f.transBatchB) } }],
    outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }],
  });
  return new Model({ graph, opsetImports: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }] });
}

test('FusedMatMul: the inferred shape is the one onnxruntime produces, for every transpose flag; MACs = output x inner dim', async () => {
  const dim = fc.integer({ min: 1, max: 4 });
  await fc.assert(
    fc.asyncProperty(fc.array(dim, { minLength: 0, maxLength: 2 }), dim, dim, dim, fc.record({ transA: fc.integer({ min: 0, max: 1 }), transB: fc.integer({ min: 0, max: 1 }), transBatchA: fc.integer({ min: 0, max: 1 }), transBatchB: fc.integer({ min: 0, max: 1 }) }), async (batch, m, k, n, f) => {
      // onnxruntime transposes batches only of operands of rank 3 or more
      if (!batch.length) f = { ...f, transBatchA: 0, transBatchB: 0 };
      const model = fusedMatmulModel(batch, m, k, n, f);
      const got = (await runModel(encodeModel(model), randomFeeds(model, 1))).y.dims;
      const types = inferShapes(model);
      assert.deepEqual(types.get('y')?.shape, [...got], `flags ${JSON.stringify(f)}, batch [${batch}], m ${m} k ${k} n ${n}`);
      assert.equal(nodeMacs(model.graph.nodes[0], types), got.reduce((a, b) => a * b, 1) * k);
    }),
    { numRuns: 24, seed: 7 },
  );
});

test('a shape known with its element type unknown (after an op without a rule) stays in the analysis, never in value_info', () => {
  const target = Tensor.int64('target', [2], [2, 6]);
  const graph = new Graph({
    name: 'g',
    nodes: [
      new Node({ name: 'mystery', opType: 'Mystery', domain: 'com.example', inputs: ['x'], outputs: ['m'] }),
      new Node({ name: 'reshape', opType: 'Reshape', inputs: ['m', 'target'], outputs: ['r'] }),
      new Node({ name: 'relu', opType: 'Relu', inputs: ['r'], outputs: ['y'] }),
    ],
    inputs: [{ name: 'x', type: { elemType: DataType.FLOAT, shape: [3, 4] } }],
    outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }],
    initializers: [target],
  });
  const model = new Model({ graph, opsetImports: [{ domain: '', version: 17 }, { domain: 'com.example', version: 1 }] });
  const a = analyzeShapes(model);
  assert.deepEqual(a.types.get('r')?.shape, [2, 6]);
  assert.equal(a.types.get('r')?.elemType, DataType.UNDEFINED);
  for (const [name, vi] of model.graph.valueInfo) assert.notEqual(vi.type?.elemType, DataType.UNDEFINED, `value_info '${name}' has elem_type 0 (onnxruntime rejects the model)`);
  const back = decodeModel(encodeModel(model));
  for (const [name, vi] of back.graph.valueInfo) assert.notEqual(vi.type?.elemType, DataType.UNDEFINED, `written value_info '${name}'`);
});

const cls = CORPUS.find((m) => m.id === 'ppocr-cls')!;
const clsOrt = CORPUS.find((m) => m.id === 'ppocr-cls-ort')!;

test("FusedConv: onnxruntime's optimized PP-OCR classifier has the original's MACs, and every fused conv the kernel of its weights", { skip: modelMissing(cls) ?? modelMissing(clsOrt) ?? false }, () => {
  const overrides = { x: [1, 3, 48, 192] };
  const original = modelStats(loadModel(modelPath(cls)), { overrides }).totals.macs;
  const optimized = loadModel(modelPath(clsOrt));
  assert.ok(optimized.graph.nodes.some((n) => n.opType === 'FusedConv' && n.domain === 'com.microsoft'));
  assert.equal(modelStats(optimized, { overrides }).totals.macs, original);
  const types = analyzeShapes(optimized, { overrides }).types;
  const g = buildOpGraph(optimized, { shapeOf: (v) => types.get(v)!.shape as number[] });
  let fused = 0;
  for (const op of g.ops) {
    const node = optimized.graph.nodes.find((n) => n.name === op.node)!;
    if (node.opType !== 'FusedConv') continue;
    fused++;
    const w = optimized.graph.initializers.get(node.inputs[1])!.dims;
    assert.deepEqual(op.kernel, [w[2], w[3]], `${op.node}: kernel`);
  }
  assert.equal(fused, optimized.graph.nodes.filter((n) => n.opType === 'FusedConv').length);
});
