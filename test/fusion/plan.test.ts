import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelBuilder } from '../../src/models/builder.ts';
import { Node } from '../../src/ir/graph.ts';
import { inferShapes, staticShape } from '../../src/analysis/shapes.ts';
import { buildOpGraph, opGraphFromSpec } from '../../src/fusion/op-graph.ts';
import { checkPlan, executionOrder, fusability, layerByLayer, planDram, dramSplit } from '../../src/fusion/plan.ts';
import { LbdfCostModel } from '../../src/fusion/lbdf.ts';
import { randomSplit, applyRectifier, checkSplit } from '../../src/fusion/rectify.ts';
import { Rng } from '../../src/util/random.ts';
import fc from 'fast-check';
import { randomCnn } from './gen.ts';

function resnetBlockModel() {
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('x', [1, 8, 16, 16]);
  const c1 = b.relu(b.batchNorm(b.conv(x, { outChannels: 8, kernel: 3, pads: 'same' })));
  const c2 = b.batchNorm(b.conv(c1, { outChannels: 8, kernel: 3, pads: 'same' }));
  const y = b.relu(b.add(c2, x));
  b.output(b.gemm(b.flatten(b.globalAveragePool(y)), 10));
  return { b, model: b.build('block') };
}

test('IR -> OpGraph: ops in topological order, weights from float initializers, Identity folded away', () => {
  const { model } = resnetBlockModel();
  // splice an Identity between the last relu and the pooling
  const g = model.graph;
  const gap = g.nodes.find((n) => n.opType === 'GlobalAveragePool')!;
  const src = gap.inputs[0];
  g.nodes.splice(g.nodes.indexOf(gap), 0, new Node({ name: 'id0', opType: 'Identity', inputs: [src], outputs: ['src_id'] }));
  gap.inputs[0] = 'src_id';
  g.invalidate();
  inferShapes(model);
  const og = buildOpGraph(model, { shapeOf: (v) => staticShape(model, v) });
  const types = og.ops.map((o) => o.opType);
  assert.ok(!types.includes('Identity'));
  assert.deepEqual(types, ['Conv', 'BatchNormalization', 'Relu', 'Conv', 'BatchNormalization', 'Add', 'Relu', 'GlobalAveragePool', 'Flatten', 'Gemm']);
  const conv = og.ops[0];
  assert.equal(conv.weightElements, 8 * 8 * 9 + (g.nodes[0].inputs[2] ? 8 : 0));
  assert.deepEqual([conv.kernel, conv.stride], [[3, 3], [1, 1]]);
  assert.equal(conv.macs, 8 * 16 * 16 * 8 * 9);
  assert.equal(og.ops[1].weightElements, 4 * 8, 'BN: scale, bias, mean, var');
  assert.equal(og.ops[7].global, true);
  // the GAP reads the Identity's source directly
  assert.equal(og.tensors[og.ops[7].inputs[0]].name, src);
  // the Add consumes the block input x and the BN output
  assert.deepEqual(og.pred[5], [4]);
  assert.equal(og.tensors[og.ops[5].inputs[1]].name, 'x');
  assert.equal(og.tensors[og.ops[9].outputs[0]].graphOutput, true);
});

test('IR -> OpGraph: shape computations and Constant nodes are not ops; int constants are not weights', () => {
  const b = new ModelBuilder({ seed: 2 });
  const x = b.input('x', [1, 4, 8, 8]);
  const c = b.conv(x, { outChannels: 4, kernel: 1 });
  const model = b.build('reshape');
  const g = model.graph;
  g.nodes.push(new Node({ name: 'shape', opType: 'Shape', inputs: [c], outputs: ['s'] }));
  g.nodes.push(new Node({ name: 'k', opType: 'Constant', inputs: [], outputs: ['minus1'], attributes: [{ name: 'value_ints', type: 'ints', value: [1n, -1n] }] }));
  g.nodes.push(new Node({ name: 'r', opType: 'Reshape', inputs: [c, 'minus1'], outputs: ['r_out'] }));
  g.outputs = [{ name: 'r_out', type: { elemType: 1, shape: [1, 256] } }];
  g.invalidate();
  inferShapes(model);
  const og = buildOpGraph(model, { shapeOf: (v) => staticShape(model, v) });
  assert.deepEqual(og.ops.map((o) => o.opType), ['Conv', 'Reshape']);
  assert.equal(og.ops[1].weightElements, 0);
  assert.equal(og.ops[1].inputs.length, 1);
});

