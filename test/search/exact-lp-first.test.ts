// The exact solver's memory savings (issue 15, item 5) change nothing of its answers: a
// size-bounded family with an incumbent solved as an LP first (the MILP only when that LP does not
// prove the incumbent optimal over the family), and
// large families passed to HiGHS column-wise, give the same plan, DRAM, bound and status as the
// MILP alone on the row-wise matrix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomCnn } from '../fusion/gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { checkPlan, layerByLayer } from '../../src/fusion/plan.ts';
import { solveExact, type ExactResult } from '../../src/search/exact.ts';
import { greedyPlan, searchRandom } from '../../src/search/heuristics.ts';

const same = (r: ExactResult) => ({ plan: r.plan, dram: r.dram, bound: r.bound, status: r.status, scope: r.scope, maxGroupSize: r.maxGroupSize, candidates: r.candidates, solver: r.solver });

test('LP first on size-bounded families and column-wise matrices: the same result as the MILP alone, row-wise', async () => {
  let bounded = 0, improved = 0, kept = 0;
  for (let seed = 0; seed < 12; seed++) {
    const g = randomCnn(300 + seed, 6);
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, g, { bufferBytes: 16 * 1024, elementType: 'int8' });
      // No incumbent (the LP's plan is the answer), a poor one (random search, few plans) and greedy's.
      const incumbent = [undefined, searchRandom(cost, { seed, budget: 3 }).plan, greedyPlan(cost)][seed % 3];
      for (const limits of [{ maxCandidates: 40 }, { maxGroupSize: 3 }]) {
        const base = { timeLimit: 20, decompose: false, incumbent, ...limits };
        const milp = await solveExact(cost, { ...base, lpFirst: false, columnWiseFrom: Infinity });
        const lp = await solveExact(cost, { ...base, lpFirst: true });
        const csc = await solveExact(cost, { ...base, lpFirst: true, columnWiseFrom: 0 });
        const cscMilp = await solveExact(cost, { ...base, lpFirst: false, columnWiseFrom: 0 });
        const what = `seed ${seed} ${scheme} ${JSON.stringify(limits)}`;
        assert.ok(checkPlan(g, lp.plan, cost).ok, what);
        assert.deepEqual(same(lp), same(milp), `${what}: LP first`);
        assert.deepEqual(same(csc), same(milp), `${what}: LP first, column-wise`);
        assert.deepEqual(same(cscMilp), same(milp), `${what}: column-wise`);
        if (milp.scope === 'bounded' && milp.solver.startsWith('milp')) bounded++;
        if (!incumbent || milp.dram < incumbent.reduce((a, x) => a + cost.dram(x), 0)) improved++;
        else kept++;
      }
    }
  }
  console.log(`# ${bounded} size-bounded MILP instances, ${improved} without an incumbent or better than it, ${kept} keeping it`);
  // The cases the shortcut decides must occur: bounded MILP solves, some without an incumbent or better than it.
  assert.ok(bounded >= 10, `only ${bounded} size-bounded MILP instances`);
  assert.ok(improved >= 3, `only ${improved} instances decided by the solver's own plan`);
  assert.ok(kept >= 3, `only ${kept} instances where the incumbent is the answer (the LP-first case)`);
});

test('a column-generation LP cut short (lpMaxRounds) proves nothing: the incumbent stands, with the bound of the full run', async () => {
  let changed = 0;
  for (let seed = 0; seed < 12; seed++) {
    const g = randomCnn(300 + seed, 6);
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, g, { bufferBytes: 16 * 1024, elementType: 'int8' });
      const incumbent = layerByLayer(g);
      const base = { timeLimit: 20, decompose: false, incumbent, maxGroupSize: 3, lpFirst: true };
      const full = await solveExact(cost, base);
      const cut = await solveExact(cost, { ...base, lpMaxRounds: 1 });
      const what = `seed ${seed} ${scheme}`;
      assert.equal(cut.dram, incumbent.reduce((a, x) => a + cost.dram(x), 0), what);
      assert.equal(cut.bound, full.bound, what);
      assert.ok(cut.dram >= full.dram, what);
      if (cut.dram > full.dram) changed++;
    }
  }
  assert.ok(changed >= 3, `only ${changed} instances where the full LP (and the MILP after it) beat the incumbent`);
});
