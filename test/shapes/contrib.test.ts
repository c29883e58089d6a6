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
import { randomFeeds, runModel, type Feeds } from '../../src/analysis/ort.ts';
import { buildOpGraph } from '../../src/fusion/op-graph.ts';
import { decodeModel, encodeModel, loadModel } from '../../src/onnx/io.ts';
import { Graph, Model, Node, type Attribute } from '../../src/ir/graph.ts';
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

/** One com.microsoft node; inputs given a `value` become initializers. */
interface Spec { name: string; dtype: number; shape: number[]; value?: ArrayLike<number> }
function contribModel(opType: string, inputs: (Spec | null)[], attrs: Attribute[], outputs: number, domain = 'com.microsoft'): Model {
  const inits: Tensor[] = [];
  const graphInputs: { name: string; type: { elemType: number; shape: number[] } }[] = [];
  for (const s of inputs) {
    if (!s) continue;
    if (!s.value) graphInputs.push({ name: s.name, type: { elemType: s.dtype, shape: s.shape } });
    else if (s.dtype === DataType.FLOAT) inits.push(Tensor.float32(s.name, s.shape, Float32Array.from(s.value)));
    else if (s.dtype === DataType.INT64) inits.push(Tensor.int64(s.name, s.shape, s.value));
    else if (s.dtype === DataType.INT8) inits.push(new Tensor(s.name, s.dtype, s.shape, { kind: 'values', values: Array.from(s.value) }));
    else inits.push(new Tensor(s.name, s.dtype, s.shape, { kind: 'values', values: s.dtype === DataType.INT32 ? Int32Array.from(s.value) : Uint8Array.from(s.value) }));
  }
  const outs = Array.from({ length: outputs }, (_, k) => `y${k}`);
  const node = new Node({ name: 'n', opType, domain, inputs: inputs.map((s) => s?.name ?? ''), outputs: outs, attributes: attrs });
  const graph = new Graph({ name: 'g', nodes: [node], inputs: graphInputs, outputs: outs.map((name) => ({ name })), initializers: inits });
  return new Model({ graph, opsetImports: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }] });
}

/** Every output dim inferred as a number equals onnxruntime's; returns how many outputs had a
 * full static shape inferred. */
async function agreesWithOrt(model: Model, feeds = randomFeeds(model, 3)): Promise<number> {
  const got = await runModel(encodeModel(model), feeds);
  const types = inferShapes(model);
  let full = 0;
  for (const o of model.graph.outputs) {
    const mine = types.get(o.name)?.shape;
    if (!mine) continue;
    const ref = [...got[o.name].dims];
    assert.equal(mine.length, ref.length, `${model.graph.nodes[0].opType} output '${o.name}': inferred ${JSON.stringify(mine)}, onnxruntime [${ref}]`);
    mine.forEach((d, i) => typeof d === 'number' && assert.equal(d, ref[i], `${model.graph.nodes[0].opType} output '${o.name}' dim ${i}: inferred ${JSON.stringify(mine)}, onnxruntime [${ref}]`));
    if (mine.every((d) => typeof d === 'number')) full++;
  }
  return full;
}

const f32 = (name: string, ...shape: number[]): Spec => ({ name, dtype: DataType.FLOAT, shape });
const w32 = (name: string, ...shape: number[]): Spec => ({ name, dtype: DataType.FLOAT, shape, value: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 37) % 11) / 11 - 0.5) });

