/** The segment-path DP (src/search/segment-dp.ts): against brute force on small random graphs,
 * against the MILP on mid-size ones, every plan through the plan checker. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomCnn, smallCnns } from '../fusion/gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { checkPlan, planDram } from '../../src/fusion/plan.ts';
import { fusableComponents, segmentFamilies, segmentPathOptimum, solveExact } from '../../src/search/exact.ts';
import { orderIdeals, segmentPath, solveSegmentPath } from '../../src/search/segment-dp.ts';
import { segmentsOf } from '../../src/search/segments.ts';
import { bruteForceOptimum } from '../../src/testkit/plan.ts';
import type { CostModel } from '../../src/fusion/types.ts';
import { loadModel } from '../../src/onnx/io.ts';
import { inferShapes, staticShape } from '../../src/analysis/shapes.ts';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';
import { buildOpGraph } from '../../src/fusion/op-graph.ts';
import { greedyPlan } from '../../src/search/heuristics.ts';

const hw = (kib: number, elementType: 'int8' | 'fp32' = 'int8') => ({ bufferBytes: kib * 1024, elementType });

/** The DP's plan of every component it solves, the other ops as singletons: a whole plan. */
function dpPlan(cost: CostModel): { plan: number[][]; solved: number } | undefined {
  const plan: number[][] = [];
  let solved = 0;
  for (const comp of fusableComponents(cost)) {
    const r = comp.length > 1 ? segmentPathOptimum(cost, comp, 200_000) : undefined;
    // Far below its work limits, the DP never declines a component whose segments form a path
    // (a decline would mean its re-check found an invalid group or a wrong DRAM).
    const seg = segmentsOf(cost.graph, comp);
    if (comp.length > 1 && segmentPath(seg.segments, seg.cuts)) assert.ok(r, `the DP declined a path of ${seg.segments.length} segments`);
    if (r) {
      solved++;
      plan.push(...r.plan.map((g) => [...g]));
      assert.equal(r.dram, r.plan.reduce((a, g) => a + cost.dram(g), 0));
      assert.deepEqual(r.plan.flat().sort((a, b) => a - b), comp, 'the DP plan covers its component once');
    } else plan.push(...comp.map((v) => [v]));
  }
  return solved ? { plan, solved } : undefined;
}

test('segmentPath: a path of segments in order, entry/exit cut ops; a cut op held by three segments is no path', () => {
  const p = segmentPath([[0, 1], [1, 2, 3], [3, 4]], new Map([[1, 2], [3, 2]]));
  assert.deepEqual(p, { order: [0, 1, 2], entry: [-1, 1, 3], exit: [1, 3, -1] });
  assert.equal(segmentPath([[0, 1], [1, 2], [1, 3]], new Map([[1, 3]])), undefined);
  assert.equal(segmentPath([[0, 1]], new Map()), undefined);
});

test('segment-path DP = brute-force optimum on small random graphs (both schemes, int8/fp32, 4 buffers); plans pass checkPlan', () => {
  const graphs = smallCnns(400, 60, 5);
  let used = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: graphs.length - 1 }), fc.constantFrom('lbdf' as const, 'brr' as const), fc.constantFrom(0.125, 0.5, 2, 16), fc.constantFrom('int8' as const, 'fp32' as const), (i, scheme, kib, dtype) => {
      const { seed, g } = graphs[i];
      const cost = createCostModel(scheme, g, hw(kib, dtype));
      const r = dpPlan(cost);
      if (!r) return;
      used++;
      const opt = bruteForceOptimum(cost);
      // Components never share a group: with every other component as singletons, the DP plan is
      // feasible and no better than the optimum; where the DP solved every multi-op component it
      // is the optimum.
      assert.deepEqual(checkPlan(g, r.plan, cost), { ok: true }, `seed ${seed} ${scheme} ${kib} ${dtype}`);
      assert.ok(planDram(cost, r.plan) >= opt);
      const multi = fusableComponents(cost).filter((c) => c.length > 1).length;
      if (r.solved === multi) assert.equal(planDram(cost, r.plan), opt, `seed ${seed} ${scheme} ${kib} KiB ${dtype}: DP plan is not optimal`);
    }),
    { numRuns: 150, seed: 15 },
  );
  assert.ok(used >= 60, `the DP solved only ${used} of 150 instances`);
});

