/**
 * GET's rectifier: what the searches call on an invalid group. It answers with SPLIT's split
 * (split.ts) of the group, and adds four steps around it (all on by default, all switchable
 * for ablation; `bench/get.ts --no-merge / --no-guard / --no-explore / --no-plan-merge`
 * measures each):
 * - merge-back (merge-back.ts): adjacent parts of SPLIT's answer are merged back while the
 *   union is valid, strictly cheaper and keeps the parts mutually acyclic.
 * - never worse than the baseline (`guard`): per rectification the published random split is
 *   drawn too, from the caller's `rng` and consuming it exactly as the 'none' rectifier does,
 *   and the split with the lower sum of F_D is returned (ties: SPLIT's). SPLIT itself never
 *   touches the caller's rng (split.ts), so a search with GET consumes its random stream
 *   exactly like the same search without GET, and each rectification returns at most the DRAM
 *   of the split that search would have drawn at that point. For random search (independent
 *   plans from one stream) this makes RS+GET never worse than RS, plan by plan. Local search
 *   and NSGA-II choose parents by the plans' DRAM, so once one rectification differs their
 *   trajectories diverge and no whole-run guarantee follows; the bench reports how often they
 *   end worse. (A `rng.fork()` for the baseline would also be reproducible, but it shifts the
 *   search's stream against the run without GET and loses the RS pairing.)
 * - exploration (`explore`): searches meet the same invalid group again and again. The random
 *   split answers each recurrence differently, a deterministic SPLIT always the same way,
 *   which starves local search / NSGA-II of distinct children. So on the n-th recurrence of a
 *   group (n >= 1) the rectifier answers with its n-th alternative (mod their number): SPLIT's
 *   own answer first, then one split per other explained cut (invalid sides SPLIT recursively,
 *   merged back), in increasing F_D; an alternative costing more than the random draw is
 *   replaced by SPLIT's answer, so the guard still holds.
 * - plan-level merge-back (`planMerge`, merge-back.ts mergeIntoPlan): after a plan's invalid
 *   groups are split (applyRectifier's `settle` step), the parts join neighbouring groups of the
 *   plan where the union is valid and cheaper. The guard above is per split; this step only
 *   lowers DRAM further and draws nothing from the rng, so RS with GET stays never worse than RS
 *   plan by plan. 'none' never does it (it is the published baseline). Why: the searches
 *   propose the merges a split's parts need only by chance, so without it GET closed less of the
 *   gap to the optimum in local search and NSGA-II than in random search (bench:get, int8,
 *   3 seeds, pooled gap closed, off -> on: LS+pg 50 -> 67% on mobilenet_v2 LBDF 128 KiB,
 *   efficientnet_b0 LBDF 256 KiB 1000 plans LS+pg 95 -> 98%, NSGA-II+pg 87 -> 93%). Off by
 *   default since the final re-grouping (`finish`) and the proven optima per group (`refine`,
 *   `refineFirst`) closed that gap without it: see GetOptions.planMerge.
 * - best refinement (`refine`, refine.ts refineSplit): SPLIT's (merged-back) answer is the first
 *   valid split its greedy cut tree reaches; it is replaced by the group's least-DRAM partition
 *   into valid connected groups (window.ts's DP over the group alone) when that is cheaper. Its
 *   cuts are the DP's, so such a group does not count as explained (rectify rate).
 * - window re-grouping (`windowMerge`, refine.ts mergeWindowsAround, after planMerge): each window
 *   of consecutive groups around the produced parts is re-grouped optimally, the parts' ops free,
 *   the searched plan's valid groups whole (what prune.ts's bound allows). Why: on MobileNetV2
 *   LBDF int8 128 KiB local search + pg ended 0.4% above the optimum because a part's cut had to
 *   move together with a merge, which neither merge-back nor one random edit per child does.
 * - optimum first (`refineFirst`, refine.ts optimalSplit): before SPLIT runs, a group small enough
 *   for the window DP to enumerate every valid convex connected part of it is answered with its
 *   proven least-DRAM partition, and the explainer is NOT run for it (nor for its sub-groups).
 *   For such a group `refine` would have returned that DRAM anyway, so SPLIT's split only chose
 *   between equally cheap partitions; the explanation was computed and thrown away. Only groups
 *   the DP cannot answer exactly (over 48 ops, or over the candidate cap) are explained. The
 *   statistics say so plainly: `exact` counts groups answered this way (neither rectified nor
 *   explained), `explanations` the explainer calls that remain. A recurring group's exploration
 *   alternatives (`explore`) still come from explained cuts, so a recurrence may explain it.
 *   `refineDeep` (on by default) does the same for the sub-groups SPLIT recurses into and answers
 *   a recurring group with a proven optimum always with it (no exploration): the explainer runs
 *   only on what the DP cannot solve (different answers than without it; see GetOptions.refineDeep
 *   for the per-seed figures that made it the default).
 * - final re-grouping (`finish`): the search's best plan, once its budget is spent, is re-grouped
 *   exactly window by window over the whole plan (search/window.ts reoptimizeWindowsWide), also where
 *   no rectification produced a part; see GetOptions.finish.
 * Explanations are cached by group and, for the learned explainers, by the group's structure
 * (`structural`: equal GNN inputs, equal explanation, restated on the group's own op ids; exact,
 * test/get/structural-cache.test.ts).
 * Honest statistics: `rectified` counts a group only when the explainer's split was returned
 * AND every cut in it came from the explainer; a group where the random split was cheaper is a
 * fallback (`randomCheaper`), so the rectify rate never credits the explainer for the random
 * split's wins. `splitKept` / `splitCheaper` count how often SPLIT's result won (ties included
 * / strictly cheaper): the "explainer wins" figure of the bench.
 *
 * The split tree (which cut, category, why, scores) is recorded per top-level group for the
 * schedule: `rectifier.trees.get(groupKey(group))`.
 *
 * `SplitRectifier` owns every cache (explainers per scheme; per cost model: explanations,
 * SPLIT's memo, merged-back answers, alternatives, recurrence counts); `makeRectifier` is the
 * factory the searches and passes use.
 */
