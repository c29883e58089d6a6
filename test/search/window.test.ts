import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomCnn, smallCnns } from '../fusion/gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { opGraphFromSpec, type OpSpec } from '../../src/fusion/op-graph.ts';
import { checkPlan, executionOrder, layerByLayer, planDram, type Plan } from '../../src/fusion/plan.ts';
import type { OpGraph } from '../../src/fusion/types.ts';
import { polishPlan, randomPlan, repair } from '../../src/search/common.ts';
import { enumerateConvexCandidates, solveExact } from '../../src/search/exact.ts';
import { greedyMergePlan, greedyPlan } from '../../src/search/heuristics.ts';
import { dropFirstGroup, enumerateWindow, reoptimizeWindows, solveWindow, type WindowFamily, type WindowStats } from '../../src/search/window.ts';
import { randomSplit } from '../../src/fusion/rectify.ts';
import { Rng } from '../../src/util/random.ts';
import { bruteForceOptimum } from '../../src/testkit/plan.ts';

const hw = (kib: number) => ({ bufferBytes: kib * 1024, elementType: 'int8' as const });



test('solveWindow over the whole graph = brute force on tiny random CNN-like graphs (both schemes)', () => {
  const graphs = smallCnns(60, 10, 3);
  for (const { seed, g } of graphs) {
    for (const scheme of ['lbdf', 'brr'] as const) {
      for (const kib of [0.25, 1, 4]) {
        const cost = createCostModel(scheme, g, hw(kib));
        const r = solveWindow(cost, layerByLayer(g))!;
        assert.ok(r.exact, 'family complete');
        assert.equal(r.dram, bruteForceOptimum(cost), `seed ${seed} ${scheme} ${kib} KiB`);
        assert.equal(planDram(cost, r.parts), r.dram);
        assert.deepEqual(checkPlan(g, r.parts, cost), { ok: true });
      }
    }
  }
  assert.ok(graphs.length >= 6, `only ${graphs.length} graphs checked`);
});

test('solveWindow over the whole graph = the exact MILP optimum on random CNN-like graphs up to ~40 ops', async () => {
  let compared = 0;
  for (let seed = 100; seed < 116; seed++) {
    const g = randomCnn(seed, 4 + (seed % 8));
    if (g.ops.length > 45) continue;
    for (const scheme of ['lbdf', 'brr'] as const) {
      for (const kib of [0.5, 4, 32]) {
        const cost = createCostModel(scheme, g, hw(kib));
        // Any valid plan's groups form one window (the whole execution order).
        const start = greedyMergePlan(cost);
        const r = solveWindow(cost, start, { maxCandidates: 1e6, maxWork: 1e8 })!;
        assert.ok(r.exact);
        assert.deepEqual(checkPlan(g, r.parts, cost), { ok: true });
        assert.ok(r.dram <= planDram(cost, start));
        const ex = await solveExact(cost, { timeLimit: 20 });
        if (ex.status !== 'optimal') continue;
        assert.equal(r.dram, ex.dram, `seed ${seed} ${scheme} ${kib} KiB (${g.ops.length} ops)`);
        compared++;
      }
    }
  }
  assert.ok(compared >= 40, `only ${compared} instances compared`);
});

test('reoptimizeWindows: valid plan, never more DRAM than its start, deterministic (random CNNs with SE/residual/concat)', () => {
  let improved = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 10_000 }),
      fc.constantFrom('lbdf' as const, 'brr' as const),
      fc.constantFrom(1, 8, 64, 512),
      fc.constantFrom({}, { maxOps: 6 }, { maxOps: 12, maxCandidates: 12 }, { maxWork: 50 }),
      (seed, scheme, kib, opts) => {
        const g = randomCnn(seed, 8);
        const cost = createCostModel(scheme, g, hw(kib));
        const rng = new Rng(seed);
        const starts: Plan[] = [layerByLayer(g), greedyMergePlan(cost), repair(cost, randomPlan(cost, rng), randomSplit, rng, { invalid: 0, rectified: 0 })];
        for (const s of starts) {
          const p = reoptimizeWindows(cost, s, opts);
          assert.deepEqual(checkPlan(g, p, cost), { ok: true });
          assert.ok(planDram(cost, p) <= planDram(cost, s));
          if (planDram(cost, p) < planDram(cost, s)) improved++;
          assert.deepEqual(reoptimizeWindows(cost, s, opts), p);
        }
      },
    ),
    { numRuns: 60, seed: 5 },
  );
  assert.ok(improved > 0, 'no window ever improved a start plan');
});

