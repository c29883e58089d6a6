/**
 * GET never returns a worse split than the published baseline would have drawn: per invalid
 * group, DRAM(GET's split) <= DRAM(randomSplit on the same rng state), the caller's rng is
 * consumed exactly as randomSplit consumes it (so searches with and without GET stay paired), for every
 * explainer kind; the statistics credit the explainer only when its split was used; merge-back
 * keeps splits valid, connected, mutually acyclic and never costs DRAM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { OpGraphBuilder, syntheticNetwork } from '../../src/get/synthetic.ts';
import { makeRectifier, mergeBack, type GetOptions, type GetRectifier } from '../../src/get/rectifier.ts';
import { sampleGroup } from '../../src/get/dataset.ts';
import { checkSplit, randomSplit } from '../../src/fusion/rectify.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { KGnn } from '../../src/get/kgnn.ts';
import { initTf } from '../../src/get/tf.ts';
import { GnnExplainer, PgExplainer, RgExplainer, type Explainer } from '../../src/get/explainers/index.ts';
import { shippedWeightsDir } from '../../src/get/weights.ts';
import type { CostModel, Group, OpGraph } from '../../src/fusion/types.ts';
import { Rng } from '../../src/util/random.ts';
import { planDram } from '../../src/fusion/plan.ts';
import { stubCost } from './stub-cost.ts';
import { chain, rankFromMiddle } from './chain.ts';

await initTf();

const KB = 1024;
const sorted = (parts: Group[]) => parts.map((p) => [...p].sort((a, b) => a - b));
const noWeights = existsSync(join(shippedWeightsDir(), 'lbdf.json')) ? false : 'shipped GET weights (models/get/lbdf.json) absent; run dnnfuse get train';

// Untrained models: the guard must hold for any explainer, however bad its ranking.
const gnn = KGnn.random(1);
const untrained: Record<'gnne' | 'pg' | 'rg', () => Explainer> = {
  gnne: () => new GnnExplainer(gnn, { steps: 3, seed: 1 }),
  pg: () => PgExplainer.random(gnn, 2),
  rg: () => RgExplainer.random(gnn, 3),
};
const rectifierOf = (kind: 'gnne' | 'pg' | 'rg' | 'cuts', extra: GetOptions = {}): GetRectifier => (kind === 'cuts' ? makeRectifier('cuts', extra) : makeRectifier(kind, { explainer: untrained[kind](), ...extra }));

/** Invariants of one rectification against the baseline drawn from the same forked stream. */
function checkOne(rect: GetRectifier, graph: OpGraph, cost: CostModel, group: Group, seed: number): Group[] {
  const rng = new Rng(seed);
  const parts = rect(group, cost, rng);
  const baseRng = new Rng(seed);
  const base = randomSplit(group, cost, baseRng);
  // the caller's stream is consumed exactly as by the baseline (searches stay paired)
  assert.equal(rng.next(), baseRng.next(), `${rect.kind}: the rectifier consumed the caller's rng differently from randomSplit`);
  assert.ok(planDram(cost, parts) <= planDram(cost, base), `${rect.kind}: GET ${planDram(cost, parts)} > random ${planDram(cost, base)}`);
  if (group.every((v) => cost.valid([v]))) assert.equal(checkSplit(graph, cost, group, sorted(parts)), undefined);
  const s = rect.stats;
  assert.equal(s.rectified + s.fallback, s.invalid);
  assert.equal(s.splitKept + s.randomCheaper + s.splitInvalid, s.invalid);
  assert.ok(s.rectified <= s.splitKept && s.splitCheaper <= s.splitKept);
  return parts;
}

test('never worse than the random split drawn from the same rng, for every explainer kind; deterministic', () => {
  const nets = [syntheticNetwork(3), syntheticNetwork(4), syntheticNetwork(5)];
  fc.assert(
    fc.property(
      fc.constantFrom('gnne' as const, 'pg' as const, 'rg' as const, 'cuts' as const),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 1_000_000 }),
      fc.integer({ min: 2, max: 24 }),
      fc.constantFrom(32, 64, 128, 256),
      fc.boolean(),
      (kind, ni, seed, size, kb, stub) => {
        const g = nets[ni];
        const group = [...sampleGroup(g, new Rng(seed), size)].sort((a, b) => a - b);
        const cost = stub ? stubCost(g, kb * KB, 1) : createCostModel('lbdf', g, { bufferBytes: kb * KB, elementType: 'int8' });
        const parts = checkOne(rectifierOf(kind), g, cost, group, seed);
        // same seed, fresh rectifier and cost model: identical parts
        const cost2 = stub ? stubCost(g, kb * KB, 1) : createCostModel('lbdf', g, { bufferBytes: kb * KB, elementType: 'int8' });
        assert.deepEqual(rectifierOf(kind)(group, cost2, new Rng(seed)), parts);
      },
    ),
    { numRuns: 80, seed: 11 },
  );
});