import type { CostModel, FusionScheme, Group, Rectifier } from '../fusion/types.ts';
import type { Rng } from '../util/random.ts';
import { checkSplit, randomSplit } from '../fusion/rectify.ts';
import { planDram } from '../fusion/plan.ts';
import { GroupCutter, groupKey } from '../fusion/groups.ts';
import { EXPLAINER_KINDS, loadGetModels, makeExplainer, type Explainer, type ExplainerKind, type Explanation, type GetModels } from './explainers/index.ts';
import { initTf } from './tf.ts';
import { graphInput, type GraphInput } from './kgnn.ts';
import { createHash } from 'node:crypto';
import type { GnnExplainerOptions } from './explainers/gnnexplainer.ts';
import { split, cutInfo, treeLeaves, type ExplainedCut, type SplitEnv, type SplitResult, type SplitTree } from './split.ts';
import { mergeBack, mergeIntoPlan } from './merge-back.ts';
import { mergeWindowsAround, optimalSplit, refineSplit, segmentOptimum, type RefineLimits, type Refinement } from './refine.ts';
import { reoptimizeWindowsWide } from '../search/window.ts';

export type { SplitTree } from './split.ts';
export { mergeBack, mergeIntoPlan } from './merge-back.ts';
export { treeLeaves } from './split.ts';

/** How a search rectifies invalid groups: an explainer, or 'none' (the published random split). */
export type GetKind = ExplainerKind | 'none';
/** Every rectifier kind: an explainer, or 'none' (the published random split). */
export const GET_KINDS: readonly GetKind[] = [...EXPLAINER_KINDS, 'none'];

export interface GetStats {
  /** Invalid groups handed to the rectifier. */
  invalid: number;
  /** Of which split entirely along explained edges. */
  rectified: number;
  /** Of which fell back (partly or wholly) to the random split: invalid - rectified. */
  fallback: number;
  /** Groups where the explainer's split (SPLIT + merge-back) was returned: ties with the random
   * split included / strictly cheaper than it. */
  splitKept: number;
  splitCheaper: number;
  /** Groups where the random split was strictly cheaper and was returned instead. */
  randomCheaper: number;
  /** Groups where SPLIT's parts failed checkSplit (never expected; the random split is used). */
  splitInvalid: number;
  /** Groups where merge-back rejoined at least two parts. */
  mergedBack: number;
  /** Groups (recurrences) answered with an alternative explained split rather than SPLIT's. */
  explored: number;
  /** Merges of split parts into neighbouring groups of the plan (planMerge). */
  planMerges: number;
  /** Groups whose split was replaced by a strictly cheaper best refinement (GetOptions.refine);
   * cached answers count on every use. */
  refined: number;
  /** Windows around produced parts re-grouped by the exact plan-level merge (windowMerge). */
  windowMerges: number;
  /** Invalid groups answered with their proven optimum without an explanation (refineFirst);
   * every use counts. Counted in `fallback` too: the explainer did not split them. */
  exact: number;
  /** Explainer calls and their total time. */
  explanations: number;
  explainMs: number;
  /** Explanations answered from another group of the same structure (see `structural`). */
  structuralHits: number;
  /** Mask-optimization steps the explainer calls ran (GNNExplainer's Adam steps) and the sum over
   * them of the group's op count: each step runs six [ops, 128] x [128, 384] matmuls (the
   * k-GNN's three hidden layers forward and back, mask-objective.ts), so maskRows x 589,824 is
   * their floating-point operations (bench:get's arithmetic floor of GNNExplainer). */
  maskSteps: number;
  maskRows: number;
  /** Invalid groups answered without an explanation because their plan could not matter to the
   * search (GetOptions.prune). */
  pruned: number;
  /** Search results the final window re-grouping made cheaper (GetOptions.finish), and the DRAM
   * it saved (bytes, summed). */
  finished: number;
  finishSaved: number;
}

