/**
 * GET's SPLIT (SPEC section 1): turn an invalid fusion group into valid ones along the edges an
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
 * Recursive calls re-explain the sub-group (explanations are per group). Results are cached
 * by group (per rectifier and cost model); F_beta / F_D are cached by the cost model itself.
 * When no explained edge yields a usable cut (or the work budget runs out inside category 3),
 * the group falls back to the published random split and does not count as rectified.
 *
 * The split tree (which cut, category, why, scores) is recorded per top-level group for the
 * schedule: `rectifier.trees.get(groupKey(group))`.
 */
import type { CostModel, FusionScheme, Group, Rectifier } from '../fusion/types.ts';
import type { Rng } from '../util/random.ts';
import { randomSplit } from '../fusion/rectify.ts';
import { cutPartition, groupKey, type CutPartition } from '../learn/groups.ts';
import { loadGetModels, makeExplainer, type Explainer, type ExplainerKind, type Explanation, type GetModels } from '../learn/explainers/index.ts';
import { initTf } from '../learn/tf.ts';
import type { GnnExplainerOptions } from '../learn/explainers/gnnexplainer.ts';

export type GetKind = ExplainerKind | 'none';

export interface SplitTree {
  group: number[];
  /** 'valid' | 'single-op' leaves, or how the group was split. */
  outcome: 'valid' | 'single-op' | 'category-1' | 'category-2' | 'category-3' | 'random-fallback';
  /** The explained edge whose cut was taken, the edges actually cut, and the cut rule. */
  cut?: { edge: [number, number]; cutEdges: [number, number][]; rule: CutPartition['rule'] };
  /** Why this cut: the explainer's score and rank of the edge, parts' F_beta / F_D. */
  scores?: { explainerScore: number; rank: number; pInvalid: number; memory: [number, number]; dram: [number, number] };
  reason?: string;
  children?: SplitTree[];
}

export interface GetStats {
  /** Invalid groups handed to the rectifier. */
  invalid: number;
  /** Of which split entirely along explained edges. */
  rectified: number;
  /** Of which fell back (partly) to the random split. */
  fallback: number;
  /** Explainer calls and their total time. */
  explanations: number;
  explainMs: number;
}

export interface GetOptions {
  /** Explained edges tried as cuts per group (default 4). */
  topK?: number;
  /** Folder of the trained weights (default: the shipped models/get). */
  weightsDir?: string;
  /** Preloaded models (overrides weightsDir). */
  models?: GetModels;
  /** A ready explainer (overrides kind's default; for tests and custom explainers). */
  explainer?: Explainer;
  gnne?: GnnExplainerOptions;
  /** Max SPLIT calls per top-level group before falling back (bounds category-3 recursion). */
  budget?: number;
  /** Keep at most this many split trees (oldest dropped). */
  maxTrees?: number;
}

export type GetRectifier = Rectifier & {
  kind: GetKind;
  stats: GetStats;
  trees: Map<string, SplitTree>;
  /** Rectify rate: fraction of invalid groups split along explained edges. */
  rectifyRate(): number;
};

interface SplitResult {
  parts: number[][];
  dram: number;
  tree: SplitTree;
  /** True when every split in the subtree used an explained cut. */
  explained: boolean;
}

/**
 * The GET rectifier of one explainer (or 'none': the published random split). Needs
 * `await initTf()` beforehand for speed (the WASM backend); works on the CPU backend too.
 * Trained models are loaded lazily per cost-model scheme from the shipped weights.
 */
