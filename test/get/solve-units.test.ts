/**
 * refine.ts solveUnits (the window DP of GET's Lamarckian settle, mergeWindowsAround) was
 * rewritten for speed: node sets carry their op-level masks, nodes are visited as the bits of a
 * mask, ops map through stamped arrays. The rewrite must give the previous implementation's
 * answer (kept in solve-units-reference.ts) on every window: same sets tested in the same order,
 * same candidates, so the same parts or the same "nothing cheaper". Windows are runs of
 * consecutive groups of valid plans of the testkit's generated CNNs, GET's synthetic networks and
 * a shared reference model; the units (groups of the plan kept whole) are the window's groups or
 * a finer partition of them, each free (produced) or not at random, and the candidate cap is
 * small or the default, so both the capped and the complete enumerations are compared; LBDF and
 * BRR, and a cost model with only the interface's methods (no one-lookup validDram).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cnnModel } from '../../src/testkit/arbitraries.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { components } from '../../src/fusion/groups.ts';
import { executionOrder } from '../../src/fusion/plan.ts';
import type { CostModel, OpGraph } from '../../src/fusion/types.ts';
import { applyRectifier, randomSplit } from '../../src/fusion/rectify.ts';
import { randomPlan } from '../../src/search/common.ts';
import { solveUnits } from '../../src/get/refine.ts';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { sharedModelsDir, sharedModelsMissing } from '../../src/models/shared.ts';
import { sharedOpGraph } from '../../src/get/train-get.ts';
import { Rng } from '../../src/util/random.ts';
import { graphOf } from './plan-checks.ts';
import { solveUnitsReference } from './solve-units-reference.ts';

const KB = 1024;

/** Compares the two implementations on `windows` windows of one random valid plan; returns how
 * many windows had a cheaper re-grouping (so that the property is seen to test answers too). */
function compareOnPlan(cost: CostModel, rng: Rng, windows: number): { improved: number; compared: number } {
  const plan = applyRectifier(randomPlan(cost, rng), cost, randomSplit, rng).map((g) => [...g].sort((a, b) => a - b));
  const order = executionOrder(cost.graph, plan)!;
  assert.ok(order, 'a rectified plan is acyclic');
  // units: the plan's groups, or each cut into connected pieces (a window group then holds
  // several units); each unit free (produced) with probability 0.35
  const finer = rng.next() < 0.5;
  const units: number[][] = [];
  for (const g of plan) {
    if (!finer || g.length < 2) units.push(g);
    else {
      const a = g.filter(() => rng.next() < 0.5);
      const b = g.filter((v) => !a.includes(v));
      for (const side of [a, b]) if (side.length) units.push(...components(cost.graph, side));
    }
  }
  const unitOf = new Int32Array(cost.graph.ops.length).fill(-1);
  units.forEach((u, i) => u.forEach((v) => (unitOf[v] = i)));
  const freeUnit = units.map(() => rng.next() < 0.35);
  let improved = 0, compared = 0;
  for (let w = 0; w < windows; w++) {
    const maxOps = [8, 16, 32][rng.int(0, 2)];
    let s = rng.int(0, order.length - 1), e = s, size = plan[order[s]].length;
    while (e + 1 < order.length && size + plan[order[e + 1]].length <= maxOps) size += plan[order[++e]].length;
    while (s > 0 && size + plan[order[s - 1]].length <= maxOps && rng.next() < 0.5) size += plan[order[--s]].length;
    if (e === s) continue;
    const groups = order.slice(s, e + 1).map((i) => plan[i]);
    const limits = { maxCandidates: [4, 12, 40, 300][rng.int(0, 3)] };
    const want = solveUnitsReference(cost, groups, unitOf, freeUnit, limits);
    const got = solveUnits(cost, groups, unitOf, freeUnit, limits);
    assert.deepEqual(got, want, `window ${groups.map((g) => g.join(',')).join(' | ')}, cap ${limits.maxCandidates}`);
    compared++;
    if (want) improved++;
  }
  return { improved, compared };
}

test('solveUnits gives the reference implementation answer on every window (testkit CNNs, synthetic networks)', () => {
  const synth = [syntheticNetwork(3), syntheticNetwork(5)];
  let improved = 0, compared = 0;
  fc.assert(
    fc.property(fc.oneof(cnnModel({ minBlocks: 3, maxBlocks: 8, maxChannels: 16 }).map((m) => graphOf(m)), fc.constantFrom(...synth)), fc.constantFrom(2, 8, 24, 64), fc.constantFrom('int8', 'fp32'), fc.constantFrom('lbdf', 'brr'), fc.boolean(), fc.integer({ min: 0, max: 1e6 }), (graph: OpGraph, kb, element, scheme, plain, seed) => {
      const full = createCostModel(scheme as 'lbdf' | 'brr', graph, { bufferBytes: kb * KB, elementType: element as 'int8' | 'fp32' });
      // plain: a cost model with the interface's methods only (no validDram), as a custom one
      const cost: CostModel = plain ? { scheme: full.scheme, graph, bufferBytes: full.bufferBytes, elementBytes: full.elementBytes, memory: (g) => full.memory(g), valid: (g) => full.valid(g), dram: (g) => full.dram(g) } : full;
      const r = compareOnPlan(cost, new Rng(seed), 12);
      improved += r.improved;
      compared += r.compared;
    }),
    { numRuns: 80 },
  );
  assert.ok(compared > 200, `too few windows compared (${compared})`);
  assert.ok(improved > 0, 'no window had a cheaper re-grouping: the answers were never compared');
});

test('solveUnits gives the reference implementation answer on a shared model (MobileNetV2 LBDF int8 128 KiB, EfficientNet-B0 256 KiB)', { skip: sharedModelsMissing() }, () => {
  let improved = 0;
  for (const [net, kb] of [['mobilenet_v2', 128], ['efficientnet_b0', 256]] as const) {
    const graph = sharedOpGraph(net, sharedModelsDir());
    const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: 'int8' });
    for (let seed = 0; seed < 12; seed++) improved += compareOnPlan(cost, new Rng(seed), 25).improved;
  }
  assert.ok(improved > 0, 'no window had a cheaper re-grouping');
});