export interface GetOptions {
  /** Explained edges tried as cuts per group (default 8; `bench/get.ts --topk n` compares). */
  topK?: number;
  /** Folder of the trained weights (default: the shipped models/get). */
  weightsDir?: string;
  /** Preloaded models (overrides weightsDir). */
  models?: GetModels;
  /** A ready explainer (overrides kind's default; for tests and custom explainers). */
  explainer?: Explainer;
  gnne?: GnnExplainerOptions;
  /** Max SPLIT calls per top-level group before falling back (bounds category-3 recursion;
   * default SPLIT_BUDGET). */
  budget?: number;
  /** Keep at most this many split trees (oldest dropped). */
  maxTrees?: number;
  /** Seed of SPLIT's own random fallbacks (mixed with a hash of the group; default 0). */
  seed?: number;
  /** Merge adjacent parts back when the union is valid and cheaper (default true). */
  mergeBack?: boolean;
  /** Return the random split instead when it is cheaper (default true; off only for ablation). */
  guard?: boolean;
  /** On the n-th recurrence of a group, return its n-th alternative split (see the header;
   * default true). */
  explore?: boolean;
  /** Reuse an explanation for every group of the same structure (default true): a learned
   * explainer's answer is a pure function of the group's GNN input (node features, in-group
   * edges; beta and the element width are features), so groups whose inputs are equal byte for
   * byte get the same explanation, mapped onto their own op ids. Exact: the answers are the ones
   * the explainer would compute (test/get/structural-cache.test.ts). */
  structural?: boolean;
  /** After a plan's invalid groups are split, merge the parts into neighbouring groups of the
   * plan where the union is valid and cheaper (merge-back.ts mergeIntoPlan), then re-group the
   * windows around them (windowMerge). Default false since 2026-12-06: with the final
   * re-grouping (`finish`) and the proven optima (`refine`, `refineFirst`) it changed no result
   * of bench:get (87 cells x 3 seeds at int8 and at fp32: the same DRAM, seed by seed) and was
   * most of GET's time where no bound prunes (BRR: MobileNetV2 BRR int8 128 KiB random search
   * 18.7x -> 1.3x the search without GET). Without it the prune bound is tighter (search/prune.ts:
   * a rectified plan then refines the plan searched). */
  planMerge?: boolean;
  /** Replace SPLIT's (merged-back) answer by the group's best valid refinement when that is
   * cheaper: the least-DRAM acyclic partition of the group's ops into valid connected groups
   * (refine.ts, the window DP of search/window.ts; default true). */
  refine?: boolean;
  /** After planMerge, re-group each window of consecutive groups around the produced parts
   * optimally, keeping the searched plan's groups and the produced parts whole (refine.ts
   * mergeWindowsAround; default true, but acts only with planMerge). */
  windowMerge?: boolean;
  /** Answer a group whose valid convex connected parts the window DP enumerates completely with
   * its proven least-DRAM partition (refine.ts optimalSplit), before and instead of SPLIT, so
   * the explainer never runs on it (default true; needs `refine`). Same DRAM per group as
   * SPLIT + `refine`, which is exact there too; among equally cheap partitions the DP's own
   * (a pure function of the group) is returned instead of SPLIT's. `bench/get.ts
   * --no-refine-first` gives the explained path back. */
  refineFirst?: boolean;
  /** Also inside SPLIT's recursion (and the sides of exploration's alternative cuts): a sub-group
   * whose optimum refine.ts optimalSplit proves is answered with it instead of being explained
   * and cut further (default true; needs `refineFirst`). Not exact against `refineDeep: false`:
   * SPLIT's answer for a large group changes (never more DRAM for the same cuts: each sub-answer
   * is the sub-group's optimum), so searches can take other paths. A recurring group with a
   * proven optimum is then not explored either (always the optimum): the explainer runs only on
   * groups the DP cannot solve. Opt-in until the final re-grouping (`finish`) existed: it made one
   * EfficientNet-B0 seed worse in LS + cuts and in NSGA-II + cuts (9.247 -> 9.262, 9.233 -> 9.278
   * fusable MB). With `finish` (default) every seed measured is as good with it as without it,
   * and the explainer runs 3-5x less often; see CHANGELOG for the cells and figures.
   * `bench/get.ts --no-refine-deep` turns it off. */
  refineDeep?: boolean;
  /** Limits of `refine` and `windowMerge` (deterministic counts). */
  refineLimits?: RefineLimits;
  /** Do not explain what cannot matter (default true): when a search shows that no
   * rectification of a plan can change its outcome (search/prune.ts: a lower bound on the
   * rectified DRAM above what random search / local search would keep; without planMerge it
   * counts answered groups as their parts and unanswered ones as their proven optima, see
   * `optimum`), each invalid group not yet answered gets
   * `skip`'s answer: the random split, drawn from the search's stream exactly as the guard draws
   * it, with the recurrence counted as the full answer counts it. The searches then generate the
   * same plans and return the same result as without it (test/get/prune.test.ts); the statistics
   * and the order in which split trees are recorded differ. Needs the guard (without it the full
   * answer draws nothing from the stream); 'none' is never pruned. */
  prune?: boolean;
  /** Re-group the search's result exactly, window by window over the whole plan (default true):
   * the searches hand their best plan to `finish` once, after the budget is spent
   * (SearchRun.finish), which runs search/window.ts's reoptimizeWindowsWide on it (runs of
   * consecutive groups of the execution order re-partitioned optimally; windows of up to 48 ops,
   * then of up to 53 from that result).
   * The windowMerge step does this only around the parts one rectification produced; a plan
   * whose remaining gap lies in boundaries between groups that no rectification touched keeps
   * it. Why: local search with GET converged to the same local optimum on every seed
   * (efficientnet_b0 LBDF int8 256 KiB, 5000 plans, LS + pg: 9.247 fusable MB on all 3 seeds,
   * the optimum 9.233; the difference is five consecutive SE-block groups whose boundaries
   * are each one or two ops off, a move no single edit or settle makes without raising DRAM);
   * the final pass takes it to the optimum in ~0.2 s of the search's ~7 s. Never raises DRAM,
   * draws no random numbers and changes nothing the search did before, so a seed's result is
   * never worse than without it. 'none' has no such step (the published baseline);
   * `bench/get.ts --no-finish` measures without it. */
  finish?: boolean;
}

