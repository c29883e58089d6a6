/** Plan helpers shared by the GET tests: plan assertions, invalid groups of random plans, the
 * op graph of a testkit model. */
import assert from 'node:assert/strict';
import { inferShapes } from '../../src/analysis/shapes.ts';
import { buildOpGraph } from '../../src/fusion/op-graph.ts';
import { executionOrder, type Plan } from '../../src/fusion/plan.ts';
import type { CostModel, Group, OpGraph } from '../../src/fusion/types.ts';
import { randomPlan } from '../../src/search/common.ts';
import type { Rng } from '../../src/util/random.ts';

/** A plan is valid: every op exactly once, every group of two or more ops valid, acyclic. */
export function assertValidPlan(cost: CostModel, plan: readonly Group[], what: string): void {
  const seen = new Uint8Array(cost.graph.ops.length);
  for (const g of plan) {
    for (const v of g) {
      assert.equal(seen[v], 0, `${what}: op ${v} in two groups`);
      seen[v] = 1;
    }
    if (g.length > 1) assert.ok(cost.valid([...g].sort((a, b) => a - b)), `${what}: invalid group ${g.join(',')}`);
  }
  assert.ok(seen.every((x) => x === 1), `${what}: an op is in no group`);
  assert.ok(executionOrder(cost.graph, plan as Plan), `${what}: the group graph has a cycle`);
}

/** The invalid groups of one random plan, each sorted (draws the plan from `rng`, nothing else). */
export function invalidGroups(cost: CostModel, rng: Rng): number[][] {
  return randomPlan(cost, rng)
    .map((g) => [...g].sort((a, b) => a - b))
    .filter((g) => g.length > 1 && !cost.valid(g));
}

/** The fusion op graph of a model (shape inference first). */
export function graphOf(m: Parameters<typeof inferShapes>[0]): OpGraph {
  inferShapes(m);
  return buildOpGraph(m);
}
