/**
 * GET's exact refinement (src/get/refine.ts): the best refinement of a split group and the
 * window re-grouping around split parts return valid, covering, acyclic answers that never cost
 * more DRAM than what they replace, keep the searched plan's valid groups whole, and are
 * deterministic; the searches with them stay deterministic (same seed, same plan).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { makeRectifier } from '../../src/get/rectifier.ts';
import { mergeWindowsAround, refineSplit } from '../../src/get/refine.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { applyRectifier, checkSplit, randomSplit } from '../../src/fusion/rectify.ts';
import { executionOrder, planDram, planKey } from '../../src/fusion/plan.ts';
import { randomPlan } from '../../src/search/common.ts';
import { searchLocal, searchNsga2, searchRandom } from '../../src/search/heuristics.ts';
import { Rng } from '../../src/util/random.ts';
import { invalidGroups } from './plan-checks.ts';

const KB = 1024;
const nets = [syntheticNetwork(5), syntheticNetwork(7), syntheticNetwork(9)];

test('refineSplit: a valid split of the group, never more DRAM than the split it refines', () => {
  let improved = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), fc.constantFrom('int8', 'fp32'), (ni, seed, kb, el) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: el as 'int8' | 'fp32' });
      const rng = new Rng(seed);
      for (const g of invalidGroups(cost, rng)) {
        const parts = randomSplit(g, cost, rng).map((p) => [...p].sort((a, b) => a - b));
        const r = refineSplit(parts, cost);
        if (!r) continue;
        assert.equal(checkSplit(graph, cost, g, r.parts), undefined, 'the refinement is a valid split');
        assert.ok(r.dram <= planDram(cost, parts), 'never more DRAM');
        assert.equal(r.dram, planDram(cost, r.parts));
        assert.deepEqual(refineSplit(parts, cost), r, 'deterministic');
        if (r.improved) improved++;
      }
    }),
    { numRuns: 60 },
  );
  assert.ok(improved > 0, 'the refinement never improved a random split: it tests nothing');
});

test('mergeWindowsAround: valid, covering, acyclic, never more DRAM; valid groups of the searched plan stay whole', () => {
  let improved = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), (ni, seed, kb) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
      const rng = new Rng(seed);
      const plan = randomPlan(cost, rng);
      const kept = plan.filter((g) => g.length <= 1 || cost.valid(g)).map((g) => [...g].sort((a, b) => a - b));
      const units = applyRectifier(plan, cost, randomSplit, rng).map((g) => [...g].sort((a, b) => a - b));
      const keptKeys = new Set(kept.map((g) => g.join(',')));
      const produced = new Set(units.filter((u) => !keptKeys.has(u.join(','))).flat());
      const r = mergeWindowsAround(units, units, produced, cost);
      const seen = new Set<number>();
      for (const g of r.plan) {
        assert.ok(g.length <= 1 || cost.valid(g), `invalid group ${g}`);
        for (const v of g) (assert.ok(!seen.has(v), `op ${v} twice`), seen.add(v));
      }
      assert.equal(seen.size, graph.ops.length, 'every op covered');
      assert.ok(executionOrder(graph, r.plan), 'acyclic');
      assert.ok(planDram(cost, r.plan) <= planDram(cost, units), 'never more DRAM');
      // a kept group is inside one group of the result, whole
      const owner = new Map<number, number>();
      r.plan.forEach((g, i) => g.forEach((v) => owner.set(v, i)));
      for (const g of kept) assert.ok(g.every((v) => owner.get(v) === owner.get(g[0])), `valid group ${g} was cut`);
      assert.equal(planKey(mergeWindowsAround(units, units, produced, cost).plan), planKey(r.plan), 'deterministic');
      if (r.improved) improved++;
    }),
    { numRuns: 60 },
  );
  assert.ok(improved > 0, 'no window ever improved: it tests nothing');
});

test('searches with GET (refine and window merge on): same seed, same plan; random search never worse than without GET', () => {
  const graph = nets[1];
  for (const kb of [24, 64]) {
    const cost = () => createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
    for (const search of [searchRandom, searchLocal, searchNsga2]) {
      const run = (opts = {}) => search(cost(), { seed: 3, budget: 120, k: 5, rectifier: makeRectifier('cuts', opts) });
      const a = run(), b = run();
      assert.equal(planKey(a.plan), planKey(b.plan));
      assert.equal(a.dram, b.dram);
      // every step lowers each rectified plan below the random splits 'none' draws from the same stream
      if (search === searchRandom) assert.ok(a.dram <= search(cost(), { seed: 3, budget: 120, rectifier: makeRectifier('none') }).dram, 'RS with GET never worse than RS');
    }
  }
});