test('reoptimizeWindows: windows covering the whole graph reach the optimum; greedy with windows never loses to greedy without', () => {
  const graphs = smallCnns(40, 8, 4);
  for (const { seed, g } of graphs) {
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, g, hw(1));
      // The first window already holds every group (the whole execution order).
      const p = reoptimizeWindows(cost, layerByLayer(g), { maxOps: 53, maxCandidates: 1e6 });
      assert.equal(planDram(cost, p), bruteForceOptimum(cost), `seed ${seed} ${scheme}`);
      assert.ok(planDram(cost, greedyPlan(cost)) <= planDram(cost, greedyPlan(cost, { window: false })));
    }
  }
  assert.ok(graphs.length >= 5);
});

/** conv -> relu -> [GAP -> fc1 -> fc2 -> sigmoid] -> mul -> conv -> relu: one SE block. */
function seBlock(): OpGraph {
  const c = 8, h = 8, r = 4;
  const shapes: Record<string, number[]> = { x: [1, 3, h, h], a: [1, c, h, h], b: [1, c, h, h], g: [1, c, 1, 1], s1: [1, r, 1, 1], s2: [1, c, 1, 1], sg: [1, c, 1, 1], m: [1, c, h, h], y: [1, c, h, h], z: [1, c, h, h] };
  const specs: OpSpec[] = [
    { name: 'conv0', opType: 'Conv', inputs: ['x'], outputs: ['a'], weights: 3 * c * 9, kernel: 3 },
    { name: 'relu0', opType: 'Relu', inputs: ['a'], outputs: ['b'] },
    { name: 'gap', opType: 'GlobalAveragePool', inputs: ['b'], outputs: ['g'], global: true },
    { name: 'fc1', opType: 'Conv', inputs: ['g'], outputs: ['s1'], weights: c * r },
    { name: 'fc2', opType: 'Conv', inputs: ['s1'], outputs: ['s2'], weights: c * r },
    { name: 'sig', opType: 'Sigmoid', inputs: ['s2'], outputs: ['sg'] },
    { name: 'mul', opType: 'Mul', inputs: ['b', 'sg'], outputs: ['m'] },
    { name: 'conv1', opType: 'Conv', inputs: ['m'], outputs: ['y'], weights: c * c },
    { name: 'relu1', opType: 'Relu', inputs: ['y'], outputs: ['z'] },
  ];
  return opGraphFromSpec(shapes, specs, ['z']);
}

test('SE block: the descent polish is stuck, one window move (split the gate off, re-merge both halves) reaches the optimum', () => {
  const g = seBlock();
  const cost = createCostModel('lbdf', g, { bufferBytes: 256, elementType: 'int8' });
  // Both descents end here: {fc2, sigmoid, mul, conv1} with fc1 and relu1 alone.
  const stuck = greedyPlan(cost, { window: false });
  assert.deepEqual(stuck, [[0], [1], [2], [3], [4, 5, 6, 7], [8]]);
  assert.deepEqual(polishPlan(cost, stuck), stuck);
  const opt = bruteForceOptimum(cost);
  assert.ok(planDram(cost, stuck) > opt);
  // The optimum takes fc1 into the gate and moves conv1 out to relu1: a split and two merges.
  const stats: WindowStats = { solved: 0, truncated: 0, skipped: 0, improved: 0, passes: 0 };
  const p = reoptimizeWindows(cost, stuck, {}, stats);
  assert.deepEqual(p, [[0], [1], [2], [3, 4, 5, 6], [7, 8]]);
  assert.equal(planDram(cost, p), opt);
  assert.ok(stats.improved >= 1);
  assert.deepEqual(greedyPlan(cost), p);
});

