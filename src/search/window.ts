/**
 * Window re-optimization: a large-neighbourhood search whose neighbourhood is solved exactly.
 *
 * A window is a run of consecutive groups g_i .. g_j of the plan's execution order (a topological
 * order of the group DAG, `executionOrder`). The window's ops are re-partitioned optimally — any
 * partition into valid, connected groups that are mutually acyclic — while every other group
 * stays as it is. This is the move the descent polish (`polishPlan`) cannot make: on SE blocks and
 * channel-shuffle branches the optimum cuts a side branch part-way, which needs a split and a
 * re-merge at once (each half-move alone raises DRAM, so a descent never takes it).
 *
 * Why the sub-problem is exact and safe (proof). Let W = g_i u .. u g_j and let the plan's groups
 * be ordered g_1 .. g_k topologically.
 *  (a) Every edge into W comes from a group before g_i, every edge out of W goes to a group after
 *      g_j: an edge x -> y with y in W and x in a later group g_l (l > j) would be a group edge
 *      g_l -> g_m with m <= j < l, against the topological order; symmetrically for edges out.
 *  (b) Hence W is convex: a path that leaves W and re-enters it would need an edge out of W (to a
 *      group after g_j) and later an edge into W (from that point on only groups after g_j are
 *      reachable, and none of them has an edge into W). So every path between two ops of W stays
 *      in W, and convexity / reachability of subsets of W can be computed inside W.
 *  (c) Take any partition P of W into valid, weakly connected groups whose group graph (edges
 *      between P's parts) is acyclic. Replace g_i .. g_j by P. Order the new plan as
 *      g_1 .. g_{i-1}, P in a topological order of its parts, g_{j+1} .. g_k. Every group edge goes
 *      forward: edges among the fixed groups did before; edges into a part of P come from
 *      g_1 .. g_{i-1} or from an earlier part of P (by (a) and P's order); edges out of a part go
 *      to a later part or to g_{j+1} .. g_k. So the new plan is acyclic, covers every op once, and
 *      all its groups are valid and connected: a feasible plan. Conversely the window's current
 *      groups are one such P, so the best P is never worse than the current plan.
 *  (d) F_D of a group depends on the group alone (the ops in it and the tensors crossing its
 *      border), so plan DRAM = sum over fixed groups + sum over P's parts, and minimizing the
 *      second sum over feasible P is independent of the rest of the plan.
 * So "minimize sum F_D over acyclic partitions of W into valid connected groups" is an exact,
 * self-contained sub-problem, and any improvement found there improves the whole plan.
 *
 * How a window is solved. Candidates: every valid, connected (through fusable edges), convex group
 * inside W (non-convex groups can never be in a feasible plan, see `enumerateConvexCandidates` in
 * exact.ts), grown only through ops of W and tested for convexity with bitsets local to W (exact
 * by (b)); built one group at a time (`extendFamily`: the parts touching the appended group) so
 * sliding windows share work. Then a dynamic program over the order ideals of W: a partition is
 * acyclic iff its parts can be listed so that each part's predecessors (outside the part) are
 * covered by the parts listed before it, so
 *   best(I) = min over parts c disjoint from I with preds(c) \ c ⊆ I of F_D(c) + best(I u c),
 *   best(W) = 0,
 * over the down-closed sets I reachable that way, is the exact optimum over acyclic partitions
 * (acyclicity is built in; no cycle check afterwards). The state is the covered set alone because
 * the cost-to-go does not depend on how I was covered — (d) again, inside the window. CNN windows
 * are mostly chains with short parallel branches (SE side branch, residual skip, shuffle and
 * Inception branches), so the number of ideals stays small (hundreds to a few thousand).
 * A part can only start at a minimal uncovered op, so parts are indexed by their first op in a
 * topological order of W, and each state scans only the parts starting at its minimal ops.
 *
 * Why a hand-written solver and not HiGHS (which solves the global problem in exact.ts): windows
 * are small (<= 48 ops, <= 1500 candidates by default), this must run synchronously inside
 * greedyPlan (used synchronously by the planner (planner.ts), the benches and tests) while HiGHS is an async
 * wasm module, and a window must cost a few milliseconds for ResNet-50 greedy to stay far below
 * 1 s (building a MILP per window would cost more than solving the DP). Determinism: parts are
 * listed in a fixed order (generation order, which depends only on op ids and the plan), ties
 * keep the first part found, and the limits count candidates, candidate checks and DP states, never time.
 * A window stops growing before the group that would put it over the candidate cap; a two-group
 * window already over the cap is solved over the complete size levels plus its own current
 * groups (still never worse); a window over the work limit is skipped.
 *
 * Defaults (bench:fusion, 14 models): windows of up to 48 ops catch the SE / shuffle / RegNet
 * cases (at 28 ops mobilenet_v3_small LBDF int8 256 KiB stayed 3% above the optimum, its groups
 * being 16-26 ops long); 1500 candidates keep Inception windows (GoogLeNet: four parallel
 * branches, so many convex subsets) near 1 s for the whole net.
 */
