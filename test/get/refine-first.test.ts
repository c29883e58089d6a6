/**
 * GET's "optimum first" (GetOptions.refineFirst, refine.ts optimalSplit): a group whose valid
 * convex connected parts the window DP enumerates completely is answered with its proven
 * least-DRAM partition without running the explainer. Checked here: the answer is a valid split,
 * a pure function of the group, never above any split of it and equal in DRAM to what SPLIT +
 * the exact refinement returns (so the explanation it skips could only break ties); the
 * rectifier returns the same DRAM per group with and without the short-cut; and a search whose
 * invalid groups are all answered this way does not depend on the explainer at all (same plans,
 * DRAM and history with two different explainers, and no explanation computed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { makeRectifier } from '../../src/get/rectifier.ts';
import { optimalSplit, refineSplit } from '../../src/get/refine.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { checkSplit, randomSplit } from '../../src/fusion/rectify.ts';
import { planDram } from '../../src/fusion/plan.ts';
import { searchLocal, searchRandom } from '../../src/search/heuristics.ts';
import type { Explainer } from '../../src/get/explainers/index.ts';
import type { CostModel, Group } from '../../src/fusion/types.ts';
import { Rng } from '../../src/util/random.ts';
import { invalidGroups } from './plan-checks.ts';

const KB = 1024;
const nets = [syntheticNetwork(3), syntheticNetwork(5), syntheticNetwork(7)];

test('optimalSplit: a valid split, a pure function of the group, the DRAM of the exact refinement of any split', () => {
  let exact = 0, below = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), fc.constantFrom('int8', 'fp32'), (ni, seed, kb, el) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: el as 'int8' | 'fp32' });
      const rng = new Rng(seed);
      for (const g of invalidGroups(cost, rng)) {
        const o = optimalSplit(g, cost);
        if (!o) continue;
        exact++;
        assert.equal(checkSplit(graph, cost, g, o.parts), undefined, 'a valid split of the group');
        assert.equal(o.dram, planDram(cost, o.parts));
        assert.deepEqual(optimalSplit([...g].reverse(), cost), o, 'a pure function of the group');
        for (let k = 0; k < 3; k++) {
          const parts = randomSplit(g, cost, rng).map((p) => [...p].sort((a, b) => a - b));
          const d = planDram(cost, parts);
          assert.ok(o.dram <= d, `the optimum ${o.dram} above a random split's ${d}`);
          if (o.dram < d) below++;
          const r = refineSplit(parts, cost);
          // where the refinement of a given split is exact, it is this optimum's DRAM: the split
          // given (SPLIT's, in the rectifier) only decides between equally cheap answers
          if (r?.exact) assert.equal(r.dram, o.dram, 'exact refinement and optimum disagree');
        }
      }
    }),
    { numRuns: 60 },
  );
  assert.ok(exact > 0 && below > 0, `nothing tested (exact ${exact}, strictly below a random split ${below})`);
});

test('optimalSplit gives up (undefined) on groups over maxOps or over the candidate cap', () => {
  const graph = nets[1];
  const cost = createCostModel('lbdf', graph, { bufferBytes: 24 * KB, elementType: 'int8' });
  const rng = new Rng(4);
  const g = invalidGroups(cost, rng).find((x) => x.length >= 6)!;
  assert.ok(g, 'an invalid group of 6+ ops');
  assert.equal(optimalSplit(g, cost, { maxOps: g.length - 1 }), undefined);
  assert.equal(optimalSplit(g, cost, { maxCandidates: 2 }), undefined);
  assert.ok(optimalSplit(g, cost));
});

test('the rectifier: same DRAM per invalid group with and without refineFirst, and no explanation where the optimum is known', () => {
  let shortcut = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), (ni, seed, kb) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
      for (const g of invalidGroups(cost, new Rng(seed))) {
        // refineDeep off: it changes SPLIT's answers for larger groups, refineFirst alone does not
        const on = makeRectifier('cuts', { refineDeep: false }), off = makeRectifier('cuts', { refineFirst: false });
        const a = on(g, cost, new Rng(seed)), b = off(g, cost, new Rng(seed));
        assert.equal(planDram(cost, a), planDram(cost, b), 'DRAM differs with the short-cut');
        if (optimalSplit(g, cost)) {
          shortcut++;
          assert.equal(on.stats.explanations, 0, 'explained a group whose optimum is known');
          assert.equal(on.stats.exact, 1);
        } else assert.equal(on.stats.exact, 0);
      }
    }),
    { numRuns: 40 },
  );
  assert.ok(shortcut > 0, 'no group was answered by its optimum: the property tests nothing');
});

/** An explainer that blames edges in reverse topological order (any ranking works for SPLIT). */
const reversed: Explainer = {
  kind: 'cuts',
  explain(group: Group, cost: CostModel) {
    const inG = new Set(group);
    const edges: [number, number][] = [];
    for (const u of [...group].sort((a, b) => b - a)) for (const v of cost.graph.succ[u]) if (inG.has(v)) edges.push([u, v]);
    return { method: 'cuts', edges, scores: edges.map((_, i) => -i), pInvalid: 1 };
  },
};