test('solveExact with the DP = brute force (status optimal, solver segment-dp) on small random graphs', async () => {
  let dp = 0;
  for (const { seed, g } of smallCnns(300, 40, 6)) {
    for (const scheme of ['lbdf', 'brr'] as const) {
      for (const kib of [0.25, 2]) {
        const cost = createCostModel(scheme, g, hw(kib));
        const r = await solveExact(cost, { timeLimit: 20 });
        assert.deepEqual(checkPlan(g, r.plan, cost), { ok: true });
        assert.equal(r.status, 'optimal');
        assert.equal(r.dram, bruteForceOptimum(cost), `seed ${seed} ${scheme} ${kib} KiB`);
        if (r.solver === 'segment-dp') dp++;
      }
    }
  }
  assert.ok(dp >= 20, `segment-dp used on only ${dp} instances`);
});

test('segment-path DP = the MILP optimum (no decomposition) on mid-size random graphs (20-60 ops)', async () => {
  let compared = 0;
  for (let seed = 0; seed < 24; seed++) {
    const g = randomCnn(500 + seed, 8 + (seed % 10));
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, g, hw([1, 4, 16][seed % 3], seed % 4 === 3 ? 'fp32' : 'int8'));
      const { segments, cuts } = segmentsOf(g, g.ops.map((_, i) => i));
      void cuts;
      if (segments.length < 2) continue;
      dpPlan(cost); // asserts the DP solves every path-shaped component
      const a = await solveExact(cost, { timeLimit: 30 });
      const b = await solveExact(cost, { timeLimit: 30, decompose: false });
      assert.deepEqual(checkPlan(g, a.plan, cost), { ok: true }, `seed ${seed} ${scheme}`);
      assert.deepEqual(checkPlan(g, b.plan, cost), { ok: true }, `seed ${seed} ${scheme}`);
      if (a.solver === 'segment-dp' && b.status === 'optimal') {
        assert.equal(a.status, 'optimal');
        assert.equal(a.dram, b.dram, `seed ${seed} ${scheme}: DP ${a.dram} vs MILP ${b.dram}`);
        compared++;
      }
      assert.ok(a.bound <= b.dram && b.bound <= a.dram, `seed ${seed} ${scheme}: bounds cross plans`);
    }
  }
  assert.ok(compared >= 12, `only ${compared} instances compared`);
});

test('the ideal limit: the DP declines exactly when one segment has more order ideals than maxIdeals, and gives the same plan otherwise', () => {
  let checked = 0;
  for (let seed = 0; seed < 30 && checked < 12; seed++) {
    const g = randomCnn(700 + seed, 8 + (seed % 10));
    const cost = createCostModel(seed % 2 ? 'brr' : 'lbdf', g, hw([1, 4, 16][seed % 3]));
    for (const comp of fusableComponents(cost)) {
      if (comp.length < 2) continue;
      const { segments, cuts } = segmentsOf(g, comp);
      const fams = segmentPath(segments, cuts) ? segmentFamilies(cost, segments, 200_000) : undefined;
      if (!fams) continue;
      const free = solveSegmentPath(cost, segments, cuts, fams);
      if (!free || free.idealsMax < 2) continue;
      // the limits are counted as ideals are added (not once a level is done): the same decision
      assert.deepEqual(solveSegmentPath(cost, segments, cuts, fams, { maxIdeals: free.idealsMax }), free, `seed ${seed}: at the limit`);
      assert.equal(solveSegmentPath(cost, segments, cuts, fams, { maxIdeals: free.idealsMax - 1 }), undefined, `seed ${seed}: one ideal past the limit`);
      checked++;
    }
  }
  assert.ok(checked >= 12, `only ${checked} components checked`);
});

/** The DP's order-ideal loop as it was, on BigInts (the reference for orderIdeals). */
function idealsByBigInt(size: number, predMask: bigint[], byFirst: number[][], parts: { ops: number[]; mask: bigint; pred: bigint }[], maxIdeals: number): bigint[][] | undefined {
  const levels: bigint[][] = Array.from({ length: size + 1 }, () => []);
  const seen = new Set<bigint>([0n]);
  levels[0].push(0n);
  for (let s = 0; s < size; s++) {
    for (const I of levels[s]) {
      for (let i = 0; i < size; i++) {
        if ((I >> BigInt(i)) & 1n || (predMask[i] & ~I) !== 0n) continue;
        for (const p of byFirst[i]) {
          const q = parts[p];
          if ((q.mask & I) !== 0n || (q.pred & ~I) !== 0n) continue;
          const J = I | q.mask;
          if (seen.has(J)) continue;
          seen.add(J);
          if (seen.size > maxIdeals) return undefined;
          levels[s + q.ops.length].push(J);
        }
      }
    }
  }
  return levels;
}