import type { CostModel, Group } from '../fusion/types.ts';
import { canonicalPlan, executionOrder, planKey, type Plan } from '../fusion/plan.ts';
import { fusabilityOf } from './common.ts';

export interface WindowOptions {
  /** Most ops in a window (default 48; at most 53, the width of the DP's state key). */
  maxOps?: number;
  /** Most candidate groups per window (default 1500). */
  maxCandidates?: number;
  /** Work limit per window: the DP's candidate checks plus STATE_WORK per state it expands
   * (default 1e6, ~40 ms). */
  maxWork?: number;
  /** Sweeps over the execution order (default 6); a sweep with no improvement ends the search. */
  maxPasses?: number;
}

export interface WindowStats {
  /** Windows solved to optimality. */
  solved: number;
  /** Windows solved over a size-truncated family (candidate cap). */
  truncated: number;
  /** Windows given up (work limit). */
  skipped: number;
  /** Windows whose optimum beat their current groups. */
  improved: number;
  passes: number;
}

/** The most ops a window can have (the DP's state key is a safe-integer bitmask). */
export const MAX_KEY_BITS = 53;

/** What expanding one state of the DP costs, in candidate checks: its memo lookup and insert
 * (53-bit keys, so heap numbers in a Map) and the scan of the window's ops for the minimal
 * uncovered ones. Measured: ~3 us a state against ~40 ns a check. Counted since a window of
 * ssdlite320's post-processing (one Split into 91 classes, each class a Gather -> Greater chain:
 * 3^k ideals for k chains in the window) expanded 140,000 states on 1e6 checks, 0.42 s, before
 * the work limit stopped it, and 172 such windows took 63 s of a 0.5 s greedy search. */
const STATE_WORK = 64;

/** Defaults, chosen on bench:fusion (see the header). */
export const DEFAULTS = { maxOps: 48, maxCandidates: 1500, maxWork: 1000000, maxPasses: 6 };

/** One candidate part: global op ids, local bitmask (two 32-bit words: bits 0..31, 32..52),
 * local predecessors outside the part, F_D. */
export interface Cand {
  ops: number[];
  lo: number;
  hi: number;
  plo: number;
  phi: number;
  dram: number;
}

/**
 * The candidate family of a window. Local op index = position in the window's groups listed in
 * execution order, each group sorted by id: a topological order (edges between groups go forward
 * in the execution order, inside a group ids are topological), and appending a group keeps every
 * existing index, so a family extends by one group without touching the parts it already has.
 */
export interface WindowFamily {
  groups: readonly Group[];
  /** Global op id per local index. */
  ops: number[];
  /** Local predecessors of each local op, as a mask. */
  predLo: number[];
  predHi: number[];
  cands: Cand[];
  /** Every valid connected convex part is a candidate (false: cut by the cap, see extendFamily). */
  complete: boolean;
}

const maskKey = (lo: number, hi: number) => hi * 4294967296 + lo;
/** Local op i's bit in a mask's low word (ops 0..31) and high word (ops 32..52): 2 ** i read
 * from a table (V8 computes `2 ** i` with Math.pow's C code, which was ~1 s of a sweep). */
const POW2 = Float64Array.from({ length: 32 }, (_, i) => 2 ** i);
export const bitLo = (i: number) => (i < 32 ? POW2[i] : 0);
export const bitHi = (i: number) => (i < 32 ? 0 : POW2[i - 32]);
/** The family of an empty window (extendFamily's starting point). */
export const EMPTY_FAMILY: WindowFamily = { groups: [], ops: [], predLo: [], predHi: [], cands: [], complete: true };