test('random and local search: with every invalid group answered by its optimum, the explainer does not matter', (t) => {
  let runs = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), fc.constantFrom('random', 'local'), (ni, seed, kb, method) => {
      const graph = nets[ni];
      const run = (explainer?: Explainer) => {
        const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
        // no exploration (a recurring group's alternatives come from explained cuts)
        const rect = makeRectifier('cuts', { explore: false, ...(explainer ? { explainer } : {}) });
        const opts = { seed, budget: 60, rectifier: rect, k: 5, restartAfter: 30 };
        const r = method === 'random' ? searchRandom(cost, opts) : searchLocal(cost, opts);
        return { r, stats: rect.stats };
      };
      const a = run(), b = run(reversed);
      // only when every invalid group had a proven optimum (groups over 48 ops go through SPLIT)
      if (a.stats.explanations > 0 || b.stats.explanations > 0) return;
      runs++;
      assert.deepEqual(b.r.plan, a.r.plan);
      assert.equal(b.r.dram, a.r.dram);
      assert.deepEqual(b.r.history, a.r.history);
      assert.equal(a.stats.exact, a.stats.invalid);
    }),
    { numRuns: 15, seed: 1504 }, // seeded: with an unseeded draw, some draws had every run explain something (the suite failed once)
  );
  t.diagnostic(`${runs} of 15 runs had every invalid group answered by its optimum`);
  assert.ok(runs > 0, 'every run explained something: the property tests nothing');
});

test('refineDeep (default): SPLIT takes the proven optimum of its sub-groups; valid answers, fewer explanations, deterministic', () => {
  let fewer = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64), (ni, seed, kb) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
      // small caps, so that whole groups go through SPLIT and only their sub-groups have a proven optimum
      const limits = { maxOps: 12 };
      for (const g of invalidGroups(cost, new Rng(seed))) {
        const deep = makeRectifier('cuts', { refineDeep: true, refineLimits: limits }), flat = makeRectifier('cuts', { refineDeep: false, refineLimits: limits });
        const a = deep(g, cost, new Rng(seed));
        flat(g, cost, new Rng(seed));
        assert.equal(checkSplit(graph, cost, g, a), undefined, 'a valid split');
        assert.deepEqual(makeRectifier('cuts', { refineDeep: true, refineLimits: limits })(g, cost, new Rng(seed)), a, 'deterministic');
        assert.ok(deep.stats.explanations <= flat.stats.explanations, 'explained more');
        if (deep.stats.explanations < flat.stats.explanations) fewer++;
      }
    }),
    { numRuns: 30 },
  );
  assert.ok(fewer > 0, 'never fewer explanations: the option does nothing here');
});
