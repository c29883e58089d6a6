import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OpGraphBuilder, syntheticNetwork } from '../../src/get/synthetic.ts';
import { makeRectifier } from '../../src/get/rectifier.ts';
import { cutPartition, isConnected, groupEdges } from '../../src/fusion/groups.ts';
import { sampleGroup } from '../../src/get/dataset.ts';
import { checkSplit } from '../../src/fusion/rectify.ts';
import { Rng } from '../../src/util/random.ts';
import { stubCost } from './stub-cost.ts';
import { chain, rankFromMiddle } from './chain.ts';

const KB = 1024;


const middleFirst = rankFromMiddle('middle');

test('category 1: both parts valid is preferred, least F_D among such cuts', () => {
  const g = chain([400, 400, 400, 400]);
  const cost = stubCost(g, 1000);
  const r = makeRectifier('cuts', { refineFirst: false });
  const parts = r([0, 1, 2, 3], cost, new Rng(1));
  assert.deepEqual(parts, [[0, 1], [2, 3]]);
  const tree = r.trees.get('0,1,2,3')!;
  assert.equal(tree.outcome, 'category-1');
  assert.deepEqual(tree.cut!.edge, [1, 2]);
  assert.equal(r.stats.rectified, 1);
  assert.equal(r.rectifyRate(), 1);
});

test('category 2: keeps the valid part with most ops and recurses on the invalid one', () => {
  const g = chain([100, 600, 600]);
  const cost = stubCost(g, 1000);
  const r = makeRectifier('cuts', { refineFirst: false, topK: 2 });
  const parts = r([0, 1, 2], cost, new Rng(1));
  // cut 0|1,2: {0} valid, {1,2} invalid; cut 0,1|2: {0,1} valid (700), {2} valid -> category 1 wins
  assert.deepEqual(parts, [[0, 1], [2]]);
  assert.equal(r.trees.get('0,1,2')!.outcome, 'category-1');
  const g2 = chain([600, 600, 600]);
  const r2 = makeRectifier('cuts', { refineFirst: false });
  const parts2 = r2([0, 1, 2], stubCost(g2, 1000), new Rng(1));
  const t2 = r2.trees.get('0,1,2')!;
  assert.equal(t2.outcome, 'category-2');
  assert.deepEqual([...parts2].sort((a, b) => a[0] - b[0]), [[0], [1], [2]]);
  assert.equal(t2.children![1].outcome, 'category-1');
});

test('category 3: recurses on both parts of every cut and returns the cheapest combination', () => {
  const g = chain([600, 600, 600, 600]);
  const cost = stubCost(g, 1000);
  const r = makeRectifier('cuts', { refineFirst: false, topK: 1, explainer: middleFirst });
  const parts = r([0, 1, 2, 3], cost, new Rng(1));
  const t = r.trees.get('0,1,2,3')!;
  assert.equal(t.outcome, 'category-3');
  assert.deepEqual(t.cut!.edge, [1, 2]);
  assert.deepEqual(parts, [[0], [1], [2], [3]]);
  for (const c of t.children!) assert.equal(c.outcome, 'category-1');
});

test('a one-op group cannot be split (returned as is)', () => {
  const g = chain([5000, 10]);
  const r = makeRectifier('cuts', { refineFirst: false });
  assert.deepEqual(r([0], stubCost(g, 1000), new Rng(1)), [[0]]);
});