/**
 * The family of `fam`'s window plus `group` (the group right after it in the execution order).
 * The new parts are exactly those holding at least one op of `group`; they are grown level by
 * level from its single ops through fusable edges inside the window, testing convexity with local
 * reachability bitsets (exact by (b) of the header). Completeness: every valid convex connected
 * set S of >= 2 ops has two distinct extreme ops whose removal leaves S connected (one in each of
 * two leaf blocks of its block-cut tree, or a source and a sink of S if S has no cut vertex; see
 * `enumerateConvexCandidates` in exact.ts for why such ops exist and why S minus one of them
 * stays convex and valid), so while S holds a new op it can always shed an op and keep one: S is
 * reached from a new singleton through sets that all hold a new op. If the total would pass
 * `maxCandidates`, growth stops after the last complete level and the window's own groups are
 * added (complete = false: the optimum over that family is still never worse than the window).
 */
export function extendFamily(cost: CostModel, fam: WindowFamily, group: Group, maxCandidates: number, addOwn = true): WindowFamily {
  const groups = [...fam.groups, group];
  const ops = [...fam.ops, ...[...group].sort(byId)];
  const m = ops.length;
  if (m > MAX_KEY_BITS) throw new Error(`extendFamily: ${m} ops > ${MAX_KEY_BITS}`);
  const m0 = fam.ops.length;
  const local = new Map<number, number>();
  for (let i = 0; i < m; i++) local.set(ops[i], i);
  const { succ, pred } = cost.graph;
  const fus = fusabilityOf(cost);
  const adj = localLists(ops, fus.adj, local);
  const lsucc = localLists(ops, succ, local);
  const lpred = localLists(ops, pred, local);
  const predLo = fam.predLo.slice(), predHi = fam.predHi.slice();
  for (let i = m0; i < m; i++) {
    let l = 0, h = 0;
    for (const p of lpred[i]) (l += bitLo(p), h += bitHi(p));
    predLo.push(l);
    predHi.push(h);
  }
  const grow = new FamilyGrowth(cost, ops, adj, lsucc, lpred, predLo, predHi);
  const cands: Cand[] = fam.cands.slice(); // old parts: masks and preds unchanged (no edge back)
  let level: Entry[] = [];
  for (let i = m0; i < m; i++) level.push({ loc: [i], glob: [ops[i]], lo: bitLo(i), hi: bitHi(i) });
  let complete = fam.complete;
  while (level.length) {
    if (cands.length + level.length > maxCandidates) {
      complete = false;
      break;
    }
    for (const e of level) cands.push(grow.make(e));
    const next = grow.nextLevel(level, cands.length, maxCandidates);
    if (!next) {
      complete = false;
      break;
    }
    level = next;
  }
  if (!complete && addOwn) addOwnGroups(groups, local, cands, grow);
  return { groups, ops, predLo, predHi, cands, complete };
}

const byId = (x: number, y: number) => x - y;

/** A set of local ops being grown: local indices and global ids (each sorted), local mask. */
interface Entry {
  loc: number[];
  glob: number[];
  lo: number;
  hi: number;
}

/** The local indices (in `local`) of the ops of each list `lists[v]`, v in `ops`. */
function localLists(ops: readonly number[], lists: readonly (readonly number[])[], local: Map<number, number>): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < ops.length; i++) {
    const l: number[] = [];
    for (const u of lists[ops[i]]) {
      const j = local.get(u);
      if (j !== undefined) l.push(j);
    }
    out.push(l);
  }
  return out;
}

/**
 * extendFamily's level-by-level growth. Methods of a class, not closures inside extendFamily, and
 * apart from it: each is a small TurboFan job with its own type feedback (extendFamily as one
 * function was compiled 6 times per sweep at ~0.35 s each after deopts in one part or another),
 * and a closure's optimized code is dropped by a major GC once its call returns (see IdealDp).
 * Reachability masks are int32 typed arrays: the values of bits 30 and 31 are no small integers
 * (31-bit under pointer compression), and in a plain array they deoptimized the code ("not a Smi").
 */
