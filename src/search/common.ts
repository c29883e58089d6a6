/**
 * Shared machinery of the plan searches: options/results, fusability cache, a union-find plan
 * with an incremental acyclicity test, random plans, one-edit mutations and a top-K population.
 * All randomness comes from the seeded Rng; every tie is broken by op ids, so a (seed, budget)
 * pair gives the same plan on every run.
 */
import type { CostModel, Group, OpGraph, Rectifier } from '../fusion/types.ts';
import { applyRectifier, randomSplit, type PlanAwareRectifier, type RectifyStats } from '../fusion/rectify.ts';
import { rectifyLazily } from './prune.ts';
import { components, convexClosure, isConnected, mergeSorted } from '../fusion/groups.ts';
import { assignmentOf, canonicalPlan, executionOrder, fusability, planDram, planKey, type Fusability, type Plan } from '../fusion/plan.ts';
import { Rng } from '../util/random.ts';

/** The fusion searches: layer-by-layer, greedy, random, local, NSGA-II, exact (MILP). */
export type SearchMethod = 'lbl' | 'greedy' | 'random' | 'local' | 'nsga2' | 'exact';

/** Options shared by the fusion searches: seed, budget, population size k, rectifier of invalid
 * groups, restarts, initial plan, progress callback. */
export interface SearchOptions {
  seed?: number;
  /** Number of plans generated (equal across methods for a fair comparison). */
  budget?: number;
  /** How invalid groups are split (default: randomSplit, the published baseline). */
  rectifier?: Rectifier;
  /** Population size of local search / NSGA-II (top K; default 10). */
  k?: number;
  /** Local search: plans generated without improving the population's best before the search
   * restarts from a fresh random population (the best plan found stays the result); 0 = never.
   * Default: a tenth of the budget, at least 200. */
  restartAfter?: number;
  /** Plans to start from (counted in the budget), e.g. the greedy plan. */
  initial?: Plan[];
  /** Called after each generated plan (progress bars). */
  onProgress?: (done: number, total: number, bestDram: number) => void;
}

export interface SearchResult {
  method: SearchMethod;
  plan: Plan;
  dram: number;
  /** Plans generated (the budget actually used). */
  plansGenerated: number;
  /** Distinct groups the cost model evaluated during the search. */
  groupsEvaluated: number;
  ms: number;
  rectify: RectifyStats;
  /** Best DRAM after each generated plan (sampled to at most 200 points). */
  history: number[];
  /** Local search: how many times it restarted from a fresh population. */
  restarts?: number;
  /** Set when the requested budget exceeded 64x the graph's distinct plans and was capped. */
  budgetCap?: { requested: number; used: number; distinctPlansBound: number };
}

const fusCache = new WeakMap<CostModel, Fusability>();
/** Fusability of a cost model's graph (cached per cost model). */
export function fusabilityOf(cost: CostModel): Fusability {
  let f = fusCache.get(cost);
  if (!f) fusCache.set(cost, (f = fusability(cost.graph, cost)));
  return f;
}