export type GetRectifier = Rectifier & {
  kind: GetKind;
  stats: GetStats;
  trees: Map<string, SplitTree>;
  /** Rectify rate: fraction of invalid groups split along explained edges (and that split used). */
  rectifyRate(): number;
  /** Fraction of invalid groups where the explainer's split was used (ties with random included). */
  explainerWinRate(): number;
  /** Called by applyRectifier with the rectified plan and the indices of the parts it produced
   * (see GetOptions.planMerge); absent when planMerge is off (the default) or for 'none'. */
  settle?(plan: Group[], produced: number[], cost: CostModel): Group[];
  /** The cheap answer for a plan that cannot matter (see GetOptions.prune); absent when pruning
   * is off. */
  skip?: Rectifier;
  /** Would the answer for this group need no new explanation (see SplitRectifier.cheap)? Present
   * with `skip`. */
  cheap?(group: Group, cost: CostModel): boolean;
  /** A proven optimal partition of an invalid group, for pruning (see SplitRectifier.optimum).
   * Present with `skip`. */
  optimum?(group: Group, cost: CostModel): number[][] | undefined;
  /** The plan-level step on the search's result (see GetOptions.finish); absent when off and for
   * 'none'. */
  finish?(plan: Group[], cost: CostModel): Group[];
};

/** Everything the rectifier remembers about one cost model. */
interface CostCaches {
  explanations: Map<string, Explanation>;
  /** explainedCuts by group: SPLIT asks again for a group whose result it does not memoize (a
   * budget-dependent one, or a memo hit costing more than the budget left) and exploration asks
   * for the recurring group's (efficientnet_b0 LBDF int8 256 KiB RS + pg: 5,404 calls for 227
   * groups, ~12% of the search's time in GroupCutter). */
  cuts: Map<string, ExplainedCut[]>;
  /** Explanations by the structural signature of the group's GNN input: the group's ops (local
   * order) and the explanation computed for it. */
  bySignature: Map<string, { ops: number[]; ex: Explanation }>;
  /** SPLIT's environment, whose memo holds its results by group. */
  env: SplitEnv;
  merged: Map<string, { parts: number[][]; dram: number; merges: number }>;
  alternatives: Map<string, SplitResult[]>;
  /** refine.ts optimalSplit's answers by group (null: not exact, SPLIT's path). */
  optimal: Map<string, SplitResult | null>;
  /** refine.ts's answers by group (null: none, keep SPLIT's). */
  refined: Map<string, Refinement | null>;
  /** Proven optimal partitions by group, for pruning (`optimum`; null: none known). */
  floors: Map<string, number[][] | null>;
  recurrences: Map<string, number>;
}

/** SPLIT's default work budget per top-level group. Memo hits are charged the work they took
 * (split.ts: that makes SPLIT's answers independent of the order groups come in, which pruning
 * changes); before, a hit was free, so the old 200 allowed more work in practice. 1000 gives the
 * earlier plans back (MobileNetV2 LBDF int8 128 KiB RS + pg, seed 1: 400 did not) at no measured
 * cost in time. */
export const SPLIT_BUDGET = 1000;

/** GNNExplainer's early stop under GET (GnnExplainerOptions.stableSteps: the mask's top edges
 * unchanged for this many Adam steps), 0 = off (`bench:get --gnne-stable 0`). It changes the
 * answers, so it was off while it changed results: before the final re-grouping (`finish`) and
 * `refineDeep`, stopping at 2 stable steps moved MobileNetV2 LBDF int8 128 KiB (3 seeds) random
 * search from 89 to 90% of the gap closed and local search from 58 to 50%. With both (defaults),
 * every seed measured ends at the same fusable MB with 2 as with 0, at a third to a half of the
 * CPU (bench:get int8, load 9-15): MobileNetV2 LBDF 128 KiB RS 15.9 -> 5.5 s per seed, LS 2.7 ->
 * 1.8 s (3 seeds, 2.465 MB on every seed); EfficientNet-B0 LBDF 256 KiB at 1000 plans LS 13.5 ->
 * 5.6 s, NSGA-II 13.0 -> 5.7 s (2 seeds, 9.233 MB); see CHANGELOG for ResNet-18 and SqueezeNet. */
export const GNNE_STABLE_STEPS = 2;

const fmt = (bytes: number) => `${(bytes / 1e6).toFixed(3)} MB`;

/**
 * The GET rectifier of one explainer (or 'none': the published random split). Needs
 * `await initTf()` beforehand for speed (the WASM backend); works on the CPU backend too.
 * Trained models are loaded lazily per cost-model scheme from the shipped weights.
 */
