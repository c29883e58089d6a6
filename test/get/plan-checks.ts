/** Plan assertions shared by the GET search tests (settled write-back, final re-grouping). */
import assert from 'node:assert/strict';
import { executionOrder, type Plan } from '../../src/fusion/plan.ts';
import type { CostModel, Group } from '../../src/fusion/types.ts';

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
