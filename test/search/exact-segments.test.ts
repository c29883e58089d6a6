/** The exact solver's decomposition at cut ops (exact.ts solveBySegments, segments.ts): the F_D
 * identity it rests on, its bound against the brute-force optimum, and the same optimum with
 * and without it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomCnn, smallCnns } from '../fusion/gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { checkPlan, planDram } from '../../src/fusion/plan.ts';
import { enumerateConvexCandidates, fusableComponents, solveBySegments, solveExact } from '../../src/search/exact.ts';
import { segmentsOf } from '../../src/search/segments.ts';
import { bruteForceOptimum } from '../../src/testkit/plan.ts';
import type { CostModel, Group } from '../../src/fusion/types.ts';

const limits = { timeLimit: 20, nodeLimit: 20_000, iterationLimit: 2_000_000 };
const hw = (kib: number, elementType: 'int8' | 'fp32' = 'int8') => ({ bufferBytes: kib * 1024, elementType });

/** F_D(G) = sum over segments of F_D(G ∩ S) - sum over cut ops c in G of (d(c) - 1) F_D({c}). */
function decomposedDram(cost: CostModel, comp: number[], G: Group): number {
  const { segments, cuts } = segmentsOf(cost.graph, comp);
  let s = 0;
  for (const S of segments) {
    const inS = new Set(S);
    const h = G.filter((v) => inS.has(v));
    if (h.length) s += cost.dram(h);
  }
  for (const [c, d] of cuts) if (G.includes(c)) s -= (d - 1) * cost.dram([c]);
  return s;
}

test('segments: every tensor lies with all its ops in one segment; segments share single cut ops', () => {
  for (let seed = 0; seed < 30; seed++) {
    const g = randomCnn(seed, 8);
    const all = g.ops.map((_, i) => i);
    const { segments, cuts } = segmentsOf(g, all);
    for (const t of g.tensors) {
      const ops = [...(t.producer >= 0 ? [t.producer] : []), ...t.consumers];
      if (ops.length < 2) continue;
      assert.ok(segments.some((S) => ops.every((v) => S.includes(v))), `seed ${seed}: tensor ${t.name} split`);
    }
    for (let i = 0; i < segments.length; i++) {
      for (let j = i + 1; j < segments.length; j++) {
        const shared = segments[i].filter((v) => segments[j].includes(v));
        assert.ok(shared.length <= 1, `seed ${seed}: segments ${i}, ${j} share ${shared}`);
        if (shared.length) assert.ok(cuts.has(shared[0]));
      }
    }
  }
});

test('F_D adds up over segments for every convex group (both schemes, random CNNs)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom('lbdf' as const, 'brr' as const), fc.constantFrom(1, 4, 16), (seed, scheme, kib) => {
      const g = randomCnn(seed, 6);
      const cost = createCostModel(scheme, g, hw(kib));
      for (const comp of fusableComponents(cost)) {
        if (comp.length < 2) continue;
        const fam = enumerateConvexCandidates(cost, 20_000, Infinity, comp) ?? [];
        for (const G of fam) assert.equal(decomposedDram(cost, comp, G), cost.dram(G), `seed ${seed} ${scheme} ${kib} KiB group ${G}`);
      }
    }),
    { numRuns: 25, seed: 15 },
  );
});

test('solveBySegments on whole small graphs: bound <= brute-force optimum; a returned plan is feasible and optimal', async () => {
  let plans = 0, bounds = 0;
  for (const { seed, g } of smallCnns(200, 40, 4)) {
    for (const scheme of ['lbdf', 'brr'] as const) {
      for (const kib of [0.25, 1, 4]) {
        const cost = createCostModel(scheme, g, hw(kib));
        const comps = fusableComponents(cost);
        if (comps.length !== 1) continue; // one component = the whole graph: lb bounds the optimum
        const r = await solveBySegments(cost, comps[0], 200_000, limits, undefined);
        if (!r) continue;
        const opt = bruteForceOptimum(cost);
        bounds++;
        assert.ok(r.lb <= opt, `seed ${seed} ${scheme} ${kib}: lb ${r.lb} > optimum ${opt}`);
        if (r.plan) {
          plans++;
          assert.deepEqual(checkPlan(g, r.plan, cost), { ok: true }, `seed ${seed} ${scheme} ${kib}`);
          assert.equal(planDram(cost, r.plan), opt, `seed ${seed} ${scheme} ${kib}: segment plan is not optimal`);
        }
      }
    }
  }
  assert.ok(bounds >= 10 && plans >= 5, `exercised ${bounds} bounds, ${plans} plans`);
});

test('solveExact with and without the decomposition: the same proven optimum (random CNNs, 15-40 ops)', async () => {
  let compared = 0;
  for (let seed = 0; seed < 14; seed++) {
    const g = randomCnn(100 + seed, 8 + (seed % 6));
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, g, hw(seed % 2 ? 2 : 8));
      const a = await solveExact(cost, { timeLimit: 20 });
      const b = await solveExact(cost, { timeLimit: 20, decompose: false });
      assert.deepEqual(checkPlan(g, a.plan, cost), { ok: true });
      if (a.status === 'optimal' && b.status === 'optimal') {
        assert.equal(a.dram, b.dram, `seed ${seed} ${scheme}`);
        compared++;
      }
      assert.ok(a.bound <= b.dram && b.bound <= a.dram, `seed ${seed} ${scheme}: bounds cross plans`);
    }
  }
  assert.ok(compared >= 15, `only ${compared} instances proven both ways`);
});

test('deferred segment rounds (deferRoundsFrom): the same proven optimum and status as rounds first; deferral happens', async () => {
  let deferredSeen = 0;
  let compared = 0;
  for (let seed = 0; seed < 14; seed++) {
    const g = randomCnn(200 + seed, 8 + (seed % 6));
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, g, hw(seed % 2 ? 2 : 8));
      for (const comp of fusableComponents(cost)) {
        if (comp.length < 2) continue;
        const d = await solveBySegments(cost, comp, 20_000, limits, undefined, 0);
        if (d?.deferred) {
          deferredSeen++;
          assert.equal(d.plan, undefined);
        }
      }
      const a = await solveExact(cost, { timeLimit: 20 });
      const b = await solveExact(cost, { timeLimit: 20, deferRoundsFrom: 0 });
      assert.deepEqual(checkPlan(g, b.plan, cost), { ok: true });
      assert.equal(b.status, a.status, `seed ${seed} ${scheme}`);
      if (a.status === 'optimal') {
        assert.equal(b.dram, a.dram, `seed ${seed} ${scheme}`);
        compared++;
      }
      assert.ok(a.bound <= b.dram && b.bound <= a.dram, `seed ${seed} ${scheme}: bounds cross plans`);
    }
  }
  assert.ok(deferredSeen >= 3, `only ${deferredSeen} components deferred`);
  assert.ok(compared >= 15, `only ${compared} instances proven both ways`);
});
