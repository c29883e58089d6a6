/**
 * GET's SPLIT (Mills et al., "Applying Graph Explanation to Operator Fusion", arXiv 2501.00636): turn an invalid fusion group into valid ones along the edges an
 * explainer blames, with the ground-truth cost model deciding between cuts.
 *
 * SPLIT(group), greedy tree recursion:
 * - a valid group or a one-op group is returned as is (a one-op group cannot be split);
 * - the explainer ranks the group's edges; the top `topK` edges become cuts (each through
 *   cutPartition's skip-edge rules: a bridge cuts alone, a skip edge or an edge under a skip
 *   takes every other edge joining the two sides, so nested skips are cut too; sides are
 *   down-closed, which keeps the parts weakly connected and mutually acyclic);
 * - category 1 (both parts valid) is preferred: once one exists, categories 2 and 3 are no
 *   longer collected, and the category-1 cut with the least F_D(a) + F_D(b) wins;
 * - else category 2 (one part valid): the cut whose valid part has the most ops (ties: least
 *   F_D of that part, then explainer rank) is kept and SPLIT recurses on the invalid part;
 * - else category 3 (no part valid): SPLIT recurses on both parts of every cut and returns the
 *   cheapest combination (sum of F_D over the resulting groups).
 * Recursive calls re-explain the sub-group (explanations are per group). Results are memoized
 * by group in the caller's `SplitEnv` (one per rectifier and cost model); F_beta / F_D are
 * cached by the cost model itself. When no explained edge yields a usable cut (or the work
 * budget runs out inside category 3), the group falls back to the published random split and
 * does not count as explained. SPLIT never touches the caller's rng: its random fallbacks draw
 * from an Rng seeded by a hash of the (sub)group and `seed`, so SPLIT is a pure function of the
 * group, which keeps the memo sound.
 *
 * The rectifier that wraps SPLIT for the searches (merge-back, guard, exploration, statistics)
 * is rectifier.ts.
 */
import type { CostModel } from '../fusion/types.ts';
import { Rng } from '../util/random.ts';
import { randomSplit } from '../fusion/rectify.ts';
import { planDram } from '../fusion/plan.ts';
import { groupKey, type CutPartition } from '../fusion/groups.ts';
import type { Explanation } from './explainers/index.ts';

/** How GET split one invalid group: the cuts, the explainer's blamed edges, and which of GET's
 * split and the random split won.
 */
export interface SplitTree {
  group: number[];
  /** 'valid' | 'single-op' leaves, or how the group was split ('optimal': the group's proven
   * least-DRAM partition, no explainer involved; rectifier.ts GetOptions.refineFirst). */
  outcome: 'valid' | 'single-op' | 'category-1' | 'category-2' | 'category-3' | 'random-fallback' | 'merged-back' | 'optimal';
  /** Why a top-level group used the random split: the explainer's split cost more
   * ('random-cheaper') or failed the split check ('split-invalid'). */
  fallback?: 'random-cheaper' | 'split-invalid';
  /** The explainer's SPLIT tree that was not used (random-cheaper / split-invalid), or the SPLIT
   * tree whose parts merge-back rejoined ('merged-back'). */
  rejected?: SplitTree;
  /** The explained edge whose cut was taken, the edges actually cut, and the cut rule. */
  cut?: { edge: [number, number]; cutEdges: [number, number][]; rule: CutPartition['rule'] };
  /** Why this cut: the explainer's score and rank of the edge, parts' F_beta / F_D. */
  scores?: { explainerScore: number; rank: number; pInvalid: number; memory: [number, number]; dram: [number, number] };
  reason?: string;
  children?: SplitTree[];
}

export interface SplitResult {
  parts: number[][];
  dram: number;
  tree: SplitTree;
  /** True when every split in the subtree used an explained cut. */
  explained: boolean;
  /** SPLIT calls the result cost (the work budget it needs), memo hits included at their cost. */
  work?: number;
  /** The work budget ran out somewhere in the subtree: the result depends on the budget left,
   * so it is not memoized. */
  partial?: boolean;
}

/** One of a group's top-K explained edges as a two-way cut. */
export interface ExplainedCut {
  cut: CutPartition;
  score: number;
  rank: number;
}

/** What SPLIT needs from its owner (the rectifier): explanations and their cuts (cached by the
 * owner), a memo of results by group key, and the seed of its random fallbacks. One per cost
 * model. */
export interface SplitEnv {
  explain(group: number[]): Explanation;
  explainedCuts(group: number[]): ExplainedCut[];
  memo: Map<string, SplitResult>;
  seed: number;
  /** A (sub)group's answer that needs no explanation, when the owner has one (rectifier.ts
   * GetOptions.refineDeep: the group's proven optimum); SPLIT then returns it for that
   * (sub)group instead of cutting it along explained edges. */
  solved?(group: number[]): SplitResult | undefined;
}

/** The cut as the split tree records it. */
export const cutInfo = (cut: CutPartition): NonNullable<SplitTree['cut']> => ({ edge: cut.edge, cutEdges: cut.cutEdges, rule: cut.rule });