class FamilyGrowth {
  /** desc[i] / anc[i] include i; the local order is topological, so one pass each. */
  private readonly descLo: Int32Array;
  private readonly descHi: Int32Array;
  private readonly ancLo: Int32Array;
  private readonly ancHi: Int32Array;
  /** New sets already tested (sizes differ per level: one set). */
  private readonly seen = new Set<number>();
  constructor(
    private readonly cost: CostModel,
    private readonly ops: readonly number[],
    private readonly adj: readonly number[][],
    private readonly lsucc: readonly number[][],
    private readonly lpred: readonly number[][],
    private readonly predLo: readonly number[],
    private readonly predHi: readonly number[],
  ) {
    const m = ops.length;
    const descLo = (this.descLo = new Int32Array(m)), descHi = (this.descHi = new Int32Array(m));
    const ancLo = (this.ancLo = new Int32Array(m)), ancHi = (this.ancHi = new Int32Array(m));
    for (let i = m - 1; i >= 0; i--) {
      let l = bitLo(i) | 0, h = bitHi(i) | 0;
      for (const s of lsucc[i]) (l |= descLo[s], h |= descHi[s]);
      descLo[i] = l;
      descHi[i] = h;
    }
    for (let i = 0; i < m; i++) {
      let l = bitLo(i) | 0, h = bitHi(i) | 0;
      for (const p of lpred[i]) (l |= ancLo[p], h |= ancHi[p]);
      ancLo[i] = l;
      ancHi[i] = h;
    }
  }
  make(e: Entry): Cand {
    const { predLo, predHi } = this;
    let plo = 0, phi = 0;
    for (const i of e.loc) (plo = (plo | predLo[i]) >>> 0, phi = (phi | predHi[i]) >>> 0);
    return { ops: e.glob, lo: e.lo, hi: e.hi, plo: (plo & ~e.lo) >>> 0, phi: (phi & ~e.hi) >>> 0, dram: this.cost.dram(e.glob) };
  }
  /** The valid convex sets one op larger than those of `level` (each new set tested once), or
   * undefined as soon as `have` candidates plus them pass `maxCandidates`. */
  nextLevel(level: readonly Entry[], have: number, maxCandidates: number): Entry[] | undefined {
    const next: Entry[] = [];
    for (const S of level) {
      for (const x of S.loc) for (const w of this.adj[x]) this.tryAdd(S, w, next);
      if (have + next.length > maxCandidates) return undefined;
    }
    return next;
  }
  /** S + w, when w is new, S + w was not tested yet, and it is convex and valid. */
  private tryAdd(S: Entry, w: number, next: Entry[]): void {
    const slo = S.lo, shi = S.hi;
    const bl = bitLo(w), bh = bitHi(w);
    if (((slo & bl) | (shi & bh)) !== 0) return; // w already in S
    const tlo = slo + bl, thi = shi + bh; // disjoint bits: the sum is the union
    const key = maskKey(tlo, thi);
    if (this.seen.has(key)) return;
    this.seen.add(key); // convexity and validity depend on the set alone: test it once
    if (!this.convexWith(w, slo, shi)) return;
    // Insert w keeping both lists sorted (local order and global ids agree inside a group,
    // not across groups, so each list is sorted on its own key).
    const gw = this.ops[w];
    const loc = insertSorted(S.loc, w);
    const glob = insertSorted(S.glob, gw);
    if (this.cost.valid(glob)) next.push({ loc, glob, lo: tlo, hi: thi });
  }
  /** S is convex; S + w is not iff a path runs w -> (outside S) -> S or S -> (outside S) -> w. */
  private convexWith(w: number, slo: number, shi: number): boolean {
    const { descLo, descHi, ancLo, ancHi } = this;
    for (const y of this.lsucc[w]) {
      if (((slo & bitLo(y)) | (shi & bitHi(y))) === 0 && ((descLo[y] & slo) | (descHi[y] & shi)) !== 0) return false;
    }
    for (const y of this.lpred[w]) {
      if (((slo & bitLo(y)) | (shi & bitHi(y))) === 0 && ((ancLo[y] & slo) | (ancHi[y] & shi)) !== 0) return false;
    }
    return true;
  }
}

/** A copy of the sorted list `l` with `x` inserted in order. */
function insertSorted(l: readonly number[], x: number): number[] {
  const out = l.slice();
  let k = out.length;
  while (k > 0 && out[k - 1] > x) k--;
  out.splice(k, 0, x);
  return out;
}

