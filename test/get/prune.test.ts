/**
 * "Do not explain what cannot matter" (search/prune.ts, GetOptions.prune): the lower bound on
 * the DRAM of any rectification of a plan (GET's plan-level merge included) holds, and random
 * search and local search with GET return the same plan, DRAM and history with and without
 * pruning (the exactness the code claims), while explaining fewer groups; without the plan
 * merge the bound, taken again after each answer and with the groups not yet answered as their
 * proven optima, prunes plans the first bound kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { makeRectifier } from '../../src/get/rectifier.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { applyRectifier, checkSplit, randomSplit } from '../../src/fusion/rectify.ts';
import { optimalSplit } from '../../src/get/refine.ts';
import { planDram } from '../../src/fusion/plan.ts';
import { components } from '../../src/fusion/groups.ts';
import { randomPlan } from '../../src/search/common.ts';
import { lbdfMemoryFloor, rectifiedDramLowerBound } from '../../src/search/prune.ts';
import { searchLocal, searchRandom } from '../../src/search/heuristics.ts';
import { LbdfCostModel } from '../../src/fusion/lbdf.ts';
import { Rng } from '../../src/util/random.ts';

const KB = 1024;
const nets = [syntheticNetwork(3), syntheticNetwork(5), syntheticNetwork(7)];

test('the memory floor is at most F_beta and monotone in the group (random connected groups)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), (ni, seed, kb) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' }) as LbdfCostModel;
      const rng = new Rng(seed);
      for (const g of randomPlan(cost, rng)) {
        assert.ok(lbdfMemoryFloor(cost, g) <= cost.memory(g).bytes, `floor above F_beta on ${g}`);
        const sub = components(graph, g.filter(() => rng.next() < 0.6));
        for (const s of sub) assert.ok(lbdfMemoryFloor(cost, s) <= lbdfMemoryFloor(cost, g), 'not monotone');
      }
    }),
    { numRuns: 120 },
  );
});

test('the bound never exceeds the DRAM of the rectified plan (GET with plan merge, random split); without plan merge, neither does the tighter bound', () => {
  const rects = [makeRectifier('cuts', { planMerge: true }), makeRectifier('cuts'), makeRectifier('none')];
  let binding = 0, tighter = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), fc.integer({ min: 0, max: 2 }), (ni, seed, kb, ri) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: ri === 2 ? 'fp32' : 'int8' });
      const rng = new Rng(seed);
      const plan = randomPlan(cost, rng);
      const lb = rectifiedDramLowerBound(cost, plan)!;
      const q = applyRectifier(plan, cost, rects[ri], rng);
      const d = planDram(cost, q);
      assert.ok(lb <= d, `bound ${lb} above the rectified plan's ${d}`);
      // GET's default and 'none' have no settle: the rectified plan refines the plan searched
      assert.equal(rects[ri].settle === undefined, ri > 0);
      if (ri > 0) {
        const strict = rectifiedDramLowerBound(cost, plan, undefined, { settles: false })!;
        assert.ok(strict <= d, `bound without settle ${strict} above the rectified plan's ${d}`);
        if (strict > lb) tighter++;
      }
      if (plan.every((g) => g.length <= 1 || cost.valid(g))) assert.equal(lb, planDram(cost, plan), 'a valid plan: its own DRAM');
      if (lb > 0.9 * d) binding++;
    }),
    { numRuns: 300 },
  );
  assert.ok(binding > 0, 'the bound is never close: it tests nothing');
  assert.ok(tighter > 0, 'the bound without settle is never tighter: it tests nothing');
});

test("a group's proven optimum (the pruning floor) is a valid split no answer beats; the window DP's where it has one, the segment DP's beyond 48 ops; the plan of optima is never below the bound", () => {
  let beyond = 0, windowed = 0, floors = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), (ni, seed, kb) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
      const rect = makeRectifier('cuts');
      const rng = new Rng(seed);
      const plan = randomPlan(cost, rng);
      // the plan with every invalid group replaced by its proven optimum is the least DRAM any
      // rectification reaches (a part's F_D depends on the part alone): the bound without settle
      // (taken group by group, search/prune.ts) never exceeds it
      const floorPlan: number[][] = [];
      let whole = true;
      for (const g of plan) {
        const invalid = g.length > 1 && !cost.valid(g);
        const o = invalid ? rect.optimum!(g, cost) : undefined;
        if (invalid && !o) whole = false;
        floorPlan.push(...(o ?? [[...g]]));
      }
      if (whole) {
        const lb = rectifiedDramLowerBound(cost, plan, undefined, { settles: false })!;
        assert.ok(lb <= planDram(cost, floorPlan), `bound ${lb} above the least rectified DRAM ${planDram(cost, floorPlan)}`);
        floors++;
      }
      for (const g of plan) {
        const o = rect.optimum!(g, cost);
        if (g.length <= 1 || cost.valid(g)) {
          assert.equal(o, undefined);
          continue;
        }
        if (!o) continue;
        const sorted = [...g].sort((a, b) => a - b);
        assert.equal(checkSplit(graph, cost, sorted, o), undefined);
        const answer = rect(g, cost, rng);
        assert.ok(planDram(cost, o) <= planDram(cost, answer), `floor ${planDram(cost, o)} above the answer ${planDram(cost, answer)}`);
        const w = optimalSplit(sorted, cost);
        if (w) (windowed++, assert.equal(planDram(cost, o), w.dram));
        if (g.length > 48) beyond++;
      }
    }),
    { numRuns: 60 },
  );
  assert.ok(beyond > 0 && windowed > 0 && floors > 0, `floors beyond the window DP ${beyond}, equal to it ${windowed}, whole floor plans ${floors}: the property tests too little`);
});

test('BRR has no proven bound: undefined, nothing pruned', () => {
  const cost = createCostModel('brr', nets[0], { bufferBytes: 24 * KB, elementType: 'int8' });
  assert.equal(rectifiedDramLowerBound(cost, randomPlan(cost, new Rng(1))), undefined);
});

test('random and local search with GET: same plan, DRAM and history with and without pruning', () => {
  let pruned = 0, late = 0, byOptimum = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 1e6 }),
      fc.constantFrom(24, 64, 160),
      fc.constantFrom('random', 'local'),
      fc.constantFrom('int8', 'fp32'),
      fc.boolean(),
      (ni, seed, kb, method, element, planMerge) => {
        const graph = nets[ni];
        const run = (prune: boolean) => {
          const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: element as 'int8' | 'fp32' });
          const rect = makeRectifier('cuts', { prune, planMerge });
          const opts = { seed, budget: 150, rectifier: rect, k: 5, restartAfter: 60 };
          const r = method === 'random' ? searchRandom(cost, opts) : searchLocal(cost, opts);
          return { r, stats: rect.stats };
        };
        const a = run(false), b = run(true);
        assert.equal(a.stats.pruned, 0);
        pruned += b.stats.pruned;
        // without plan merge the bound is taken again after each answer (search/prune.ts)
        // and bounds the groups not yet answered by their proven optima
        if (planMerge) assert.equal((b.r.rectify.prunedLate ?? 0) + (b.r.rectify.prunedByOptimum ?? 0), 0);
        else (late += b.r.rectify.prunedLate ?? 0), (byOptimum += b.r.rectify.prunedByOptimum ?? 0);
        assert.deepEqual(b.r.plan, a.r.plan);
        assert.equal(b.r.dram, a.r.dram);
        assert.deepEqual(b.r.history, a.r.history);
        assert.equal(b.r.plansGenerated, a.r.plansGenerated);
        assert.ok(b.stats.explanations <= a.stats.explanations);
      },
    ),
    {
      numRuns: 60,
      // Cases known to prune by the proven optima (and after answers): about 1 drawn case in 14
      // without plan merge does, so 60 random runs alone miss it about one time in ten.
      examples: [
        [0, 7919, 24, 'random', 'int8', false],
        [0, 23757, 64, 'random', 'fp32', false],
      ],
    },
  );
  assert.ok(pruned > 0, 'nothing was ever pruned: the property tests nothing');
  assert.ok(late > 0, 'no plan was pruned after an answer: the retaken bound is not tested');
  assert.ok(byOptimum > 0, 'no plan was pruned by the proven optima: that bound is not tested');
});

test('pruning without the guard is off (the full answer would draw nothing from the stream)', () => {
  assert.equal(makeRectifier('cuts', { guard: false }).skip, undefined);
  assert.equal(makeRectifier('none').skip, undefined);
  assert.equal(makeRectifier('cuts', { prune: false }).skip, undefined);
  assert.ok(makeRectifier('cuts').skip);
  // the skip answer draws from the stream exactly what the guard draws: one random split
  const cost = createCostModel('lbdf', nets[1], { bufferBytes: 24 * KB, elementType: 'int8' });
  const big = nets[1].ops.map((o) => o.id).filter((id) => id < 12);
  const g = components(nets[1], big)[0];
  assert.ok(!cost.valid(g));
  const r1 = new Rng(9), r2 = new Rng(9);
  const parts = makeRectifier('cuts').skip!(g, cost, r1);
  assert.deepEqual(parts, randomSplit([...g].sort((x, y) => x - y), cost, r2));
  assert.equal(r1.next(), r2.next());
});