export class SplitRectifier {
  readonly stats: GetStats = { invalid: 0, rectified: 0, fallback: 0, splitKept: 0, splitCheaper: 0, randomCheaper: 0, splitInvalid: 0, mergedBack: 0, explored: 0, planMerges: 0, refined: 0, windowMerges: 0, exact: 0, explanations: 0, explainMs: 0, structuralHits: 0, maskSteps: 0, maskRows: 0, pruned: 0, finished: 0, finishSaved: 0 };
  readonly trees = new Map<string, SplitTree>();
  private readonly explainers = new Map<FusionScheme, Explainer>();
  private readonly caches = new WeakMap<CostModel, CostCaches>();
  private readonly maxTrees: number;
  private readonly topK: number;
  private readonly useMerge: boolean;
  private readonly guard: boolean;
  private readonly explore: boolean;
  private readonly seed: number;
  private readonly structural: boolean;
  private readonly planMerge: boolean;
  private readonly refine: boolean;
  private readonly windowMerge: boolean;
  private readonly refineFirst: boolean;
  private readonly refineDeep: boolean;

  constructor(readonly kind: GetKind, private readonly opts: GetOptions = {}) {
    this.maxTrees = opts.maxTrees ?? 10000;
    this.topK = opts.topK ?? 8;
    this.useMerge = opts.mergeBack ?? true;
    this.guard = opts.guard ?? true;
    this.explore = opts.explore ?? true;
    this.seed = opts.seed ?? 0;
    this.structural = opts.structural ?? true;
    this.planMerge = opts.planMerge ?? false;
    this.refine = opts.refine ?? true;
    this.windowMerge = opts.windowMerge ?? true;
    this.refineFirst = this.refine && (opts.refineFirst ?? true);
    this.refineDeep = this.refineFirst && (opts.refineDeep ?? true);
  }

  /** Does `settle` change plans (GetOptions.planMerge, never for 'none': the published
   * baseline)? When it does not, the rectifier has no `settle` (makeRectifier), and the prune
   * bound knows that the rectified plan refines the plan searched. */
  get settles(): boolean {
    return this.kind !== 'none' && this.planMerge;
  }

  /** The plan-level step after a plan's invalid groups were split (see GetOptions.planMerge);
   * 'none' (the published baseline) leaves the plan as it is. */
  settle(plan: Group[], produced: number[], cost: CostModel): Group[] {
    if (!this.settles || produced.length === 0) return plan;
    const r = mergeIntoPlan(plan, produced, cost);
    this.stats.planMerges += r.merges;
    let out = r.merges ? r.plan : plan;
    if (this.windowMerge) {
      const ops = new Set<number>();
      for (const i of produced) for (const v of plan[i]) ops.add(v);
      const w = mergeWindowsAround(out, plan, ops, cost, this.opts.refineLimits);
      this.stats.windowMerges += w.improved;
      if (w.improved) out = w.plan;
    }
    return out;
  }

  /** Is the final window re-grouping on (GetOptions.finish; never for 'none')? */
  get finishes(): boolean {
    return this.kind !== 'none' && (this.opts.finish ?? true);
  }

  /** The plan-level step on a search's result (see GetOptions.finish): search/window.ts's exact
   * window re-optimization over the whole plan. Never more DRAM; deterministic. */
  finish(plan: Group[], cost: CostModel): Group[] {
    if (!this.finishes) return plan;
    const before = planDram(cost, plan);
    const out = reoptimizeWindowsWide(cost, plan); // two sweeps: 48-op windows, then 53 (window.ts)
    const after = planDram(cost, out);
    if (after >= before) return plan;
    this.stats.finished++;
    this.stats.finishSaved += before - after;
    return out;
  }

  rectifyRate(): number {
    return this.stats.invalid ? this.stats.rectified / this.stats.invalid : 0;
  }

  explainerWinRate(): number {
    return this.stats.invalid ? this.stats.splitKept / this.stats.invalid : 0;
  }

  private explainerFor(scheme: FusionScheme): Explainer {
    let e = this.opts.explainer ?? this.explainers.get(scheme);
    if (!e) {
      const models = this.kind === 'cuts' || this.kind === 'none' ? undefined : (this.opts.models ?? loadGetModels(scheme, this.opts.weightsDir));
      e = makeExplainer(this.kind as ExplainerKind, models, { gnne: { stableSteps: GNNE_STABLE_STEPS, ...this.opts.gnne } });
      this.explainers.set(scheme, e);
    }
    return e;
  }

  private cachesFor(cost: CostModel): CostCaches {
    let c = this.caches.get(cost);
    if (!c) {
      const explanations = new Map<string, Explanation>();
      const cuts = new Map<string, ExplainedCut[]>();
      const env: SplitEnv = {
        explain: (group) => this.explain(group, cost, explanations),
        explainedCuts: (group) => {
          const key = groupKey(group);
          let out = cuts.get(key);
          if (!out) cuts.set(key, (out = this.explainedCuts(group, cost, explanations)));
          return out;
        },
        memo: new Map(),
        seed: this.seed,
        ...(this.refineDeep ? { solved: (group: number[]) => this.optimalOf(group, cost, groupKey(group)) } : {}),
      };
      c = { explanations, cuts, bySignature: new Map(), env, merged: new Map(), alternatives: new Map(), optimal: new Map(), refined: new Map(), floors: new Map(), recurrences: new Map() };
      this.caches.set(cost, c);
    }
    return c;
  }

