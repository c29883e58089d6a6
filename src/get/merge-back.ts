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

