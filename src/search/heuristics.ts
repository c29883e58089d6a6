/**
 * The plan searches: layer-by-layer, greedy merge, random search, local search, NSGA-II.
 * Budget = number of plans generated (each rectified plan the search evaluates counts once).
 */
import type { CostModel, Group } from '../fusion/types.ts';
import { components, mergeSorted } from '../fusion/groups.ts';
import { canonicalPlan, executionOrder, layerByLayer, planDram, planKey, type Plan } from '../fusion/plan.ts';
import type { PlanAwareRectifier } from '../fusion/rectify.ts';
import { reoptimizeWindows, type WindowOptions } from './window.ts';
import { fusabilityOf, mutate, polishPlan, randomPlan, repair, SearchRun, TopK, UnionPlan, type SearchOptions, type SearchResult } from './common.ts';

/** Every op its own group (always valid). */
export function searchLayerByLayer(cost: CostModel, opts: SearchOptions = {}): SearchResult {
  const run = new SearchRun('lbl', cost, opts, 1);
  run.record(layerByLayer(cost.graph));
  return run.result();
}

/**
 * Greedy = pairwise merge + descent polish + window re-optimization (see greedyPlan). Greedy
 * merge: from layer-by-layer, repeatedly merge the two adjacent groups whose union is
 * valid, keeps the group graph acyclic and saves the most DRAM (F_D(A) + F_D(B) - F_D(A u B));
 * stop when no merge saves anything. Deterministic (ties: smaller op ids). One plan generated.
 * Monotonicity in the buffer: the exact optimum never increases as beta grows (tested); the
 * heuristics carry no such guarantee — a larger buffer enables an early greedy merge that can
 * block better ones later, and random/local/NSGA-II follow different random paths per beta.
 */
export function greedyPlan(cost: CostModel, opts: { window?: WindowOptions | false } = {}): Plan {
  // Two descents: from the pairwise-greedy plan and from layer-by-layer. They reach different
  // local optima (on SE / channel-shuffle nets the descent from layer-by-layer, which grows
  // groups through boundary shifts and closure merges, often beats the greedy start: e.g.
  // deeplabv3_mobilenet_v3_large LBDF int8 4 MiB 28.52 -> 24.46 MB); keep the better (ties: the
  // greedy start).
  //
  // Then window re-optimization (search/window.ts): runs of consecutive groups of the execution
  // order are re-partitioned exactly, which makes the moves a descent cannot (split a side branch
  // part-way and re-merge in one step: SE blocks, channel shuffles; bench:fusion measures the
  // gap to the optimum). It never raises DRAM, so greedy stays at or
  // below the polished plan; a last polish picks up single-op edits the new groups enable.
  // Large graphs: the descents' work is capped at 50 ops per op (bounded time; see polishPlan).
  const n = cost.graph.ops.length;
  const work = n > LARGE_GRAPH ? 50 * n : undefined;
  const a = polishPlan(cost, greedyMergePlan(cost), undefined, work);
  const b = polishPlan(cost, layerByLayer(cost.graph), undefined, work);
  const start = planDram(cost, b) < planDram(cost, a) ? b : a;
  if (opts.window === false) return start;
  const w = reoptimizeWindows(cost, start, opts.window);
  if (planDram(cost, w) >= planDram(cost, start)) return start;
  const p = polishPlan(cost, w, undefined, work);
  return planDram(cost, p) < planDram(cost, w) ? p : w;
}

/** Graphs with more ops than this get the large-graph settings of the heuristics (greedy's tie
 * order, the polish's work cap); every reference network is far below. */
export const LARGE_GRAPH = 4096;

/** The pairwise greedy merge alone (no polish). Candidate merges sit in a binary heap (largest
 * gain first; ties: smaller op ids) with lazy deletion: an entry is stale once either of its
 * groups merged (per-root version). Each group keeps the set of its neighbour groups, merged
 * smaller-into-larger. (A full scan of the candidates per merge made a 20k-op chain quadratic.) */