  private explain(group: number[], cost: CostModel, cache: Map<string, Explanation>): Explanation {
    const key = groupKey(group);
    let ex = cache.get(key);
    if (!ex) {
      const t0 = performance.now();
      const explainer = this.explainerFor(cost.scheme);
      if (this.structural && explainer.explainInput) {
        const input = graphInput(cost.graph, group, cost.bufferBytes, cost.elementBytes);
        const bySig = this.cachesFor(cost).bySignature;
        const sig = signature(input);
        const hit = bySig.get(sig);
        if (hit) {
          ex = relabel(hit.ex, hit.ops, input.local.ops);
          this.stats.structuralHits++;
        } else {
          ex = explainer.explainInput(input);
          bySig.set(sig, { ops: input.local.ops, ex });
          this.countSteps(ex, group.length);
        }
      } else this.countSteps((ex = explainer.explain(group, cost)), group.length);
      this.stats.explainMs += performance.now() - t0;
      this.stats.explanations++;
      cache.set(key, ex);
    }
    return ex;
  }

  private countSteps(ex: Explanation, ops: number): void {
    if (!ex.steps) return;
    this.stats.maskSteps += ex.steps;
    this.stats.maskRows += ex.steps * ops;
  }

  /** The top-K explained edges of a group as distinct two-way cuts (explanations are cached). */
  private explainedCuts(group: number[], cost: CostModel, cache: Map<string, Explanation>): ExplainedCut[] {
    const ex = this.explain(group, cost, cache);
    const seen = new Set<string>();
    const cuts: ExplainedCut[] = [];
    const cutter = new GroupCutter(cost.graph, group);
    for (let r = 0; r < ex.edges.length && cuts.length < this.topK; r++) {
      const cut = cutter.cut(ex.edges[r]);
      if (!cut) continue;
      const ck = groupKey(cut.a);
      if (seen.has(ck)) continue;
      seen.add(ck);
      cuts.push({ cut, score: ex.scores[r], rank: r });
    }
    return cuts;
  }

  private record(key: string, tree: SplitTree): void {
    if (this.trees.has(key)) return;
    if (this.trees.size >= this.maxTrees) this.trees.delete(this.trees.keys().next().value!);
    this.trees.set(key, tree);
  }

  /** SPLIT's answer for a group, merged back (cached per group: SPLIT is a pure function of it);
   * with refineFirst, the group's proven optimum instead when the DP has one (no explanation). */
  private bestOf(g: number[], cost: CostModel, key: string): SplitResult {
    const c = this.cachesFor(cost);
    const o = this.optimalOf(g, cost, key);
    if (o) return o;
    const r = split(g, cost, c.env, { left: this.opts.budget ?? SPLIT_BUDGET });
    let out = r;
    if (this.useMerge) {
      let m = r.partial ? undefined : c.merged.get(key);
      if (!m) {
        m = mergeBack(r.parts, cost);
        if (!r.partial) c.merged.set(key, m);
      }
      if (m.merges > 0) out = { parts: m.parts, dram: m.dram, explained: r.explained, tree: { group: g, outcome: 'merged-back', reason: `${m.merges} merge(s) of adjacent SPLIT parts (union valid, F_D ${fmt(r.dram)} -> ${fmt(m.dram)})`, rejected: r.tree, children: m.parts.map((p) => ({ group: p, outcome: 'valid' as const })) } };
    }
    return this.refined(g, cost, key, out, r.partial === true);
  }

  /** The group's proven least-DRAM partition when refineFirst is on and the window DP enumerates
   * every valid convex connected part of it (refine.ts optimalSplit), else undefined. Cached per
   * group (a pure function of it). `explained` is false: the rectify rate does not credit the
   * explainer, which never ran. */
  private optimalOf(g: number[], cost: CostModel, key: string): SplitResult | undefined {
    if (!this.refineFirst) return undefined;
    const c = this.cachesFor(cost);
    let o = c.optimal.get(key);
    if (o === undefined) {
      const r = optimalSplit(g, cost, this.opts.refineLimits);
      o = r ? { parts: r.parts, dram: r.dram, explained: false, tree: { group: g, outcome: 'optimal', reason: `proven least-DRAM partition into valid connected part(s) (window DP over every valid convex connected part of the group, F_D ${fmt(r.dram)}); no explanation needed`, children: r.parts.map((p) => ({ group: p, outcome: 'valid' as const })) } } : null;
      c.optimal.set(key, o);
    }
    return o ?? undefined;
  }

  /** `res` replaced by the group's best refinement when that is strictly cheaper (refine.ts;
   * GetOptions.refine). Its cuts are the DP's, not the explainer's: `explained` is false, so the
   * rectify rate does not credit the explainer for them. Cached per group (a pure function of
   * the group and SPLIT's answer; a budget-dependent answer is not kept). */
  private refined(g: number[], cost: CostModel, key: string, res: SplitResult, partial: boolean): SplitResult {
    if (!this.refine) return res;
    const c = this.cachesFor(cost);
    let f = partial ? undefined : c.refined.get(key);
    if (f === undefined) {
      f = refineSplit(res.parts, cost, this.opts.refineLimits) ?? null;
      if (!partial) c.refined.set(key, f);
    }
    if (!f || !f.improved) return res;
    this.stats.refined++;
    return { parts: f.parts, dram: f.dram, explained: false, ...(res.partial ? { partial: true } : {}), tree: { group: g, outcome: 'merged-back', reason: `best valid refinement of the group (window DP over ${f.exact ? 'every' : 'a size-bounded family of'} valid connected part(s): F_D ${fmt(res.dram)} -> ${fmt(f.dram)})`, rejected: res.tree, children: f.parts.map((p) => ({ group: p, outcome: 'valid' as const })) } };
  }

