/**
 * GET's final re-grouping of a search's result (GetOptions.finish, rectifier.ts; SearchRun.finish
 * in search/common.ts): random search, local search and NSGA-II hand their best plan, once the
 * budget is spent, to the rectifier's `finish`, which re-groups it window by window
 * (search/window.ts reoptimizeWindows: 48-op windows, then 53-op windows from there). Over the testkit's generated CNNs and GET's synthetic
 * networks: the search itself is unchanged (same plans generated, same history), the result is
 * valid, never more DRAM than without the step and exactly the window re-grouping of that plan,
 * the same seed gives the same result, and 'none' has no such step. The step must lower DRAM on
 * some of the runs, or the properties test nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cnnModel } from '../../src/testkit/arbitraries.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { canonicalPlan, planDram, planKey } from '../../src/fusion/plan.ts';
import type { OpGraph } from '../../src/fusion/types.ts';
import { makeRectifier, type GetKind } from '../../src/get/rectifier.ts';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { searchLocal, searchNsga2, searchRandom } from '../../src/search/heuristics.ts';
import { MAX_KEY_BITS, reoptimizeWindows } from '../../src/search/window.ts';
import { sharedModelsDir, sharedModelsMissing } from '../../src/models/shared.ts';
import { sharedOpGraph } from '../../src/get/train-get.ts';
import { assertValidPlan, graphOf } from './plan-checks.ts';

const KB = 1024;
const SEARCHES = { random: searchRandom, local: searchLocal, nsga2: searchNsga2 } as const;

function run(graph: OpGraph, kb: number, seed: number, search: keyof typeof SEARCHES, kind: GetKind, finish: boolean, budget = 150) {
  const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
  const rect = makeRectifier(kind, { finish });
  const res = SEARCHES[search](cost, { seed, budget, k: 6, rectifier: rect });
  return { cost, res, rect };
}

/** Checks one graph / buffer / seed / search; returns whether the final step lowered DRAM. */
function check(graph: OpGraph, kb: number, seed: number, search: keyof typeof SEARCHES, budget?: number): boolean {
  const on = run(graph, kb, seed, search, 'cuts', true, budget);
  const off = run(graph, kb, seed, search, 'cuts', false, budget);
  assert.equal(on.res.plansGenerated, off.res.plansGenerated, 'same plans generated');
  assert.deepEqual(on.res.history, off.res.history, 'the search before the final step is unchanged');
  assertValidPlan(on.cost, on.res.plan, `${search} result`);
  assert.ok(on.res.dram <= off.res.dram, `never more DRAM than without the step (${on.res.dram} > ${off.res.dram})`);
  const w = canonicalPlan(reoptimizeWindows(off.cost, reoptimizeWindows(off.cost, off.res.plan), { maxOps: MAX_KEY_BITS }));
  const expected = planDram(off.cost, w) < off.res.dram ? w : off.res.plan;
  assert.equal(planKey(on.res.plan), planKey(canonicalPlan(expected)), 'the result is the window re-grouping of the search best plan');
  assert.equal(on.res.dram, planDram(on.cost, on.res.plan));
  const again = run(graph, kb, seed, search, 'cuts', true, budget);
  assert.equal(planKey(again.res.plan), planKey(on.res.plan), 'same seed, same result');
  assert.equal(on.rect.stats.finished, on.res.dram < off.res.dram ? 1 : 0, 'GetStats.finished counts the lowered results');
  return on.res.dram < off.res.dram;
}

test('GET finish: the search is unchanged, the result valid, never worse, the window re-grouping of the best plan, deterministic (property)', () => {
  let lowered = 0;
  fc.assert(
    fc.property(cnnModel({ minBlocks: 3, maxBlocks: 8, maxChannels: 16 }), fc.constantFrom(2, 4, 8), fc.integer({ min: 0, max: 1000 }), fc.constantFrom('random', 'local', 'nsga2') as fc.Arbitrary<keyof typeof SEARCHES>, fc.constantFrom(12, 60), (m, kb, seed, search, budget) => {
      if (check(graphOf(m), kb, seed, search, budget)) lowered++;
    }),
    { numRuns: 30 },
  );
  console.log(`# final re-grouping lowered DRAM in ${lowered} of 30 generated runs`);
});

test("GET finish on GET's synthetic networks lowers DRAM where the searches stop short; 'none' has no final step", () => {
  let lowered = 0;
  // networks 12 and 32 of the generator, where a short budget leaves some searches above the
  // window optimum (12 at 24 KiB: random and local search; 32 at 64 KiB: all three)
  for (const [n, kb] of [[12, 24], [32, 64]] as const) {
    const graph = syntheticNetwork(n);
    // a short budget leaves the searches short of the window optimum
    for (const search of ['random', 'local', 'nsga2'] as const) if (check(graph, kb, 1, search, 12)) lowered++;
    const none = run(graph, kb, 1, 'local', 'none', true, 60);
    assert.equal(none.rect.finish, undefined, "'none' has no finish step");
  }
  assert.ok(lowered > 0, 'the final re-grouping never lowered a result: the test checks nothing');
  const rect = makeRectifier('cuts', { finish: false });
  assert.equal(rect.finish, undefined, 'finish: false removes the step');
});

test('GET finish on EfficientNet-B0 (LBDF int8 256 KiB, local search + cuts, 1000 plans, seed 0): the 53-op sweep reaches the optimum the 48-op windows miss', { skip: sharedModelsMissing() }, () => {
  const graph = sharedOpGraph('efficientnet_b0', sharedModelsDir());
  const cost = createCostModel('lbdf', graph, { bufferBytes: 256 * KB, elementType: 'int8' });
  // refineDeep off and planMerge on: the search path on which this was found (with the
  // defaults, LS + cuts lands where the 48-op windows already reach the optimum)
  const res = searchLocal(cost, { seed: 0, budget: 1000, rectifier: makeRectifier('cuts', { finish: false, refineDeep: false, planMerge: true }) });
  const w48 = planDram(cost, reoptimizeWindows(cost, res.plan));
  const rect = makeRectifier('cuts');
  const fin = rect.finish!(res.plan.map((g) => [...g]), cost);
  assertValidPlan(cost, fin, 'finished plan');
  // 12,631,872 bytes: the proven optimum (bench:get's HiGHS solve; fusable 9.2329 MB)
  assert.equal(planDram(cost, fin), 12631872, 'the finished plan is the optimum');
  assert.ok(w48 > planDram(cost, fin), `48-op windows alone stop above it (${w48})`);
  assert.equal(rect.stats.finished, 1);
});