test('MatMulNBits (2-8 bit weights in blocks): [..., K] x B gives [..., N] as in onnxruntime; planned as a MatMul with K x N weight elements', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }), fc.constantFrom(16, 32), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), async (lead, block, kBlocks, n) => {
      const k = block * kBlocks, bits = 4, blob = (block * bits) / 8;
      const model = contribModel('MatMulNBits', [f32('a', ...lead, k), { name: 'b', dtype: DataType.UINT8, shape: [n, kBlocks, blob], value: Array.from({ length: n * kBlocks * blob }, (_, i) => (i * 29) % 256) }, w32('scales', n * kBlocks)], [int('K', k), int('N', n), int('bits', bits), int('block_size', block)], 1);
      assert.equal(await agreesWithOrt(model), 1);
      const types = inferShapes(model);
      assert.equal(nodeMacs(model.graph.nodes[0], types), lead.reduce((x, y) => x * y, 1) * n * k);
      const g = buildOpGraph(model, { shapeOf: (v) => types.get(v)!.shape as number[] });
      assert.equal(g.ops[0].weightElements, k * n + n * kBlocks, 'B as K x N elements, plus the scales');
    }),
    { numRuns: 12, seed: 3 },
  );
});

test('transformer contrib ops (attention, embeddings, RMS and skip norms, rotary, GELUs): the shapes onnxruntime produces', async () => {
  const [B, S, H, N] = [2, 5, 16, 4];
  const cases: [Model, number, Feeds?][] = [
    [contribModel('SkipLayerNormalization', [f32('x', B, S, H), f32('skip', B, S, H), w32('gamma', H), w32('beta', H)], [], 4), 2],
    [contribModel('SkipSimplifiedLayerNormalization', [f32('x', B, S, H), f32('skip', B, S, H), w32('gamma', H)], [], 4), 2],
    [contribModel('BiasGelu', [f32('x', B, S, H), w32('bias', H)], [], 1), 1],
    [contribModel('FastGelu', [f32('x', B, S, H), w32('bias', H)], [], 1), 1],
    [contribModel('QuickGelu', [f32('x', B, S, H)], [{ name: 'alpha', type: 'float', value: 1.702 }], 1), 1],
    [contribModel('Attention', [f32('x', B, S, H), w32('w', H, 3 * H), w32('bias', 3 * H)], [int('num_heads', N)], 1), 1],
    [contribModel('MultiHeadAttention', [f32('q', B, S, H), f32('k', B, 7, H), f32('v', B, 7, 2 * H)], [int('num_heads', N)], 1), 1],
    [contribModel('EmbedLayerNormalization', [{ name: 'ids', dtype: DataType.INT32, shape: [B, S] }, null, w32('word', 11, H), w32('pos', 8, H), null, w32('gamma', H), w32('beta', H)], [], 3), 3, { ids: { dims: [B, S], data: Int32Array.from({ length: B * S }, (_, i) => i % 11) } }],
    [contribModel('SimplifiedLayerNormalization', [f32('x', B, S, H), w32('gamma', H)], [int('axis', -1)], 2, ''), 2],
    [
      contribModel('GroupQueryAttention', [f32('q', 1, S, 2 * H), f32('k', 1, S, H), f32('v', 1, S, H), f32('pk', 1, 2, 3, 8), f32('pv', 1, 2, 3, 8), { name: 'seqlens', dtype: DataType.INT32, shape: [1] }, { name: 'total', dtype: DataType.INT32, shape: [1] }], [int('num_heads', N), int('kv_num_heads', 2)], 3),
      1,
      { seqlens: { dims: [1], data: Int32Array.from([S + 2]) }, total: { dims: [1], data: Int32Array.from([S + 3]) } },
    ],
    [
      contribModel('GatherBlockQuantized', [{ name: 'table', dtype: DataType.UINT8, shape: [11, 16], value: Array.from({ length: 176 }, (_, i) => (i * 13) % 256) }, { name: 'ids', dtype: DataType.INT64, shape: [B, S] }, w32('scales', 11, 1)], [int('block_size', 32), int('gather_axis', 0), int('quantize_axis', 1)], 1),
      1,
      { ids: { dims: [B, S], data: BigInt64Array.from({ length: B * S }, (_, i) => BigInt(i % 11)) } },
    ],
    [contribModel('RotaryEmbedding', [f32('x', B, S, H), { name: 'pos', dtype: DataType.INT64, shape: [B, S] }, w32('cos', 8, 2), w32('sin', 8, 2)], [int('num_heads', N)], 1), 1, { pos: { dims: [B, S], data: BigInt64Array.from({ length: B * S }, (_, i) => BigInt(i % S)) } }],
  ];
  for (const [model, full, fixed] of cases) {
    const feeds = { ...randomFeeds(model, 3), ...(fixed ?? {}) };
    assert.equal(await agreesWithOrt(model, feeds), full, `${model.graph.nodes[0].opType}: outputs with a static shape inferred`);
  }
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

test("onnxruntime's QOperator ops (quantize_static's QLinear* and QGemm, the dynamic quantizer's matmuls): the shapes and element types onnxruntime produces; the pools and concat plan as their float ops, integer weights count", async () => {
  const U8 = DataType.UINT8, I8 = DataType.INT8;
  const q = (name: string, ...shape: number[]): Spec => ({ name, dtype: U8, shape });
  const sc = (name: string): Spec => ({ name, dtype: DataType.FLOAT, shape: [], value: [0.05] });
  const zp = (name: string, dtype: number = U8): Spec => ({ name, dtype, shape: [], value: [dtype === U8 ? 128 : 0] });
  const io = (x: Spec) => [x, sc('xs'), zp('xz'), sc('ys'), zp('yz')];
  const k3 = [{ name: 'kernel_shape', type: 'ints' as const, value: [3n, 3n] }, { name: 'strides', type: 'ints' as const, value: [2n, 2n] }, { name: 'pads', type: 'ints' as const, value: [1n, 1n, 1n, 1n] }];
  const ints = (name: string, v: number[]) => ({ name, type: 'ints' as const, value: v.map(BigInt) });
  const elemOf = (data: unknown) => (data instanceof Uint8Array ? U8 : data instanceof Int8Array ? I8 : data instanceof Float32Array ? DataType.FLOAT : -1);
  const cases: Model[] = [
    contribModel('QLinearAdd', [q('a', 1, 4, 6, 5), sc('as'), zp('az'), q('b', 4, 1, 1), sc('bs'), zp('bz'), sc('ys'), zp('yz')], [], 1),
    contribModel('QLinearMul', [q('a', 1, 4, 6, 5), sc('as'), zp('az'), q('b', 1, 1, 5), sc('bs'), zp('bz'), sc('ys'), zp('yz')], [], 1),
    contribModel('QLinearSigmoid', io(q('x', 1, 4, 6, 5)), [], 1),
    contribModel('QLinearLeakyRelu', io(q('x', 1, 4, 6, 5)), [{ name: 'alpha', type: 'float', value: 0.1 }], 1),
    contribModel('QLinearSoftmax', io(q('x', 2, 3, 7)), [int('axis', -1), int('opset', 13)], 1),
    contribModel('QLinearAveragePool', io(q('x', 1, 4, 7, 5)), k3, 1),
    contribModel('QLinearAveragePool', io(q('x', 1, 7, 5, 4)), [...k3, int('channels_last', 1)], 1),
    contribModel('QLinearGlobalAveragePool', io(q('x', 1, 4, 6, 5)), [int('channels_last', 0)], 1),
    contribModel('QLinearGlobalAveragePool', io(q('x', 1, 6, 5, 4)), [int('channels_last', 1)], 1),
    contribModel('QLinearConcat', [sc('ys'), zp('yz'), q('a', 1, 4, 6, 5), sc('as'), zp('az'), q('b', 1, 3, 6, 5), sc('bs'), zp('bz')], [int('axis', 1)], 1),
    contribModel('QGemm', [q('a', 3, 8), sc('as'), zp('az'), { name: 'b', dtype: I8, shape: [8, 5], value: Array.from({ length: 40 }, (_, i) => (i % 7) - 3) }, sc('bs'), zp('bz', I8), { name: 'c', dtype: DataType.INT32, shape: [5], value: [1, 2, 3, 4, 5] }, sc('ys'), zp('yz')], [], 1),
    contribModel('QGemm', [q('a', 8, 3), sc('as'), zp('az'), { name: 'b', dtype: I8, shape: [5, 8], value: Array.from({ length: 40 }, (_, i) => (i % 7) - 3) }, sc('bs'), zp('bz', I8)], [int('transA', 1), int('transB', 1)], 1),
    contribModel('DynamicQuantizeMatMul', [f32('a', 2, 3, 8), { name: 'b', dtype: I8, shape: [8, 5], value: Array.from({ length: 40 }, (_, i) => (i % 7) - 3) }, { ...sc('bs'), shape: [1] }, { ...zp('bz', I8), shape: [1] }], [], 1),
    contribModel('MatMulIntegerToFloat', [q('a', 2, 3, 8), { name: 'b', dtype: U8, shape: [8, 5], value: Array.from({ length: 40 }, (_, i) => (i * 7) % 256) }, sc('as'), sc('bs'), zp('az'), zp('bz')], [], 1),
    contribModel('QLinearWhere', [{ name: 'cond', dtype: DataType.BOOL, shape: [1, 6, 5] }, q('a', 1, 4, 6, 5), sc('as'), zp('az'), q('b', 4, 1, 1), sc('bs'), zp('bz'), sc('ys'), zp('yz')], [], 1),
    contribModel('QuantizeLinear', [f32('x', 2, 3), sc('s'), zp('z')], [], 1),
    contribModel('DequantizeLinear', [q('x', 2, 3), sc('s'), zp('z')], [], 1),
  ];
  for (const model of cases) {
    const what = `${model.graph.nodes[0].opType} ${JSON.stringify(model.graph.nodes[0].attributes.map((a) => a.name))}`;
    const got = await runModel(encodeModel(model), randomFeeds(model, 3));
    assert.equal(await agreesWithOrt(model), 1, `${what}: a static shape inferred`);
    assert.equal(inferShapes(model).get('y0')?.elemType, elemOf(got.y0.data), `${what}: element type`);
  }
  // the fusion side: a pool's window and a global pool's whole input, as their float ops
  const plan = (m: Model) => {
    const types = inferShapes(m);
    return buildOpGraph(m, { shapeOf: (v) => types.get(v)!.shape as number[] }).ops[0];
  };
  assert.deepEqual([plan(cases[5]).kernel, plan(cases[5]).stride], [[3, 3], [2, 2]]);
  assert.equal(plan(cases[7]).global, true, 'QLinearGlobalAveragePool reads its whole input');
  assert.equal(plan(cases[8]).global, true);
  // integer weights, zero points and biases of quantized compute ops are weights (B 40, C 5,
  // six scalar scales and zero points); a ConvInteger's uint8 kernel too (54 + 2 zero points)
  assert.equal(plan(cases[10]).weightElements, 51);
  const convInt = contribModel('ConvInteger', [q('x', 1, 2, 5, 5), { name: 'w', dtype: U8, shape: [3, 2, 3, 3], value: Array.from({ length: 54 }, (_, i) => (i * 5) % 256) }, zp('xz'), zp('wz')], [], 1, '');
  assert.equal(await agreesWithOrt(convInt), 1);
  assert.equal(plan(convInt).weightElements, 56);
  // QLinearReduceMean has an op schema in onnxruntime but no CPU kernel: ReduceMean's shape
  const mean = contribModel('QLinearReduceMean', io(q('x', 1, 4, 6, 5)), [ints('axes', [2, 3]), int('keepdims', 0)], 1);
  assert.deepEqual(inferShapes(mean).get('y0'), { elemType: U8, shape: [1, 4] });
  assert.equal(plan(mean).global, true, 'QLinearReduceMean over H and W');
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