  /**
   * Alternatives for a recurring group (exploration, see the header): SPLIT's answer first, then
   * one split per other explained cut (each invalid side SPLIT recursively, merged back), distinct
   * by parts, in increasing F_D. Cached per group.
   */
  private alternativesOf(g: number[], cost: CostModel, key: string, first: SplitResult): SplitResult[] {
    const c = this.cachesFor(cost);
    let out = c.alternatives.get(key);
    if (out) return out;
    const partsKey = (parts: number[][]) => parts.map((p) => groupKey([...p].sort((a, b) => a - b))).sort().join('|');
    const seen = new Set([partsKey(first.parts)]);
    const more: SplitResult[] = [];
    let partial = first.partial === true;
    for (const x of c.env.explainedCuts(g)) {
      const sides = [x.cut.a, x.cut.b].map((side) => split(side, cost, c.env, { left: this.opts.budget ?? SPLIT_BUDGET }));
      if (sides.some((s) => s.partial)) partial = true;
      let parts = sides.flatMap((s) => s.parts);
      let dram = sides[0].dram + sides[1].dram;
      if (this.useMerge) {
        const m = mergeBack(parts, cost);
        parts = m.parts;
        dram = m.dram;
      }
      const k = partsKey(parts);
      if (seen.has(k)) continue;
      seen.add(k);
      const valid = sides.filter((s) => s.tree.outcome === 'valid').length;
      more.push({
        parts,
        dram,
        explained: sides.every((s) => s.explained),
        tree: { group: g, outcome: valid === 2 ? 'category-1' : valid === 1 ? 'category-2' : 'category-3', cut: cutInfo(x.cut), reason: `exploration: the group recurred; the cut at explained rank ${x.rank} instead of SPLIT's choice${this.useMerge ? ' (parts merged back where valid and cheaper)' : ''}`, children: sides.map((s) => s.tree) },
      });
    }
    more.sort((a, b) => a.dram - b.dram);
    out = [first, ...more];
    if (!partial) c.alternatives.set(key, out); // a budget-dependent answer is not kept (split.ts)
    return out;
  }

  /** Can `skip` stand in for `rectify` without moving the search's random stream? */
  get prunable(): boolean {
    return (this.opts.prune ?? true) && this.guard && this.kind !== 'none';
  }

  /**
   * The answer for an invalid group of a plan the search cannot keep (GetOptions.prune): what
   * `rectify` draws from `rng` (one random split, the guard's) and nothing else of it, and the
   * recurrence counted as `rectify` counts it, so later answers are the ones they would be.
   */
  skip(group: Group, cost: CostModel, rng: Rng): Group[] {
    const g = [...group].sort((a, b) => a - b);
    if (g.length <= 1 || cost.valid(g)) return [g];
    this.stats.pruned++; // not counted in `invalid`: the rates describe the groups explained
    if (this.explore) {
      const rc = this.cachesFor(cost).recurrences;
      const key = groupKey(g);
      rc.set(key, (rc.get(key) ?? 0) + 1);
    }
    return randomSplit(g, cost, rng);
  }

  /**
   * Would `rectify(group)` now compute no new explanation? True when the group is answered with
   * its proven optimum (refineFirst: computed here if need be, and cached, as `rectify` would) or
   * its explanation is cached (then SPLIT's recursion below it was explained too), and, if the
   * group recurs (its answer is then an alternative), its alternatives are cached. A hint for
   * the order of lazy rectification (search/prune.ts: such answers first, as they may prune the
   * plan before any explanation); the answers never depend on it.
   */
  cheap(group: Group, cost: CostModel): boolean {
    if (this.kind === 'none') return true;
    const g = [...group].sort((a, b) => a - b);
    const key = groupKey(g);
    const c = this.cachesFor(cost);
    if (!c.explanations.has(key) && !this.optimalOf(g, cost, key)) return false;
    if (this.refineDeep && c.optimal.get(key)) return true; // never explored (see rectify)
    return !this.explore || !c.recurrences.get(key) || c.alternatives.has(key);
  }

  /**
   * A proven least-DRAM partition of an invalid group into valid, connected, mutually acyclic
   * parts, for pruning only (PlanAwareRectifier.optimum, search/prune.ts: every answer for the
   * group costs at least its DRAM, so a plan whose groups cannot get below the cutoff even so is
   * not explained). The window DP's (refine.ts optimalSplit) where it enumerates the group, else,
   * past its size, the segment-path DP's (refine.ts segmentOptimum). The answer `rectify`
   * returns does not change: a group the window DP cannot enumerate is still answered by SPLIT
   * (refineFirst covers the window DP's groups only). Cached per group.
   */
  optimum(group: Group, cost: CostModel): number[][] | undefined {
    const g = [...group].sort((a, b) => a - b);
    if (g.length <= 1 || cost.valid(g)) return undefined;
    const key = groupKey(g);
    const c = this.cachesFor(cost);
    let f = c.floors.get(key);
    if (f === undefined) {
      // (optimalOf has the window DP's answer, cached, when refineFirst is on)
      const w = this.refineFirst ? this.optimalOf(g, cost, key) : optimalSplit(g, cost, this.opts.refineLimits);
      f = w?.parts ?? segmentOptimum(g, cost, this.opts.refineLimits) ?? null;
      c.floors.set(key, f);
    }
    return f ?? undefined;
  }

