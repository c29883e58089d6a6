/**
 * "Do not explain what cannot matter": a lower bound on the DRAM of whatever plan the
 * rectification of a plan can produce, so that a search skips the explainer (GET) on a plan
 * that cannot change its outcome. Hand-written: the bound is a property of dnnfuse's own LBDF
 * cost model, no library knows it.
 *
 * The plan P (groups, some invalid) becomes Q: each invalid group G is replaced by valid parts
 * (any partition of G: GET's split, the random split, a fallback), then GET's plan-level merge
 * (rectifier.ts `settle`: merge-back.ts mergeIntoPlan, refine.ts mergeWindowsAround) merges
 * produced parts with neighbouring groups while the union is valid, and may re-cut the parts. `settle` can undo cuts between P's groups, so
 * "F_D of P as if its groups were valid" is NOT a bound (measured: MobileNetV2 LBDF int8 128 KiB,
 * RS + cuts, 572 of 956 plans ended below it). The bound used here:
 *
 * 1. A memory floor m(F) <= F_beta(F) that is monotone in F (F ⊆ F' => m(F) <= m(F')): the
 *    resident weights plus one line-buffer window per map a member consumes,
 *    min(max over consumers c in F of (K_eff(c) - 1 + s(c)), H) rows (lbdf.ts: the weights are
 *    resident; every consumed map holds at least that line buffer, a full map (global consumer)
 *    holds all H rows, skip buffers only add). Weights grow with F; the set of consumed maps and
 *    the max over consumers grow with F. So a valid group F of two or more ops (F_beta(F) <= beta)
 *    has m(F) <= beta, and so has every subset of F (monotone).
 * 2. Q refines the coarsening P~ of P obtained by joining, for every edge u -> v between two
 *    groups X ∋ u, Y ∋ v of P, X and Y when m(X' ∪ Y') <= beta, where X' = X if X is valid (valid
 *    groups are never split, and a settle merge takes whole groups) and X' = {u} if X is invalid
 *    (some part of X contains u). Proof: a group F of Q is either inside one group of P or was
 *    built by settle merges of whole groups of the split plan, so it is valid, weakly connected,
 *    and for every edge u -> v inside F between different groups X, Y of P it contains X' ∪ Y';
 *    hence m(X' ∪ Y') <= m(F) <= beta and X, Y are joined in P~. F is connected through such
 *    edges (and through edges inside one group of P), so all of F lies in one group of P~.
 * 2'. Tighter, used first (joinByPaths): a group of Q spanning several groups of P holds a part of
 *    an invalid group, and every valid group it touches lies on a path of groups inside it from
 *    such a part, so joins follow paths whose whole union keeps m within beta (see there); and
 *    components without an invalid group keep P's groups. Lazy rectification (rectifyLazily)
 *    takes the bound on a plan where some invalid groups are already replaced by their parts:
 *    settle may merge those parts and cut them again (rectifier.ts windowMerge re-partitions the
 *    produced parts' ops), so they count as pieces of invalid groups, X' = {u} (`produced`).
 * 3. LBDF's F_D is subadditive: F_D(A ∪ B) <= F_D(A) + F_D(B) for disjoint A, B (a tensor read
 *    by A ∪ B from outside is read by A or B from outside, once per group; a tensor written by
 *    A ∪ B has a consumer outside it, so outside its producer's part; weights are additive). So
 *    DRAM(Q) >= DRAM(P~), computed "as if valid". Every figure is an integer number of bytes
 *    below 2^53, so the sums are exact and the comparison needs no tolerance.
 *
 * 4. Per map, tighter than P~ where a consumer cannot share its producer's group of Q: two valid
 *    groups X, Y of P (kept whole) lie in one group F of Q only if they follow each other on a
 *    path of point 2' whose floor fits (the shortest path inside F from an op of a loose group
 *    to X or Y, extended by the other, is such a path), so joinByPaths records those pairs; an
 *    op of a loose group and X (or two such ops) only if the floor of their union fits. A map
 *    with such a consumer is written and read by another group: counted although P~ joins them.
 * 5. Set packing (packSets): a component of P~ is counted as one group, but Q may need to cut it
 *    many times; each tree of maps whose nodes' floor exceeds beta must have one map cut, and
 *    trees with distinct maps add up. On MobileNetV2 LBDF int8 128 KiB (RS + cuts, seed 0) P~
 *    joins 124 of the 152 ops into one component and points 1-3 left the bound about 28% below the
 *    settled DRAM; with 4-5 about 13%, and 144 instead of 277 plans are settled (same result).
 *
 * Without the plan-level merge (a rectifier with no `settle`: GET's default, and 'none'), Q
 * refines P: every group of Q lies inside one group of P. Then P~ = P (no joins: points 2 and 2'
 * are skipped), two ops of different groups of P never share a group of Q (point 4 counts every
 * map crossing P's groups), and the parts of groups already answered are final groups, not
 * loose ops (`produced` is ignored). Tighter, so more plans are pruned; the same proofs apply.
 *
 * BRR re-fetches shared weights per weight sub-group, so its F_D is not shown subadditive here:
 * no bound (`undefined`), no pruning. Custom cost models likewise.
 *
 * What each search may skip, exactly (same plans generated, same result; see heuristics.ts):
 * - random search keeps only the best plan: a plan whose bound exceeds the incumbent's DRAM can
 *   never become the best (ties go to the smaller plan key, hence the strict comparison);
 * - local search offers the child to its top-K population: once the population is full, a child
 *   above the worst member's DRAM is rejected and is not a new best;
 * - NSGA-II keeps children by Pareto rank over (DRAM, peak buffer use); splitting lowers the peak
 *   arbitrarily, so no DRAM bound decides a child's fate: nothing is skipped there.
 */