/** Keeps a truncated family's window groups reachable (so it is never worse than the window):
 * adds each group absent from `cands`. A function of its own, not a block of extendFamily: this
 * rare path's arrays deoptimized extendFamily's optimized code ("wrong map" at the sort below)
 * each time it ran, and each re-optimization of that large function costs V8 ~0.1-0.4 s of
 * compiler CPU (24 deopts on 3 shared models x 8 sizes x LBDF,BRR with the optimum). */
function addOwnGroups(groups: readonly Group[], local: Map<number, number>, cands: Cand[], grow: FamilyGrowth): void {
  const have = new Set(cands.map((c) => maskKey(c.lo, c.hi)));
  for (const g of groups) {
    const loc = g.map((v) => local.get(v)!).sort(byId);
    let lo = 0, hi = 0;
    for (const i of loc) (lo += bitLo(i), hi += bitHi(i));
    if (!have.has(maskKey(lo, hi))) (have.add(maskKey(lo, hi)), cands.push(grow.make({ loc, glob: [...g].sort(byId), lo, hi })));
  }
}

/** The groups of a window in a topological order of their group graph (ties: smallest first op
 * id, as `executionOrder`, which orders partial plans too); throws when they form a cycle. */
function windowOrder(cost: CostModel, groups: readonly Group[]): Group[] {
  const order = executionOrder(cost.graph, groups.map((g) => [...g].sort(byId)));
  if (!order) throw new Error('window groups form a cycle');
  return order.map((i) => groups[i]);
}

/** The candidate family of a window (any order of its groups; they are put in a topological
 * order first), see extendFamily. */
export function enumerateWindow(cost: CostModel, groupsIn: readonly Group[], maxCandidates: number): WindowFamily {
  const groups = windowOrder(cost, groupsIn);
  let fam = EMPTY_FAMILY;
  for (const g of groups) {
    fam = extendFamily(cost, fam, g, maxCandidates);
    if (!fam.complete) {
      // Over the cap: re-enumerate the whole window level by level so the size bound (and the
      // own groups) apply to the window as a whole, not to the groups appended last.
      return truncatedFamily(cost, groups, maxCandidates);
    }
  }
  return fam;
}

/** Level-by-level enumeration of the whole window at once, cut at the cap (complete = false when
 * cut; the window's own groups are then added). */
function truncatedFamily(cost: CostModel, groups: readonly Group[], maxCandidates: number): WindowFamily {
  // One "group" holding every op grows all parts from all singletons, level by level; the result
  // is then re-indexed in window order so the DP sees the usual local order.
  const all = groups.flat();
  const f = extendFamily(cost, EMPTY_FAMILY, all, maxCandidates, false);
  const ops: number[] = [];
  for (const g of groups) ops.push(...[...g].sort(byId));
  return reindex(cost, f.cands, groups, ops, f.complete, true);
}

/** Rebuilds a family over `ops` (window order) from parts given by their global ops. */
function reindex(cost: CostModel, parts: readonly Cand[], groups: readonly Group[], ops: number[], complete: boolean, addOwn: boolean): WindowFamily {
  const m = ops.length;
  const local = new Map<number, number>();
  for (let i = 0; i < m; i++) local.set(ops[i], i);
  const predLo: number[] = [], predHi: number[] = [];
  for (let i = 0; i < m; i++) {
    let l = 0, h = 0;
    for (const u of cost.graph.pred[ops[i]]) {
      const p = local.get(u);
      if (p !== undefined) (l += bitLo(p), h += bitHi(p));
    }
    predLo.push(l);
    predHi.push(h);
  }
  const cands: Cand[] = [];
  const have = new Set<number>();
  for (const c of parts) addPart(c.ops, c.dram, local, predLo, predHi, have, cands);
  if (addOwn) for (const g of groups) addPart([...g].sort(byId), cost.dram(g), local, predLo, predHi, have, cands);
  return { groups, ops, predLo, predHi, cands, complete };
}

/** reindex's step: the part `g` (global ids) with its local masks, unless an op is outside the
 * window or the set is there already. */
function addPart(g: readonly number[], dram: number, local: Map<number, number>, predLo: readonly number[], predHi: readonly number[], have: Set<number>, cands: Cand[]): void {
  let lo = 0, hi = 0, plo = 0, phi = 0;
  for (const v of g) {
    const i = local.get(v);
    if (i === undefined) return;
    lo += bitLo(i);
    hi += bitHi(i);
    plo = (plo | predLo[i]) >>> 0;
    phi = (phi | predHi[i]) >>> 0;
  }
  if (have.has(maskKey(lo, hi))) return;
  have.add(maskKey(lo, hi));
  cands.push({ ops: g as number[], lo, hi, plo: (plo & ~lo) >>> 0, phi: (phi & ~hi) >>> 0, dram });
}