  /** The Rectifier contract (fusion/types.ts): valid groups splitting an invalid one. */
  rectify(group: Group, cost: CostModel, rng: Rng): Group[] {
    const stats = this.stats;
    const g = [...group].sort((a, b) => a - b);
    if (g.length <= 1 || cost.valid(g)) return [g];
    stats.invalid++;
    if (this.kind === 'none') {
      stats.fallback++;
      return randomSplit(g, cost, rng);
    }
    const key = groupKey(g);
    const first = this.bestOf(g, cost, key);
    let cand = first;
    if (this.explore) {
      const rc = this.cachesFor(cost).recurrences;
      const n = rc.get(key) ?? 0;
      rc.set(key, n + 1);
      // refineDeep: a group with a proven optimum is answered with it on every recurrence too
      // (its alternatives would need the explanation that refineDeep exists to avoid)
      if (n > 0 && !(this.refineDeep && first.tree.outcome === 'optimal')) {
        const a = this.alternativesOf(g, cost, key, first);
        cand = a[n % a.length];
      }
    }
    if (this.guard) {
      // drawn from the caller's stream exactly as the 'none' rectifier would (see the header)
      const base = randomSplit(g, cost, rng).map((p) => [...p].sort((a, b) => a - b));
      const baseD = planDram(cost, base);
      let bad = checkSplit(cost.graph, cost, g, cand.parts);
      if (cand !== first && (bad || cand.dram > baseD)) {
        cand = first; // an alternative never costs more than the random draw
        bad = checkSplit(cost.graph, cost, g, cand.parts);
      }
      if (bad || cand.dram > baseD) {
        if (bad) stats.splitInvalid++;
        else stats.randomCheaper++;
        stats.fallback++;
        const reason = bad ? `the explainer's split failed the check (${bad}); used the random split` : `the random split (F_D ${fmt(baseD)}) is cheaper than the explainer's (F_D ${fmt(cand.dram)})`;
        this.record(key, { group: g, outcome: 'random-fallback', fallback: bad ? 'split-invalid' : 'random-cheaper', reason, rejected: cand.tree, children: base.map((p) => ({ group: p, outcome: 'valid' as const })) });
        return base;
      }
      if (cand.dram < baseD) stats.splitCheaper++;
    }
    if (cand !== first) stats.explored++;
    if (cand.tree.outcome === 'merged-back') stats.mergedBack++;
    if (cand.tree.outcome === 'optimal') stats.exact++;
    stats.splitKept++;
    if (cand.explained) stats.rectified++;
    else stats.fallback++;
    this.record(key, cand.tree);
    return cand.parts;
  }
}

/** Structural signature of a group's GNN input: SHA-1 of its node features and local edges. */
function signature(input: GraphInput): string {
  const { features, local } = input;
  const h = createHash('sha1');
  h.update(new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
  h.update(new Uint8Array(Int32Array.from(local.src).buffer));
  h.update(new Uint8Array(Int32Array.from(local.dst).buffer));
  return `${local.ops.length}:${local.src.length}:${h.digest('base64')}`;
}

/** An explanation of the group with ops `from` (local order) restated for the group of the
 * same structure with ops `to`. Both lists are sorted, so the explainers' tie-breaks by op id
 * order the edges the same way: the result is what the explainer returns for `to`. */
function relabel(ex: Explanation, from: readonly number[], to: readonly number[]): Explanation {
  const at = new Map<number, number>();
  from.forEach((op, i) => at.set(op, to[i]));
  const out: Explanation = { method: ex.method, edges: ex.edges.map(([a, b]) => [at.get(a)!, at.get(b)!]), scores: ex.scores.slice(), pInvalid: ex.pInvalid };
  if (ex.nodes) out.nodes = ex.nodes.map((v) => at.get(v)!);
  return out;
}

/** The Rectifier factory: a SplitRectifier as the function the searches call, with its
 * statistics and split trees attached. */
export function makeRectifier(kind: GetKind, opts: GetOptions = {}): GetRectifier {
  const r = new SplitRectifier(kind, opts);
  return Object.assign((group: Group, cost: CostModel, rng: Rng) => r.rectify(group, cost, rng), {
    kind,
    ...(r.prunable ? { skip: (group: Group, cost: CostModel, rng: Rng) => r.skip(group, cost, rng), cheap: (group: Group, cost: CostModel) => r.cheap(group, cost), optimum: (group: Group, cost: CostModel) => r.optimum(group, cost) } : {}),
    ...(r.settles ? { settle: (plan: Group[], produced: number[], cost: CostModel) => r.settle(plan, produced, cost) } : {}),
    ...(r.finishes ? { finish: (plan: Group[], cost: CostModel) => r.finish(plan, cost) } : {}),
    stats: r.stats,
    trees: r.trees,
    rectifyRate: () => r.rectifyRate(),
    explainerWinRate: () => r.explainerWinRate(),
  });
}

/** Selects the fast tfjs backend; call once before using a learned explainer. */
export const prepareGet = initTf;

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