import type { CostModel, Group, Rectifier } from '../fusion/types.ts';
import { LbdfCostModel } from '../fusion/lbdf.ts';
import { mapRows } from '../fusion/cost-base.ts';
import { applyRectifier, checkSplit, randomSplit, type PlanAwareRectifier, type RectifyStats } from '../fusion/rectify.ts';
import type { Rng } from '../util/random.ts';
import { planDram } from '../fusion/plan.ts';
import { groupKey, sortedGroup } from '../fusion/groups.ts';

/** Per cost model: reusable scratch arrays. */
const scratch = new WeakMap<CostModel, { mark: Int32Array; tmark: Int32Array; trows: Int32Array; gen: number }>();

function scratchOf(cost: CostModel) {
  let s = scratch.get(cost);
  if (!s) scratch.set(cost, (s = { mark: new Int32Array(cost.graph.ops.length), tmark: new Int32Array(cost.graph.tensors.length), trows: new Int32Array(cost.graph.tensors.length), gen: 0 }));
  if (s.gen > 0x7ffffff0) (s.mark.fill(0), s.tmark.fill(0), (s.gen = 0));
  return s;
}

/** m(F): the monotone memory floor of point 1 of the header, in bytes (LBDF only). */
export function lbdfMemoryFloor(cost: LbdfCostModel, group: Group): number {
  const { ops, tensors } = cost.graph;
  const b = cost.elementBytes;
  const s = scratchOf(cost);
  const gen = ++s.gen;
  let bytes = 0;
  for (const id of group) bytes += ops[id].weightElements * b;
  for (const id of group) {
    const r = cost.windowRows(id);
    for (const t of ops[id].inputs) {
      if (s.tmark[t] !== gen) (s.tmark[t] = gen), (s.trows[t] = r);
      else if (r > s.trows[t]) s.trows[t] = r;
    }
  }
  for (const id of group) for (const t of ops[id].inputs) {
    if (s.tmark[t] !== gen) continue;
    s.tmark[t] = 0; // counted
    const T = tensors[t];
    const H = mapRows(T);
    bytes += Math.min(s.trows[t], H) * (T.elements / H) * b;
  }
  return bytes;
}

/** Does the bound apply to this cost model (LBDF, see the header)? */
export function prunable(cost: CostModel): cost is LbdfCostModel {
  return cost instanceof LbdfCostModel;
}

/** Options of rectifiedDramLowerBound. */
export interface BoundOptions {
  /** Points 4 and 5 of the header on top of P~ (default true; false: the bound of points 1-3
   * alone, for tests and measurements). */
  tight?: boolean;
  /** The caller only asks whether the bound exceeds this: the set packing stops as soon as it
   * does (the value returned is then still a lower bound, above `above`, not the full bound). */
  above?: number;
  /** Does the rectification merge parts across the plan's groups (a rectifier with `settle`)?
   * Default true; false: the rectified plan refines `plan` (see the header), a tighter bound. */
  settles?: boolean;
}

/**
 * The lower bound of the header on the DRAM of any plan the rectification (with GET's plan-level
 * merge) can make of `plan`, or undefined when the cost model has no proven bound. A plan
 * without invalid groups returns its own DRAM.
 */