/** Union-find over ops with member lists, for building plans by merges. */
export class UnionPlan {
  readonly parent: Int32Array;
  readonly members: (number[] | undefined)[];
  readonly minId: Int32Array;
  readonly maxId: Int32Array;
  constructor(private cost: CostModel) {
    const n = cost.graph.ops.length;
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
    this.members = Array.from({ length: n }, (_, i) => [i]);
    this.minId = Int32Array.from({ length: n }, (_, i) => i);
    this.maxId = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(x: number): number {
    while (this.parent[x] !== x) {
      this.parent[x] = this.parent[this.parent[x]];
      x = this.parent[x];
    }
    return x;
  }
  group(root: number): number[] {
    return this.members[root]!;
  }
  /** Would merging groups a and b (roots) close a cycle in the group graph? A new cycle must go
   * through the merged group C: leave C and come back. Groups whose smallest op id exceeds C's
   * largest cannot lead back (edges go forward in id order), which bounds the search. */
  wouldCycle(a: number, b: number): boolean {
    const { succ } = this.cost.graph;
    const hi = Math.max(this.maxId[a], this.maxId[b]);
    const seen = new Set<number>([a, b]);
    const stack: number[] = [];
    for (const r of [a, b]) for (const v of this.members[r]!) for (const u of succ[v]) {
      const g = this.find(u);
      if (!seen.has(g) && this.minId[g] < hi) (seen.add(g), stack.push(g));
    }
    while (stack.length) {
      const g = stack.pop()!;
      for (const v of this.members[g]!) for (const u of succ[v]) {
        const h = this.find(u);
        if (h === a || h === b) return true;
        if (!seen.has(h) && this.minId[h] < hi) (seen.add(h), stack.push(h));
      }
    }
    return false;
  }
  /** Merges two roots; returns the new root. */
  merge(a: number, b: number): number {
    const [r, s] = a < b ? [a, b] : [b, a];
    this.parent[s] = r;
    this.members[r] = mergeSorted(this.members[r]!, this.members[s]!);
    this.members[s] = undefined;
    this.minId[r] = Math.min(this.minId[r], this.minId[s]);
    this.maxId[r] = Math.max(this.maxId[r], this.maxId[s]);
    return r;
  }
  toPlan(): Plan {
    const out: Plan = [];
    for (let i = 0; i < this.parent.length; i++) if (this.parent[i] === i) out.push(this.members[i]!);
    return out;
  }
}

/** A fresh random plan: a merge probability p ~ U(0, 1) is drawn, then every fusable edge, in a
 * random order, merges its two groups with probability p unless that would close a cycle. Groups
 * are not checked against the buffer here: invalid ones go to the rectifier (as in the paper's
 * random LF search, where rectification is the point). */
export function randomPlan(cost: CostModel, rng: Rng): Plan {
  const fus = fusabilityOf(cost);
  const up = new UnionPlan(cost);
  const p = rng.next();
  const order = rng.shuffle(fus.edges.map((_, i) => i));
  for (const i of order) {
    if (rng.next() >= p) continue;
    const [u, v] = fus.edges[i];
    const a = up.find(u), b = up.find(v);
    if (a !== b && !up.wouldCycle(a, b)) up.merge(a, b);
  }
  return up.toPlan();
}

/** One-edit mutation (move an op, merge two groups, split a group), structurally valid; the
 * result may hold invalid groups (rectify it). Returns undefined when no edit applies. */
export function mutate(cost: CostModel, plan: Plan, rng: Rng): Plan | undefined {
  const graph = cost.graph;
  const fus = fusabilityOf(cost);
  const n = graph.ops.length;
  for (let attempt = 0; attempt < 24; attempt++) {
    const kind = rng.int(0, 2); // 0 move, 1 merge, 2 split
    const a = assignmentOf(plan, n);
    if (kind === 2) {
      const big = plan.map((g, i) => (g.length > 1 ? i : -1)).filter((i) => i >= 0);
      if (!big.length) continue;
      const gi = rng.pick(big);
      const g = plan[gi];
      const k = rng.int(1, g.length - 1);
      const parts = [...components(graph, g.slice(0, k)), ...components(graph, g.slice(k))];
      return replaceGroups(plan, [gi], parts);
    }
    // Boundary edges: fusable edges across two groups.
    if (!fus.edges.length) return undefined;
    let e: [number, number] | undefined;
    for (let t = 0; t < 16; t++) {
      const c = fus.edges[rng.int(0, fus.edges.length - 1)];
      if (a[c[0]] !== a[c[1]]) {
        e = c;
        break;
      }
    }
    if (!e) continue;
    const [u, v] = e;
    let next: Plan;
    if (kind === 1) {
      next = replaceGroups(plan, [a[u], a[v]], [mergeSorted(plan[a[u]], plan[a[v]])]);
    } else {
      const [x, to] = rng.next() < 0.5 ? [u, v] : [v, u];
      const from = plan[a[x]];
      const rest = from.filter((id) => id !== x);
      next = replaceGroups(plan, [a[x], a[to]], [mergeSorted(plan[a[to]], [x]), ...(rest.length ? components(graph, rest) : [])]);
    }
    if (executionOrder(graph, next)) return next;
  }
  return undefined;
}

function replaceGroups(plan: Plan, remove: number[], add: Group[]): Plan {
  const drop = new Set(remove);
  const out: Plan = [];
  for (let i = 0; i < plan.length; i++) if (!drop.has(i)) out.push(plan[i]);
  out.push(...add);
  return out;
}

/** Rectifies then canonicalizes. `cutoff`: the search keeps no plan whose DRAM exceeds it (see
 * search/prune.ts); when the plan's rectified-DRAM lower bound is above it, a rectifier with a
 * cheap `skip` answer is not asked for its full one (same random stream, so the same search).
 * `boundFree`: whether a plan all of whose answers are free is bounded too (rectifyLazily). */
export function repair(cost: CostModel, plan: Plan, rectifier: Rectifier, rng: Rng, stats: RectifyStats, cutoff?: number, boundFree = true): Plan {
  if (cutoff !== undefined && (rectifier as PlanAwareRectifier).skip) return canonicalPlan(rectifyLazily(plan, cost, rectifier, rng, stats, cutoff, boundFree));
  return canonicalPlan(applyRectifier(plan, cost, rectifier, rng, stats));
}

/** Top-K distinct plans by DRAM (ties: plan key), the population of local search / NSGA-II. */
export class TopK {
  items: { plan: Plan; dram: number; key: string }[] = [];
  constructor(readonly k: number) {}
  offer(plan: Plan, dram: number): boolean {
    const key = planKey(plan);
    if (this.items.some((x) => x.key === key)) return false;
    if (this.items.length >= this.k) {
      const worst = this.items[this.items.length - 1];
      if (dram > worst.dram || (dram === worst.dram && key >= worst.key)) return false;
    }
    this.items.push({ plan, dram, key });
    this.items.sort((x, y) => x.dram - y.dram || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    if (this.items.length > this.k) this.items.pop();
    return true;
  }
  get best() {
    return this.items[0];
  }
}

/** Budgets are never capped below this many plans (see SearchRun.budget). */
export const MIN_CAPPED_BUDGET = 10000;
const HIST_MAX = 1 << 14;

/** Bookkeeping every search shares: budget, best plan, history, progress. */
export class SearchRun {
  readonly rng: Rng;
  /** Plans to generate: the requested budget, capped at 64x the number of distinct plans the
   * graph has (at least MIN_CAPPED_BUDGET). */
  readonly budget: number;
  readonly budgetRequested: number;
  /** Upper bound on distinct plans (2^fusable edges; Infinity past 2^40). */
  readonly distinctPlansBound: number;
  readonly rectifier: Rectifier;
  readonly stats: RectifyStats = { invalid: 0, rectified: 0 };
  generated = 0;
  best: { plan: Plan; dram: number } | undefined;
  private hist: number[] = [];
  private histStride = 1;
  private t0 = performance.now();
  private evals0: number;
  constructor(readonly method: SearchMethod, readonly cost: CostModel, readonly opts: SearchOptions, defaultBudget: number) {
    this.rng = new Rng(opts.seed ?? 0);
    this.budgetRequested = Math.max(1, Math.floor(opts.budget ?? defaultBudget));
    // A graph with E fusable edges has at most 2^E distinct plans (a plan is fixed by which of
    // those edges lie inside a group): generating far more than that finds nothing new, so the
    // budget is capped (`--budget 1e9` on a 2-node model ran without end, its history growing).

    this.rectifier = opts.rectifier ?? randomSplit;
    this.evals0 = (cost as { cacheSize?: number }).cacheSize ?? 0;
    // (After evals0: the fusability pairs count as evaluated by the search, as before.)
    const e = fusabilityOf(cost).edges.length;
    this.distinctPlansBound = e <= 40 ? 2 ** e : Infinity;
    this.budget = Math.min(this.budgetRequested, Math.max(MIN_CAPPED_BUDGET, this.distinctPlansBound * 64));
  }
  get done(): boolean {
    return this.generated >= this.budget;
  }
  /** Records a generated (already rectified) plan; returns its DRAM. */
  record(plan: Plan): number {
    const d = planDram(this.cost, plan);
    this.generated++;
    const best = this.offerBest(plan, d);
    // The history keeps at most HIST_MAX points: past that, every other point is dropped and
    // one point is kept per `histStride` plans (memory independent of the budget).
    if (this.generated % this.histStride === 0 || this.generated === this.budget) this.hist.push(best.dram);
    if (this.hist.length >= HIST_MAX) {
      this.hist = this.hist.filter((_, i) => i % 2 === 1);
      this.histStride *= 2;
    }
    this.opts.onProgress?.(this.generated, this.budget, best.dram);
    return d;
  }
  /** Offers a plan derived from one already recorded (e.g. NSGA-II's settled survivors) as the
   * best, without counting it as generated. */
  improve(plan: Plan): void {
    this.offerBest(plan, planDram(this.cost, plan));
  }
  /** Keeps the best plan so far (least DRAM, ties to the smaller plan key) and returns it. */
  private offerBest(plan: Plan, d: number): { plan: Plan; dram: number } {
    if (!this.best || d < this.best.dram || (d === this.best.dram && planKey(plan) < planKey(this.best.plan))) this.best = { plan, dram: d };
    return this.best;
  }
  /** Hands the best plan to the rectifier's plan-level `finish` step (PlanAwareRectifier; GET's
   * exact window re-grouping) once, after the budget is spent, and keeps its answer when that is
   * strictly cheaper. Never raises DRAM, draws no random numbers, changes nothing the search did before
   * (the plans generated, the history), and is not counted as a generated plan. */
  finish(): void {
    const finish = (this.rectifier as PlanAwareRectifier).finish;
    if (!finish || !this.best) return;
    const p = canonicalPlan(finish(this.best.plan.map((g) => [...g]), this.cost));
    const d = planDram(this.cost, p);
    if (d < this.best.dram) this.best = { plan: p, dram: d };
  }
  result(): SearchResult {
    const step = Math.max(1, Math.ceil(this.hist.length / 200));
    return {
      method: this.method,
      plan: canonicalPlan(this.best!.plan),
      dram: this.best!.dram,
      plansGenerated: this.generated,
      ...(this.budget < this.budgetRequested ? { budgetCap: { requested: this.budgetRequested, used: this.budget, distinctPlansBound: this.distinctPlansBound } } : {}),
      groupsEvaluated: ((this.cost as { cacheSize?: number }).cacheSize ?? 0) - this.evals0,
      ms: performance.now() - this.t0,
      rectify: this.stats,
      history: this.hist.filter((_, i) => i % step === step - 1 || i === this.hist.length - 1),
    };
  }
}

/**
 * Deterministic descent polish: sweeps the fusable boundary edges in id order and applies every
 * edit that lowers DRAM and keeps the plan valid — merge the two groups (with the convex closure
 * of their union, so the ops between them move in too), move one op into its neighbour's group
 * (again with the closure), or eject an op from its group — until a sweep finds nothing or
 * `maxEvals` candidate edits were scored, or the work reached `maxWork` (default: unbounded):
 * scoring an edit costs the ops of the groups it touches, applying one costs the plan's length
 * (acyclicity check, rebuild). On a 20k-op chain both made the descent quadratic (thousands of
 * ops per group, 20k singleton groups per applied edit from layer-by-layer); greedyPlan caps it
 * on large graphs. No randomness; ties broken by op ids.
 */
export function polishPlan(cost: CostModel, start: Plan, maxEvals = 20000, maxWork = Infinity): Plan {
  return new Polish(cost, start, maxEvals, maxWork).run();
}

const byId = (x: number, y: number) => x - y;

/** polishPlan's state and edits. A class, not closures inside polishPlan: a closure's optimized
 * code is held weakly by its feedback vector, so once a call's closures die a major GC drops it
 * and the next call's closures are compiled by TurboFan again (tryGroup was compiled 26 times in
 * one sweep, 1.8 s of compiler time); methods live as long as the class. */
class Polish {
  private readonly graph: OpGraph;
  private readonly n: number;
  private plan: Plan;
  private a: Int32Array;
  private evals = 0;
  private work = 0;
  constructor(private readonly cost: CostModel, start: Plan, private readonly maxEvals: number, private readonly maxWork: number) {
    this.graph = cost.graph;
    this.n = this.graph.ops.length;
    this.plan = canonicalPlan(start);
    this.a = assignmentOf(this.plan, this.n);
  }
  run(): Plan {
    const { graph, maxEvals, n } = this;
    const fus = fusabilityOf(this.cost);
    for (let improved = true; improved && this.evals < maxEvals; ) {
      improved = false;
      for (const [u, v] of fus.edges) {
        if (this.evals >= maxEvals) break;
        const { a, plan } = this;
        if (a[u] === a[v]) continue;
        if (this.tryGroup(convexClosure(graph, mergeSorted(plan[a[u]], plan[a[v]])))) { improved = true; continue; }
        if (this.tryGroup(convexClosure(graph, mergeSorted(plan[a[v]], [u])))) { improved = true; continue; }
        if (this.tryGroup(convexClosure(graph, mergeSorted(plan[a[u]], [v])))) { improved = true; continue; }
        // Boundary shifts: a suffix of u's group (ops >= t) joins v's group, or a prefix of v's
        // group (ops <= t) joins u's group — moves a group boundary by several ops at once.
        if (u < v) {
          const A = plan[a[u]], B = plan[a[v]];
          let done = false;
          for (let i = 1; i < A.length && !done && this.evals < maxEvals; i++) if (A[i] <= u && this.tryGroup(convexClosure(graph, mergeSorted(B, A.slice(i))))) done = true;
          for (let i = B.length - 1; i > 0 && !done && this.evals < maxEvals; i--) if (B[i - 1] >= v && this.tryGroup(convexClosure(graph, mergeSorted(A, B.slice(0, i))))) done = true;
          if (done) improved = true;
        }
      }
      for (let x = 0; x < n && this.evals < maxEvals; x++) if (this.tryEject(x)) improved = true;
    }
    return this.plan;
  }
  /** Score the plan where group H replaces its ops' groups; applies it if it is better. */
  private tryGroup(H: number[]): boolean {
    const { cost, graph, plan, a } = this;
    this.evals++;
    this.work += H.length;
    if (this.work > this.maxWork) this.evals = this.maxEvals;
    if (!cost.valid(H)) return false;
    // A boundary shift's suffix (prefix) of a group need not be connected to the edge's op
    // inside it: H is then two groups in one (ssdlite320-coco LBDF int8 4 MiB: a parallel
    // branch's ops moved in with it, and checkPlan rejected greedy's plan).
    if (!isConnected(graph, H)) return false;
    const touched = [...new Set(groupsOf(H, a))].sort(byId);
    const inH = new Set(H);
    let before = 0, after = cost.dram(H);
    const add: Group[] = [H];
    for (const gi of touched) {
      before += cost.dram(plan[gi]);
      const rest = without(plan[gi], inH);
      if (!rest.length) continue;
      for (const c of components(graph, rest)) {
        if (!cost.valid(c)) return false;
        after += cost.dram(c);
        add.push(c);
      }
    }
    if (!(after < before - 1e-9)) return false;
    this.work += plan.length; // the acyclicity check and the rebuild below cost O(plan)
    return this.apply(replaceGroups(plan, touched, add));
  }
  private tryEject(x: number): boolean {
    const { cost, graph, plan, a } = this;
    this.evals++;
    const gi = a[x];
    const g = plan[gi];
    if (g.length < 2) return false;
    this.work += g.length;
    if (this.work > this.maxWork) this.evals = this.maxEvals;
    const rest = withoutOne(g, x);
    const parts = [[x], ...components(graph, rest)];
    let after = 0;
    for (const c of parts) after += cost.dram(c);
    if (!(after < cost.dram(g) - 1e-9)) return false;
    this.work += plan.length;
    return this.apply(replaceGroups(plan, [gi], parts));
  }
  private apply(next: Plan): boolean {
    if (!executionOrder(this.graph, next)) return false;
    this.plan = canonicalPlan(next);
    this.a = assignmentOf(this.plan, this.n);
    return true;
  }
}

/** The group index of each op of H (loops, not array callbacks: see Polish). */
function groupsOf(H: readonly number[], a: Int32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < H.length; i++) out.push(a[H[i]]);
  return out;
}
function without(g: readonly number[], drop: Set<number>): number[] {
  const out: number[] = [];
  for (const id of g) if (!drop.has(id)) out.push(id);
  return out;
}
function withoutOne(g: readonly number[], x: number): number[] {
  const out: number[] = [];
  for (const id of g) if (id !== x) out.push(id);
  return out;
}