export function greedyMergePlan(cost: CostModel): Plan {
  const fus = fusabilityOf(cost);
  const up = new UnionPlan(cost);
  const n = cost.graph.ops.length;
  const version = new Int32Array(n);
  // Ties in gain go to the smaller op ids. On large graphs (more than LARGE_GRAPH ops: far
  // beyond the reference networks, which keep the published tie order) equal gains go first to
  // the smaller merged group: on a long chain of equal maps the id order grows one group an op
  // at a time, re-evaluating it each time (quadratic), while size order merges pairwise, then
  // pairs of pairs (n log n).
  const bySize = n > LARGE_GRAPH;
  const heap = new MinHeap<MergeCand>(bySize ? byGainSize : byGain);
  // Neighbour groups (by root) of each group, through fusable edges.
  const nbrs: Set<number>[] = fus.adj.map((l) => new Set(l));
  for (const [u, v] of fus.edges) considerMerge(cost, up, heap, version, u, v);
  for (;;) {
    const best = heap.pop();
    if (!best) break;
    const { a, b } = best;
    if (up.parent[a] !== a || up.parent[b] !== b || version[a] !== best.va || version[b] !== best.vb) continue;
    if (up.wouldCycle(a, b)) continue;
    const r = up.merge(a, b);
    const s = r === a ? b : a;
    version[r]++;
    // Neighbours of r := nbrs(a) u nbrs(b) \ {a, b}; s's neighbours now point at r.
    let big = nbrs[r], small = nbrs[s];
    if (small.size > big.size) [big, small] = [small, big];
    for (const g of small) big.add(g);
    big.delete(a);
    big.delete(b);
    nbrs[r] = big;
    nbrs[s] = new Set();
    for (const g of big) {
      const ng = nbrs[g];
      if (ng.delete(s)) ng.add(r);
    }
    for (const g of [...big].sort(byNumber)) considerMerge(cost, up, heap, version, r, g);
  }
  return canonicalPlan(up.toPlan());
}

type MergeCand = { a: number; b: number; gain: number; va: number; vb: number; size: number };
const byNumber = (x: number, y: number) => x - y;
const byGain = (x: MergeCand, y: MergeCand) => y.gain - x.gain || x.a - y.a || x.b - y.b;
const byGainSize = (x: MergeCand, y: MergeCand) => y.gain - x.gain || x.size - y.size || x.a - y.a || x.b - y.b;

/** greedyMergePlan's step: queues the merge of the groups of roots a and b when it is valid and
 * saves DRAM. A function, not a closure inside greedyMergePlan: a closure's optimized code is
 * dropped by a major GC once its call returns, and the next call's closure is compiled again. */
function considerMerge(cost: CostModel, up: UnionPlan, heap: MinHeap<MergeCand>, version: Int32Array, a: number, b: number): void {
  if (a === b) return;
  const A = up.group(a), B = up.group(b);
  const U = mergeSorted(A, B);
  if (!cost.valid(U)) return;
  const gain = cost.dram(A) + cost.dram(B) - cost.dram(U);
  const x = a < b ? a : b, y = a < b ? b : a;
  if (gain > 0) heap.push({ a: x, b: y, gain, va: version[x], vb: version[y], size: U.length });
}