export function rectifiedDramLowerBound(cost: CostModel, plan: readonly Group[], produced?: ReadonlySet<number>, opts: BoundOptions = {}): number | undefined {
  const tight = opts.tight ?? true;
  if (!prunable(cost)) return undefined;
  const settles = opts.settles ?? true;
  if (!settles) return refiningBound(cost, plan, tight, opts.above);
  const { ops, tensors, succ } = cost.graph;
  // (comp below numbers P~'s groups by a group index of P: a root of P~ or P's own index)
  const n = ops.length;
  const owner = new Int32Array(n).fill(-1);
  plan.forEach((g, i) => g.forEach((v) => (owner[v] = i)));
  const valid = plan.map((g) => g.length <= 1 || cost.valid(g));
  // union-find over P's groups (P~)
  const parent = Int32Array.from(plan, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]];
    return x;
  };
  const beta = cost.bufferBytes;
  // pairs of valid groups (X * len + Y, both orders) that follow each other on a path whose
  // floor fits (joinByPaths): only such neighbours can share a group of Q (point 4)
  let witness: Set<number> | undefined = tight ? new Set<number>() : undefined;
  if (!joinByPaths(cost, plan, owner, valid, parent, find, beta, produced, witness)) {
    witness = undefined; // (no witnesses: every pair of valid groups in one component may join)
    // too many paths to follow: the pairwise rule (point 2 of the header), coarser but sound
    parent.forEach((_, i) => (parent[i] = i));
    const tried = new Set<number>(); // pairs of valid groups already tested (X * len + Y)
    for (let u = 0; u < n; u++) for (const v of succ[u]) {
      const X = owner[u], Y = owner[v];
      if (X < 0 || Y < 0 || X === Y) continue;
      const rx = find(X), ry = find(Y);
      if (rx === ry) continue;
      if (valid[X] && valid[Y] && !produced?.has(X) && !produced?.has(Y)) {
        const k = X * plan.length + Y;
        if (tried.has(k)) continue;
        tried.add(k);
      }
      const a = valid[X] && !produced?.has(X) ? plan[X] : [u];
      const b = valid[Y] && !produced?.has(Y) ? plan[Y] : [v];
      if (lbdfMemoryFloor(cost, [...a, ...b]) <= beta) parent[rx] = ry;
    }
  }
  // DRAM of P~ as if valid (lbdf.ts / cost-base.ts F_D summed over P~'s groups): weights once,
  // each map read once per consuming group other than its producer's, written when it leaves.
  // A group of Q spanning two or more groups of P was built by settle from a part of an invalid
  // group, so only the joined components that hold an invalid group merge; the others keep P's
  // groups (a group of Q inside them is one of P's valid groups, never touched).
  const hasInvalid = new Uint8Array(plan.length);
  plan.forEach((_, i) => { if (!valid[i] || produced?.has(i)) hasInvalid[find(i)] = 1; });
  const comp = new Int32Array(n).fill(-1);
  for (let v = 0; v < n; v++) if (owner[v] >= 0) {
    const r = find(owner[v]);
    comp[v] = hasInvalid[r] ? r : owner[v];
  }
  const b = cost.elementBytes;
  let total = 0;
  for (const op of ops) total += op.weightElements * b;
  const seen: number[] = [];
  const loose = (i: number) => !valid[i] || produced?.has(i) === true;
  const pairFloor = new Map<number, boolean>();
  /** Can ops p and c (p != c, in the same component of P~) share a group of Q (point 4)? */
  const together = (p: number, c: number): boolean => {
    const X = owner[p], Y = owner[c];
    if (X === Y && !loose(X)) return true; // one valid group: kept whole
    if (!loose(X) && !loose(Y)) return witness === undefined || witness.has(X * plan.length + Y);
    const k = p * n + c;
    let ok = pairFloor.get(k);
    if (ok === undefined) {
      const a = loose(X) ? [p] : plan[X];
      const bb = loose(Y) ? [c] : plan[Y];
      ok = lbdfMemoryFloor(cost, X === Y ? [p, c] : [...a, ...bb]) <= beta;
      pairFloor.set(k, ok);
    }
    return ok;
  };
  const packT: number[] = []; // maps the packing may find cut (point 5)
  for (let t = 0; t < tensors.length; t++) {
    const T = tensors[t];
    if (T.consumers.length === 0 && T.producer < 0) continue;
    const gp = T.producer >= 0 ? comp[T.producer] : -2;
    seen.length = 0;
    let leaves = T.producer >= 0 && (T.graphOutput === true || T.consumers.length === 0);
    let apart = false; // a consumer in the producer's component that cannot share its group
    for (const c of T.consumers) {
      const gc = comp[c];
      if (gc === gp) {
        if (tight && !apart && c !== T.producer && !together(T.producer, c)) apart = true;
        continue;
      }
      leaves = true;
      if (!seen.includes(gc)) seen.push(gc);
    }
    if (apart) leaves = true;
    total += (seen.length + (apart ? 1 : 0)) * T.elements * b;
    // a map so far free inside a component of P~ holding an invalid group: a group of Q may
    // still have to cut it (point 5)
    if (tight && !leaves && seen.length === 0 && T.producer >= 0 && hasInvalid[gp]) packT.push(t);
    if (leaves && T.producer >= 0) total += T.elements * b;
  }
  const nodeOf = (v: number) => (loose(owner[v]) ? plan.length + v : owner[v]);
  if (packT.length && !(total > (opts.above ?? Infinity))) total += packSets(cost, plan, nodeOf, packT, beta, (opts.above ?? Infinity) - total);
  return total;
}

