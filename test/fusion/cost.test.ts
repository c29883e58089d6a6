/** LBDF and BRR on small graphs whose figures are computed by hand in the comments (1 byte per
 * element unless stated). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { opGraphFromSpec, finalizeOpGraph } from '../../src/fusion/op-graph.ts';
import { LbdfCostModel } from '../../src/fusion/lbdf.ts';
import { BrrCostModel } from '../../src/fusion/brr.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { randomCnn } from './gen.ts';
import { Rng } from '../../src/util/random.ts';

// x[1,4,8,8] -> A conv3x3 s1 (144 weights) -> a -> B relu -> b -> C conv1x1 (16 weights) -> c
const chain = () =>
  opGraphFromSpec({ x: [1, 4, 8, 8], a: [1, 4, 8, 8], b: [1, 4, 8, 8], c: [1, 4, 8, 8] }, [
    { name: 'A', inputs: ['x'], outputs: ['a'], weights: 144, kernel: 3 },
    { name: 'B', opType: 'Relu', inputs: ['a'], outputs: ['b'] },
    { name: 'C', inputs: ['b'], outputs: ['c'], weights: 16, kernel: 1 },
  ], ['c']);

test('LBDF chain: weights + (K-1+s)-row line buffers; F_D = inputs + outputs + weights', () => {
  const m = new LbdfCostModel(chain(), 1000, 1);
  // weights 144 + 16 = 160; x: 3x3/s1 -> 3 rows x W8 x C4 = 96; a: relu 1 row = 32; b: 1x1 -> 1 row = 32.
  const mem = m.memory([0, 1, 2]);
  assert.equal(mem.bytes, 160 + 96 + 32 + 32);
  assert.deepEqual(mem.items.map((i) => [i.kind, i.tensor, i.bytes]), [
    ['weights', 'A', 144], ['weights', 'C', 16], ['line-buffer', 'x', 96], ['line-buffer', 'a', 32], ['line-buffer', 'b', 32],
  ]);
  // F_D: x read 256 + c written 256 + weights 160 = 672
  assert.equal(m.dram([0, 1, 2]), 672);
  // layer by layer: A 256+256+144 = 656, B 512, C 256+256+16 = 528 -> 1696
  assert.equal(m.dram([0]) + m.dram([1]) + m.dram([2]), 1696);
  assert.equal(m.valid([0, 1, 2]), true);
  assert.equal(new LbdfCostModel(chain(), 319, 1).valid([0, 1, 2]), false);
  assert.equal(new LbdfCostModel(chain(), 319, 1).valid([1]), true, 'a single op is always valid');
  // fp32: every figure x4
  assert.equal(new LbdfCostModel(chain(), 1e6, 4).memory([0, 1, 2]).bytes, 4 * 320);
});

test('LBDF stride and dilation: K_eff - 1 + s rows', () => {
  const g = opGraphFromSpec({ x: [1, 2, 16, 10], y: [1, 2, 8, 5], z: [1, 2, 8, 5] }, [
    { name: 'P', opType: 'MaxPool', inputs: ['x'], outputs: ['y'], kernel: 3, stride: 2 },
    { name: 'D', inputs: ['y'], outputs: ['z'], weights: 36, kernel: 3, dilation: 2 },
  ]);
  const m = new LbdfCostModel(g, 1e6, 1);
  // x: 3 - 1 + 2 = 4 rows x 10 x 2 = 80; y: dilated K_eff = 2*(3-1)+1 = 5 -> 5 - 1 + 1 = 5 rows x 5 x 2 = 50; weights 36
  assert.equal(m.memory([0, 1]).bytes, 80 + 50 + 36);
});

test('LBDF skip connection: the longer branch lag in rows of the branch point', () => {
  // x[1,2,8,8] -> A 3x3 -> a -> B 3x3 -> b; C = Add(b, x)
  const g = opGraphFromSpec({ x: [1, 2, 8, 8], a: [1, 2, 8, 8], b: [1, 2, 8, 8], c: [1, 2, 8, 8] }, [
    { name: 'A', inputs: ['x'], outputs: ['a'], weights: 36, kernel: 3 },
    { name: 'B', inputs: ['a'], outputs: ['b'], weights: 36, kernel: 3 },
    { name: 'C', opType: 'Add', inputs: ['b', 'x'], outputs: ['c'] },
  ]);
  const m = new LbdfCostModel(g, 1e6, 1);
  // weights 72; x line buffer 3 rows x 16 = 48; x skip: the 3x3 convs look 1 + 1 = 2 rows ahead,
  // the direct branch 0 -> lag 2 rows x 16 = 32; a: 3 rows x 16 = 48; b: 1 row = 16. Total 216.
  const mem = m.memory([0, 1, 2]);
  assert.equal(mem.bytes, 72 + 48 + 32 + 48 + 16);
  const skip = mem.items.find((i) => i.kind === 'skip-buffer')!;
  assert.deepEqual([skip.tensor, skip.bytes], ['x', 32]);
  // the merge outside the group: no skip buffer
  assert.equal(m.memory([0, 1]).items.some((i) => i.kind === 'skip-buffer'), false);
  // F_D: x read once (two consumers inside) 128 + c 128 + weights 72
  assert.equal(m.dram([0, 1, 2]), 328);
});

test('LBDF squeeze-excitation: a map consumed by a global op is held whole', () => {
  // x[1,4,4,4] -> G = GAP -> g[1,4,1,1] -> F conv1x1 (16) -> s; M = Mul(x, s)
  const g = opGraphFromSpec({ x: [1, 4, 4, 4], g: [1, 4, 1, 1], s: [1, 4, 1, 1], y: [1, 4, 4, 4] }, [
    { name: 'G', opType: 'GlobalAveragePool', inputs: ['x'], outputs: ['g'], global: true },
    { name: 'F', inputs: ['g'], outputs: ['s'], weights: 16 },
    { name: 'M', opType: 'Mul', inputs: ['x', 's'], outputs: ['y'] },
  ]);
  // weights 16 + x whole 64 + g one row of 4 + s one row of 4 = 88
  const m = new LbdfCostModel(g, 88, 1);
  const mem = m.memory([0, 1, 2]);
  assert.equal(mem.bytes, 88);
  assert.equal(mem.items.find((i) => i.tensor === 'x')!.kind, 'full-map');
  assert.equal(m.valid([0, 1, 2]), true);
  assert.equal(new LbdfCostModel(g, 87, 1).valid([0, 1, 2]), false);
});

test('BRR chain: peak live maps + largest weight sub-group; greedy consecutive packing', () => {
  // live maps: a [A..B] 256, b [B..C] 256 -> peak 512 at B.
  const big = new BrrCostModel(chain(), 1000, 1);
  // cap = 1000 - 512 = 488: A (144) and C (16) pack together -> largest 160 -> 672
  assert.equal(big.memory([0, 1, 2]).bytes, 672);
  assert.deepEqual(big.subgroups([0, 1, 2]), [{ ops: [0, 2], bytes: 160 }]);
  // cap = 656 - 512 = 144: A alone, then C -> largest 144 -> 656: exactly fits
  const tight = new BrrCostModel(chain(), 656, 1);
  assert.equal(tight.memory([0, 1, 2]).bytes, 656);
  assert.deepEqual(tight.subgroups([0, 1, 2]).map((s) => s.ops), [[0], [2]]);
  assert.equal(tight.valid([0, 1, 2]), true);
  assert.equal(new BrrCostModel(chain(), 655, 1).valid([0, 1, 2]), false);
  // F_D: 256 + 256 + 160 (unshared weights read once whatever the sub-grouping)
  assert.equal(tight.dram([0, 1, 2]), 672);
  const items = tight.memory([0, 1, 2]).items;
  assert.deepEqual(items.filter((i) => i.kind === 'live-map').map((i) => i.tensor), ['a', 'b']);
  assert.equal(items.filter((i) => i.kind === 'weight-subgroup').length, 2);
});

test('BRR re-fetch: a weight shared by ops in two sub-groups is loaded twice', () => {
  // x[1,1,4,4] -> A(W) -> a -> B(W) -> b, W shared (100 elements); intermediate a = 16
  const g = opGraphFromSpec({ x: [1, 1, 4, 4], a: [1, 1, 4, 4], b: [1, 1, 4, 4] }, [
    { name: 'A', inputs: ['x'], outputs: ['a'], weights: 100 },
    { name: 'B', inputs: ['a'], outputs: ['b'], weights: 100 },
  ]);
  for (const op of g.ops) op.weights = [{ name: 'W', elements: 100 }];
  // beta 116: cap 100 -> [A] [B] -> W loaded twice: 16 + 16 + 200 = 232, re-fetch 100
  const tight = new BrrCostModel(g, 116, 1);
  assert.equal(tight.dram([0, 1]), 232);
  assert.equal(tight.dramBreakdown([0, 1]).refetch, 100);
  // beta 216: cap 200 -> [A B] together -> W once: 132
  assert.equal(new BrrCostModel(g, 216, 1).dram([0, 1]), 132);
});

test('memoization: one evaluation per distinct group, unsorted input accepted', () => {
  const m = createCostModel('lbdf', chain(), { bufferBytes: 1000, elementType: 'int8' });
  m.dram([2, 0, 1]);
  m.valid([0, 1, 2]);
  m.memory([0, 1, 2]);
  assert.equal(m.evaluations, 1);
  assert.equal(m.dram([2, 1, 0]), 672);
});

test('memoization over thousands of groups (the buckets grow and re-link): every answer as a fresh model gives it, one evaluation each', () => {
  const g = randomCnn(11, 40); // 128 ops
  const n = g.ops.length;
  const rng = new Rng(5);
  const groups: number[][] = [];
  const seen = new Set<string>();
  for (let tries = 0; groups.length < 3000 && tries < 100_000; tries++) {
    const start = rng.int(0, n - 1);
    const G = [...new Set(Array.from({ length: rng.int(1, 6) }, () => Math.min(n - 1, start + rng.int(0, 8))))].sort((a, b) => a - b);
    if (!seen.has(G.join())) (seen.add(G.join()), groups.push(G));
  }
  for (const scheme of ['lbdf', 'brr'] as const) {
    const hw = { bufferBytes: 4096, elementType: 'int8' as const };
    const m = createCostModel(scheme, g, hw);
    const first = groups.map((G) => m.dram(G));
    assert.equal(groups.length, 3000);
    assert.equal(m.evaluations, groups.length);
    const again = [...groups.keys()].reverse().map((i) => [i, m.validDram([...groups[i]].reverse()), m.memoryBytes(groups[i])] as const);
    assert.equal(m.evaluations, groups.length, 'a group seen before is not evaluated again');
    for (const [i, vd, bytes] of again) {
      const fresh = createCostModel(scheme, g, hw);
      assert.equal(vd, fresh.valid(groups[i]) ? first[i] : -1, `${scheme} group ${groups[i]}`);
      assert.equal(bytes, fresh.memoryBytes(groups[i]), `${scheme} group ${groups[i]}`);
    }
  }
});

test('graph outputs are written even when consumed inside the group', () => {
  const g = chain();
  g.tensors[g.ops[1].outputs[0]].graphOutput = true; // b is also a model output
  const m = new LbdfCostModel(finalizeOpGraph(g.ops, g.tensors), 1e6, 1);
  assert.equal(m.dram([0, 1, 2]), 672 + 256);
});

test('the memo answers as a fresh cost model does, across many groups (its columns grow at 256 entries, then doubling) and repeated queries', async () => {
  const { randomCnn } = await import('./gen.ts');
  const { Rng } = await import('../../src/util/random.ts');
  for (const scheme of ['lbdf', 'brr'] as const) {
    for (let seed = 0; seed < 4; seed++) {
      const g = randomCnn(seed, 10);
      const hw = { bufferBytes: 1024, elementType: 'int8' as const };
      const cost = createCostModel(scheme, g, hw);
      const rng = new Rng(seed);
      const seen: number[][] = [];
      for (let q = 0; q < 1000; q++) {
        const n = 1 + Math.floor(rng.next() * g.ops.length);
        const grp = q % 4 === 3 && seen.length ? seen[Math.floor(rng.next() * seen.length)] : [...new Set(Array.from({ length: n }, () => Math.floor(rng.next() * g.ops.length)))];
        seen.push(grp);
        const fresh = createCostModel(scheme, g, hw);
        // each accessor first, on a group the memo may not hold yet
        const a = [cost.valid(grp), cost.dram(grp), cost.memoryBytes(grp), cost.memory(grp).bytes, cost.dramBreakdown(grp).total];
        const b = [fresh.valid(grp), fresh.dram(grp), fresh.memoryBytes(grp), fresh.memory(grp).bytes, fresh.dramBreakdown(grp).total];
        assert.deepEqual(a, b, `${scheme} seed ${seed} query ${q} group ${grp}`);
        const c = createCostModel(scheme, g, hw);
        assert.equal(c.dram(grp), b[1]);
        const d = createCostModel(scheme, g, hw);
        assert.equal(d.memoryBytes(grp), b[2]);
      }
      assert.ok((cost as unknown as { cacheSize: number }).cacheSize > 300, "the memo grew past its first column growth");
    }
  }
});
