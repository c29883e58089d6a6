/**
 * GET's merge-back (beyond the paper; see rectifier.ts): SPLIT's greedy cuts can over-cut (a
 * category-3 recursion splits both sides even where a later cut made a neighbouring part small
 * enough to rejoin), so adjacent parts are merged back, best DRAM saving first, while the union
 * is valid, strictly cheaper and keeps the parts mutually acyclic.
 */
import type { CostModel } from '../fusion/types.ts';
import { planDram } from '../fusion/plan.ts';
import { mergeSorted } from '../fusion/groups.ts';

/**
 * Merge-back: repeatedly merge the two adjacent parts (an edge joins them) whose union is valid
 * and saves the most DRAM (F_D(a) + F_D(b) - F_D(a u b) > 0; ties: smaller first op ids), unless
 * the merge would close a cycle among the parts (a path a -> c -> ... -> b through another part).
 * Parts stay connected (adjacent connected parts), valid and mutually acyclic, so the result
 * still passes checkSplit. Parts are few (a split of one group), so the quadratic scan is cheap;
 * validity / F_D come from the cost model's cache.
 */
export function mergeBack(partsIn: readonly number[][], cost: CostModel): { parts: number[][]; dram: number; merges: number } {
  let parts = partsIn.map((p) => [...p].sort((a, b) => a - b));
  let merges = 0;
  const graph = cost.graph;
  for (;;) {
    if (parts.length < 2) break;
    const owner = new Map<number, number>();
    parts.forEach((p, i) => p.forEach((v) => owner.set(v, i)));
    const succ: Set<number>[] = parts.map(() => new Set());
    for (const v of owner.keys()) for (const u of graph.succ[v]) {
      const a = owner.get(v)!, b = owner.get(u);
      if (b !== undefined && a !== b) succ[a].add(b);
    }
    // a path a -> ... -> b of length >= 2 in the parts graph makes merging a and b cyclic
    const longPath = (a: number, b: number): boolean => {
      const seen = new Set<number>();
      const stack = [...succ[a]].filter((x) => x !== b);
      while (stack.length) {
        const x = stack.pop()!;
        if (x === b) return true;
        if (seen.has(x)) continue;
        seen.add(x);
        for (const y of succ[x]) stack.push(y);
      }
      return false;
    };
    let best: { i: number; j: number; gain: number; u: number[] } | undefined;
    for (let i = 0; i < parts.length; i++) {
      for (const j of succ[i]) {
        const [a, b] = i < j ? [i, j] : [j, i];
        const u = mergeSorted(parts[a], parts[b]);
        if (!cost.valid(u)) continue;
        const gain = cost.dram(parts[a]) + cost.dram(parts[b]) - cost.dram(u);
        if (gain <= 0) continue;
        const better = !best || gain > best.gain || (gain === best.gain && (Math.min(parts[a][0], parts[b][0]) < Math.min(parts[best.i][0], parts[best.j][0])));
        if (better && !longPath(i, j)) best = { i: a, j: b, gain, u };
      }
    }
    if (!best) break;
    const { i, j, u } = best;
    parts = parts.filter((_, k) => k !== i && k !== j);
    parts.push(u);
    merges++;
  }
  return { parts, dram: planDram(cost, parts), merges };
}


/**
 * Plan-level merge-back (beyond the paper): the parts a rectification produced may join a
 * neighbouring group of the plan, outside the group that was split. Repeatedly, among the
 * merges of an `active` group (a produced part, or the result of an earlier merge) with an
 * adjacent group, the one saving the most DRAM is applied (union valid, F_D strictly lower;
 * ties: smaller first op ids), unless a path through a third group joins the two (the group
 * graph would close a cycle). Every merge lowers the plan's DRAM and keeps it valid and
 * acyclic; no randomness. Why: a split answers the invalid group alone, so its parts stop at
 * the group's border even where the plan's neighbouring group has room for them; the searches
 * propose such merges only by chance (local search: one random edit per child).
 */
export function mergeIntoPlan(planIn: readonly (readonly number[])[], active: readonly number[], cost: CostModel): { plan: number[][]; merges: number } {
  const graph = cost.graph;
  const plan: (number[] | undefined)[] = planIn.map((g) => (g.every((v, k) => k === 0 || g[k - 1] < v) ? (g as number[]) : [...g].sort((a, b) => a - b)));
  const owner = new Int32Array(graph.ops.length).fill(-1);
  plan.forEach((g, i) => g!.forEach((v) => (owner[v] = i)));
  const live = new Set(active);
  let merges = 0;
  /** Groups adjacent to group i (either direction). */
  const neighbours = (i: number): Set<number> => {
    const out = new Set<number>();
    for (const v of plan[i]!) {
      for (const u of graph.succ[v]) if (owner[u] !== i && owner[u] >= 0) out.add(owner[u]);
      for (const u of graph.pred[v]) if (owner[u] !== i && owner[u] >= 0) out.add(owner[u]);
    }
    return out;
  };
  /** Is there a path a -> x -> ... -> b through a third group? */
  const longPath = (a: number, b: number): boolean => {
    const seen = new Set<number>([a]);
    const stack: number[] = [];
    for (const v of plan[a]!) for (const u of graph.succ[v]) {
      const g = owner[u];
      if (g !== a && g !== b && !seen.has(g)) (seen.add(g), stack.push(g));
    }
    while (stack.length) {
      const g = stack.pop()!;
      for (const v of plan[g]!) for (const u of graph.succ[v]) {
        const h = owner[u];
        if (h === b) return true;
        if (h !== g && !seen.has(h)) (seen.add(h), stack.push(h));
      }
    }
    return false;
  };
  for (;;) {
    let best: { i: number; j: number; gain: number; u: number[]; first: number } | undefined;
    for (const i of [...live].sort((x, y) => x - y)) {
      for (const j of [...neighbours(i)].sort((x, y) => x - y)) {
        const u = mergeSorted(plan[i]!, plan[j]!);
        if (!cost.valid(u)) continue;
        const gain = cost.dram(plan[i]!) + cost.dram(plan[j]!) - cost.dram(u);
        if (!(gain > 0)) continue;
        const first = Math.min(plan[i]![0], plan[j]![0]);
        if (best && (gain < best.gain || (gain === best.gain && first >= best.first))) continue;
        if (longPath(i, j) || longPath(j, i)) continue;
        best = { i, j, gain, u, first };
      }
    }
    if (!best) break;
    const { i, j, u } = best;
    plan[i] = u;
    plan[j] = undefined;
    for (const v of u) owner[v] = i;
    live.delete(j);
    live.add(i);
    merges++;
  }
  return { plan: plan.filter((g): g is number[] => g !== undefined), merges };
}