/**
 * The bound without settle (the rectified plan refines `plan`, see the header), group by group:
 * every map crossing P's groups is counted by their F_D, and what points 4-5 add lies inside one
 * invalid group (a map counted apart has its producer and consumer there; a packing tree links
 * ops of one group by maps inside it), so the bound is the sum over P's groups of F_D (memoized
 * by the cost model) and, for an invalid group, `insideExtra` (cached per group: ~30% of the
 * invalid groups of random plans are distinct). The same figure as the general path gave
 * (14,400 random plans of eight networks at three buffer/width settings, when this replaced it);
 * `above`: stops once the sum exceeds it.
 */
function refiningBound(cost: LbdfCostModel, plan: readonly Group[], tight: boolean, above = Infinity): number {
  let total = 0;
  for (const g of plan) total += cost.dram(g);
  if (!tight) return total;
  for (const g of plan) {
    if (total > above) break;
    if (g.length > 1 && !cost.valid(g)) total += insideExtra(cost, g);
  }
  return total;
}

/** What points 4-5 of the header add inside an invalid group G of a plan the rectification
 * refines: a map with a consumer in G that cannot share its producer's part (their floor exceeds
 * beta) is read once more, and written if nothing else makes it leave; then the set packing over
 * the maps still free inside G, each op a node. Cached per cost model and group. */
function insideExtra(cost: LbdfCostModel, group: Group): number {
  let cache = insideCache.get(cost);
  if (!cache) insideCache.set(cost, (cache = new Map()));
  const sorted = sortedGroup(group);
  const key = groupKey(sorted);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const { ops, tensors } = cost.graph;
  const b = cost.elementBytes;
  const beta = cost.bufferBytes;
  const inG = new Set(sorted);
  const produced: number[] = [];
  for (const p of sorted) produced.push(...ops[p].outputs);
  produced.sort((x, y) => x - y);
  let extra = 0;
  const packT: number[] = [];
  for (const t of produced) {
    const T = tensors[t];
    const p = T.producer;
    let leaves = T.graphOutput === true || T.consumers.length === 0;
    let apart = false;
    for (const c of T.consumers) {
      if (!inG.has(c)) leaves = true;
      else if (!apart && c !== p && lbdfMemoryFloor(cost, [p, c]) > beta) apart = true;
    }
    if (apart) extra += (leaves ? 1 : 2) * T.elements * b;
    else if (!leaves) packT.push(t);
  }
  if (packT.length) extra += packSets(cost, [], (v) => v, packT, beta, Infinity);
  if (cache.size >= INSIDE_CACHE_MAX) cache.clear();
  cache.set(key, extra);
  return extra;
}

const insideCache = new WeakMap<CostModel, Map<string, number>>();
/** Groups insideExtra keeps per cost model before it starts again (~30 bytes of key per op). */
const INSIDE_CACHE_MAX = 1 << 16;

/**
 * Point 5 of the header (set packing): the maps that the bound so far counts as free (producer
 * and every consumer in one component of P~ that holds an invalid group). Contract every group
 * of P that Q keeps whole (valid, not produced) to one node; every op of a loose group is a node
 * of its own (`nodeOf`: a whole group is its index in `plan`, an op v is plan.length + v).
 * Nodes S (two or more) joined by a tree of such maps, whose ops' memory floor exceeds beta,
 * cannot all lie in one group of Q (it would hold two or more ops: F_beta >= floor > beta), so
 * one map of the tree has a consumer outside its producer's group of Q (were none cut, the tree
 * would keep S in one group): that map is written and read once more, 2 x its bytes. Trees
 * using distinct maps each add their cheapest map. Sound for any choice of trees; the greedy
 * here grows each tree from its smallest node, each time by the neighbour that raises the floor
 * most (heavy soonest: small trees leave maps for others). Deterministic.
 */
