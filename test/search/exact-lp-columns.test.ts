// The LP-first step on large size-bounded families solves its LP by column generation
// (solveLpByColumns, issue 15 item 5: HiGHS's wasm memory); the LP over every column
// (solveLpWhole) is the reference: the same optimum, and a solution that is feasible for the
// whole LP at that value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomCnn } from '../fusion/gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { enumerateConvexLevels, fusableComponents, solveLpByColumns, solveLpWhole } from '../../src/search/exact.ts';
import { greedyPlan } from '../../src/search/heuristics.ts';

const limits = { timeLimit: 20, nodeLimit: 20000, iterationLimit: 2_000_000 };

test('column generation: the optimum of the LP over every column, with a feasible solution of that value', async () => {
  let instances = 0, generated = 0;
  for (let seed = 0; seed < 10; seed++) {
    const g = randomCnn(500 + seed, 7);
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, g, { bufferBytes: 16 * 1024, elementType: 'int8' });
      const inc = greedyPlan(cost);
      for (const comp of fusableComponents(cost)) {
        if (comp.length < 4) continue;
        for (const maxSize of [3, Infinity]) {
          const cands = enumerateConvexLevels(cost, 50_000, maxSize, comp).groups;
          const have = new Set(cands.map((c) => c.join(',')));
          const inComp = new Set(comp);
          for (const c of inc) if (c.length > 1 && inComp.has(c[0]) && !have.has(c.join(','))) cands.push(c);
          const keys = new Set(inc.map((c) => c.join(',')));
          const incumbent = cands.map((c) => (keys.has(c.join(',')) ? 1 : 0));
          const whole = await solveLpWhole(cost, comp, cands, limits);
          const cg = await solveLpByColumns(cost, comp, cands, incumbent, limits);
          const what = `seed ${seed} ${scheme} component of ${comp.length} ops, max size ${maxSize}, ${cands.length} columns`;
          assert.ok(whole.optimal && cg.optimal, what);
          assert.ok(Math.abs(cg.obj - whole.obj) <= 1e-6 * Math.max(1, whole.obj), `${what}: ${cg.obj} vs ${whole.obj}`);
          // x: every op covered once, value = obj.
          const cover = new Map(comp.map((v) => [v, 0]));
          let value = 0;
          cands.forEach((c, j) => {
            for (const v of c) cover.set(v, cover.get(v)! + cg.x![j]);
            value += cg.x![j] * (cost.dram(c) / cost.elementBytes);
          });
          for (const [v, s] of cover) assert.ok(Math.abs(s - 1) < 1e-6, `${what}: op ${v} covered ${s}`);
          assert.ok(Math.abs(value - cg.obj) <= 1e-6 * Math.max(1, value), what);
          instances++;
          if (cg.rounds > 1) generated++;
        }
      }
    }
  }
  console.log(`# ${instances} LPs, ${generated} needing generated columns`);
  assert.ok(instances >= 20, `only ${instances} instances`);
  assert.ok(generated >= 5, `only ${generated} instances where columns were generated`);
});

// The restricted LPs are built column-wise (typed arrays, a collection before each; bench:memory
// PP-OCRv4 det `--pipeline plan` 271 -> 228 MiB peak) unless `columnWiseFrom` says otherwise:
// the same rounds, columns, optimum and solution x, bit for bit, as row-wise.
test('column generation: column-wise restricted LPs give the row-wise rounds, optimum and x exactly', async () => {
  let compared = 0;
  for (let seed = 0; seed < 6; seed++) {
    const g = randomCnn(520 + seed, 7);
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, g, { bufferBytes: 16 * 1024, elementType: 'int8' });
      const inc = greedyPlan(cost);
      for (const comp of fusableComponents(cost)) {
        if (comp.length < 4) continue;
        const cands = enumerateConvexLevels(cost, 50_000, Infinity, comp).groups;
        const keys = new Set(inc.map((c) => c.join(',')));
        const incumbent = cands.map((c) => (keys.has(c.join(',')) ? 1 : 0));
        const rowWise = await solveLpByColumns(cost, comp, cands, incumbent, { ...limits, columnWiseFrom: Infinity });
        const byDefault = await solveLpByColumns(cost, comp, cands, incumbent, limits);
        assert.deepEqual(byDefault, rowWise, `seed ${seed} ${scheme}, ${comp.length} ops`);
        if (rowWise.rounds > 1) compared++;
      }
    }
  }
  assert.ok(compared >= 3, `only ${compared} instances with generated columns`);
});
