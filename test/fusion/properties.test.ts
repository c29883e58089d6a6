/** fast-check properties over random CNN-like DAGs (residuals, concats, depthwise, SE). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomCnn } from './gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { checkPlan, layerByLayer, planDram } from '../../src/fusion/plan.ts';
import { searchGreedy, searchLocal, searchNsga2, searchRandom } from '../../src/search/heuristics.ts';
import { solveExact } from '../../src/search/exact.ts';

const arb = fc.record({
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  blocks: fc.integer({ min: 2, max: 5 }),
  scheme: fc.constantFrom('lbdf' as const, 'brr' as const),
  kib: fc.constantFrom(0.5, 1, 2, 8),
  dtype: fc.constantFrom('int8' as const, 'fp16' as const),
});

test('property: every returned plan is valid and costs at least the exact optimum', async () => {
  await fc.assert(
    fc.asyncProperty(arb, async ({ seed, blocks, scheme, kib, dtype }) => {
      const g = randomCnn(seed, blocks);
      const cost = createCostModel(scheme, g, { bufferBytes: kib * 1024, elementType: dtype });
      const ex = await solveExact(cost, { timeLimit: 20 });
      assert.deepEqual(checkPlan(g, ex.plan, cost), { ok: true });
      assert.ok(ex.bound <= ex.dram);
      for (const r of [searchGreedy(cost), searchRandom(cost, { seed, budget: 30 }), searchLocal(cost, { seed, budget: 30 }), searchNsga2(cost, { seed, budget: 30 })]) {
        assert.deepEqual(checkPlan(g, r.plan, cost), { ok: true }, r.method);
        assert.equal(r.dram, planDram(cost, r.plan));
        if (ex.status === 'optimal') assert.ok(r.dram >= ex.dram, `${r.method} ${r.dram} < optimum ${ex.dram}`);
        assert.ok(r.dram >= ex.bound, `${r.method} below the proven bound`);
      }
    }),
    { numRuns: 12, seed: 20261128 },
  );
});

test('property: the exact optimum never increases as the buffer grows', async () => {
  await fc.assert(
    fc.asyncProperty(arb, async ({ seed, blocks, scheme, dtype }) => {
      const g = randomCnn(seed, blocks);
      let prev = Infinity;
      for (const kib of [0.25, 0.5, 1, 2, 4, 16]) {
        const ex = await solveExact(createCostModel(scheme, g, { bufferBytes: kib * 1024, elementType: dtype }), { timeLimit: 20 });
        if (ex.status !== 'optimal') return; // only proven optima are comparable
        assert.ok(ex.dram <= prev, `${kib} KiB: ${ex.dram} > ${prev}`);
        prev = ex.dram;
      }
    }),
    { numRuns: 8, seed: 7 },
  );
});

test('property: layer-by-layer cost = sum over ops of (distinct inputs + outputs + weights)', () => {
  fc.assert(
    fc.property(arb, ({ seed, blocks, scheme, kib, dtype }) => {
      const g = randomCnn(seed, blocks);
      const cost = createCostModel(scheme, g, { bufferBytes: kib * 1024, elementType: dtype });
      const b = cost.elementBytes;
      let sum = 0;
      for (const op of g.ops) {
        for (const t of new Set(op.inputs)) sum += g.tensors[t].elements * b;
        for (const t of op.outputs) sum += g.tensors[t].elements * b;
        sum += op.weightElements * b;
      }
      assert.equal(planDram(cost, layerByLayer(g)), sum);
    }),
    { numRuns: 60, seed: 3 },
  );
});

test('property: validity is monotone (a valid group stays valid when ops leave it, if still connected)', () => {
  fc.assert(
    fc.property(arb, fc.integer({ min: 0, max: 1000 }), ({ seed, blocks, scheme, kib, dtype }, pick) => {
      const g = randomCnn(seed, blocks);
      const cost = createCostModel(scheme, g, { bufferBytes: kib * 1024, elementType: dtype });
      // grow a connected group from a random op along edges while valid, then check every prefix
      const n = g.ops.length;
      const group = [pick % n];
      for (let step = 0; step < n; step++) {
        const nb = [...new Set(group.flatMap((v) => [...g.succ[v], ...g.pred[v]]))].filter((u) => !group.includes(u));
        if (!nb.length) break;
        group.push(nb[(pick + step) % nb.length]);
        const sorted = [...group].sort((a, b2) => a - b2);
        if (!cost.valid(sorted)) {
          break;
        }
        // every connected subset obtained by dropping the newest op was valid too (built that way);
        // memory of the subset is at most the memory of the group
        const sub = [...group.slice(0, -1)].sort((a, b2) => a - b2);
        assert.ok(cost.memory(sub).bytes <= cost.memory(sorted).bytes || sub.length === 1);
      }
    }),
    { numRuns: 60, seed: 5 },
  );
});