function packSets(cost: LbdfCostModel, plan: readonly Group[], nodeOf: (v: number) => number, packT: number[], beta: number, enough: number): number {
  const { tensors } = cost.graph;
  const G = plan.length;
  const b = cost.elementBytes;
  const adj = new Map<number, [number, number][]>(); // node -> [neighbour node, map's index in packT]
  const link = (x: number, y: number, e: number) => {
    let l = adj.get(x);
    if (!l) adj.set(x, (l = []));
    l.push([y, e]);
  };
  const extraOf = packT.map((t) => 2 * tensors[t].elements * b);
  packT.forEach((t, e) => {
    const T = tensors[t];
    const x = nodeOf(T.producer);
    for (const c of T.consumers) {
      const y = nodeOf(c);
      if (y !== x) (link(x, y, e), link(y, x, e));
    }
  });
  // the floor of a growing set, kept incrementally: weights, and per consumed map the most rows
  // a member's window needs (the same sum as lbdfMemoryFloor, one node at a time); a loose op's
  // profile is the cost model's (opProfiles), a whole group's is made here
  const ownProfiles = opProfiles(cost);
  const groupProfiles = new Map<number, Profile>();
  const profileOf = (x: number): Profile => {
    if (x >= G) return ownProfiles[x - G];
    let p = groupProfiles.get(x);
    if (!p) groupProfiles.set(x, (p = profileOfOps(cost, plan[x])));
    return p;
  };
  const lines = (t: number, r: number) => Math.min(r, mapRows(tensors[t])) * (tensors[t].elements / mapRows(tensors[t])) * b;
  // rows held by the set per map (valid where heldGen is the set's generation, a new one per
  // tree: scratchOf resets the marks before the counter could overflow)
  const { trows: heldRows, tmark: heldGen } = scratchOf(cost);
  let setGen = 0;
  const gain = (x: number) => {
    const p = profileOf(x);
    let d = p.w;
    for (let i = 0; i < p.ts.length; i++) {
      const t = p.ts[i], r = p.rs[i];
      if (heldGen[t] !== setGen) d += lines(t, r);
      else if (r > heldRows[t]) d += lines(t, r) - lines(t, heldRows[t]);
    }
    return d;
  };
  const take = (x: number) => {
    const p = profileOf(x);
    for (let i = 0; i < p.ts.length; i++) {
      const t = p.ts[i], r = p.rs[i];
      if (heldGen[t] !== setGen) (heldGen[t] = setGen), (heldRows[t] = r);
      else if (r > heldRows[t]) heldRows[t] = r;
    }
  };
  const used = new Uint8Array(packT.length);
  let extra = 0;
  const starts = [...adj.keys()].sort((x, y) => x - y);
  // cost levels, most expensive first: trees are first built from expensive maps only (a tree
  // adds its cheapest map), then cheaper maps may join
  const levels = [...new Set(extraOf.map((x) => 2 ** Math.floor(Math.log2(x))))].sort((x, y) => y - x);
  const dead = new Set<number>();
  // A tree grows by the neighbour of the set that raises the floor most; ties go to the neighbour
  // met first when scanning the set's members in the order they joined, each one's links in
  // order. The frontier keeps each neighbour with the position and map of its first meeting
  // (fixed once met: members only join, and no map is used while a tree grows).
  const frontier = new Map<number, { pos: number; e: number }>();
  for (const theta of levels) {
    // a growth that ends without exceeding beta took every node reachable over unused maps of
    // this level: no subset of them exceeds it either (monotone floor), so none starts a tree
    dead.clear();
    for (const s of starts) for (;;) {
      if (dead.has(s) || !adj.get(s)!.some(([, e]) => !used[e] && extraOf[e] >= theta)) break;
      const inSet = new Set<number>();
      frontier.clear();
      let joined = 0;
      const join = (y: number) => {
        inSet.add(y);
        frontier.delete(y);
        const l = adj.get(y)!;
        for (let j = 0; j < l.length; j++) {
          const [x, e] = l[j];
          if (used[e] || inSet.has(x) || extraOf[e] < theta || frontier.has(x)) continue;
          frontier.set(x, { pos: joined * 0x100000 + j, e });
        }
        joined++;
      };
      setGen = ++scratchOf(cost).gen;
      let floor = gain(s);
      take(s);
      join(s);
      const edges: number[] = [];
      let heavy = false;
      while (!heavy) {
        let best = -1, bestG = -1, bestE = -1, bestPos = Infinity;
        for (const [x, f] of frontier) {
          const g = gain(x);
          if (g > bestG || (g === bestG && f.pos < bestPos)) (best = x, bestG = g, bestE = f.e, bestPos = f.pos);
        }
        if (best < 0) break;
        edges.push(bestE);
        take(best);
        join(best);
        floor += bestG;
        heavy = floor > beta;
      }
      if (!heavy) {
        for (const x of inSet) dead.add(x);
        break;
      }
      let m = Infinity;
      for (const e of edges) (used[e] = 1), (m = Math.min(m, extraOf[e]));
      extra += m;
      if (extra > enough) return extra;
    }
  }
  return extra;
}