/**
 * The family of the window without its first group, by filtering a complete family (no
 * cost-model calls). Exact: every connected convex valid part inside the smaller window is one
 * of the larger window's parts (connected through its own edges, convex in the graph) and the
 * other way round.
 */
export function dropFirstGroup(cost: CostModel, fam: WindowFamily): WindowFamily {
  if (!fam.complete) throw new Error('dropFirstGroup: the family is truncated');
  // fam.ops lists the groups' ops in fam.groups order, so the first group's ops come first.
  const groups = fam.groups.slice(1);
  return reindex(cost, fam.cands, groups, fam.ops.slice(fam.groups[0].length), true, false);
}

/**
 * The least-DRAM acyclic partition of a window over its candidate family, by the DP over ideals
 * of the header. Returns the window's own groups when nothing is strictly better, or undefined
 * when `maxWork` (candidate checks, STATE_WORK a state) did not suffice.
 */
export function solveFamily(cost: CostModel, fam: WindowFamily, maxWork: number): { parts: Group[]; dram: number; improved: boolean } | undefined {
  const { ops, predLo, predHi, cands, groups } = fam;
  const m = ops.length;
  // Parts grouped by their lowest local op (the op a part starts at: it must be minimal among the
  // uncovered), in family order within a group; masks in flat typed arrays for the hot loop.
  const start = new Int32Array(m + 1);
  for (const c of cands) start[lowestOp(c) + 1]++;
  for (let u = 0; u < m; u++) start[u + 1] += start[u];
  const fill = start.slice(0, m);
  const n = cands.length;
  const cLo = new Int32Array(n), cHi = new Int32Array(n), cPlo = new Int32Array(n), cPhi = new Int32Array(n);
  const cDram = new Float64Array(n);
  const cIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = cands[i];
    const k = fill[lowestOp(c)]++;
    cLo[k] = c.lo | 0;
    cHi[k] = c.hi | 0;
    cPlo[k] = c.plo | 0;
    cPhi[k] = c.phi | 0;
    cDram[k] = c.dram;
    cIdx[k] = i;
  }
  const pLo = new Int32Array(m), pHi = new Int32Array(m);
  for (let i = 0; i < m; i++) (pLo[i] = predLo[i] | 0, pHi[i] = predHi[i] | 0);
  // Covered sets as int32 pairs; the memo key is the unsigned 53-bit number.
  const fullLo = m >= 32 ? -1 : ((1 << m) >>> 0) - 1;
  const fullHi = m > 32 ? (2 ** (m - 32) - 1) | 0 : 0;
  const dp = new IdealDp(m, start, cLo, cHi, cPlo, cPhi, cDram, pLo, pHi, fullLo | 0, fullHi, maxWork);
  let before = 0;
  for (const g of groups) before += cost.dram(g);
  const total = dp.best(0, 0);
  if (dp.out) return undefined;
  if (!(total < before - 1e-9 * Math.max(1, before))) return { parts: groups.map((g) => [...g]), dram: before, improved: false };
  const parts: Group[] = [];
  for (let lo = 0, hi = 0; !(lo === dp.fullLo && hi === fullHi); ) {
    const k = dp.choice.get(idealKey(lo, hi))!;
    parts.push(cands[cIdx[k]].ops);
    lo |= cLo[k];
    hi |= cHi[k];
  }
  return { parts, dram: total, improved: true };
}

/** The local index of a part's lowest op. */
function lowestOp(c: Cand): number {
  return c.lo ? 31 - Math.clz32(c.lo & -c.lo) : 63 - Math.clz32(c.hi & -c.hi);
}

/** A covered set's memo key: the unsigned 53-bit number of its two int32 words. */
function idealKey(lo: number, hi: number): number {
  return (hi >>> 0) * 4294967296 + (lo >>> 0);
}

/** solveFamily's DP over ideals (see the header). A class with a method rather than a closure
 * inside solveFamily: a closure's optimized code is held weakly by its feedback vector, so after
 * the call's closures die a major GC drops it and the next call's closure is compiled again
 * (`best` was compiled 31 times in one sweep); a method's code lives with the class. */