test('the guard holds on every call of one rectifier (memoized SPLIT, fresh baseline per call), BRR too', () => {
  const g = syntheticNetwork(6);
  const cost = createCostModel('brr', g, { bufferBytes: 64 * KB, elementType: 'int8' });
  const rect = rectifierOf('cuts');
  const rng = new Rng(2);
  for (let i = 0; i < 40; i++) {
    const group = [...sampleGroup(g, rng, 4 + (i % 20))].sort((a, b) => a - b);
    checkOne(rect, g, cost, group, 1000 + i);
    checkOne(rect, g, cost, group, 2000 + i); // second call: SPLIT from the cache, new baseline
  }
});

test('shipped models: never worse than the random split from the same rng (lbdf and brr)', { skip: noWeights }, () => {
  const g = syntheticNetwork(8);
  for (const scheme of ['lbdf', 'brr'] as const) {
    const cost = createCostModel(scheme, g, { bufferBytes: 128 * KB, elementType: 'int8' });
    for (const kind of ['gnne', 'pg', 'rg'] as const) {
      const rect = makeRectifier(kind, { gnne: { steps: 5, seed: 0 } });
      for (let i = 0; i < 6; i++) checkOne(rect, g, cost, [...sampleGroup(g, new Rng(50 + i), 12 + 3 * i)].sort((a, b) => a - b), i);
    }
  }
});


const edgesFirst = rankFromMiddle('ends');

test('random-cheaper: the random split is returned, recorded in the tree, and not counted as rectified', () => {
  // weights 100 x 6, buffer 350 (three ops fit): peeling single ops (topK 1, no merge-back) gives
  // 4 parts; a random split into two halves of three is cheaper for some seeds.
  const g = chain([100, 100, 100, 100, 100, 100]);
  const cost = stubCost(g, 350);
  const group = [0, 1, 2, 3, 4, 5];
  let sawRandom = false;
  for (let seed = 0; seed < 30 && !sawRandom; seed++) {
    const rect = makeRectifier('cuts', { explainer: edgesFirst, topK: 1, mergeBack: false, refine: false });
    const parts = checkOne(rect, g, cost, group, seed);
    if (rect.stats.randomCheaper === 1) {
      sawRandom = true;
      const t = rect.trees.get(group.join(','))!;
      assert.equal(t.outcome, 'random-fallback');
      assert.equal(t.fallback, 'random-cheaper');
      assert.ok(t.rejected, 'the explainer tree is kept');
      assert.equal(rect.stats.rectified, 0);
      assert.equal(rect.rectifyRate(), 0);
      assert.equal(rect.explainerWinRate(), 0);
      assert.deepEqual(sorted(parts), sorted(randomSplit(group, cost, new Rng(seed))));
    }
  }
  assert.ok(sawRandom, 'some seed draws a random split cheaper than peeling single ops');
});

test('guard off (ablation): the explainer split is returned even when the random one is cheaper', () => {
  const g = chain([100, 100, 100, 100, 100, 100]);
  const cost = stubCost(g, 350);
  const rect = makeRectifier('cuts', { explainer: edgesFirst, topK: 1, mergeBack: false, guard: false, refine: false });
  const parts = rect([0, 1, 2, 3, 4, 5], cost, new Rng(0));
  // peels {0}, {1}, {2} (category 2) then {3, 4, 5} (category 1)
  assert.deepEqual(sorted(parts), [[0], [1], [2], [3, 4, 5]]);
  assert.equal(rect.stats.rectified, 1);
});

test('merge-back rejoins over-cut parts: valid, cheaper, and the tree says so', () => {
  const g = chain([100, 100, 100, 100, 100, 100]);
  const cost = stubCost(g, 350);
  const rect = makeRectifier('cuts', { refineFirst: false, explainer: edgesFirst, topK: 1, guard: false });
  const parts = rect([0, 1, 2, 3, 4, 5], cost, new Rng(0));
  assert.deepEqual(sorted(parts).sort((p, q) => p[0] - q[0]), [[0, 1, 2], [3, 4, 5]]);
  assert.equal(checkSplit(g, cost, [0, 1, 2, 3, 4, 5], sorted(parts)), undefined);
  assert.equal(rect.stats.mergedBack, 1);
  const t = rect.trees.get('0,1,2,3,4,5')!;
  assert.equal(t.outcome, 'merged-back');
  assert.equal(t.rejected!.outcome, 'category-2');
});

