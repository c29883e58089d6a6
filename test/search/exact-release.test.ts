// releaseSolver() (issue 15, item 5: dnnfuse compile drops HiGHS's wasm instance and module
// after each pass) changes no answer: the solves after it, on a new instance, give the same
// results as on the instance kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomCnn } from '../fusion/gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { releaseSolver, solveExact, type ExactResult } from '../../src/search/exact.ts';

const same = (r: ExactResult) => ({ ...r, ms: 0 });

test('releaseSolver: the same exact results on a new HiGHS instance as on the one kept', async () => {
  const cases = [0, 1, 2, 3].flatMap((seed) => (['lbdf', 'brr'] as const).map((scheme) => {
    const g = randomCnn(700 + seed, 6);
    return createCostModel(scheme, g, { bufferBytes: 16 * 1024, elementType: 'int8' });
  }));
  // The incumbent is the layer-by-layer plan: greedy's plan meets the component bounds on these
  // graphs, which proves it optimal before any enumeration, so HiGHS would never run.
  const opts = (cost: (typeof cases)[number]) => ({ timeLimit: 20, decompose: false, incumbent: cost.graph.ops.map((_, i) => [i]), maxCandidates: 60 });
  const kept: ExactResult[] = [];
  for (const cost of cases) kept.push(await solveExact(cost, opts(cost)));
  let milp = 0;
  for (let i = 0; i < cases.length; i++) {
    assert.equal(releaseSolver(), true, 'a solver to release after a solve');
    const again = await solveExact(cases[i], opts(cases[i]));
    assert.deepEqual(same(again), same(kept[i]), `case ${i}`);
    if (again.solver.startsWith('milp')) milp++;
  }
  assert.ok(milp >= 2, `only ${milp} cases solved by HiGHS`);
});
