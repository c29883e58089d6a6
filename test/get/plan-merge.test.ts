/**
 * GET's plan-level merge-back (merge-back.ts mergeIntoPlan, rectifier option planMerge): the
 * parts a rectification produced join neighbouring groups of the plan only when the union is
 * valid and cheaper; the plan stays a valid, acyclic partition and never costs more DRAM; the
 * published baseline ('none') is left alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { makeRectifier, mergeIntoPlan } from '../../src/get/rectifier.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { applyRectifier } from '../../src/fusion/rectify.ts';
import { executionOrder, planDram } from '../../src/fusion/plan.ts';
import { components } from '../../src/fusion/groups.ts';
import { randomPlan } from '../../src/search/common.ts';
import { searchLocal, searchRandom } from '../../src/search/heuristics.ts';
import { Rng } from '../../src/util/random.ts';
import { stubCost } from './stub-cost.ts';
import { chain } from './chain.ts';

const KB = 1024;

test('a split part joins the neighbouring group of the plan when the union is valid and cheaper', () => {
  // chain of 5 x 100 B, buffer 250: the group {1,2,3} is split; {0} and {4} sit outside it
  const g = chain([100, 100, 100, 100, 100]);
  const cost = stubCost(g, 250);
  const plan = [[0], [1], [2, 3], [4]];
  // parts 1 and 2 ({1}, {2,3}) came from the split: {0} u {1} is valid and saves a map
  const r = mergeIntoPlan(plan, [1, 2], cost);
  const sorted = r.plan.map((p) => [...p].sort((a, b) => a - b)).sort((a, b) => a[0] - b[0]);
  assert.ok(r.merges >= 1);
  assert.ok(planDram(cost, r.plan) < planDram(cost, plan));
  for (const p of r.plan) assert.ok(cost.valid(p));
  assert.deepEqual(sorted.flat().sort((a, b) => a - b), [0, 1, 2, 3, 4]);
  // groups not produced by the split do not merge with each other
  const r2 = mergeIntoPlan([[0], [1], [2], [3], [4]], [], cost);
  assert.equal(r2.merges, 0);
});

test('plan-level merge-back keeps plans valid, acyclic, covering, never more DRAM (random plans)', () => {
  const nets = [syntheticNetwork(3), syntheticNetwork(5), syntheticNetwork(7)];
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), (ni, seed, kb) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
      const rng = new Rng(seed);
      const plan = applyRectifier(randomPlan(cost, rng), cost, makeRectifier('none'), rng);
      const active = plan.map((_, i) => i).filter(() => rng.next() < 0.5);
      const r = mergeIntoPlan(plan, active, cost);
      assert.ok(planDram(cost, r.plan) <= planDram(cost, plan));
      assert.equal(r.plan.length, plan.length - r.merges);
      assert.ok(executionOrder(graph, r.plan), 'acyclic');
      assert.deepEqual(r.plan.flat().sort((a, b) => a - b), graph.ops.map((_, i) => i));
      for (const p of r.plan) {
        assert.ok(cost.valid(p), 'valid');
        assert.equal(components(graph, p).length, 1, 'connected');
      }
      // a group that was neither active nor merged with an active one is unchanged
      const inactive = new Set(plan.filter((_, i) => !active.includes(i)).map((p) => p.join(',')));
      const out = new Set(r.plan.map((p) => [...p].sort((a, b) => a - b).join(',')));
      let kept = 0;
      for (const k of inactive) if (out.has(k)) kept++;
      assert.ok(kept >= inactive.size - r.merges);
    }),
    { numRuns: 60, seed: 11 },
  );
});

test("planMerge (opt-in): searches use it with an explainer, never with 'none'; RS with GET stays never worse than RS", () => {
  const g = syntheticNetwork(7);
  for (const seed of [0, 1]) {
    const cost = () => createCostModel('lbdf', g, { bufferBytes: 48 * KB, elementType: 'int8' });
    const none = makeRectifier('none');
    const noneRun = searchRandom(cost(), { seed, budget: 60, rectifier: none });
    assert.equal(none.stats.planMerges, 0);
    // without the final re-grouping (GetOptions.finish), which is not monotone across the two
    // runs: it may lower the run without planMerge below the one with it
    const on = makeRectifier('cuts', { planMerge: true, finish: false });
    const onRun = searchRandom(cost(), { seed, budget: 60, rectifier: on });
    const off = makeRectifier('cuts', { finish: false }); // planMerge off: the default
    const offRun = searchRandom(cost(), { seed, budget: 60, rectifier: off });
    assert.ok(on.stats.planMerges > 0, 'parts were merged into the plan');
    assert.equal(off.stats.planMerges, 0);
    assert.ok(onRun.dram <= offRun.dram && offRun.dram <= noneRun.dram, `seed ${seed}: ${onRun.dram} / ${offRun.dram} / ${noneRun.dram}`);
    const finished = searchRandom(cost(), { seed, budget: 60, rectifier: makeRectifier('cuts', { planMerge: true }) });
    assert.ok(finished.dram <= onRun.dram, `seed ${seed}: the final re-grouping never raises DRAM`);
    const ls = searchLocal(cost(), { seed, budget: 60, rectifier: makeRectifier('cuts', { planMerge: true }) });
    assert.ok(Number.isFinite(ls.dram));
  }
});