test('missing static shapes: one-line error naming the value', () => {
  const { model } = resnetBlockModel();
  assert.throws(() => buildOpGraph(model), (e: Error) => /static shape of '/.test(e.message) && !e.message.includes('\n'));
});

// A -> B -> C plus a skip A -> C
const skipGraph = () =>
  opGraphFromSpec({ x: [1, 1, 4, 4], a: [1, 1, 4, 4], b: [1, 1, 4, 4], c: [1, 1, 4, 4] }, [
    { name: 'A', inputs: ['x'], outputs: ['a'] },
    { name: 'B', opType: 'Relu', inputs: ['a'], outputs: ['b'] },
    { name: 'C', opType: 'Add', inputs: ['b', 'a'], outputs: ['c'] },
  ]);

test('checkPlan: cover, connectivity, acyclicity, validity with reasons', () => {
  const g = skipGraph();
  assert.deepEqual(checkPlan(g, [[0, 1, 2]]), { ok: true });
  assert.deepEqual(checkPlan(g, layerByLayer(g)), { ok: true });
  const miss = checkPlan(g, [[0, 1]]);
  assert.ok(!miss.ok && /op C is in no group/.test(miss.reason));
  const twice = checkPlan(g, [[0, 1], [1, 2]]);
  assert.ok(!twice.ok && /op B is in groups 0 and 1/.test(twice.reason));
  const cyc = checkPlan(g, [[0, 2], [1]]);
  assert.ok(!cyc.ok && /cycle/.test(cyc.reason), JSON.stringify(cyc));
  const g2 = opGraphFromSpec({ x: [1, 1, 2, 2], a: [1, 1, 2, 2], y: [1, 1, 2, 2], b: [1, 1, 2, 2] }, [
    { name: 'A', inputs: ['x'], outputs: ['a'] },
    { name: 'B', inputs: ['y'], outputs: ['b'] },
  ]);
  const disc = checkPlan(g2, [[0, 1]]);
  assert.ok(!disc.ok && /group 0 is not connected: \{A\} and \{B\}/.test(disc.reason));
  const tiny = new LbdfCostModel(g, 1, 1);
  const inv = checkPlan(g, [[0, 1, 2]], tiny);
  assert.ok(!inv.ok && /needs \d+ B on chip > buffer 1 B under LBDF/.test(inv.reason));
  assert.deepEqual(executionOrder(g, [[2], [0], [1]]), [1, 2, 0]);
});

test('fusability: ops whose every pair is invalid are pruned; DRAM reported overall and amongst fusable ops', () => {
  // B's 1000 weights exceed a 600-byte buffer: B can never fuse
  const g = opGraphFromSpec({ x: [1, 1, 4, 4], a: [1, 1, 4, 4], b: [1, 1, 4, 4], c: [1, 1, 4, 4] }, [
    { name: 'A', inputs: ['x'], outputs: ['a'], weights: 10 },
    { name: 'B', inputs: ['a'], outputs: ['b'], weights: 1000 },
    { name: 'C', opType: 'Relu', inputs: ['b'], outputs: ['c'] },
  ]);
  const m = new LbdfCostModel(g, 600, 1);
  const f = fusability(g, m);
  assert.deepEqual(f.unfusable, [true, true, true]);
  const m2 = new LbdfCostModel(g, 1100, 1);
  const f2 = fusability(g, m2);
  assert.deepEqual(f2.unfusable, [false, false, false]);
  const split = dramSplit(m, layerByLayer(g), f);
  assert.equal(split.total, planDram(m, layerByLayer(g)));
  assert.equal(split.fusable, 0);
});

test('randomSplit: valid, connected, mutually acyclic parts; deterministic per seed', () => {
  const g = opGraphFromSpec(
    Object.fromEntries(['x', 'a', 'b', 'c', 'd', 'e'].map((n) => [n, [1, 4, 8, 8]])),
    [
      { name: 'A', inputs: ['x'], outputs: ['a'], weights: 100, kernel: 3 },
      { name: 'B', inputs: ['a'], outputs: ['b'], weights: 100, kernel: 3 },
      { name: 'C', inputs: ['a'], outputs: ['c'], weights: 100, kernel: 3 },
      { name: 'D', opType: 'Add', inputs: ['b', 'c'], outputs: ['d'] },
      { name: 'E', inputs: ['d'], outputs: ['e'], weights: 100, kernel: 3 },
    ],
  );
  const m = new LbdfCostModel(g, 350, 1);
  const all = [0, 1, 2, 3, 4];
  assert.equal(m.valid(all), false);
  for (let seed = 0; seed < 20; seed++) {
    const parts = randomSplit(all, m, new Rng(seed));
    assert.equal(checkSplit(g, m, all, parts), undefined, `seed ${seed}: ${JSON.stringify(parts)}`);
    assert.deepEqual(randomSplit(all, m, new Rng(seed)), parts);
  }
  // a rectifier returning garbage falls back to randomSplit
  const stats = { invalid: 0, rectified: 0 };
  const out = applyRectifier([all], m, () => [[0, 4], [1, 2, 3]], new Rng(0), stats);
  assert.deepEqual(stats, { invalid: 1, rectified: 0 });
  assert.deepEqual(checkPlan(g, out, m), { ok: true });
});

test('executionOrder = the group DAG ordered by Kahn with ties by first op (reference), on partial and cyclic plans, many per graph', () => {
  const reference = (graph: ReturnType<typeof randomCnn>, plan: number[][]): number[] | undefined => {
    const of = new Map<number, number>();
    plan.forEach((g, i) => g.forEach((v) => of.set(v, i)));
    const succ = plan.map(() => new Set<number>());
    const indeg = plan.map(() => 0);
    plan.forEach((g, i) => g.forEach((v) => graph.succ[v].forEach((u) => {
      const j = of.get(u);
      if (j !== undefined && j !== i && !succ[i].has(j)) (succ[i].add(j), indeg[j]++);
    })));
    const order: number[] = [];
    const ready = plan.map((_, i) => i).filter((i) => indeg[i] === 0);
    while (ready.length) {
      ready.sort((x, y) => plan[x][0] - plan[y][0]);
      const g = ready.shift()!;
      order.push(g);
      for (const h of succ[g]) if (--indeg[h] === 0) ready.push(h);
    }
    return order.length === plan.length ? order : undefined;
  };
  let cyclic = 0;
  let acyclic = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100_000 }), (seed) => {
      const graph = randomCnn(seed, 5);
      const n = graph.ops.length;
      const rng = new Rng(seed);
      for (let k = 0; k < 8; k++) {
        // random groups of ops (not necessarily connected or convex: cycles happen), over a
        // random subset of the ops (a partial plan)
        const ids = [...Array(n).keys()].filter(() => rng.next() < 0.8);
        const groups = new Map<number, number[]>();
        for (const v of ids) {
          const gi = rng.int(0, Math.max(1, Math.floor(ids.length / 3)));
          groups.set(gi, [...(groups.get(gi) ?? []), v]);
        }
        const plan = [...groups.values()];
        const want = reference(graph, plan);
        if (want) acyclic++;
        else cyclic++;
        assert.deepEqual(executionOrder(graph, plan), want);
      }
    }),
    { numRuns: 60 },
  );
  assert.ok(cyclic > 0 && acyclic > 0, `both kinds of plan met (${cyclic} cyclic, ${acyclic} acyclic)`);
});