export function makeRectifier(kind: GetKind, opts: GetOptions = {}): GetRectifier {
  const stats: GetStats = { invalid: 0, rectified: 0, fallback: 0, explanations: 0, explainMs: 0 };
  const trees = new Map<string, SplitTree>();
  const maxTrees = opts.maxTrees ?? 10000;
  const explainers = new Map<FusionScheme, Explainer>();
  const memo = new WeakMap<CostModel, Map<string, SplitResult>>();
  const explainCache = new WeakMap<CostModel, Map<string, Explanation>>();
  const topK = opts.topK ?? 4;

  const explainerFor = (scheme: FusionScheme): Explainer => {
    let e = opts.explainer ?? explainers.get(scheme);
    if (!e) {
      const models = kind === 'cuts' || kind === 'none' ? undefined : (opts.models ?? loadGetModels(scheme, opts.weightsDir));
      e = makeExplainer(kind as ExplainerKind, models, { gnne: opts.gnne });
      explainers.set(scheme, e);
    }
    return e;
  };

  const explain = (group: number[], cost: CostModel): Explanation => {
    let cache = explainCache.get(cost);
    if (!cache) explainCache.set(cost, (cache = new Map()));
    const key = groupKey(group);
    let ex = cache.get(key);
    if (!ex) {
      const t0 = performance.now();
      ex = explainerFor(cost.scheme).explain(group, cost);
      stats.explainMs += performance.now() - t0;
      stats.explanations++;
      cache.set(key, ex);
    }
    return ex;
  };

  const split = (group: number[], cost: CostModel, rng: Rng, work: { left: number }): SplitResult => {
    let cache = memo.get(cost);
    if (!cache) memo.set(cost, (cache = new Map()));
    const key = groupKey(group);
    const hit = cache.get(key);
    if (hit) return hit;
    const done = (r: SplitResult) => (cache!.set(key, r), r);
    if (cost.valid(group)) return done({ parts: [group], dram: cost.dram(group), tree: { group, outcome: 'valid' }, explained: true });
    if (group.length <= 1) return done({ parts: [group], dram: cost.dram(group), tree: { group, outcome: 'single-op', reason: 'a one-op group cannot be split' }, explained: true });
    work.left--;
    const fallback = (reason: string): SplitResult => {
      const parts = randomSplit(group, cost, rng).map((p) => [...p].sort((a, b) => a - b));
      return { parts, dram: parts.reduce((s, p) => s + cost.dram(p), 0), tree: { group, outcome: 'random-fallback', reason, children: parts.map((p) => ({ group: p, outcome: 'valid' as const })) }, explained: false };
    };
    if (work.left < 0) return fallback('work budget exhausted'); // not cached: budget-dependent
    const ex = explain(group, cost);
    const seen = new Set<string>();
    const cuts: { cut: CutPartition; score: number; rank: number }[] = [];
    for (let r = 0; r < ex.edges.length && cuts.length < topK; r++) {
      const cut = cutPartition(cost.graph, group, ex.edges[r]);
      if (!cut) continue;
      const ck = groupKey(cut.a);
      if (seen.has(ck)) continue;
      seen.add(ck);
      cuts.push({ cut, score: ex.scores[r], rank: r });
    }
    if (cuts.length === 0) return done(fallback('no explained edge gives a connected two-way cut'));
    const info = (c: (typeof cuts)[number]) => ({
      edge: c.cut.edge,
      cutEdges: c.cut.cutEdges,
      rule: c.cut.rule,
    });
    const scores = (c: (typeof cuts)[number]) => ({
      explainerScore: c.score,
      rank: c.rank,
      pInvalid: ex.pInvalid,
      memory: [cost.memory(c.cut.a).bytes, cost.memory(c.cut.b).bytes] as [number, number],
      dram: [cost.dram(c.cut.a), cost.dram(c.cut.b)] as [number, number],
    });
    const cat1: (typeof cuts)[number][] = [];
    const cat2: { c: (typeof cuts)[number]; valid: number[]; invalid: number[] }[] = [];
    const cat3: (typeof cuts)[number][] = [];
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
          cut: info(best),
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
      const rest = split(best.invalid, cost, rng, work);
      return done({
        parts: [best.valid, ...rest.parts],
        dram: cost.dram(best.valid) + rest.dram,
        tree: {
          group,
          outcome: 'category-2',
          cut: info(best.c),
          scores: scores(best.c),
          reason: `one part valid; kept the valid part with the most ops (${best.valid.length}) and split the other`,
          children: [{ group: best.valid, outcome: 'valid' }, rest.tree],
        },
        explained: rest.explained,
      });
    }
    let best: SplitResult | undefined;
    let bestCut: (typeof cuts)[number] | undefined;
    for (const c of cat3) {
      const ra = split(c.cut.a, cost, rng, work);
      const rb = split(c.cut.b, cost, rng, work);
      const d = ra.dram + rb.dram;
      if (!best || d < best.dram) {
        best = { parts: [...ra.parts, ...rb.parts], dram: d, tree: { group, outcome: 'category-3', cut: info(c), scores: scores(c), reason: `no part valid in any of ${cat3.length} cut(s); cheapest recursive combination`, children: [ra.tree, rb.tree] }, explained: ra.explained && rb.explained };
        bestCut = c;
      }
    }
    void bestCut;
    return done(best!);
  };

  const rect = ((group: Group, cost: CostModel, rng: Rng): Group[] => {
    const g = [...group].sort((a, b) => a - b);
    if (g.length <= 1 || cost.valid(g)) return [g];
    stats.invalid++;
    if (kind === 'none') {
      stats.fallback++;
      return randomSplit(g, cost, rng);
    }
    const r = split(g, cost, rng, { left: opts.budget ?? 200 });
    if (r.explained) stats.rectified++;
    else stats.fallback++;
    const key = groupKey(g);
    if (!trees.has(key)) {
      if (trees.size >= maxTrees) trees.delete(trees.keys().next().value!);
      trees.set(key, r.tree);
    }
    return r.parts;
  }) as GetRectifier;
  rect.kind = kind;
  rect.stats = stats;
  rect.trees = trees;
  rect.rectifyRate = () => (stats.invalid ? stats.rectified / stats.invalid : 0);
  return rect;
}

/** Selects the fast tfjs backend; call once before using a learned explainer. */
export const prepareGet = initTf;

/** Groups produced by a split tree (its leaves, in order). */
export function treeLeaves(t: SplitTree): number[][] {
  return t.children && t.children.length ? t.children.flatMap(treeLeaves) : [t.group];
}

/**
 * The recorded split trees whose every resulting group is a group of `plan` (the splits that
 * made the final plan), at most `limit` of them, in plan order of their first leaf — what a
 * schedule records under GET.
 */
export function splitTreesFor(rect: GetRectifier, plan: readonly Group[], limit = 200): SplitTree[] {
  const inPlan = new Map<string, number>();
  plan.forEach((g, i) => inPlan.set(groupKey([...g].sort((a, b) => a - b)), i));
  const out: { at: number; tree: SplitTree }[] = [];
  for (const tree of rect.trees.values()) {
    const leaves = treeLeaves(tree);
    if (leaves.length > 1 && leaves.every((l) => inPlan.has(groupKey(l)))) out.push({ at: Math.min(...leaves.map((l) => inPlan.get(groupKey(l))!)), tree });
  }
  return out.sort((a, b) => a.at - b.at).slice(0, limit).map((x) => x.tree);
}
