import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import assert from 'node:assert/strict';
import { randomCnn } from '../fusion/gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { checkPlan, planDram } from '../../src/fusion/plan.ts';
import type { CostModel, Group } from '../../src/fusion/types.ts';
import { enumerateCandidates, enumerateConvexCandidates, reachability, solveExact } from '../../src/search/exact.ts';
import { greedyPlan } from '../../src/search/heuristics.ts';

/** Convexity by definition: no op outside G lies on a DAG path between two ops of G. */
function convex(cost: CostModel, g: Group): boolean {
  const { desc, anc } = reachability(cost);
  const inG = new Set(g);
  const has = (b: Uint32Array, x: number) => (b[x >>> 5] & (1 << (x & 31))) !== 0;
  for (let x = 0; x < cost.graph.ops.length; x++) {
    if (inG.has(x)) continue;
    if (g.some((a) => has(desc[a], x)) && g.some((b) => has(anc[b], x))) return false;
  }
  return true;
}

test('convex enumeration = the convex members of the full connected family (random CNN-like graphs, both schemes)', () => {
  let checked = 0;
  let pruned = 0;
  for (let seed = 0; seed < 30; seed++) {
    const g = randomCnn(seed, 4);
    for (const scheme of ['lbdf', 'brr'] as const) {
      for (const kib of [1, 4, 64]) {
        const cost = createCostModel(scheme, g, { bufferBytes: kib * 1024, elementType: 'int8' });
        const all = enumerateCandidates(cost, 200_000);
        if (!all) continue;
        const want = all.filter((x) => convex(cost, x)).map((x) => x.join(',')).sort();
        const got = enumerateConvexCandidates(cost, 200_000)!.map((x) => x.join(','));
        assert.equal(new Set(got).size, got.length, `seed ${seed} ${scheme} ${kib}: duplicates`);
        assert.deepEqual([...got].sort(), want, `seed ${seed} ${scheme} ${kib} KiB`);
        pruned += all.length - want.length;
        checked++;
      }
    }
  }
  assert.ok(checked >= 60, `only ${checked} instances checked`);
  assert.ok(pruned > 0, 'convexity never pruned anything: the test graphs have no residual/branch structure');
});

test('a cap overflow returns undefined (then the solver falls back to a size bound)', () => {
  const cost = createCostModel('lbdf', randomCnn(3, 6), { bufferBytes: 1 << 20, elementType: 'int8' });
  const full = enumerateConvexCandidates(cost, 1e6)!;
  assert.ok(full.length > 10);
  assert.equal(enumerateConvexCandidates(cost, full.length - 1), undefined);
  assert.equal(enumerateConvexCandidates(cost, full.length)!.length, full.length);
});

test('exact with an incumbent: optimal status only with plan = bound, never worse than the incumbent', async () => {
  for (let seed = 0; seed < 8; seed++) {
    const g = randomCnn(100 + seed, 5);
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, g, { bufferBytes: 8 * 1024, elementType: 'int8' });
      const inc = greedyPlan(cost);
      const ex = await solveExact(cost, { timeLimit: 20, incumbent: inc });
      assert.ok(checkPlan(g, ex.plan, cost).ok);
      assert.equal(ex.dram, planDram(cost, ex.plan));
      assert.ok(ex.dram <= planDram(cost, inc));
      assert.ok(ex.bound <= ex.dram);
      const plain = await solveExact(cost, { timeLimit: 20 });
      if (ex.status === 'optimal' && plain.status === 'optimal') assert.equal(ex.dram, plain.dram, `seed ${seed} ${scheme}`);
      if (ex.status === 'optimal') assert.equal(ex.bound, ex.dram);
    }
  }
});

