/**
 * search/prune.ts points 4-5 (pairs that cannot share a group, set packing): the tighter bound
 * is never below the bound of points 1-3, binds on some plans, and never exceeds the DRAM of the
 * rectified and settled plan — also when some invalid groups are already answered by their parts
 * (`produced`, as rectifyLazily asks it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { makeRectifier } from '../../src/get/rectifier.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { planDram } from '../../src/fusion/plan.ts';
import { randomPlan } from '../../src/search/common.ts';
import { rectifiedDramLowerBound } from '../../src/search/prune.ts';
import { Rng } from '../../src/util/random.ts';
import type { Group } from '../../src/fusion/types.ts';

const KB = 1024;
const nets = [syntheticNetwork(3), syntheticNetwork(5), syntheticNetwork(7)];

test('the tight bound: at least the loose one, binding, and below every settled rectification (some groups answered)', () => {
  let tighter = 0, cases = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(24, 64, 160), fc.constantFrom('int8', 'fp32'), fc.integer({ min: 0, max: 3 }), (ni, seed, kb, element, answered) => {
      const graph = nets[ni];
      const cost = createCostModel('lbdf', graph, { bufferBytes: kb * KB, elementType: element as 'int8' | 'fp32' });
      const rng = new Rng(seed);
      const plan = randomPlan(cost, rng);
      const rect = makeRectifier('cuts', { planMerge: true });
      // answer the first `answered` invalid groups (their parts are produced), then the rest
      const cur: Group[] = [];
      const produced: number[] = [];
      const rest: number[] = [];
      let k = 0;
      for (const g of plan) {
        if (g.length > 1 && !cost.valid(g) && k++ < answered) for (const p of rect(g, cost, rng)) produced.push(cur.push([...p].sort((a, b) => a - b)) - 1);
        else (rest.push(cur.length), cur.push(g));
      }
      const tight = rectifiedDramLowerBound(cost, cur, new Set(produced))!;
      const loose = rectifiedDramLowerBound(cost, cur, new Set(produced), { tight: false })!;
      assert.ok(tight >= loose, `tight ${tight} below loose ${loose}`);
      // the full rectification and settle, as applyRectifier does it
      const out: Group[] = [];
      const made: number[] = [];
      cur.forEach((g, i) => {
        if (produced.includes(i)) made.push(out.push(g) - 1);
        else if (g.length > 1 && !cost.valid(g)) for (const p of rect(g, cost, rng)) made.push(out.push([...p].sort((a, b) => a - b)) - 1);
        else out.push(g);
      });
      const settled = rect.settle!(out, made, cost);
      const d = planDram(cost, settled);
      assert.ok(tight <= d, `bound ${tight} above the settled plan's ${d}`);
      cases++;
      if (tight > loose) tighter++;
    }),
    { numRuns: 120 },
  );
  assert.ok(tighter > 0, `points 4-5 never tightened the bound in ${cases} plans: the property tests nothing`);
});