/** A node's share of the memory floor: its weights' bytes, and the maps its ops consume with
 * the most rows a window of theirs needs (first-met order). */
interface Profile {
  w: number;
  ts: Int32Array;
  rs: Int32Array;
}

function profileOfOps(cost: LbdfCostModel, members: readonly number[]): Profile {
  const { ops } = cost.graph;
  let w = 0;
  const rows = new Map<number, number>();
  for (const id of members) {
    w += ops[id].weightElements * cost.elementBytes;
    const r = cost.windowRows(id);
    for (const t of ops[id].inputs) if (r > (rows.get(t) ?? -1)) rows.set(t, r);
  }
  return { w, ts: Int32Array.from(rows.keys()), rs: Int32Array.from(rows.values()) };
}

/** Every op's profile, per cost model (a loose op is a node of its own in every packing). */
const opProfileCache = new WeakMap<CostModel, Profile[]>();
function opProfiles(cost: LbdfCostModel): Profile[] {
  let p = opProfileCache.get(cost);
  if (!p) opProfileCache.set(cost, (p = cost.graph.ops.map((_, id) => profileOfOps(cost, [id]))));
  return p;
}

/** Most path states joinByPaths follows per plan before it gives up (then the pairwise rule). */
const MAX_PATH_STATES = 20000;

/**
 * The tighter join of P~ (header, point 2'): a group F of Q that spans several groups of P holds
 * a part of an invalid group, and every valid group Z it touches is linked to one such part by a
 * path of groups inside F: u (an op of an invalid group G, in F) - Y1 - ... - Z with Y1..Z valid
 * (take the shortest path from any invalid group F touches). F holds each Yi whole, so
 * m({u} ∪ Y1 ∪ ... ∪ Z) <= m(F) <= beta. So Z is joined to G when some such path has a floor within
 * beta (followed exhaustively, simple paths from every op of every invalid group), and two groups
 * are joined when one such path (or an edge, for two invalid groups: m({u, v}) <= beta) links them.
 * Every group F touches is then in G's component. Returns false when the paths exceed
 * MAX_PATH_STATES (the caller then uses the pairwise rule).
 */
function joinByPaths(cost: LbdfCostModel, plan: readonly Group[], owner: Int32Array, valid: boolean[], parent: Int32Array, find: (x: number) => number, beta: number, produced?: ReadonlySet<number>, witness?: Set<number>): boolean {
  const { succ, pred } = cost.graph;
  /** Neighbouring groups of group i with the op of that group on the edge: [op, group]. */
  const nbrs = (i: number): [number, number][] => {
    const out: [number, number][] = [];
    for (const x of plan[i]) for (const list of [succ[x], pred[x]]) for (const y of list) {
      const j = owner[y];
      if (j >= 0 && j !== i) out.push([y, j]);
    }
    return out;
  };
  const nb = new Map<number, [number, number][]>();
  const nbOf = (i: number) => {
    let l = nb.get(i);
    if (!l) nb.set(i, (l = nbrs(i)));
    return l;
  };
  const union = (a: number, b: number) => {
    const ra = find(a), rb = find(b);
    if (ra !== rb) parent[ra] = rb;
  };
  // Parts already produced (lazy rectification, see rectifyLazily) are pieces of invalid groups:
  // settle may merge them and re-cut them (rectifier.ts windowMerge), so they join like invalid
  // groups, from single ops.
  const loose = (j: number) => !valid[j] || produced?.has(j) === true;
  let states = 0;
  const onPath = new Set<number>();
  // The path from g0 through `ops` extended by the valid group j, when its floor fits: joined,
  // then walked on. False when the state budget ran out.
  const extend = (g0: number, ops: number[], last: number, j: number): boolean => {
    if (++states > MAX_PATH_STATES) return false;
    const next = [...ops, ...plan[j]];
    if (lbdfMemoryFloor(cost, next) > beta) return true;
    union(g0, j);
    if (witness && last !== g0) witness.add(last * plan.length + j).add(j * plan.length + last);
    onPath.add(j);
    const ok = walk(g0, next, j);
    onPath.delete(j);
    return ok;
  };
  const walk = (g0: number, ops: number[], last: number): boolean => {
    for (const [, j] of nbOf(last)) {
      if (onPath.has(j) || j === g0) continue;
      if (loose(j)) {
        union(g0, j); // another invalid group: joined (coarser, sound)
        continue;
      }
      if (!extend(g0, ops, last, j)) return false;
    }
    return true;
  };
  for (let g = 0; g < plan.length; g++) {
    if (!loose(g)) continue;
    for (const x of plan[g]) for (const list of [succ[x], pred[x]]) for (const y of list) {
      const j = owner[y];
      if (j < 0 || j === g) continue;
      if (loose(j)) {
        if (lbdfMemoryFloor(cost, [x, y]) <= beta) union(g, j);
        continue;
      }
      if (!extend(g, [x], g, j)) return false;
    }
  }
  return true;
}