test('merge-back never merges across a path through a third part (no cycle), never costs DRAM', () => {
  // diamond a -> b -> d, a -> c -> d with parts {a}, {b}, {c, d}: b's weights fill the buffer
  // (it joins nothing), {a} u {c, d} is valid and cheaper but would sandwich {b} in a cycle
  const b = new OpGraphBuilder();
  const x = b.input([1, 4, 8, 8]);
  const a = b.op('Conv', [x], [1, 4, 8, 8], { weights: 10 }); // 0
  const bb = b.op('Conv', [a], [1, 4, 8, 8], { weights: 990 }); // 1
  const c = b.op('Conv', [a], [1, 4, 8, 8], { weights: 10 }); // 2
  b.add(bb, c); // 3
  const g = b.build();
  const cost = stubCost(g, 1000);
  assert.ok(cost.valid([0, 2, 3]) && !cost.valid([0, 1]) && !cost.valid([1, 3]));
  assert.ok(cost.dram([0, 2, 3]) < cost.dram([0]) + cost.dram([2, 3]), 'the cyclic merge would save DRAM');
  const m = mergeBack([[0], [1], [2, 3]], cost);
  assert.equal(m.merges, 0);
  assert.equal(checkSplit(g, cost, [0, 1, 2, 3], sorted(m.parts)), undefined);
  const nets = [syntheticNetwork(3), syntheticNetwork(9)];
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 2, max: 30 }), fc.constantFrom(32, 128, 512), (ni, seed, size, kb) => {
      const gr = nets[ni];
      const group = [...sampleGroup(gr, new Rng(seed), size)].sort((p, q) => p - q);
      const cost = stubCost(gr, kb * KB, 1);
      if (!group.every((v) => cost.valid([v]))) return;
      const parts = sorted(randomSplit(group, cost, new Rng(seed)));
      const r = mergeBack(parts, cost);
      assert.equal(checkSplit(gr, cost, group, sorted(r.parts)), undefined);
      assert.ok(r.dram <= planDram(cost, parts));
      assert.equal(r.parts.length, parts.length - r.merges);
    }),
    { numRuns: 60, seed: 5 },
  );
});

test('random search with GET is never worse than without it (paired random streams), plan by plan', async () => {
  const { searchRandom } = await import('../../src/search/heuristics.ts');
  const g = syntheticNetwork(7);
  for (const kb of [32, 96]) {
    for (const seed of [0, 1]) {
      const cost = () => createCostModel('lbdf', g, { bufferBytes: kb * KB, elementType: 'int8' });
      const none = searchRandom(cost(), { seed, budget: 60, rectifier: makeRectifier('none') });
      const get = searchRandom(cost(), { seed, budget: 60, rectifier: makeRectifier('cuts') });
      assert.ok(get.dram <= none.dram, `${kb} KB seed ${seed}: RS+cuts ${get.dram} > RS ${none.dram}`);
      assert.ok(none.rectify.invalid > 0, 'the setting meets invalid groups');
      assert.equal(get.rectify.invalid, none.rectify.invalid, 'same plans generated, same invalid groups met');
    }
  }
});

test('exploration: a recurring group gets its alternative explained splits in turn, each still never worse than the random draw', () => {
  // chain of 6 x 100 B, buffer 350: SPLIT's best is {0,1,2}|{3,4,5}; other explained cuts give
  // other splits (e.g. {0,1}|{2,3,4}|{5}); each recurrence returns the next one (mod their number)
  const g = chain([100, 100, 100, 100, 100, 100]);
  const cost = stubCost(g, 350);
  const group = [0, 1, 2, 3, 4, 5];
  // refineDeep (default) answers a recurring group with a proven optimum always with it, and this
  // one has one: exploration applies to the groups the window DP cannot solve, or without it
  const rect = makeRectifier('cuts', { explore: true, refineDeep: false });
  const answers = new Set<string>();
  for (let i = 0; i < 8; i++) answers.add(JSON.stringify(sorted(checkOne(rect, g, cost, group, 100 + i)).sort((p, q) => p[0] - q[0])));
  assert.ok(answers.size >= 2, `recurrences answered ${answers.size} way(s)`);
  assert.ok(rect.stats.explored > 0);
  const first = makeRectifier('cuts', { explore: true, refineDeep: false })(group, cost, new Rng(100));
  assert.deepEqual(sorted(first).sort((p, q) => p[0] - q[0]), [[0, 1, 2], [3, 4, 5]], 'the first answer is SPLIT');
  const off = makeRectifier('cuts', { explore: false, refineDeep: false });
  const offAnswers = new Set<string>();
  for (let i = 0; i < 8; i++) offAnswers.add(JSON.stringify(sorted(off(group, cost, new Rng(100 + i))).sort((p, q) => p[0] - q[0])));
  assert.equal(offAnswers.size, 1, 'without exploration SPLIT answers alike (the guard never fires here: SPLIT is optimal)');
  assert.equal(off.stats.explored, 0);
});
