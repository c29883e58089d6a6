/**
 * NSGA-II with GET settles its survivors (src/search/heuristics.ts searchNsga2, Lamarckian
 * write-back): over the testkit's generated CNNs (and GET's synthetic networks), every
 * population is made of valid plans, the same seed gives the same populations and result, the
 * result is never worse than the best individual the search kept, and the settled plans are
 * the ones written back into the population (a survivor's settle that lowered its DRAM shows in
 * the next population). 'none' (no settle step) is left as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cnnModel } from '../../src/testkit/arbitraries.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { planDram, planKey, type Plan } from '../../src/fusion/plan.ts';
import type { CostModel, Group, OpGraph } from '../../src/fusion/types.ts';
import type { Rng } from '../../src/util/random.ts';
import { makeRectifier, type GetKind } from '../../src/get/rectifier.ts';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { searchLocal, searchNsga2 } from '../../src/search/heuristics.ts';
import { assertValidPlan, graphOf } from './plan-checks.ts';

const KB = 1024;

/** Runs NSGA-II (or local search) with GET `kind`, recording every population and the survivors' settles (a
 * settle call with no invalid group met since the last one: applyRectifier calls settle only
 * after rectifying an invalid group of the plan). */
function run(graph: OpGraph, kb: number, seed: number, kind: GetKind, budget = 150, search: typeof searchNsga2 = searchNsga2) {
  const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
  // no pruning: a pruned plan's groups are answered by `skip`, which this wrapper does not see
  const rect = makeRectifier(kind, { prune: false, planMerge: true });
  let sawInvalid = false;
  const pops: Plan[][] = [];
  const survivorSettles: { before: number; after: number; key: string; gen: number }[] = [];
  const wrapped = Object.assign((g: Group, c: CostModel, rng: Rng) => ((sawInvalid = true), rect(g, c, rng)), rect, {
    settle: (plan: Group[], produced: number[], c: CostModel) => {
      const out = rect.settle!(plan, produced, c);
      if (!sawInvalid) survivorSettles.push({ before: planDram(c, plan), after: planDram(c, out), key: planKey(out), gen: pops.length });
      sawInvalid = false;
      return out;
    },
  });
  if (kind === 'none') delete (wrapped as { settle?: unknown }).settle;
  const res = search(cost, { seed, budget, k: 6, rectifier: wrapped }, (pop) => pops.push(pop.map((p) => p.map((g) => [...g]))));
  return { cost, res, pops, survivorSettles };
}

/** Every survivor's settle that lowered its DRAM is in the population of that generation (the
 * write-back); returns how many there were. */
function assertWrittenBack(a: ReturnType<typeof run>): number {
  let n = 0;
  for (const s of a.survivorSettles) {
    if (s.after >= s.before) continue;
    assert.ok(a.pops[s.gen]?.some((p) => planKey(p) === s.key), `generation ${s.gen}: a settled survivor is not in the population`);
    n++;
  }
  return n;
}

test('NSGA-II + GET (Lamarckian settle of survivors): valid populations, deterministic, never worse than the best individual kept (property)', () => {
  let written = 0;
  fc.assert(
    fc.property(cnnModel({ minBlocks: 3, maxBlocks: 8, maxChannels: 16 }), fc.constantFrom(2, 4, 8), fc.integer({ min: 0, max: 1000 }), (m, kb, seed) => {
      const graph = graphOf(m);
      const a = run(graph, kb, seed, 'cuts');
      a.pops.forEach((pop, i) => pop.forEach((p) => assertValidPlan(a.cost, p, `generation ${i}`)));
      assertValidPlan(a.cost, a.res.plan, 'result');
      const b = run(graph, kb, seed, 'cuts');
      assert.deepEqual(b.pops.map((pop) => pop.map(planKey)), a.pops.map((pop) => pop.map(planKey)), 'same seed, same populations');
      assert.equal(planKey(b.res.plan), planKey(a.res.plan), 'same seed, same plan');
      let best = Infinity;
      for (const pop of a.pops) for (const p of pop) best = Math.min(best, planDram(a.cost, p));
      assert.ok(a.res.dram <= best, `the result (${a.res.dram}) is never worse than the best individual kept (${best})`);
      for (const s of a.survivorSettles) assert.ok(s.after <= s.before, 'settling never raises DRAM');
      written += assertWrittenBack(a);
    }),
    { numRuns: 25 },
  );
  assert.ok(written > 0, 'no settled survivor was ever written back into a population: the property tests nothing');
});

test("NSGA-II + GET on GET's synthetic networks: valid populations, written back, never worse than the best kept; 'none' has no survivor settle", () => {
  let written = 0;
  for (const [n, kb] of [[5, 24], [7, 64], [9, 24]] as const) {
    const graph = syntheticNetwork(n);
    const a = run(graph, kb, 1, 'cuts', 200);
    a.pops.forEach((pop, i) => pop.forEach((p) => assertValidPlan(a.cost, p, `net ${n} generation ${i}`)));
    written += assertWrittenBack(a);
    const best = Math.min(...a.pops.flat().map((p) => planDram(a.cost, p)));
    assert.ok(a.res.dram <= best);
    const none = run(graph, kb, 1, 'none', 200);
    assert.equal(none.survivorSettles.length, 0, "'none' settles nothing");
  }
  assert.ok(written > 0, 'no settled survivor was written back');
});

test('local search + GET (Lamarckian settle of kept children): valid populations, deterministic, written back, never worse than the best kept (property)', () => {
  let written = 0;
  fc.assert(
    fc.property(cnnModel({ minBlocks: 3, maxBlocks: 8, maxChannels: 16 }), fc.constantFrom(2, 4, 8), fc.integer({ min: 0, max: 1000 }), (m, kb, seed) => {
      const graph = graphOf(m);
      const a = run(graph, kb, seed, 'cuts', 150, searchLocal);
      a.pops.forEach((pop, i) => pop.forEach((p) => assertValidPlan(a.cost, p, `step ${i}`)));
      const b = run(graph, kb, seed, 'cuts', 150, searchLocal);
      assert.deepEqual(b.pops.map((pop) => pop.map(planKey)), a.pops.map((pop) => pop.map(planKey)), 'same seed, same populations');
      assert.equal(planKey(b.res.plan), planKey(a.res.plan), 'same seed, same plan');
      const best = Math.min(...a.pops.flat().map((p) => planDram(a.cost, p)));
      assert.ok(a.res.dram <= best, 'never worse than the best plan kept');
      for (const s of a.survivorSettles) assert.ok(s.after <= s.before, 'settling never raises DRAM');
      written += assertWrittenBack(a);
    }),
    { numRuns: 25 },
  );
  assert.ok(written > 0, 'no settled child was ever written back: the property tests nothing');
});