/**
 * applyRectifier for a plan the search keeps only if its DRAM is at most `cutoff`: when the
 * bound exceeds `cutoff`, every invalid group not yet answered gets the rectifier's cheap
 * `skip` answer and the plan is not settled; otherwise every group is answered (those whose
 * answer costs no explanation first: the rectifier's `cheap`, a cached answer or a proven
 * optimum; then the largest first) and the plan is settled.
 * When the bound is taken. Never while the plan with every group not yet answered split as `skip`
 * splits it costs at most `cutoff` (a rectification: no lower bound exceeds it). Without `settle`
 * (GET's default), on the plan as searched and then before every group that needs an explanation
 * (not before free answers, `cheap`: pruning there saves nothing): the groups answered so far count
 * as the final groups their parts are, so each answer replaces a lower bound by an exact figure
 * (efficientnet_b0 LBDF int8 256 KiB, RS + cuts, seed 0: 990 -> 609 groups answered, 1,155 -> 894
 * explanations, the same plan), and then also every group not yet answered as its proven optimum's
 * parts, when the rectifier knows one (`optimum`; any answer costs at least as much: 894 -> 306
 * explanations there). With `settle`, once, on the plan as searched: there parts count as loose ops
 * just like the invalid group they came from, so a later bound did not move (MobileNetV2 LBDF int8
 * 128 KiB, RS + cuts with plan merge, 2,200 plans: 870 plans pruned by the first bound, none by a
 * later one). Pruning stays exact whenever it is tried (see search/heuristics.ts), so when it is
 * tried changes the statistics only. `boundFree` false: a plan whose every invalid group is
 * answered for free (`cheap`; without settle) is answered without a bound, as pruning it would save
 * only those answers: for a search whose plans are one edit from plans already rectified, where the
 * bound rarely prunes (local search's children, see searchLocal); random plans are pruned often
 * enough that the skipped answers pay for the bounds. Exact: the guard's random split of every
 * invalid group is drawn first, in plan order, each from a clone of the stream at its turn
 * (`rectify` and `skip` draw exactly that one split, so the stream ends where applyRectifier leaves
 * it), and the rectifier's answers do not depend on the order in which groups are asked (its caches
 * are pure functions of the group; the recurrence count is per group; SPLIT's memo is
 * order-independent, split.ts). So a plan that is not pruned is exactly applyRectifier's, parts in
 * the same order, settled the same way.
 */