test('skip edge: cutting it also cuts the other edges joining the two sides', () => {
  const b = new OpGraphBuilder();
  const x = b.input([1, 4, 8, 8]);
  const a = b.conv(x, 4, 3); // 0
  const c1 = b.conv(a, 4, 3); // 1
  const c2 = b.conv(c1, 4, 3); // 2
  b.add(c2, a); // 3, skip 0 -> 3
  const g = b.build();
  const cut = cutPartition(g, [0, 1, 2, 3], [0, 3])!;
  assert.ok(cut);
  assert.notEqual(cut.rule, 'bridge');
  assert.ok(cut.cutEdges.length >= 2);
  assert.ok(cut.cutEdges.some((e) => e[0] === 0 && e[1] === 3));
  for (const side of [cut.a, cut.b]) assert.ok(isConnected(g, side));
  // edge under the skip: 1 -> 2 must take the skip too
  const under = cutPartition(g, [0, 1, 2, 3], [1, 2])!;
  assert.deepEqual(under.a, [0, 1]);
  assert.deepEqual(under.cutEdges, [[0, 3], [1, 2]]);
});

test('nested skips (SE inside a residual block): every explained cut gives connected, mutually acyclic sides', () => {
  const b = new OpGraphBuilder();
  const x = b.input([1, 8, 8, 8]);
  const s = b.conv(x, 8, 1); // 0
  const y = b.conv(s, 8, 3); // 1
  const gp = b.gap(y); // 2
  const e1 = b.op('Conv', [gp], [1, 2, 1, 1], { weights: 16 }); // 3
  const e2 = b.op('Conv', [e1], [1, 8, 1, 1], { weights: 16 }); // 4
  const m = b.mul(y, e2); // 5
  b.add(m, s); // 6
  const g = b.build();
  const group = [0, 1, 2, 3, 4, 5, 6];
  for (const e of groupEdges(g, group)) {
    const cut = cutPartition(g, group, e);
    assert.ok(cut, `edge ${e} has a cut`);
    assert.ok(isConnected(g, cut.a) && isConnected(g, cut.b));
    const inA = new Set(cut.a);
    for (const v of cut.a) for (const p of g.pred[v]) assert.ok(inA.has(p) || !group.includes(p), 'a is down-closed');
  }
});

test('SPLIT returns valid, connected, mutually acyclic parts covering the group; deterministic per seed', () => {
  const nets = [syntheticNetwork(3), syntheticNetwork(4), syntheticNetwork(5)];
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 2, max: 30 }), fc.constantFrom(64, 128, 256), (ni, seed, size, kb) => {
      const g = nets[ni];
      const group = sampleGroup(g, new Rng(seed), size);
      const cost = stubCost(g, kb * KB, 1);
      const singlesValid = group.every((v) => cost.valid([v]));
      const r1 = makeRectifier('cuts');
      const parts = r1(group, cost, new Rng(seed));
      const r2 = makeRectifier('cuts');
      const again = r2(group, stubCost(g, kb * KB, 1), new Rng(seed));
      assert.deepEqual(again, parts);
      const covered = parts.flat().sort((a, b) => a - b);
      assert.deepEqual(covered, [...group]);
      for (const p of parts) assert.ok(isConnected(g, p));
      if (singlesValid) assert.equal(checkSplit(g, cost, group, parts.map((p) => [...p].sort((a, b) => a - b))), undefined);
    }),
    { numRuns: 60, seed: 7 },
  );
});

test("'none' is the published random split and never counts as rectified", () => {
  const g = chain([600, 600, 600, 600]);
  const r = makeRectifier('none');
  const parts = r([0, 1, 2, 3], stubCost(g, 1000), new Rng(3));
  assert.deepEqual(parts.flat().sort(), [0, 1, 2, 3]);
  assert.equal(r.stats.invalid, 1);
  assert.equal(r.rectifyRate(), 0);
});

test('splitTreesFor returns the trees whose leaves are groups of the final plan', async () => {
  const { splitTreesFor } = await import('../../src/get/rectifier.ts');
  const g = chain([400, 400, 400, 400]);
  const r = makeRectifier('cuts');
  const parts = r([0, 1, 2, 3], stubCost(g, 1000), new Rng(1));
  assert.equal(splitTreesFor(r, parts).length, 1);
  assert.equal(splitTreesFor(r, [[0, 1, 2, 3]]).length, 0);
});
