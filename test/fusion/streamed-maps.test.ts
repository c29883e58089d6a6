/** 1-D (NCL) and 3-D (NCDHW) maps stream row by row under LBDF when the graph shows their layout
 * (row-order.ts markStreamedMaps); rank-3 maps of a transformer, or any a row-mixing op reads,
 * stay whole. Figures by hand, 1 byte per element. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ModelBuilder } from '../../src/models/builder.ts';
import { buildOpGraph } from '../../src/fusion/op-graph.ts';
import { LbdfCostModel } from '../../src/fusion/lbdf.ts';
import { mapRows } from '../../src/fusion/cost-base.ts';
import { lbdfMemoryFloor } from '../../src/search/prune.ts';
import { Graph, Model, Node, attr, type Attribute } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import type { OpGraph } from '../../src/fusion/types.ts';

const graphOf = (b: ModelBuilder, m: Model): OpGraph => buildOpGraph(m, { shapeOf: (v) => b.shape(v) });
const rowsByName = (g: OpGraph) => Object.fromEntries(g.tensors.map((t) => [t.name, mapRows(t)]));

test('a Conv1d stack streams along L: (K-1+s)-row line buffers of C bytes, not whole maps', () => {
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('x', [1, 8, 64]);
  const a = b.convNd(x, { outChannels: 16, kernel: 3, pads: 'same', name: 'c1' });
  const r = b.relu(a, 'r');
  const y = b.output(b.convNd(r, { outChannels: 16, kernel: 5, stride: 2, pads: 'same', name: 'c2' }));
  const m = b.build();
  const g = graphOf(b, m);
  assert.deepEqual(rowsByName(g), { x: 64, [a]: 64, [r]: 64, [y]: 32 });
  assert.deepEqual(g.ops[0].kernel, [3, 1], 'a 1-D window is [k, 1]: L is the row axis');
  const cost = new LbdfCostModel(g, 1 << 20, 1);
  const mem = cost.memory([0, 1, 2]);
  // weights 16*8*3 + 16*16*5 = 1664; x: 3 rows x 8 = 24; a: relu 1 row x 16; r: 5 - 1 + 2 = 6 rows x 16 = 96
  assert.deepEqual(mem.items.map((i) => [i.kind, i.bytes]), [['weights', 384], ['weights', 1280], ['line-buffer', 24], ['line-buffer', 16], ['line-buffer', 96]]);
  assert.equal(mem.bytes, 1664 + 24 + 16 + 96);
  // the search's pruning bound reads the same rows: never above the cost model's figure
  assert.equal(lbdfMemoryFloor(cost, [0, 1, 2]), mem.bytes);
});

test('a Conv3d streams along H: a row is C x D x W', () => {
  const b = new ModelBuilder({ seed: 2 });
  const x = b.input('x', [1, 4, 6, 10, 12]);
  const a = b.convNd(x, { outChannels: 8, kernel: 3, pads: 'same', name: 'c' });
  const r = b.output(b.relu(a, 'r'));
  const g = graphOf(b, b.build());
  assert.deepEqual(rowsByName(g), { x: 10, [a]: 10, [r]: 10 });
  const mem = new LbdfCostModel(g, 1 << 20, 1).memory([0, 1]);
  // weights 8*4*27 = 864; x: 3 rows x (4*6*12 = 288) = 864; a: 1 row x (8*6*12) = 576
  assert.equal(mem.bytes, 864 + 864 + 576);
});

test('rank-3 maps stay whole where the layout is not shown or a row-mixing op reads them', () => {
  // a transformer's [batch, sequence, hidden]: no 1-D window anywhere
  const t = new ModelBuilder({ seed: 3 });
  const h = t.input('h', [1, 16, 32]);
  const s = t.output(t.relu(t.sigmoid(h, 's'), 'r'));
  const gt = graphOf(t, t.build());
  assert.deepEqual(rowsByName(gt), { h: 1, [gt.tensors[1].name]: 1, [s]: 1 });
  // a Conv1d whose output a Flatten reads: that map (and the Relu linked to it) stay whole, the
  // conv's input still streams
  const b = new ModelBuilder({ seed: 4 });
  const x = b.input('x', [1, 4, 20]);
  const a = b.convNd(x, { outChannels: 4, kernel: 3, pads: 'same' });
  const r = b.relu(a);
  const f = b.output(b.flatten(r));
  const g = graphOf(b, b.build());
  assert.deepEqual(rowsByName(g), { x: 20, [a]: 1, [r]: 1, [f]: 1 });
});

test('property: streaming a 1-D or 3-D map never needs more buffer than holding it whole, and the pruning floor stays below', () => {
  const arb = fc.record({
    seed: fc.integer({ min: 0, max: 1_000_000 }),
    threeD: fc.boolean(),
    layers: fc.array(fc.record({ kernel: fc.constantFrom(1, 3, 5), stride: fc.constantFrom(1, 2), dilation: fc.constantFrom(1, 2), residual: fc.boolean() }), { minLength: 1, maxLength: 5 }),
  });
  fc.assert(
    fc.property(arb, ({ seed, threeD, layers }) => {
      const b = new ModelBuilder({ seed });
      let x = b.input('x', threeD ? [1, 2, 4, 12, 12] : [1, 4, 40]);
      for (const l of layers) {
        const y = b.relu(b.convNd(x, { outChannels: b.shape(x)[1], kernel: l.kernel, stride: l.stride, dilation: l.dilation, pads: 'same' }));
        x = l.residual && l.stride === 1 ? b.add(x, y) : y;
      }
      b.output(x);
      const g = graphOf(b, b.build());
      assert.ok(g.tensors.every((t) => t.rows !== undefined), 'a conv stack streams every map');
      const whole: OpGraph = { ...g, tensors: g.tensors.map(({ rows: _, ...t }) => t) };
      const streamed = new LbdfCostModel(g, 1 << 30, 1);
      const held = new LbdfCostModel(whole, 1 << 30, 1);
      const all = g.ops.map((o) => o.id);
      for (let i = 0; i < all.length; i++) {
        const group = all.slice(i);
        const m = streamed.memory(group).bytes;
        assert.ok(m <= held.memory(group).bytes);
        assert.ok(lbdfMemoryFloor(streamed, group) <= m);
      }
    }),
    { numRuns: 60, seed: 7 },
  );
});

test('a dilated window says so: its rows are K_eff - 1 + s', () => {
  const b = new ModelBuilder({ seed: 5 });
  const x = b.input('x', [1, 2, 30]);
  b.output(b.relu(b.convNd(x, { outChannels: 2, kernel: 3, dilation: 2, pads: 'same', name: 'c' })));
  const item = new LbdfCostModel(graphOf(b, b.build()), 1 << 20, 1).memory([0, 1]).items.find((i) => i.tensor === 'x')!;
  assert.equal(item.bytes, 5 * 2); // K_eff = 2 (3 - 1) + 1 = 5 rows of 2 channels
  assert.match(item.detail, /^5 of 30 rows \(3x1\/s1 window dilated by 2 of c: K_eff-1\+s/);
});

test("attention: a matrix product's B operand that is a feature map (K^T, V) is held whole; its A operand and weights stream", () => {
  // x [1, 2 heads, 8 rows, 4] -> q = x W (weight) ; kT = Transpose(x) ; s = q kT [1,2,8,8] ; o = s x [1,2,8,4]
  const b = new ModelBuilder({ seed: 6 });
  const x = b.input('x', [1, 2, 8, 4]);
  const q = b.matmul(x, [4, 4], 'q');
  const kT = b.transpose(x, [0, 1, 3, 2], 'kT');
  const s = b.matmul(q, kT, 's');
  const o = b.output(b.matmul(s, x, 'o'));
  const m = b.build();
  const g = graphOf(b, m);
  const id = (name: string) => g.tensors.findIndex((t) => t.name === name);
  const opOf = (node: string) => g.ops.find((op) => op.node === node)!;
  assert.equal(opOf('q').whole, undefined, 'a weight B operand is no feature map');
  assert.deepEqual(opOf('s').whole, [id(kT)]);
  assert.deepEqual(opOf('o').whole, [id(x)]);
  const kTItem = new LbdfCostModel(g, 1 << 20, 1).memory([opOf('kT').id, opOf('s').id]).items.find((i) => i.tensor === kT)!;
  assert.match(kTItem.detail, /the B operand of matrix product s in the group/);
  const cost = new LbdfCostModel(g, 1 << 20, 1);
  const items = (group: number[]) => Object.fromEntries(cost.memory(group).items.map((i) => [`${i.kind} ${i.tensor}`, i.bytes]));
  // {kT, s}: kT [1,2,4,8] is whole (64), q streams (1 row of 2x4 = 8); x is whole too: the
  // Transpose moves its row axis (an output row of kT reads every row of x)
  assert.equal(opOf('kT').global, true);
  assert.deepEqual(items([opOf('kT').id, opOf('s').id]), { [`full-map ${x}`]: 64, [`line-buffer ${q}`]: 8, [`full-map ${kT}`]: 64 });
  assert.deepEqual(items([opOf('q').id, opOf('s').id]), { 'weights q': 16, [`line-buffer ${x}`]: 8, [`line-buffer ${q}`]: 8, [`full-map ${kT}`]: 64 });
  // the whole group: x feeds a row-wise path (q) and a whole-map path (kT, and o's B): held whole
  const all = items(g.ops.map((op) => op.id));
  assert.equal(all[`full-map ${x}`], 64);
  assert.equal(all[`full-map ${kT}`], 64);
  assert.equal(all[`line-buffer ${s}`], 16, 's streams into o as its A operand: 1 row of 2 x 8');
  assert.ok(!(`line-buffer ${o}` in all));
});

test('normalizations over the row axis and Transposes that move it are global; over the last axis of a rank-4 map they are row-local', () => {
  const one = (opType: string, attributes: Attribute[], inputs: string[] = ['x'], shape = [1, 4, 6, 8], outShape?: number[]) => {
    const g = new Graph({
      nodes: [new Node({ name: 'n', opType, inputs, outputs: ['y'], attributes })],
      inputs: [{ name: 'x', type: { elemType: DataType.FLOAT, shape } }],
      outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }],
      initializers: inputs.slice(1).map((w) => Tensor.float32(w, [shape[1]], new Float32Array(shape[1]).fill(1))),
    });
    const perm = attributes.find((a) => a.name === 'perm');
    const out = outShape ?? (perm?.type === 'ints' ? perm.value.map((p) => shape[Number(p)]) : shape);
    const og = buildOpGraph(new Model({ graph: g }), { shapeOf: (v) => (v === 'y' ? out : shape) });
    return og.ops[0].global;
  };
  assert.equal(one('InstanceNormalization', [], ['x', 's', 'b']), true);
  assert.equal(one('LayerNormalization', [], ['x', 's']), false, 'over the last axis: within a row');
  assert.equal(one('LayerNormalization', [attr.int('axis', 1)], ['x', 's']), true);
  assert.equal(one('MeanVarianceNormalization', []), true);
  assert.equal(one('MeanVarianceNormalization', [attr.ints('axes', [1])]), false);
  // a graph input is read from DRAM in whatever row order its first reader wants: a Transpose
  // of one is never global (the channels-last test below has Transposes of streamed maps)
  for (const perm of [[0, 1, 3, 2], [0, 2, 1, 3], [0, 3, 1, 2], [1, 0, 2, 3]]) assert.equal(one('Transpose', [attr.ints('perm', perm)]), false);
  const reshape = (to: number[]) => one('Reshape', [], ['x', 'to'], [1, 4, 6, 8], to);
  assert.equal(reshape([1, 4, 12, 4]), false, 'each (n, c) plane re-cut row-major: rows follow');
  assert.equal(reshape([1, 4, 48]), false);
  assert.equal(reshape([1, 8, 3, 8]), true, 'channels split across rows');
  assert.equal(reshape([1, 192]), false, 'a rank-2 result is one row: held whole by its consumers');
  assert.equal(reshape([1, 2, 2, 6, 8]), false, "ShuffleNet's channel split");
  assert.equal(reshape([1, 4, 2, 3, 8]), true, 'the row axis (3) is not the first plane dim');
});

test("onnxruntime's attention ops: MultiHeadAttention holds its key and value whole, packed Attention is global", () => {
  const vi = (name: string) => ({ name, type: { elemType: DataType.FLOAT, shape: [1, 8, 16] } });
  const build = (node: Node, inputs: string[]) =>
    buildOpGraph(new Model({ graph: new Graph({ nodes: [node], inputs: inputs.map(vi), outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }] }) }), { shapeOf: () => [1, 8, 16] });
  const mha = build(new Node({ name: 'mha', opType: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['q', 'k', 'v'], outputs: ['y'], attributes: [attr.int('num_heads', 2)] }), ['q', 'k', 'v']);
  const id = (g: OpGraph, name: string) => g.tensors.findIndex((t) => t.name === name);
  assert.deepEqual(mha.ops[0].whole, [id(mha, 'k'), id(mha, 'v')]);
  assert.equal(mha.ops[0].global, false);
  const att = build(new Node({ name: 'att', opType: 'Attention', domain: 'com.microsoft', inputs: ['x'], outputs: ['y'], attributes: [attr.int('num_heads', 2)] }), ['x']);
  assert.equal(att.ops[0].global, true);
});

test('data movement across the row axis is global (its input held whole); along another axis, row-local', () => {
  const shape = [1, 4, 6, 8];
  // one node over x [1,4,6,8] (and, for Concat, a second map), its integer constants as int64
  // initializers; `global` of that op
  const one = (opType: string, attributes: Attribute[] = [], consts: Record<string, number[]> = {}, o: { inputs?: string[]; domain?: string } = {}) => {
    const inputs = o.inputs ?? ['x', ...Object.keys(consts)];
    const maps = inputs.filter((v) => v && !(v in consts));
    const g = new Graph({
      nodes: [new Node({ name: 'n', opType, domain: o.domain ?? '', inputs, outputs: ['y'], attributes })],
      inputs: maps.map((name) => ({ name, type: { elemType: DataType.FLOAT, shape } })),
      outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }],
      initializers: Object.entries(consts).map(([name, v]) => Tensor.int64(name, [v.length], v)),
    });
    return buildOpGraph(new Model({ graph: g }), { shapeOf: (v) => (v in consts ? [consts[v].length] : shape) }).ops[0].global;
  };
  // Concat: along H the second input's rows wait for the first's last row
  assert.equal(one('Concat', [attr.int('axis', 2)], {}, { inputs: ['x', 'x2'] }), true);
  assert.equal(one('Concat', [attr.int('axis', -2)], {}, { inputs: ['x', 'x2'] }), true);
  assert.equal(one('Concat', [attr.int('axis', 1)], {}, { inputs: ['x', 'x2'] }), false, 'channels');
  assert.equal(one('Concat', [attr.int('axis', 3)], {}, { inputs: ['x', 'x2'] }), false, 'within a row');
  // indexed reads and writes
  assert.equal(one('Gather', [attr.int('axis', 2)], { i: [5, 0] }), true);
  assert.equal(one('Gather', [attr.int('axis', 1)], { i: [3, 0] }), false);
  assert.equal(one('GatherElements', [attr.int('axis', 2)], {}, { inputs: ['x', 'x2'] }), true);
  assert.equal(one('ScatterElements', [attr.int('axis', 3)], {}, { inputs: ['x', 'x2', 'x3'] }), false);
  assert.equal(one('GatherND', [], {}, { inputs: ['x', 'x2'] }), true);
  assert.equal(one('ScatterND', [], {}, { inputs: ['x', 'x2', 'x3'] }), true);
  assert.equal(one('Einsum', [attr.string('equation', 'bchw,bcxw->bchx')], {}, { inputs: ['x', 'x2'] }), true);
  // reductions that return positions or values along H
  assert.equal(one('ArgMax', [attr.int('axis', 2)]), true);
  assert.equal(one('ArgMax', [attr.int('axis', 3)]), false);
  assert.equal(one('TopK', [attr.int('axis', 2)], { k: [2] }), true);
  assert.equal(one('TopK', [], { k: [2] }), false, 'default axis -1: within a row');
  // Slice: backwards along H (a flip) is global; forwards, or backwards along W, row-local
  assert.equal(one('Slice', [], { s: [-1], e: [-100], a: [2], st: [-1] }), true);
  assert.equal(one('Slice', [], { s: [-1], e: [-100], a: [3], st: [-1] }), false);
  assert.equal(one('Slice', [], { s: [1], e: [6], a: [2], st: [2] }), false);
  assert.equal(one('Slice', [], { s: [0], e: [3], a: [2] }), false, 'no steps: 1');
  assert.equal(one('Slice', [], {}, { inputs: ['x', 's', 'e', 'a', 'st'] }), true, 'steps computed: unknown, held whole');
  // Tile repeating rows, a reverse CumSum over them; a forward one keeps one running row
  assert.equal(one('Tile', [], { r: [1, 1, 2, 1] }), true);
  assert.equal(one('Tile', [], { r: [1, 2, 1, 3] }), false);
  assert.equal(one('CumSum', [attr.int('reverse', 1)], { a: [2] }), true);
  assert.equal(one('CumSum', [], { a: [2] }), false);
  assert.equal(one('CumSum', [attr.int('reverse', 1)], { a: [3] }), false);
  // sampling at computed positions
  assert.equal(one('GridSample', [], {}, { inputs: ['x', 'x2'] }), true);
  assert.equal(one('RoiAlign', [], {}, { inputs: ['x', 'x2', 'x3'] }), true);
  // an op of a domain the rules do not know may do any of these; onnxruntime's known ones follow their rules
  assert.equal(one('MyOp', [], {}, { domain: 'com.example' }), true);
  assert.equal(one('Gelu', [], {}, { domain: 'com.microsoft' }), false);
});

test('LBDF holds a row-axis Concat\'s inputs whole; SpaceToDepth is a b x b window of stride b', () => {
  const b = new ModelBuilder({ seed: 5 });
  const x = b.input('x', [1, 2, 8, 4]);
  const top = b.relu(x, 'top');
  const bottom = b.sigmoid(x, 'bottom');
  const y = b.output(b.concat([top, bottom], 2, 'cat'));
  const g = graphOf(b, b.build());
  const id = (node: string) => g.ops.find((op) => op.node === node)!.id;
  const items = Object.fromEntries(new LbdfCostModel(g, 1 << 20, 1).memory([id('top'), id('bottom'), id('cat')]).items.map((i) => [`${i.kind} ${i.tensor}`, i.bytes]));
  // x streams into the two element-wise ops (1 row of 2 x 4 = 8 bytes); both concat inputs are whole (64 each)
  assert.deepEqual(items, { 'line-buffer x': 8, [`full-map ${top}`]: 64, [`full-map ${bottom}`]: 64 });
  assert.equal(mapRows(g.tensors[g.tensors.findIndex((t) => t.name === y)]), 16);

  const s = new Graph({
    nodes: [new Node({ name: 's2d', opType: 'SpaceToDepth', inputs: ['x'], outputs: ['y'], attributes: [attr.int('blocksize', 2)] })],
    inputs: [{ name: 'x', type: { elemType: DataType.FLOAT, shape: [1, 3, 8, 8] } }],
    outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }],
  });
  const sg = buildOpGraph(new Model({ graph: s }), { shapeOf: (v) => (v === 'y' ? [1, 12, 4, 4] : [1, 3, 8, 8]) });
  assert.deepEqual([sg.ops[0].kernel, sg.ops[0].stride], [[2, 2], [2, 2]]);
  // K - 1 + s = 3 rows of 3 x 8 bytes
  assert.equal(new LbdfCostModel(sg, 1 << 20, 1).memory([0]).bytes, 72);
});

test('an interpolating Resize reads 2 (linear) or 4 (cubic) input rows per output row; nearest reads one', () => {
  const geo = (mode: string, out: number[], shape = [1, 2, 8, 8]) => {
    const g = new Graph({
      nodes: [new Node({ name: 'rs', opType: 'Resize', inputs: ['x', '', 'sc'], outputs: ['y'], attributes: [attr.string('mode', mode)] })],
      inputs: [{ name: 'x', type: { elemType: DataType.FLOAT, shape } }],
      outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }],
      initializers: [Tensor.float32('sc', [shape.length], new Float32Array(out.map((d, i) => d / shape[i])))],
    });
    const og = buildOpGraph(new Model({ graph: g }), { shapeOf: (v) => (v === 'y' ? out : v === 'sc' ? [shape.length] : shape) });
    // the line buffer of x (the scales, a float constant, count as 4 bytes of weights)
    const line = new LbdfCostModel(og, 1 << 20, 1).memory([0]).items.filter((i) => i.kind === 'line-buffer');
    return { geo: [og.ops[0].kernel, og.ops[0].stride], bytes: line.reduce((a, i) => a + i.bytes, 0), detail: line[0].detail };
  };
  assert.deepEqual(geo('linear', [1, 2, 16, 16]).geo, [[2, 2], [1, 1]], 'upsampling: consecutive rows');
  assert.deepEqual(geo('linear', [1, 2, 4, 4]).geo, [[2, 2], [2, 2]], 'downsampling by 2');
  assert.deepEqual(geo('cubic', [1, 2, 16, 16]).geo, [[4, 4], [1, 1]]);
  assert.deepEqual(geo('nearest', [1, 2, 16, 16]).geo, [[1, 1], [1, 1]]);
  assert.deepEqual(geo('linear', [1, 2, 8, 16]).geo, [[1, 2], [1, 1]], 'rows kept: one row');
  // the line buffer of x: 2 rows of 2 x 8 bytes for linear, 4 for cubic, 1 for nearest
  assert.equal(geo('linear', [1, 2, 16, 16]).bytes, 32);
  assert.equal(geo('cubic', [1, 2, 16, 16]).bytes, 64);
  assert.equal(geo('nearest', [1, 2, 16, 16]).bytes, 16);
  assert.match(geo('linear', [1, 2, 16, 16]).detail, /^2 of 8 rows \(2-row interpolation of rs, stride 1/);

  // channels last: the Resize follows its input's row axis (H at axis 1 of NHWC), not NCHW's
  const nhwc = (out: number[]) => {
    const shapes: Record<string, number[]> = { x: [1, 2, 8, 6], c: [1, 2, 8, 6], t: [1, 8, 6, 2], sc: [4], y: out };
    const g = new Graph({
      nodes: [
        new Node({ name: 'conv', opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attributes: [attr.ints('kernel_shape', [1, 1])] }),
        new Node({ name: 'toNhwc', opType: 'Transpose', inputs: ['c'], outputs: ['t'], attributes: [attr.ints('perm', [0, 2, 3, 1])] }),
        new Node({ name: 'rs', opType: 'Resize', inputs: ['t', '', 'sc'], outputs: ['y'], attributes: [attr.string('mode', 'linear')] }),
      ],
      inputs: [{ name: 'x', type: { elemType: DataType.FLOAT, shape: shapes.x } }],
      outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }],
      initializers: [Tensor.float32('w', [2, 2, 1, 1], new Float32Array(4).fill(1)), Tensor.float32('sc', [4], new Float32Array(out.map((d, i) => d / shapes.t[i])))],
    });
    const og = buildOpGraph(new Model({ graph: g }), { shapeOf: (v) => shapes[v] ?? shapes.w });
    return og.ops.find((op) => op.node === 'rs')!.kernel;
  };
  assert.deepEqual(nhwc([1, 16, 6, 2]), [2, 1], 'H (axis 1) resized: 2 rows');
  assert.deepEqual(nhwc([1, 8, 12, 2]), [1, 2], 'W (axis 2) resized: one row');
});

test('a channels-last block (ConvNeXt: Conv, Transpose to NHWC, LayerNorm, MatMul, Transpose back) streams along H throughout', () => {
  const b = new ModelBuilder({ seed: 6 });
  const x = b.input('x', [1, 4, 8, 6]);
  const c = b.conv(x, { outChannels: 4, kernel: 3, pads: 1, name: 'dw' });
  const nhwc = b.transpose(c, [0, 2, 3, 1], 'toNhwc');
  const ln = b.sigmoid(nhwc, 'act');
  const mm = b.matmul(ln, [4, 4], 'fc');
  const back = b.transpose(mm, [0, 3, 1, 2], 'toNchw');
  const y = b.output(b.conv(back, { outChannels: 4, kernel: 3, pads: 1, name: 'c2' }));
  const g = graphOf(b, b.build());
  const opOf = (node: string) => g.ops.find((op) => op.node === node)!;
  assert.deepEqual(rowsByName(g), { x: 8, [c]: 8, [nhwc]: 8, [ln]: 8, [mm]: 8, [back]: 8, [y]: 8 }, 'H rows, at axis 1 in NHWC');
  assert.equal(opOf('toNhwc').global, false);
  assert.equal(opOf('toNchw').global, false);
  const items = new LbdfCostModel(g, 1 << 20, 1).memory(g.ops.map((op) => op.id)).items;
  assert.deepEqual(items.filter((i) => i.kind === 'full-map'), [], 'no map held whole');
  // an NHWC row is W x C = 24 bytes: the Transposes, the activation and the MatMul read one row each
  assert.deepEqual(items.filter((i) => i.kind === 'line-buffer' && [nhwc, ln, mm].includes(i.tensor)).map((i) => i.bytes), [24, 24, 24]);
  // Transposes of a conv's output: H to axis 1 streams, and a conv that then reads that map as
  // NCHW holds it whole; H to the last axis is global, as is any Transpose that moves it there
  const m2 = new ModelBuilder({ seed: 7 });
  const x2 = m2.input('x', [1, 4, 8, 6]);
  const c2 = m2.conv(x2, { outChannels: 4, kernel: 1, name: 'c0' });
  const t2 = m2.transpose(c2, [0, 2, 1, 3], 'swap');
  m2.output(m2.conv(t2, { outChannels: 2, kernel: 3, pads: 1, name: 'c' }));
  m2.output(m2.transpose(c2, [0, 1, 3, 2], 'hw'));
  m2.output(m2.transpose(c2, [0, 3, 1, 2], 'last'));
  const g2 = graphOf(m2, m2.build());
  const op2 = (node: string) => g2.ops.find((op) => op.node === node)!;
  assert.equal(op2('swap').global, false);
  assert.deepEqual(op2('c').whole, [g2.tensors.findIndex((t) => t.name === t2)]);
  const held = new LbdfCostModel(g2, 1 << 20, 1).memory([op2('swap').id, op2('c').id]).items.find((i) => i.kind === 'full-map' && i.tensor === t2);
  assert.match(held!.detail, /its rows stream along another axis than c reads them/);
  assert.equal(op2('hw').global, true);
  assert.equal(op2('last').global, true);
});

test('a map without a streamed producer takes the row axis of the merge it reaches; a Reshape keeping the dims up to the row axis keeps its rows', () => {
  // c (NCHW) -> Transpose to NHWC s [1,8,6,4] (rows at axis 1: 8) -> Reshape [1,8,24] -> Reshape
  // back [1,8,6,4] (free: no rank-4 input) -> Sigmoid -> Add with s. The free chain must stream
  // along s's axis, so the Add holds nothing whole.
  const shapes: Record<string, number[]> = { x: [1, 4, 8, 6], c: [1, 4, 8, 6], s: [1, 8, 6, 4], r3: [1, 8, 24], r4: [1, 8, 6, 4], g: [1, 8, 6, 4], y: [1, 8, 6, 4], w: [4, 4, 1, 1], to3: [3], to4: [4] };
  const g = new Graph({
    nodes: [
      new Node({ name: 'conv', opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'] }),
      new Node({ name: 'nhwc', opType: 'Transpose', inputs: ['c'], outputs: ['s'], attributes: [attr.ints('perm', [0, 2, 3, 1])] }),
      new Node({ name: 'flat', opType: 'Reshape', inputs: ['s', 'to3'], outputs: ['r3'] }),
      new Node({ name: 'unflat', opType: 'Reshape', inputs: ['r3', 'to4'], outputs: ['r4'] }),
      new Node({ name: 'act', opType: 'Sigmoid', inputs: ['r4'], outputs: ['g'] }),
      new Node({ name: 'add', opType: 'Add', inputs: ['s', 'g'], outputs: ['y'] }),
    ],
    inputs: [{ name: 'x', type: { elemType: DataType.FLOAT, shape: shapes.x } }],
    outputs: [{ name: 'y', type: { elemType: DataType.FLOAT } }],
    initializers: [Tensor.float32('w', [4, 4, 1, 1], new Float32Array(16).fill(1)), Tensor.int64('to3', [3], [1, 8, 24]), Tensor.int64('to4', [4], [1, 8, 6, 4])],
  });
  const og = buildOpGraph(new Model({ graph: g }), { shapeOf: (v) => shapes[v] });
  const op = (node: string) => og.ops.find((o) => o.node === node)!;
  assert.equal(op('add').whole, undefined, 'both Add inputs stream along H (axis 1)');
  assert.deepEqual(['s', 'r4', 'g', 'y'].map((v) => mapRows(og.tensors.find((t) => t.name === v)!)), [8, 8, 8, 8]);
  assert.equal(op('flat').global, false, '[1,8,6,4] -> [1,8,24] keeps the dims up to the row axis');
});