test('orderIdeals (word bitsets) gives the BigInt loop\'s levels, in its order, and declines at the same count', (t) => {
  let declined = 0, wide = 0;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 110 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.double({ min: 0.02, max: 0.3, noNaN: true }), (size, seed, density) => {
      let x = seed || 1;
      const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x / 2 ** 32);
      // a DAG on 0..size-1 (edges forward), and pieces: contiguous-ish random sets of 1-4 ops
      // mostly a chain (v - 1 -> v), with random longer edges: from narrow to wide segments
      const preds: number[][] = Array.from({ length: size }, (_, v) => Array.from({ length: v }, (_, u) => u).filter((u) => (u === v - 1 ? rnd() < 1 - density : rnd() < density / Math.max(1, Math.sqrt(v)))));
      const bit = (i: number) => 1n << BigInt(i);
      const predMask = preds.map((ps) => ps.reduce((a, u) => a | bit(u), 0n));
      const parts: { ops: number[]; mask: bigint; pred: bigint }[] = [];
      for (let i = 0; i < size; i++) {
        parts.push({ ops: [i], mask: bit(i), pred: predMask[i] });
        for (let k = 0; k < 2; k++) {
          const ops = [...new Set([i, ...Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => Math.min(size - 1, i + Math.floor(rnd() * 6)))])].sort((a, b) => a - b);
          const mask = ops.reduce((a, v) => a | bit(v), 0n);
          const pred = ops.reduce((a, v) => a | predMask[v], 0n) & ~mask;
          parts.push({ ops, mask, pred });
        }
      }
      const byFirst: number[][] = Array.from({ length: size }, () => []);
      parts.forEach((p, k) => byFirst[p.ops[0]].push(k));
      const ref = idealsByBigInt(size, predMask, byFirst, parts, 20_000);
      const got = orderIdeals(size, predMask, byFirst, parts, 20_000);
      assert.deepEqual(got, ref);
      if (!ref) return void declined++;
      const count = ref.reduce((a, l) => a + l.length, 0);
      if (size > 32 && count > 100) wide++; // two words or more
      assert.deepEqual(orderIdeals(size, predMask, byFirst, parts, count), ref, 'at the limit');
      assert.equal(orderIdeals(size, predMask, byFirst, parts, count - 1), undefined, 'one past the limit');
    }),
    { numRuns: 80, seed: 22 },
  );
  // both ways out are exercised: declines past 20,000 ideals, and multi-word segments with many
  assert.ok(declined >= 5 && wide >= 10, `declined ${declined}, wide ${wide}`);
  t.diagnostic(`${declined} runs declined past 20,000 ideals, ${wide} multi-word runs with over 100 ideals`);
});

/** A shared torchvision model's op graph (the reference models of ../shared/models). */
function sharedGraph(name: string) {
  const model = loadModel(sharedModelPath(name));
  inferShapes(model);
  return buildOpGraph(model, { shapeOf: (v) => staticShape(model, v) });
}

test('real models: the DP equals the MILP where both prove (squeezenet1_1, resnet18), and proves GoogLeNet (Inception chain, unproven by the MILP)', { skip: sharedModelsMissing() }, async () => {
  for (const [name, scheme, dtype, kib] of [['squeezenet1_1', 'lbdf', 'int8', 256], ['squeezenet1_1', 'brr', 'int8', 1024], ['resnet18', 'lbdf', 'int8', 512], ['resnet18', 'brr', 'fp32', 2048]] as const) {
    const g = sharedGraph(name);
    const cost = createCostModel(scheme, g, hw(kib, dtype));
    const a = await solveExact(cost, { timeLimit: 30 });
    const b = await solveExact(cost, { timeLimit: 30, decompose: false });
    assert.equal(a.status, 'optimal', `${name} ${scheme}`);
    assert.equal(a.solver, 'segment-dp', `${name} ${scheme}`);
    assert.deepEqual(checkPlan(g, a.plan, cost), { ok: true });
    assert.equal(b.status, 'optimal', `${name} ${scheme}: the MILP proves this one too`);
    assert.equal(a.dram, b.dram, `${name} ${scheme} ${dtype} ${kib} KiB: DP ${a.dram} vs MILP ${b.dram}`);
  }
  const g = sharedGraph('googlenet');
  const cost = createCostModel('lbdf', g, hw(1024));
  const r = await solveExact(cost, { timeLimit: 30, incumbent: greedyPlan(cost) });
  assert.equal(r.status, 'optimal');
  assert.equal(r.solver, 'segment-dp');
  assert.deepEqual(checkPlan(g, r.plan, cost), { ok: true });
  assert.ok(r.dram < planDram(cost, greedyPlan(cost)), 'GoogLeNet LBDF int8 1 MiB: the optimum cuts below greedy (bench:fusion: 7.613 vs 7.850 MB)');
});