class IdealDp {
  /** memo: covered set -> least cost to cover the rest; choice: the part that achieves it. Every
   * state is expanded once (no pruning, so memo values are exact). */
  readonly memo = new Map<number, number>();
  readonly choice = new Map<number, number>();
  work = 0;
  out = false;
  constructor(
    private readonly m: number,
    private readonly start: Int32Array,
    private readonly cLo: Int32Array,
    private readonly cHi: Int32Array,
    private readonly cPlo: Int32Array,
    private readonly cPhi: Int32Array,
    private readonly cDram: Float64Array,
    private readonly pLo: Int32Array,
    private readonly pHi: Int32Array,
    readonly fullLo: number,
    readonly fullHi: number,
    private readonly maxWork: number,
  ) {}
  best(lo: number, hi: number): number {
    if (lo === this.fullLo && hi === this.fullHi) return 0;
    const key = idealKey(lo, hi);
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    this.work += STATE_WORK;
    if (this.work > this.maxWork) {
      this.out = true;
      return Infinity;
    }
    const { m, start, cLo, cHi, cPlo, cPhi, cDram, pLo, pHi } = this;
    let b = Infinity;
    let arg = -1;
    for (let u = 0; u < m && !this.out; u++) {
      if ((u < 32 ? (lo >>> u) & 1 : (hi >>> (u - 32)) & 1) === 1) continue;
      if (((pLo[u] & ~lo) | (pHi[u] & ~hi)) !== 0) continue;
      const end = start[u + 1];
      if (this.work + end - start[u] > this.maxWork) {
        this.out = true;
        break;
      }
      this.work += end - start[u];
      for (let k = start[u]; k < end; k++) {
        if (((cLo[k] & lo) | (cHi[k] & hi)) !== 0) continue;
        if (((cPlo[k] & ~lo) | (cPhi[k] & ~hi)) !== 0) continue;
        const v = cDram[k] + this.best(lo | cLo[k], hi | cHi[k]);
        if (v < b) (b = v, arg = k);
      }
    }
    if (this.out) return Infinity;
    this.memo.set(key, b);
    if (arg >= 0) this.choice.set(key, arg);
    return b;
  }
}

/**
 * The optimal re-partition of the ops of `groups` (a window of consecutive groups of an execution
 * order — the caller guarantees that shape, see the header). `exact` is false when the candidate
 * family was truncated by the cap (the result is then the optimum over the complete size levels
 * plus the window's own groups). Undefined when the work limit stopped the DP.
 */
export function solveWindow(cost: CostModel, groups: readonly Group[], opts: { maxCandidates?: number; maxWork?: number } = {}): { parts: Group[]; dram: number; improved: boolean; exact: boolean; candidates: number } | undefined {
  const fam = enumerateWindow(cost, groups, opts.maxCandidates ?? DEFAULTS.maxCandidates);
  const r = solveFamily(cost, fam, opts.maxWork ?? DEFAULTS.maxWork);
  return r && { ...r, exact: fam.complete, candidates: fam.cands.length };
}

/** reoptimizeWindows twice: the default windows, then the widest the DP takes (MAX_KEY_BITS
 * ops) from that result, so the answer is never worse than the first sweep alone. Why the second
 * (GET's final re-grouping, rectifier.ts `finish`): on efficientnet_b0 LBDF int8 256 KiB (1000
 * plans, LS + cuts, seed 0) a search ended at 9.247 fusable MB with its gap in a run of SE
 * blocks that no 48-op window covers; 53-op windows reach the optimum, 9.233. */
export function reoptimizeWindowsWide(cost: CostModel, start: Plan): Plan {
  return reoptimizeWindows(cost, reoptimizeWindows(cost, start), { maxOps: MAX_KEY_BITS });
}

/**
 * Slides windows over the execution order and replaces each window's groups by its optimal
 * re-partition when that lowers DRAM (see the header). From every start position s the window
 * takes as many consecutive groups as fit in `maxOps` ops and `maxCandidates` candidates (a
 * larger window's neighbourhood contains every smaller one's), at least two. Two pointers: the
 * end only moves forward, the family of [s+1 .. e] is that of [s .. e] minus the parts touching
 * group s (dropFirstGroup), and growing the end adds only the parts touching the new group
 * (extendFamily), so each part is enumerated about once per sweep. Windows already solved without
 * gain are not solved again. Sweeps repeat until one finds nothing (or `maxPasses`). Never
 * returns a plan with more DRAM than `start`; deterministic.
 */