test('convex groups are packed small-integer arrays, like the searches\' groups (one array map for the cost model\'s optimized code)', () => {
  // V8 natives, enabled before the probe is compiled: the elements kind is what the cost model's
  // code is specialized on; S.concat(w) gave the generic HOLEY_ELEMENTS kind.
  setFlagsFromString('--allow-natives-syntax');
  const packedSmi = new Function('a', 'return %HasSmiElements(a) && !%HasHoleyElements(a)') as (a: unknown) => boolean;
  assert.equal(packedSmi([1, 2].concat(3)), false, 'the probe tells a concat result apart');
  for (let seed = 0; seed < 5; seed++) {
    const cost = createCostModel('lbdf', randomCnn(seed, 4), { bufferBytes: 64 * 1024, elementType: 'int8' });
    const groups = enumerateConvexCandidates(cost, 200_000)!;
    assert.ok(groups.some((g) => g.length > 1), `seed ${seed}: multi-op groups`);
    for (const g of groups) assert.ok(packedSmi(g), `seed ${seed}: group ${g.join(',')} is not PACKED_SMI`);
  }
});

test('an incumbent that meets the component bounds is the optimum without an enumeration, also where the family overflows maxCandidates; never where it is not optimal', async () => {
  let shortcut = 0;
  let declined = 0;
  for (let seed = 0; seed < 12; seed++) {
    for (const scheme of ['lbdf', 'brr'] as const) {
      for (const kib of [8, 16, 64]) {
        const cost = createCostModel(scheme, randomCnn(700 + seed, 6), { bufferBytes: kib * 1024, elementType: 'int8' });
        const incumbent = greedyPlan(cost);
        const full = await solveExact(cost, { timeLimit: 20, decompose: false });
        const r = await solveExact(cost, { timeLimit: 20, decompose: false, incumbent, maxCandidates: 60 });
        const at = `seed ${seed} ${scheme} ${kib} KiB`;
        assert.ok(checkPlan(cost.graph, r.plan, cost).ok, at);
        if (r.candidates === 0) {
          // nothing enumerated: the incumbent itself, proven by the bound
          shortcut++;
          assert.equal(r.status, 'optimal', at);
          assert.equal(r.solver, 'bound', at);
          assert.equal(r.dram, planDram(cost, incumbent), at);
        } else declined++;
        if (full.status === 'optimal' && r.status === 'optimal') assert.equal(r.dram, full.dram, `${at}: a proven optimum equals the full solve's`);
        if (r.status === 'optimal' && full.status === 'optimal') assert.equal(r.bound, full.bound, at);
      }
    }
  }
  assert.ok(shortcut >= 10, `only ${shortcut} incumbents proven by the bound`);
  assert.ok(declined >= 1, 'an incumbent that does not meet the bounds goes on to the enumeration');
});

test('one time limit for the whole solve: past it, a component keeps the incumbent (or its ops alone), with a valid bound and no enumeration', async () => {
  let cut = 0;
  for (let seed = 0; seed < 8; seed++) {
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, randomCnn(900 + seed, 6), { bufferBytes: 4 * 1024, elementType: 'int8' });
      const at = `seed ${seed} ${scheme}`;
      const incumbent = greedyPlan(cost);
      const full = await solveExact(cost, { timeLimit: 20 });
      for (const inc of [incumbent, undefined]) {
        const r = await solveExact(cost, { timeLimit: 0, incumbent: inc });
        assert.ok(checkPlan(cost.graph, r.plan, cost).ok, at);
        assert.ok(r.bound <= full.dram + 1e-9 && r.bound <= r.dram + 1e-9, `${at}: the bound is a bound`);
        if (inc) assert.ok(r.dram <= planDram(cost, inc), `${at}: never worse than the incumbent`);
        if (r.status === 'not-proven') {
          cut++;
          assert.equal(r.candidates, 0, `${at}: nothing enumerated after the time limit`);
        } else assert.equal(r.dram, full.dram, at);
      }
    }
  }
  assert.ok(cut >= 4, `only ${cut} solves stopped by the time limit`);
});