test('solveWindow on an inner window: only the window changes, the plan stays valid; limits are honoured', () => {
  const g = randomCnn(3, 12);
  const cost = createCostModel('lbdf', g, hw(4));
  const plan = layerByLayer(g);
  const order = executionOrder(g, plan)!;
  const inner = order.slice(5, 15).map((i) => plan[i]);
  const r = solveWindow(cost, inner)!;
  assert.ok(r.exact);
  const ops = new Set(inner.flat());
  assert.deepEqual(r.parts.flat().sort((a, b) => a - b), [...ops].sort((a, b) => a - b));
  const next = [...plan.filter((gr) => !ops.has(gr[0])), ...r.parts];
  assert.deepEqual(checkPlan(g, next, cost), { ok: true });
  assert.ok(planDram(cost, next) <= planDram(cost, plan));
  // Work limit: nothing solved, nothing changed.
  assert.equal(solveWindow(cost, inner, { maxWork: 1 }), undefined);
  assert.deepEqual(reoptimizeWindows(cost, plan, { maxWork: 1 }), plan);
  // Candidate cap: the family is truncated (not exact) but never worse than the window's groups.
  const t = solveWindow(cost, inner, { maxCandidates: 12 })!;
  assert.equal(t.exact, false);
  assert.ok(t.dram <= planDram(cost, inner));
});

test('acyclicity is built into the DP: two convex parts that would close a cycle are never combined', () => {
  // a -> c, a -> d, b -> c, b -> d. {a, d} and {b, c} are each connected and convex, but together
  // they form the group cycle {a,d} -> {b,c} (a -> c) -> {a,d} (b -> d). The weights keep every
  // group of three ops over the buffer, so the cyclic pair would be the cheapest "partition".
  const s = [1, 2, 4, 4];
  const g = opGraphFromSpec({ x: s, y: s, ta: s, tb: s, tc: s, td: s }, [
    { name: 'a', opType: 'Conv', inputs: ['x'], outputs: ['ta'], weights: 120 },
    { name: 'b', opType: 'Conv', inputs: ['y'], outputs: ['tb'], weights: 120 },
    { name: 'c', opType: 'Conv', inputs: ['ta', 'tb'], outputs: ['tc'], weights: 60 },
    { name: 'd', opType: 'Conv', inputs: ['tb', 'ta'], outputs: ['td'], weights: 60 },
  ], ['tc', 'td']);
  const cost = createCostModel('lbdf', g, { bufferBytes: 220, elementType: 'int8' });
  assert.ok(cost.valid([0, 3]) && cost.valid([1, 2]) && !cost.valid([0, 2, 3]) && !cost.valid([1, 2, 3]));
  const cyclic = [[0, 3], [1, 2]];
  assert.equal(checkPlan(g, cyclic, cost).ok, false);
  const opt = bruteForceOptimum(cost);
  assert.ok(planDram(cost, cyclic) < opt, 'the cyclic pair must be the cheaper trap');
  const r = solveWindow(cost, layerByLayer(g))!;
  assert.equal(r.dram, opt);
  assert.deepEqual(checkPlan(g, r.parts, cost), { ok: true });
  assert.deepEqual(checkPlan(g, reoptimizeWindows(cost, layerByLayer(g)), cost), { ok: true });
});