/** A binary min-heap under `less` (negative: x first). */
class MinHeap<T> {
  private a: T[] = [];
  constructor(private cmp: (x: T, y: T) => number) {}
  push(x: T): void {
    const a = this.a;
    a.push(x);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (this.cmp(a[i], a[p]) >= 0) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.a;
    if (!a.length) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.cmp(a[l], a[m]) < 0) m = l;
        if (r < a.length && this.cmp(a[r], a[m]) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

export function searchGreedy(cost: CostModel, opts: SearchOptions = {}): SearchResult {
  const run = new SearchRun('greedy', cost, opts, 1);
  run.record(greedyPlan(cost));
  return run.result();
}

/** Random search: a fresh random plan per step, rectified; keep the best. */
export function searchRandom(cost: CostModel, opts: SearchOptions = {}): SearchResult {
  const run = new SearchRun('random', cost, opts, 1000);
  for (const p of opts.initial ?? []) if (!run.done) run.record(repair(cost, p, run.rectifier, run.rng, run.stats));
  // Only the best plan matters: a plan whose rectified-DRAM bound exceeds the incumbent's DRAM
  // can never replace it (ties go to the smaller key, so strictly), and its rectification is not
  // explained (search/prune.ts; exact: same plans, same result).
  while (!run.done) run.record(repair(cost, randomPlan(cost, run.rng), run.rectifier, run.rng, run.stats, run.best?.dram));
  run.finish();
  return run.result();
}

/** Local search: a population of the top K plans; each step mutates one member (chosen
 * uniformly) by one edit (move an op / merge two groups / split a group), rectifies, and offers
 * the child to the population. Initial population: the given plans, then random plans, until K.
 *
 * Random restarts. An elitist top-K population collapses into one basin: plateau variants of its
 * best (same DRAM, different plan) fill the K slots, and every later child is one edit from that
 * basin, after which the rest of the budget changes nothing (bench:get shows it on the large
 * networks) and which basin a run lands in is luck. So after `restartAfter` plans with no improvement
 * of the population's best, the search starts again from K fresh random plans (rectified like
 * any other); the best plan ever generated is the result. Keeping the old best in the new
 * population does not work: its plateau variants take the K slots again within a few hundred
 * plans (10 seeds: pg 56.01 MB). With full restarts a rectifier that converges faster gets
 * more independent runs from the same budget: 10 seeds, pg 55.28-55.35 MB and none
 * 55.45-55.58 MB, for restartAfter 150-300. The default, a tenth of the budget but at least 200
 * plans, keeps short warm-started runs (bench:fusion's 200 plans from greedy) restart-free.
 *
 * With a plan-aware rectifier (GET's `settle`, rectifier.ts), a child the population takes is
 * settled (Lamarckian write-back, as in searchNsga2): the groups its edit made that its parent
 * lacks (a split's halves, a move's remainder, a merge) are settled like a rectifier's parts and
 * the settled plan replaces the child in the population (and is offered as the result; not
 * counted as a generated plan; never more DRAM; no rng drawn). Why: an edit that leaves every
 * group valid never reached GET's plan-level step, so a split half or a moved op's remainder
 * stayed where one random edit put it (efficientnet_b0 LBDF int8 256 KiB, 1000 plans, LS + pg:
 * seed 2 ended at 9.262 fusable MB, the optimum 9.233; with this step all 3 seeds reach it).
 * Children the population rejects (and pruned ones) are not settled. `observe` sees the
 * population after each child (tests). */
export function searchLocal(cost: CostModel, opts: SearchOptions = {}, observe?: (pop: readonly Plan[]) => void): SearchResult {
  const run = new SearchRun('local', cost, opts, 1000);
  const pop = new TopK(opts.k ?? 10);
  const patience = opts.restartAfter ?? Math.max(200, Math.floor(run.budget / 10));
  const settle = (run.rectifier as PlanAwareRectifier).settle;
  /** Fills the population with up to `n` fresh random plans, rectified. */
  const sow = (n: number) => {
    for (let i = 0; i < n && !run.done && pop.items.length < pop.k; i++) {
      const r = repair(cost, randomPlan(cost, run.rng), run.rectifier, run.rng, run.stats);
      pop.offer(r, run.record(r));
    }
  };
  for (const p of opts.initial ?? []) {
    if (run.done) break;
    const r = repair(cost, p, run.rectifier, run.rng, run.stats);
    pop.offer(r, run.record(r));
  }
  sow(pop.k - run.generated);
  let stale = 0;
  let restarts = 0;
  let lastImprovement = run.generated; // of the population's best
  while (!run.done) {
    if (patience > 0 && run.generated - lastImprovement >= patience) {
      pop.items.length = 0;
      sow(pop.k);
      restarts++;
      lastImprovement = run.generated;
      continue;
    }
    const parent = pop.items[run.rng.int(0, pop.items.length - 1)].plan;
    const child = mutate(cost, parent, run.rng);
    if (!child) {
      if (++stale > 100) break; // nothing left to edit (e.g. no fusable edge)
      continue;
    }
    // The child matters only if the population takes it: once full, a child above the worst
    // member's DRAM is rejected (and, being above the best, is no improvement either), so its
    // rectification is not explained when its bound says so (search/prune.ts; exact). The
    // initial and restart plans always enter (the population is not full then).
    // Children are one edit from good plans, so the bound rarely beats the worst member
    // (MobileNetV2 LBDF int8 128 KiB: never in 2000 plans): after PRUNE_TRIALS children with
    // none pruned it is no longer taken (its cost, ~0.1 ms a child, would be all it does).
    // Nor is a child bounded when all its groups are answered without a new explanation (most
    // are: its parent's groups were answered already), as pruning it would save only those
    // answers (MobileNetV2 LBDF int8 128 KiB + pg: about 3% of the children were pruned, and
    // bounding them took 20% of the search's time; random search prunes ~45% of its plans, and
    // keeps bounding).
    // Whether the bound is taken never changes the search (exact either way).
    const tryPrune = run.generated < PRUNE_TRIALS || (run.stats.pruned ?? 0) > 0;
    const cutoff = tryPrune && pop.items.length >= pop.k ? pop.items[pop.items.length - 1].dram : undefined;
    const r = repair(cost, child, run.rectifier, run.rng, run.stats, cutoff, false);
    const d = run.record(r);
    if (d < (pop.best?.dram ?? Infinity)) lastImprovement = run.generated;
    if (pop.offer(r, d) && settle) {
      // Lamarckian settle of a child the population took (see the doc comment)
      const fresh = freshGroups(r, [parent]);
      if (fresh.length) {
        const sp = canonicalPlan(settle(r, fresh, cost));
        const key = planKey(sp);
        if (!pop.items.some((x) => x.key === key)) {
          const rk = planKey(r);
          pop.items = pop.items.filter((x) => x.key !== rk);
          const sd = planDram(cost, sp);
          if (sd < (pop.best?.dram ?? Infinity)) lastImprovement = run.generated;
          pop.offer(sp, sd);
          run.improve(sp);
        }
      }
    }
    observe?.(pop.items.map((x) => x.plan));
  }
  run.finish();
  return { ...run.result(), restarts };
}

/** Local search stops taking the pruning bound after this many plans if it never pruned. */
const PRUNE_TRIALS = 300;

/** Objectives of NSGA-II: DRAM bytes and the largest on-chip requirement of any group. */
function objectives(cost: CostModel, plan: Plan): [number, number] {
  let peak = 0;
  for (const g of plan) if (g.length > 1) peak = Math.max(peak, cost.memory(g).bytes);
  return [planDram(cost, plan), peak];
}

/** One-point crossover on the topological op order: ops before the cut keep parent A's groups,
 * ops from the cut on keep B's; groups cut in two become their connected components. Both halves
 * are acyclic and every cross edge goes forward, so the child is structurally valid. */
export function crossover(cost: CostModel, a: Plan, b: Plan, cut: number): Plan {
  const out: Group[] = [];
  for (const g of a) {
    const left = g.filter((id) => id < cut);
    if (left.length) out.push(...components(cost.graph, left));
  }
  for (const g of b) {
    const right = g.filter((id) => id >= cut);
    if (right.length) out.push(...components(cost.graph, right));
  }
  return out;
}

/** Indices (in `plan`) of the groups no parent has: what an edit or a crossover made, which a
 * plan-aware rectifier settles (Lamarckian write-back in searchLocal and searchNsga2). */
function freshGroups(plan: Plan, parents: readonly Plan[]): number[] {
  const old = new Set<string>();
  for (const q of parents) for (const g of q) old.add(g.join(','));
  const fresh: number[] = [];
  plan.forEach((g, i) => {
    if (!old.has(g.join(','))) fresh.push(i);
  });
  return fresh;
}

interface Individual {
  plan: Plan;
  f: [number, number];
  key: string;
  rank: number;
  crowd: number;
  /** Indices (in `plan`) of the groups crossover and mutation made that neither parent has; set
   * until the individual survives a selection and is settled (see searchNsga2). */
  fresh?: number[];
}

function nondominatedSort(pop: Individual[]): Individual[][] {
  const dom = (p: Individual, q: Individual) => p.f[0] <= q.f[0] && p.f[1] <= q.f[1] && (p.f[0] < q.f[0] || p.f[1] < q.f[1]);
  const fronts: Individual[][] = [];
  const S = pop.map(() => [] as number[]);
  const n = new Array(pop.length).fill(0);
  let cur: number[] = [];
  for (let i = 0; i < pop.length; i++) {
    for (let j = 0; j < pop.length; j++) {
      if (i === j) continue;
      if (dom(pop[i], pop[j])) S[i].push(j);
      else if (dom(pop[j], pop[i])) n[i]++;
    }
    if (n[i] === 0) cur.push(i);
  }
  let r = 0;
  while (cur.length) {
    const front = cur.map((i) => pop[i]);
    for (const x of front) x.rank = r;
    fronts.push(front);
    const next: number[] = [];
    for (const i of cur) for (const j of S[i]) if (--n[j] === 0) next.push(j);
    cur = next;
    r++;
  }
  for (const front of fronts) {
    for (const x of front) x.crowd = 0;
    for (const m of [0, 1]) {
      front.sort((x, y) => x.f[m] - y.f[m] || (x.key < y.key ? -1 : 1));
      const span = front[front.length - 1].f[m] - front[0].f[m] || 1;
      front[0].crowd = front[front.length - 1].crowd = Infinity;
      for (let i = 1; i < front.length - 1; i++) front[i].crowd += (front[i + 1].f[m] - front[i - 1].f[m]) / span;
    }
  }
  return fronts;
}

/** NSGA-II (Deb et al. 2002) over (DRAM, peak buffer use): population of K; each generation
 * breeds K children by binary tournament (rank, then crowding), one-point crossover and one
 * mutation, rectifies them, and keeps the best K of parents + children by non-dominated rank and
 * crowding distance. The reported plan is the lowest-DRAM plan generated.
 *
 * With a plan-aware rectifier (GET's `settle`, rectifier.ts), the survivors are settled
 * (Lamarckian write-back): each child that survived a selection has the groups crossover and
 * mutation made (those neither parent has: the components of groups the crossover point cut,
 * the mutated groups) settled like a rectifier's parts, and the settled plan replaces it in the
 * population (and is offered as the result). Why: crossover cuts groups into components that
 * are valid, so the rectifier never sees them, and GET's plan-level step ran only on the ~10%
 * of children with an invalid group; the population kept the cut fragments and NSGA-II + cuts
 * ended at 83% of the gap to the optimum (efficientnet_b0 LBDF int8 256 KiB, 1000 plans, 3
 * seeds; 99% with this step). Only survivors are settled: settling every child closed 100% but
 * cost 2x the CPU. Settling never raises DRAM (rectifier.ts) and draws nothing from the rng, so
 * the search stays deterministic; it is not counted as a generated plan. 'none' has no settle
 * step (the published baseline is unchanged). `observe` sees the population after each
 * selection (tests). */
export function searchNsga2(cost: CostModel, opts: SearchOptions = {}, observe?: (pop: readonly Plan[]) => void): SearchResult {
  const run = new SearchRun('nsga2', cost, opts, 1000);
  const K = opts.k ?? 10;
  const n = cost.graph.ops.length;
  const make = (plan: Plan): Individual => ({ plan, f: objectives(cost, plan), key: planKey(plan), rank: 0, crowd: 0 });
  let pop: Individual[] = [];
  // No pruning here (search/prune.ts): a child's fate depends on its Pareto rank over DRAM and
  // peak buffer use, and a split lowers the peak arbitrarily, so no DRAM bound decides it.
  const settle = (run.rectifier as PlanAwareRectifier).settle;
  const add = (p: Plan, into: Individual[], parents?: Individual[]) => {
    const r = repair(cost, p, run.rectifier, run.rng, run.stats);
    run.record(r);
    const ind = make(r);
    if (settle && parents) {
      const fresh = freshGroups(r, parents.map((q) => q.plan));
      if (fresh.length) ind.fresh = fresh;
    }
    if (!into.some((x) => x.key === ind.key) && !pop.some((x) => x.key === ind.key)) into.push(ind);
  };
  /** Lamarckian settle of the survivors (see the doc comment): each child that survived the
   * selection has the groups crossover / mutation made settled like a rectifier's parts, and the
   * settled plan replaces it in the population. Never raises DRAM; no rng drawn. */
  const settleSurvivors = (next: Individual[]): Individual[] => {
    let changed = false;
    for (const ind of next) {
      if (!ind.fresh) continue;
      const r = canonicalPlan(settle!(ind.plan, ind.fresh, cost));
      ind.fresh = undefined;
      const key = planKey(r);
      if (key === ind.key) continue;
      run.improve(r);
      Object.assign(ind, make(r));
      changed = true;
    }
    if (!changed) return next;
    const seen = new Set<string>();
    return next.filter((x) => !seen.has(x.key) && (seen.add(x.key), true));
  };
  for (const p of opts.initial ?? []) if (!run.done) add(p, pop);
  while (!run.done && run.generated < K) add(randomPlan(cost, run.rng), pop);
  nondominatedSort(pop);
  const tournament = (): Individual => {
    const a = pop[run.rng.int(0, pop.length - 1)], b = pop[run.rng.int(0, pop.length - 1)];
    if (a.rank !== b.rank) return a.rank < b.rank ? a : b;
    return a.crowd >= b.crowd ? a : b;
  };
  let stale = 0;
  while (!run.done) {
    const children: Individual[] = [];
    for (let c = 0; c < K && !run.done; c++) {
      const pa = tournament(), pb = tournament();
      let child = n > 1 ? crossover(cost, pa.plan, pb.plan, run.rng.int(1, n - 1)) : pa.plan;
      const m = mutate(cost, child, run.rng);
      if (m) child = m;
      if (!executionOrder(cost.graph, child)) continue; // defensive: never expected
      add(child, children, [pa, pb]);
    }
    if (!children.length) {
      if (++stale > 100) break;
      continue;
    }
    const fronts = nondominatedSort([...pop, ...children]);
    const next: Individual[] = [];
    for (const front of fronts) {
      if (next.length + front.length <= K) next.push(...front);
      else {
        front.sort((x, y) => y.crowd - x.crowd || x.f[0] - y.f[0] || (x.key < y.key ? -1 : 1));
        next.push(...front.slice(0, K - next.length));
        break;
      }
    }
    pop = settle ? settleSurvivors(next) : next;
    nondominatedSort(pop);
    observe?.(pop.map((x) => x.plan));
  }
  run.finish();
  return run.result();
}