export function rectifyLazily(plan: Group[], cost: CostModel, rectifier: Rectifier, rng: Rng, stats: RectifyStats, cutoff: number, boundFree = true): Group[] {
  const { skip, settle, cheap, optimum } = rectifier as PlanAwareRectifier;
  const invalid: number[] = [];
  plan.forEach((g, i) => { if (g.length > 1 && !cost.valid(g)) invalid.push(i); });
  if (!invalid.length || !skip || !prunable(cost)) return applyRectifier0(plan, cost, rectifier, rng, stats);
  // `boundFree` false: a plan whose every answer is free (no new explanation) is not bounded
  // (without settle a pruned plan would skip only those answers)
  if (!boundFree && !settle && cheap && invalid.every((i) => cheap(plan[i], cost))) return applyRectifier0(plan, cost, rectifier, rng, stats);
  const streams = new Map<number, Rng>();
  // The DRAM of the plan with every group not yet answered split as `skip` would split it (the
  // guard's random split, drawn here): a rectification's DRAM, so no lower bound exceeds it, and
  // while it is at most `cutoff` no bound is taken (none could prune). Answers lower it (the
  // guard: never above the random split).
  let upper = 0;
  const drawn = new Map<number, number>();
  for (const i of invalid) {
    streams.set(i, rng.clone());
    const d = planDram(cost, randomSplit([...plan[i]].sort((a, b) => a - b), cost, rng));
    drawn.set(i, d);
    upper += d;
  }
  plan.forEach((g, i) => { if (!drawn.has(i)) upper += cost.dram(g); });
  const bound = (groups: Group[], made?: number[]) => rectifiedDramLowerBound(cost, groups, made && new Set(made), { above: cutoff, settles: settle !== undefined });
  const answers = new Map<number, Group[]>();
  const order = [...invalid].sort((a, b) => plan[b].length - plan[a].length || a - b);
  stats.invalid += invalid.length;
  for (let k = 0; ; k++) {
    const cur: Group[] = [];
    const produced: number[] = [];
    for (let i = 0; i < plan.length; i++) {
      const a = answers.get(i);
      if (a) for (const p of a) produced.push(cur.push(p) - 1);
      else cur.push(plan[i]);
    }
    if (k === order.length) {
      stats.rectified += invalid.length;
      return settle ? settle(cur, produced, cost) : cur;
    }
    // first, the plan as searched (with settle the only bound taken: there answers do not
    // tighten it, see the doc above)
    const may = upper > cutoff; // can a bound prune at all (see `upper`)?
    let lb = k === 0 && may ? bound(cur, produced) : undefined;
    let next = -1; // order[k] after the choice below: needs no new explanation (`cheap`)
    if (!(lb !== undefined && lb > cutoff)) {
      // next: the largest group whose answer needs no new explanation (free, and it tightens the
      // bound before any explanation), else the largest (order[k..] is sorted largest first)
      if (cheap) {
        next = order.findIndex((x, q) => q >= k && cheap(plan[x], cost));
        if (next > k) order.splice(k, 0, order.splice(next, 1)[0]);
      }
      // without settle, before each group that needs an explanation (pruning before a free
      // answer saves nothing): the groups answered so far as the final groups their parts are,
      // then also the others as their proven optima's parts (any answer costs at least as much)
      if (!settle && next < k && may) {
        if (k > 0) lb = bound(cur);
        if (optimum && lb !== undefined && !(lb > cutoff)) {
          // The bound is a sum over groups (refiningBound): a group not yet answered counts its
          // share (F_D and what points 4-5 add inside it), and its proven optimum's DRAM lies
          // between that share and its drawn random split's (a rectification of it). Optima
          // (a segment DP each past the window DP's size) are taken, most room first, until the
          // bound exceeds the cutoff (pruned) or no longer could (every group left at its random
          // split's DRAM stays within it): the decision every optimum would give, with fewer DPs
          // (efficientnet_b0 LBDF int8 256 KiB RS + pg, seeds 0-2 and a warm-up: 609 -> 486 DPs).
          const lbdf = cost as LbdfCostModel;
          const open = [...drawn.keys()].filter((i) => !answers.has(i)).map((i) => ({ i, share: lbdf.dram(plan[i]) + insideExtra(lbdf, plan[i]) }));
          open.sort((x, y) => drawn.get(y.i)! - y.share - (drawn.get(x.i)! - x.share) || x.i - y.i);
          let lo = lb;
          let hi = upper;
          for (const { i, share } of open) {
            if (lo > cutoff || hi <= cutoff) break;
            const o = optimum(plan[i], cost);
            if (!o) continue;
            const d = planDram(cost, o);
            lo += d - share;
            hi += d - drawn.get(i)!;
          }
          if (lo > cutoff) stats.prunedByOptimum = (stats.prunedByOptimum ?? 0) + 1;
          lb = lo;
        }
      }
    }
    if (lb !== undefined && lb > cutoff) {
      stats.pruned = (stats.pruned ?? 0) + 1;
      if (k > 0) stats.prunedLate = (stats.prunedLate ?? 0) + 1;
      stats.rectified += invalid.length;
      const out: Group[] = [];
      for (let i = 0; i < plan.length; i++) {
        if (answers.has(i)) out.push(...answers.get(i)!);
        else if (streams.has(i)) out.push(...skip(plan[i], cost, streams.get(i)!).map((p) => [...p].sort((a, b) => a - b)));
        else out.push(plan[i]);
      }
      return out;
    }
    const i = order[k];
    const g = plan[i];
    let parts: Group[] = rectifier(g, cost, streams.get(i)!).map((p) => [...p].sort((a, b) => a - b));
    // never expected with GET's guard (its answer is checked); applyRectifier draws this
    // fallback at the group's turn, here after all the guard's draws
    if (checkSplit(cost.graph, cost, g, parts)) parts = randomSplit(g, cost, rng);
    answers.set(i, parts);
    upper += planDram(cost, parts) - drawn.get(i)!;
  }
}

/** applyRectifier without pruning (the plan has no invalid group, or nothing to skip). */
function applyRectifier0(plan: Group[], cost: CostModel, rectifier: Rectifier, rng: Rng, stats: RectifyStats): Group[] {
  return applyRectifier(plan, cost, rectifier, rng, stats);
}