/** SPLIT of one group (see the header); `work.left` bounds the calls per top-level group. */
export function split(group: number[], cost: CostModel, env: SplitEnv, work: { left: number }): SplitResult {
  const cache = env.memo;
  const key = groupKey(group);
  const hit = cache.get(key);
  // A memo hit is charged the work its computation took, and used only when that fits in the
  // budget left: then it is exactly what a fresh computation would return (that computation
  // would not have run out). Otherwise the group is computed again under the budget left. So
  // SPLIT's answer for a top-level group does not depend on which groups were split before
  // (search/prune.ts skips rectifications, which changes that order).
  if (hit && (hit.work ?? 0) <= work.left) {
    work.left -= hit.work ?? 0;
    return hit;
  }
  const left0 = work.left;
  const done = (r: SplitResult) => {
    r.work = left0 - work.left;
    if (!r.partial) cache.set(key, r);
    return r;
  };
  if (cost.valid(group)) return done({ parts: [group], dram: cost.dram(group), tree: { group, outcome: 'valid' }, explained: true });
  if (group.length <= 1) return done({ parts: [group], dram: cost.dram(group), tree: { group, outcome: 'single-op', reason: 'a one-op group cannot be split' }, explained: true });
  const solved = env.solved?.(group);
  if (solved) return done({ ...solved });
  work.left--;
  const fallback = (reason: string): SplitResult => {
    const parts = randomSplit(group, cost, groupRng(group, env.seed)).map((p) => [...p].sort((a, b) => a - b));
    return { parts, dram: planDram(cost, parts), tree: { group, outcome: 'random-fallback', reason, children: parts.map((p) => ({ group: p, outcome: 'valid' as const })) }, explained: false };
  };
  if (work.left < 0) return { ...fallback('work budget exhausted'), partial: true }; // not cached: budget-dependent
  const ex = env.explain(group);
  const cuts = env.explainedCuts(group);
  if (cuts.length === 0) return done(fallback('no explained edge gives a connected two-way cut'));
  const scores = (c: ExplainedCut) => ({
    explainerScore: c.score,
    rank: c.rank,
    pInvalid: ex.pInvalid,
    memory: [cost.memory(c.cut.a).bytes, cost.memory(c.cut.b).bytes] as [number, number],
    dram: [cost.dram(c.cut.a), cost.dram(c.cut.b)] as [number, number],
  });
  const cat1: ExplainedCut[] = [];
  const cat2: { c: ExplainedCut; valid: number[]; invalid: number[] }[] = [];
  const cat3: ExplainedCut[] = [];
  for (const c of cuts) {
    const va = cost.valid(c.cut.a);
    const vb = cost.valid(c.cut.b);
    if (va && vb) cat1.push(c);
    else if (cat1.length > 0) continue;
    else if (va || vb) cat2.push({ c, valid: va ? c.cut.a : c.cut.b, invalid: va ? c.cut.b : c.cut.a });
    else cat3.push(c);
  }
  if (cat1.length > 0) {
    let best = cat1[0];
    let bestD = Infinity;
    for (const c of cat1) {
      const d = cost.dram(c.cut.a) + cost.dram(c.cut.b);
      if (d < bestD) (best = c), (bestD = d);
    }
    return done({
      parts: [best.cut.a, best.cut.b],
      dram: bestD,
      tree: {
        group,
        outcome: 'category-1',
        cut: cutInfo(best.cut),
        scores: scores(best),
        reason: `both parts valid; least F_D(a) + F_D(b) among ${cat1.length} such cut(s)`,
        children: [
          { group: best.cut.a, outcome: 'valid' },
          { group: best.cut.b, outcome: 'valid' },
        ],
      },
      explained: true,
    });
  }
  if (cat2.length > 0) {
    let best = cat2[0];
    for (const x of cat2.slice(1)) {
      if (x.valid.length > best.valid.length || (x.valid.length === best.valid.length && cost.dram(x.valid) < cost.dram(best.valid))) best = x;
    }
    const rest = split(best.invalid, cost, env, work);
    return done({
      parts: [best.valid, ...rest.parts],
      dram: cost.dram(best.valid) + rest.dram,
      tree: {
        group,
        outcome: 'category-2',
        cut: cutInfo(best.c.cut),
        scores: scores(best.c),
        reason: `one part valid; kept the valid part with the most ops (${best.valid.length}) and split the other`,
        children: [{ group: best.valid, outcome: 'valid' }, rest.tree],
      },
      explained: rest.explained,
      ...(rest.partial ? { partial: true } : {}),
    });
  }
  let best: SplitResult | undefined;
  let partial = false;
  for (const c of cat3) {
    const ra = split(c.cut.a, cost, env, work);
    const rb = split(c.cut.b, cost, env, work);
    if (ra.partial || rb.partial) partial = true;
    const d = ra.dram + rb.dram;
    if (!best || d < best.dram) {
      best = { parts: [...ra.parts, ...rb.parts], dram: d, tree: { group, outcome: 'category-3', cut: cutInfo(c.cut), scores: scores(c), reason: `no part valid in any of ${cat3.length} cut(s); cheapest recursive combination`, children: [ra.tree, rb.tree] }, explained: ra.explained && rb.explained };
    }
  }
  return done(partial ? { ...best!, partial: true } : best!);
}

/** An Rng of its own per (sub)group for SPLIT's random fallbacks: FNV-1a of the op ids, xor seed. */
function groupRng(group: readonly number[], seed: number): Rng {
  let h = 0x811c9dc5;
  for (const v of group) {
    h ^= v;
    h = Math.imul(h, 0x01000193);
  }
  return new Rng((h ^ seed) | 0);
}

/** Groups produced by a split tree (its leaves, in order). */
export function treeLeaves(t: SplitTree): number[][] {
  return t.children && t.children.length ? t.children.flatMap(treeLeaves) : [t.group];
}
