/**
 * Rectifiers: how a search turns an invalid group into valid ones.
 *
 * `randomSplit` is the published baseline (Mills et al.): split at random, ignoring DRAM. dnnfuse
 * cuts the group's topological order at a uniformly random position (prefix | suffix), takes the
 * weakly connected components of both sides, and recurses on every part that is still invalid.
 * Cutting a topological order keeps the parts' own graph acyclic (every edge goes prefix -> suffix),
 * and splitting one group of an acyclic plan into parts whose mutual graph is acyclic keeps the
 * whole plan acyclic (a cycle through outside groups would already have been a cycle through the
 * original group). Single ops are always valid, so the recursion ends.
 *
 * `applyRectifier` runs any Rectifier (e.g. GET's explainer-guided split) on the invalid groups
 * of a plan, checks what it returns (a partition of the group into connected, valid, mutually
 * acyclic parts) and falls back to randomSplit for that group when the check fails.
 */
import type { CostModel, Group, OpGraph, Rectifier } from './types.ts';
import type { Rng } from '../util/random.ts';
import { executionOrder } from './plan.ts';
import { components } from './groups.ts';

export const randomSplit: Rectifier = (group: Group, cost: CostModel, rng: Rng): Group[] => {
  if (group.length <= 1 || cost.valid(group)) return [group];
  const sorted = [...group].sort((a, b) => a - b);
  const k = rng.int(1, sorted.length - 1);
  const out: Group[] = [];
  for (const side of [sorted.slice(0, k), sorted.slice(k)]) {
    for (const comp of components(cost.graph, side)) {
      if (cost.valid(comp)) out.push(comp);
      else out.push(...randomSplit(comp, cost, rng));
    }
  }
  return out;
};

/** A rectifier with an optional plan-level step, called by `applyRectifier`: `settle` gets the
 * rectified plan and the indices of the groups the rectification produced, and returns the plan
 * to use (GET merges those parts into neighbouring groups where that is valid and cheaper). */
export type PlanAwareRectifier = Rectifier & {
  settle?(plan: Group[], produced: number[], cost: CostModel): Group[];
  /** The answer for a group of a plan that cannot matter to the search (search/prune.ts): cheap
   * (no explanation), valid, and drawing from `rng` exactly as the full answer would, so the
   * search's random stream does not move. Absent: the rectifier is never pruned. */
  skip?(group: Group, cost: CostModel, rng: Rng): Group[];
  /** True when answering `group` now costs no new explanation (its answer is cached, or needs
   * none): lazy rectification (search/prune.ts) answers such groups first. Absent: none is. */
  cheap?(group: Group, cost: CostModel): boolean;
  /** A proven least-DRAM partition of `group` into valid, connected, mutually acyclic parts (so
   * every answer for it costs at least that much), or undefined when none is known: lazy
   * rectification (search/prune.ts) bounds a group not yet answered by it. Absent: none is. */
  optimum?(group: Group, cost: CostModel): Group[] | undefined;
  /** A plan-level step on the search's result (GET: exact re-grouping of windows of consecutive
   * groups over the whole plan, rectifier.ts `finish`): returns a valid plan of at most the same
   * DRAM, draws no random numbers. The searches call it once, on the best plan, after their
   * budget is spent (SearchRun.finish). Absent: the result is left as it is. */
  finish?(plan: Group[], cost: CostModel): Group[];
};

export interface RectifyStats {
  /** Invalid groups met. */
  invalid: number;
  /** Of which the rectifier's own answer was used (the rest fell back to randomSplit). */
  rectified: number;
  /** Plans whose rectification could not matter to the search, answered by the rectifier's
   * cheap `skip` (search/prune.ts). */
  pruned?: number;
  /** Of which pruned by a bound taken after some of their groups were answered. */
  prunedLate?: number;
  /** Of which pruned once their unanswered groups counted as their proven optima (`optimum`). */
  prunedByOptimum?: number;
}

/** Checks a rectifier's answer for `group`: partition, connected, valid, mutually acyclic. */
export function checkSplit(graph: OpGraph, cost: CostModel, group: Group, parts: Group[]): string | undefined {
  const owner = new Map<number, number>();
  parts.forEach((p, i) => {
    for (const id of p) owner.set(id, owner.has(id) ? -2 : i);
  });
  if ([...owner.values()].includes(-2)) return 'parts overlap';
  if (owner.size !== group.length || group.some((id) => !owner.has(id))) return 'parts do not cover the group exactly';
  for (const p of parts) {
    if (components(graph, p).length !== 1) return 'a part is not connected';
    if (!cost.valid(p)) return 'a part is still invalid';
  }
  // Mutual acyclicity of the parts: they are a partial plan, ordered by executionOrder.
  return executionOrder(graph, parts) ? undefined : 'the parts form a cycle';
}

/** Replaces every invalid group of `plan` by the rectifier's split (checked; randomSplit fallback). */
export function applyRectifier(plan: Group[], cost: CostModel, rectifier: Rectifier, rng: Rng, stats?: RectifyStats): Group[] {
  const { settle } = rectifier as PlanAwareRectifier;
  const produced: number[] = [];
  let out: Group[] | undefined;
  for (let i = 0; i < plan.length; i++) {
    const g = plan[i];
    if (g.length <= 1 || cost.valid(g)) {
      out?.push(g);
      continue;
    }
    out ??= plan.slice(0, i);
    if (stats) stats.invalid++;
    let parts: Group[];
    if (rectifier === randomSplit) parts = randomSplit(g, cost, rng);
    else {
      parts = rectifier(g, cost, rng).map((p) => [...p].sort((a, b) => a - b));
      if (checkSplit(cost.graph, cost, g, parts)) parts = randomSplit(g, cost, rng);
      else if (stats) stats.rectified++;
    }
    if (rectifier === randomSplit && stats) stats.rectified++;
    for (const p of parts) produced.push(out.push(p) - 1);
  }
  if (settle && out) return settle(out, produced, cost);
  return out ?? plan;
}