test('window families: grown group by group = every convex connected valid group inside the window; dropping the first group = enumerating the rest', () => {
  const keys = (f: WindowFamily) => f.cands.map((c) => c.ops.join(',')).sort();
  let windows = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom('lbdf' as const, 'brr' as const), fc.constantFrom(1, 16, 256), fc.nat(), (seed, scheme, kib, pick) => {
      const g = randomCnn(seed, 10);
      const cost = createCostModel(scheme, g, hw(kib));
      const plan = greedyMergePlan(cost);
      const order = executionOrder(g, plan)!;
      if (order.length < 3) return;
      const s = pick % (order.length - 2);
      const win = order.slice(s, Math.min(order.length, s + 3 + (pick % 5))).map((i) => plan[i]);
      const ops = new Set(win.flat());
      if (ops.size > 53) return;
      const fam = enumerateWindow(cost, win, 1e6);
      assert.ok(fam.complete);
      const inside = enumerateConvexCandidates(cost, 1e6, Infinity, [...ops].sort((a, b) => a - b))!.filter((c) => c.every((v) => ops.has(v)));
      assert.deepEqual(keys(fam), inside.map((c) => c.join(',')).sort());
      assert.equal(new Set(keys(fam)).size, fam.cands.length, 'no duplicates');
      assert.deepEqual(keys(dropFirstGroup(cost, fam)), keys(enumerateWindow(cost, win.slice(1), 1e6)));
      windows++;
    }),
    { numRuns: 100, seed: 9 },
  );
  assert.ok(windows >= 30, `only ${windows} windows checked`);
});

test('reoptimizeWindows ends window-optimal: no window of consecutive groups within the op limit can still be improved', () => {
  let windows = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom('lbdf' as const, 'brr' as const), fc.constantFrom(1, 16, 256), (seed, scheme, kib) => {
      const g = randomCnn(seed, 10);
      const cost = createCostModel(scheme, g, hw(kib));
      const maxOps = 12;
      for (const start of [layerByLayer(g), greedyMergePlan(cost)]) {
        const p = reoptimizeWindows(cost, start, { maxOps, maxPasses: 1000 });
        const order = executionOrder(g, p)!;
        for (let s = 0; s < order.length; s++) {
          let size = 0;
          for (let e = s; e < order.length && (size += p[order[e]].length) <= maxOps; e++) {
            const r = solveWindow(cost, order.slice(s, e + 1).map((i) => p[i]), { maxCandidates: 1e6 })!;
            assert.equal(r.improved, false, `seed ${seed}: window ${s}..${e} still improvable`);
            windows++;
          }
        }
      }
    }),
    { numRuns: 40, seed: 13 },
  );
  assert.ok(windows > 100);
});

test('the work limit counts the DP\'s states: k parallel chains (3^k ideals) stop it even with few candidates', () => {
  // src -> a_i -> b_i for 8 chains (ssdlite320's post-processing: one Split, a Gather -> Greater
  // chain per class). The weights make every pair invalid: 17 single-op candidates, so the DP
  // checks few candidates per state but has 1 + 3^8 = 6,562 states to expand.
  const s = [1, 2, 4, 4];
  const shapes: Record<string, number[]> = { x: s, t: s };
  const specs: OpSpec[] = [{ name: 'src', opType: 'Conv', inputs: ['x'], outputs: ['t'], weights: 120 }];
  for (let i = 0; i < 8; i++) {
    shapes[`a${i}`] = shapes[`b${i}`] = s;
    specs.push({ name: `a${i}`, opType: 'Conv', inputs: ['t'], outputs: [`a${i}`], weights: 120 });
    specs.push({ name: `b${i}`, opType: 'Conv', inputs: [`a${i}`], outputs: [`b${i}`], weights: 120 });
  }
  const g = opGraphFromSpec(shapes, specs, specs.slice(1).filter((_, i) => i % 2 === 1).map((o) => o.outputs[0]));
  const cost = createCostModel('lbdf', g, { bufferBytes: 150, elementType: 'int8' });
  const plan = layerByLayer(g);
  assert.ok(!cost.valid([0, 1]) && cost.valid([0]));
  // Under 64 per state x 6,562 states: stopped (its candidate checks alone, < 60,000, were not)
  assert.equal(solveWindow(cost, plan, { maxWork: 200_000 }), undefined);
  const r = solveWindow(cost, plan, { maxWork: 1_000_000 })!;
  assert.equal(r.improved, false);
  assert.equal(r.dram, planDram(cost, plan));
});