export function reoptimizeWindows(cost: CostModel, start: Plan, opts: WindowOptions = {}, stats?: WindowStats): Plan {
  const maxOps = Math.min(MAX_KEY_BITS, Math.max(2, opts.maxOps ?? DEFAULTS.maxOps));
  const maxCandidates = opts.maxCandidates ?? DEFAULTS.maxCandidates;
  const maxWork = opts.maxWork ?? DEFAULTS.maxWork;
  const maxPasses = opts.maxPasses ?? DEFAULTS.maxPasses;
  const st: WindowStats = stats ?? { solved: 0, truncated: 0, skipped: 0, improved: 0, passes: 0 };
  let plan = canonicalPlan(start);
  const done = new Set<string>(); // windows (by their groups) whose groups are optimal, or whose DP ran out of work
  const over = new Set<string>(); // windows (by their groups) whose family passes the cap
  for (let pass = 0; pass < maxPasses; pass++) {
    st.passes++;
    let improvedPass = false;
    let order = executionOrder(cost.graph, plan);
    if (!order) throw new Error('reoptimizeWindows: the start plan has a cycle');
    let fam: WindowFamily | undefined; // family of [s .. e] (complete), carried to s + 1
    // Parts found by the last failed attempt to append group e + 1 that touch none of the groups
    // dropped since: all are parts of [s .. e + 1] too, so while they alone pass the cap the
    // attempt would fail again and is not made (saves re-enumerating up to the cap per start).
    let failed: { e: number; parts: Cand[] } | undefined;
    let e = 0;
    let size = 0; // ops in groups s .. e
    for (let s = 0; s + 1 < order.length; s++) {
      if (fam && e > s) {
        fam = dropFirstGroup(cost, fam);
        size -= plan[order[s - 1]].length;
        if (failed) {
          const gone = new Set(plan[order[s - 1]]);
          failed.parts = failed.parts.filter((c) => !c.ops.some((v) => gone.has(v)));
        }
      } else {
        e = s + 1;
        size = plan[order[s]].length + plan[order[e]].length;
        fam = undefined;
        failed = undefined;
        if (size > maxOps) continue; // two groups already over the op limit: no window here
        // Built in execution order (not via enumerateWindow's own ordering), so that the first
        // group of the family is group s when it is carried to s + 1.
        fam = extendFamily(cost, extendFamily(cost, EMPTY_FAMILY, plan[order[s]], maxCandidates), plan[order[e]], maxCandidates);
        if (!fam.complete) fam = truncatedFamily(cost, [plan[order[s]], plan[order[e]]], maxCandidates);
      }
      // Grow while the next group fits in ops and candidates.
      while (fam.complete && e + 1 < order.length && size + plan[order[e + 1]].length <= maxOps) {
        if (failed?.e === e + 1 && failed.parts.length > maxCandidates) break;
        const key = planKey([...fam.groups, plan[order[e + 1]]]);
        if (over.has(key)) break;
        const next = extendFamily(cost, fam, plan[order[e + 1]], maxCandidates);
        if (!next.complete) {
          over.add(key);
          failed = { e: e + 1, parts: next.cands };
          break;
        }
        fam = next;
        failed = undefined;
        size += plan[order[++e]].length;
      }
      const key = planKey(fam.groups as Group[]);
      if (done.has(key)) continue;
      const r = solveFamily(cost, fam, maxWork);
      if (!r) {
        // The DP ran out of work: the same window would again (same family, same limit).
        st.skipped++;
        done.add(key);
        continue;
      }
      if (fam.complete) st.solved++;
      else st.truncated++;
      if (!r.improved) {
        done.add(key);
        if (!fam.complete) fam = undefined; // a truncated family cannot be carried over
        continue;
      }
      st.improved++;
      improvedPass = true;
      const inWin = new Set(order.slice(s, e + 1));
      plan = canonicalPlan([...plan.filter((_, i) => !inWin.has(i)), ...r.parts]);
      order = executionOrder(cost.graph, plan)!;
      fam = undefined; // the groups after s changed: start afresh at s + 1
    }
    if (!improvedPass) break;
  }
  return plan;
}
