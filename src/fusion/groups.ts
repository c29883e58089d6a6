/**
 * Graph algorithms on fusion groups, each defined once here and shared by the plan checks, the
 * random split, the searches, the GET dataset sampler, the explainers and SPLIT: weak
 * connectivity (components, isConnected), convex closure, in-group edges, down-closed two-way
 * partitions (cutPartition), and the sorted-id helpers they use.
 */
import type { Group, OpGraph } from './types.ts';

export const groupKey = (g: Group): string => g.join(',');

/** Numeric order, one function for every sort here: an arrow written in a call is a new closure
 * per call, whose optimized code a major GC drops once the call returns. */
const byNumber = (a: number, b: number) => a - b;

/** The group itself when its ids are in increasing order, else a sorted copy. */
export function sortedGroup(g: Group): Group {
  for (let k = 1; k < g.length; k++) if (g[k - 1] > g[k]) return [...g].sort(byNumber);
  return g;
}

/** Merge of two sorted id lists (duplicates kept). */
export function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  // Filled by push, not `new Array(n)`: a preallocated array is HOLEY, the groups made elsewhere
  // are PACKED, and the cost model's optimized code (which every group reaches) deoptimized
  // ("wrong map") on the second kind and was compiled again.
  const out: number[] = [];
  let i = 0, j = 0;
  while (i < a.length && j < b.length) out.push(a[i] < b[j] ? a[i++] : b[j++]);
  while (i < a.length) out.push(a[i++]);
  while (j < b.length) out.push(b[j++]);
  return out;
}

/** Sorted union of two sorted id lists (shared ids once), written into `out` (default: a new
 * array) and returned. By index, then cut to length: a caller's scratch array keeps its storage
 * (the segment DP's joins, through the cost model's evaluateUnion, use one). */
export function unionSorted(a: readonly number[], b: readonly number[], out: number[] = []): number[] {
  let n = 0, i = 0, j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out[n++] = a[i++];
    else if (i >= a.length || b[j] < a[i]) out[n++] = b[j++];
    else (out[n++] = a[i++], j++);
  }
  out.length = n;
  return out;
}

/** Weakly connected components of a set of ops (each sorted; ordered by first id). */
export function components(graph: OpGraph, ids: readonly number[]): number[][] {
  // A per-graph stamp array marks membership and "seen" without a Set per call (Sets made the
  // polish of a 20k-op chain spend most of its time here).
  let st = stamps.get(graph);
  if (!st || st.mark.length !== graph.ops.length) stamps.set(graph, (st = { mark: new Int32Array(graph.ops.length), gen: 0 }));
  if (st.gen > 0x7ffffff0) (st.mark.fill(0), (st.gen = 0));
  const IN = ++st.gen, SEEN = ++st.gen;
  const mark = st.mark;
  for (const v of ids) mark[v] = IN;
  const out: number[][] = [];
  let sorted = true;
  for (let i = 1; i < ids.length && sorted; i++) if (ids[i - 1] > ids[i]) sorted = false;
  for (const s of sorted ? ids : [...ids].sort(byNumber)) {
    if (mark[s] !== IN) continue;
    const comp: number[] = [];
    const stack = [s];
    mark[s] = SEEN;
    while (stack.length) {
      const v = stack.pop()!;
      comp.push(v);
      for (const u of graph.succ[v]) if (mark[u] === IN) (mark[u] = SEEN, stack.push(u));
      for (const u of graph.pred[v]) if (mark[u] === IN) (mark[u] = SEEN, stack.push(u));
    }
    // One component holding every id (the usual answer: a local search asks this of each op's
    // group less that op): the ids themselves when sorted, not a sort of the search's order.
    if (sorted && comp.length === ids.length) return [ids.slice()];
    out.push(comp.sort(byNumber));
  }
  return out;
}

const stamps = new WeakMap<OpGraph, { mark: Int32Array; gen: number }>();


/** True when the ops form exactly one weakly connected component. The empty set has no
 * component, so it is not connected: a fusion group is never empty, and a split that produced
 * an empty part must fail every check that asks. */
export function isConnected(graph: OpGraph, ops: readonly number[]): boolean {
  return ops.length > 0 && components(graph, ops).length === 1;
}

/**
 * The convex closure of a set of ops: the members plus every op on a directed path between two
 * of them (ids are topological, so the searches are bounded by the lowest and highest member).
 * A group must be convex for the group graph to stay acyclic, so a merge that would close a
 * cycle through outside ops (an SE side branch GAP->conv->conv->sigmoid between a conv and its
 * Mul, a shuffle's parallel branch) becomes valid by taking those ops in. Sorted, no duplicates.
 */
export function convexClosure(graph: OpGraph, members: Iterable<number>): number[] {
  let U = Array.isArray(members) ? (members as number[]) : [...members];
  let sorted = true;
  for (let i = 1; i < U.length && sorted; i++) sorted = U[i - 1] < U[i];
  if (!sorted) U = [...new Set(U)].sort(byNumber);
  if (U.length < 2) return [...U];
  const { succ, pred } = graph;
  const lo = U[0], hi = U[U.length - 1];
  // 1 in U, 2 below-reachable, 4 above-reachable; all zero between calls (what is set is
  // cleared before returning). A per-graph array, not one per call: the searches close hundreds
  // of thousands of groups per sweep point, and each Uint8Array of more than 64 ops was a
  // malloc'd backing store that V8's ArrayBuffer sweeper frees on a helper thread.
  let mark = closureMarks.get(graph);
  if (!mark || mark.length !== graph.ops.length) closureMarks.set(graph, (mark = new Uint8Array(graph.ops.length)));
  for (const u of U) mark[u] = 1;
  const touched: number[] = [];
  let stack = [...U];
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of succ[v]) if (u < hi && !(mark[u] & 3)) (mark[u] |= 2, stack.push(u), touched.push(u));
  }
  const extra: number[] = [];
  stack = [...U];
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of pred[v]) if (u > lo && !(mark[u] & 5)) {
      mark[u] |= 4;
      stack.push(u);
      touched.push(u);
      if (mark[u] & 2) extra.push(u);
    }
  }
  for (const u of U) mark[u] = 0;
  for (const u of touched) mark[u] = 0;
  return extra.length ? mergeSorted(U, extra.sort(byNumber)) : [...U];
}

const closureMarks = new WeakMap<OpGraph, Uint8Array>();

/** Data-flow edges (op-id pairs, src < dst) inside a group, sorted. */
export function groupEdges(graph: OpGraph, group: Group): [number, number][] {
  const set = new Set(group);
  const out: [number, number][] = [];
  for (const v of group) for (const u of graph.succ[v]) if (set.has(u)) out.push([v, u]);
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/** True when no edge of the group goes from `b` back into `a` (a is down-closed in the group). */
export function isDownClosed(graph: OpGraph, a: ReadonlySet<number>, group: Group): boolean {
  const set = new Set(group);
  for (const v of a) for (const p of graph.pred[v]) if (set.has(p) && !a.has(p)) return false;
  return true;
}

/** A two-way cut of a group along an edge: `a` holds the edge's source side. */
export interface CutPartition {
  edge: [number, number];
  a: number[];
  b: number[];
  /** Every group edge between a and b (all go a -> b). */
  cutEdges: [number, number][];
  /** How the sides were chosen: 'bridge' (the edge alone disconnects the group), 'ancestors'
   * (a = the source's in-group ancestors), 'descendants' (b = the target's in-group
   * descendants) or 'prefix' (a = a topological-order prefix). */
  rule: 'bridge' | 'ancestors' | 'descendants' | 'prefix';
}

/**
 * The cut that edge (i, j) stands for (skip edges; Mills et al., "Applying Graph Explanation to Operator Fusion", arXiv 2501.00636). Ops are numbered in
 * topological order. If removing (i, j) disconnects the group, the two components are the
 * parts. Otherwise (i, j) is a skip edge or lies under one: the parts must be separated by a
 * set of edges containing (i, j), and dnnfuse picks them as a down-closed side `a` (i in a,
 * j not): every other edge joining the sides is cut too, which handles nested skips (SE modules
 * inside residual blocks) at any depth. Down-closed sides keep the two parts mutually acyclic
 * (every crossing edge goes a -> b) and, the group being convex in an acyclic plan, the whole
 * plan acyclic. Candidates: i's in-group ancestors, the complement of j's in-group
 * descendants, and the topological prefixes ending between i and j; those whose sides are both
 * weakly connected qualify, and the one cutting the fewest edges wins (ties: the earlier
 * candidate in that order). Undefined when no candidate qualifies or (i, j) is not a group edge.
 */
export function cutPartition(graph: OpGraph, group: Group, edge: [number, number]): CutPartition | undefined {
  return new GroupCutter(graph, group).cut(edge);
}

/**
 * cutPartition for many edges of one group: what depends on the group alone (its local
 * indices, the components of every prefix and suffix, the in-group edge counts) is computed
 * once, not once per edge (the 'cuts' explainer tries every edge of a group, SPLIT the top
 * explained ones). The group must not change while the cutter is used.
 *
 * Every candidate is judged on local indices (the group sorted) with flag arrays, and the
 * prefixes all at once: the components of every prefix and every suffix by one incremental
 * union-find pass each, the crossing count of every prefix by a running sum. The candidates,
 * their order and the tie rule are those of cutPartition's header; only the winner's sides and
 * cut edges are built. (Per-candidate Sets and an isConnected of both sides made a skip edge
 * spanning k ops O(k n): GET's SPLIT and the 'cuts' explainer call this for every edge they
 * try.) A class and module functions, not closures: under tsx (esbuild keepNames) every closure
 * created costs a defineProperty call, which dominated this code.
 */
export class GroupCutter {
  private readonly sorted: readonly number[];
  private readonly c: CutScratch;
  private stamp = 0;
  /** Per prefix: components of every prefix and suffix, in-group edges into and out of each op
   * (computed at the first cut that needs them). */
  private prefixes?: { prefixComps: Int32Array; suffixComps: Int32Array; into: Int32Array; out: Int32Array };

  constructor(
    private readonly graph: OpGraph,
    group: Group,
  ) {
    this.sorted = sortedGroup(group);
    this.c = cutScratchOf(graph);
  }

  /** The shared scratch stamped with this group (another cutter may have used it since). */
  private stamped(): CutScratch {
    const c = this.c;
    if (this.stamp !== 0 && c.IN === this.stamp) return c;
    this.stamp = c.IN = ++c.gen;
    c.sorted = this.sorted;
    const s = this.sorted;
    for (let k = 0; k < s.length; k++) (c.mark[s[k]] = c.IN), (c.loc[s[k]] = k);
    return c;
  }

  /** Side a of the ancestors rule for an edge out of op v (local index lv): v's in-group
   * ancestors; of the descendants rule for an edge into v (`descendants`): the ops that are not
   * v's in-group descendants. Kept per op (count: its crossing edges; connected: both sides
   * connected, when asked), while the group's ops number at most SIDE_MEMO_OPS (n^2 bytes). */
  private side(lv: number, v: number, descendants: boolean): CutSide {
    const memo = descendants ? (this.descSides ??= []) : (this.ancSides ??= []);
    const hit = memo[lv];
    if (hit) return hit;
    const { graph, c } = this;
    const n = this.sorted.length;
    const flag = cutReach(graph, c, n, v, descendants);
    if (descendants) for (let k = 0; k < n; k++) flag[k] ^= 1;
    // the ops reached from v are connected through it (the ancestors: side a; the descendants:
    // side b), so only the other side can be disconnected
    const out: CutSide = { flag, count: cutCrossingCount(graph, c, n, flag), other: descendants ? 1 : 0 };
    if (n <= SIDE_MEMO_OPS) memo[lv] = out;
    return out;
  }
  private ancSides?: CutSide[];
  private descSides?: CutSide[];

  /** When the in-group edge li -> lj (local indices) is a bridge of the group (its ops,
   * undirected), the flags of the ops on li's side (the ops li still reaches without the edge),
   * else undefined. From one depth-first search of the group (Tarjan's bridges: a tree edge
   * whose child's subtree has no back edge above it), instead of a search per edge. */
  private bridgeSide(li: number, lj: number): Uint8Array | undefined {
    const t = (this.tree ??= this.dfsTree());
    let child: number;
    if (t.parent[lj] === li && t.low[lj] > t.tin[li]) child = lj;
    else if (t.parent[li] === lj && t.low[li] > t.tin[lj]) child = li;
    else return undefined;
    const n = this.sorted.length;
    const flag = new Uint8Array(n);
    const lo = t.tin[child], hi = t.tout[child];
    // li's side: the child's subtree when li is the child, else the rest of li's component
    if (child === li) for (let k = 0; k < n; k++) flag[k] = t.tin[k] >= lo && t.tin[k] <= hi ? 1 : 0;
    else for (let k = 0; k < n; k++) flag[k] = t.comp[k] === t.comp[li] && !(t.tin[k] >= lo && t.tin[k] <= hi) ? 1 : 0;
    return flag;
  }
  private tree?: { tin: Int32Array; tout: Int32Array; low: Int32Array; parent: Int32Array; comp: Int32Array };

  /** A depth-first forest of the group's ops over in-group edges (both directions), by local
   * index: entry times, the last entry time in each subtree, low-links, parents, components. */
  private dfsTree() {
    const { graph } = this;
    const { succ, pred } = graph;
    const { mark, loc, IN } = this.stamped();
    const s = this.sorted;
    const n = s.length;
    const start = new Int32Array(n + 1);
    const nb: number[] = [];
    for (let k = 0; k < n; k++) {
      start[k] = nb.length;
      for (const u of succ[s[k]]) if (mark[u] === IN) nb.push(loc[u]);
      for (const u of pred[s[k]]) if (mark[u] === IN) nb.push(loc[u]);
    }
    start[n] = nb.length;
    const tin = new Int32Array(n).fill(-1);
    const tout = new Int32Array(n);
    const low = new Int32Array(n);
    const parent = new Int32Array(n).fill(-1);
    const comp = new Int32Array(n);
    const next = new Int32Array(n); // the next neighbour to visit, per op on the stack
    const stack: number[] = [];
    let time = 0;
    for (let r = 0; r < n; r++) {
      if (tin[r] >= 0) continue;
      tin[r] = low[r] = time++;
      comp[r] = r;
      next[r] = start[r];
      stack.push(r);
      while (stack.length) {
        const v = stack[stack.length - 1];
        if (next[v] < start[v + 1]) {
          const u = nb[next[v]++];
          if (tin[u] < 0) {
            tin[u] = low[u] = time++;
            parent[u] = v;
            comp[u] = r;
            next[u] = start[u];
            stack.push(u);
          } else if (u !== parent[v] && tin[u] < low[v]) low[v] = tin[u];
        } else {
          stack.pop();
          tout[v] = time - 1;
          const p = parent[v];
          if (p >= 0 && low[v] < low[p]) low[p] = low[v];
        }
      }
    }
    return { tin, tout, low, parent, comp };
  }

  cut(edge: [number, number]): CutPartition | undefined {
    const [i, j] = edge;
    const graph = this.graph;
    const { succ } = graph;
    const c = this.stamped();
    const n = this.sorted.length;
    if (c.mark[i] !== c.IN || c.mark[j] !== c.IN || !succ[i].includes(j)) return undefined;
    const li = c.loc[i], lj = c.loc[j];
    // bridge? (side flag 1 = a)
    const seen = this.bridgeSide(li, lj);
    if (seen) return { edge, a: cutSide(c, seen, 1), b: cutSide(c, seen, 0), cutEdges: [[i, j]], rule: 'bridge' };
    // Three rules, the fewest crossing edges winning (ties: the earlier rule, then the earlier
    // prefix), among the candidates whose two sides are connected. The crossing counts are cheap
    // and the connectivity checks are not, so a candidate is checked only when it could win.
    // ancestors of i (down-closed), and the complement of the descendants of j: each a function
    // of one op, kept per op with its crossing count and connectivity (an op starts or ends
    // several edges; the cuts explainer asks for every edge of the group)
    const A = this.side(li, i, false);
    const D = this.side(lj, j, true);
    const anc = A.flag, desc = D.flag;
    const ca = !anc[lj] ? A.count : Infinity;
    const cd = desc[li] && !desc[lj] ? D.count : Infinity;
    // topological prefixes ending between i and j: sorted[0..p] for li <= p < lj (ids are
    // topological, so an in-group edge runs from a lower to a higher local index); the first
    // with the fewest crossing edges among those whose prefix and suffix are connected
    let bestPrefix = -1, cp = Infinity;
    if (li < lj) {
      if (!this.prefixes) {
        // crossing(sorted[0..p]) = in-group edges w -> u with loc w <= p < loc u: op k joining
        // the prefix adds its edges to later ops and removes the edges into it from earlier ones
        const into = new Int32Array(n);
        const out = new Int32Array(n);
        for (let k = 0; k < n; k++) for (const u of succ[this.sorted[k]]) if (c.mark[u] === c.IN && c.loc[u] > k) (into[c.loc[u]]++, out[k]++);
        this.prefixes = { prefixComps: cutComponentsPass(graph, c, n, true), suffixComps: cutComponentsPass(graph, c, n, false), into, out };
      }
      const { prefixComps, suffixComps, into, out } = this.prefixes;
      let crossing = 0;
      for (let p = 0; p < lj; p++) {
        crossing += out[p] - into[p];
        if (p < li || prefixComps[p] !== 1 || suffixComps[p + 1] !== 1) continue;
        if (crossing < cp) (bestPrefix = p), (cp = crossing);
      }
    }
    // ancestors, else descendants with strictly fewer crossings, else a prefix with strictly
    // fewer than the one kept: checked in the order that settles it soonest
    let best: Uint8Array | undefined, bestCount = Infinity, bestRule: CutPartition['rule'] = 'prefix';
    if (cd < ca) {
      if (cd < Infinity && cp >= cd && sideConnected(graph, c, n, D)) (best = desc), (bestCount = cd), (bestRule = 'descendants');
      else if (ca < Infinity && cp >= ca && sideConnected(graph, c, n, A)) (best = anc), (bestCount = ca), (bestRule = 'ancestors');
    } else {
      if (ca < Infinity && cp >= ca && sideConnected(graph, c, n, A)) (best = anc), (bestCount = ca), (bestRule = 'ancestors');
      else if (cd < Infinity && cp >= cd && sideConnected(graph, c, n, D)) (best = desc), (bestCount = cd), (bestRule = 'descendants');
    }
    if (bestPrefix >= 0 && cp < bestCount) {
      best = new Uint8Array(n);
      best.fill(1, 0, bestPrefix + 1);
      bestRule = 'prefix';
    }
    if (!best) return undefined;
    return { edge, a: cutSide(c, best, 1), b: cutSide(c, best, 0), cutEdges: cutCrossing(graph, c, n, best), rule: bestRule };
  }
}

/** One rule's side a for an op (GroupCutter.side): its flags, crossing edges, the side (flag
 * value) that may be disconnected, and whether both sides are connected once asked. */
interface CutSide {
  flag: Uint8Array;
  count: number;
  other: number;
  connected?: boolean;
}

/** Are both sides of a rule's cut connected (checked once per op: the `other` side only)? */
function sideConnected(graph: OpGraph, c: CutScratch, n: number, x: CutSide): boolean {
  return (x.connected ??= cutConnected(graph, c, n, x.flag, x.other));
}
const SIDE_MEMO_OPS = 2048;

/** cutPartition's membership stamps (mark[v] === IN: v in the group) and local indices (loc[v]:
 * v's index in the sorted group); its own, as it calls nothing that uses `stamps`. */
interface CutScratch {
  mark: Int32Array;
  loc: Int32Array;
  gen: number;
  IN: number;
  sorted: readonly number[];
}
const cutStamps = new WeakMap<OpGraph, CutScratch>();
function cutScratchOf(graph: OpGraph): CutScratch {
  let st = cutStamps.get(graph);
  if (!st || st.mark.length !== graph.ops.length) cutStamps.set(graph, (st = { mark: new Int32Array(graph.ops.length), loc: new Int32Array(graph.ops.length), gen: 0, IN: 0, sorted: [] }));
  if (st.gen > 0x7ffffff0) (st.mark.fill(0), (st.gen = 0));
  return st;
}

/** Local flags of `from` and the ops it reaches over in-group edges: forward (descendants) or
 * backward (ancestors). */
function cutReach(graph: OpGraph, c: CutScratch, n: number, from: number, forward: boolean): Uint8Array {
  const next = forward ? graph.succ : graph.pred;
  const { mark, loc, IN } = c;
  const seen = new Uint8Array(n);
  seen[loc[from]] = 1;
  const stack = [from];
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of next[v]) if (mark[u] === IN && !seen[loc[u]]) (seen[loc[u]] = 1), stack.push(u);
  }
  return seen;
}

/** The sorted ops whose flag is `want`. */
function cutSide(c: CutScratch, flag: Uint8Array, want: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < flag.length; k++) if (flag[k] === want) out.push(c.sorted[k]);
  return out;
}

/** Are the ops flagged `want` one weakly connected component (and not none)? */
function cutConnected(graph: OpGraph, c: CutScratch, n: number, flag: Uint8Array, want: number): boolean {
  const { succ, pred } = graph;
  const { mark, loc, IN, sorted } = c;
  let first = -1, size = 0;
  for (let k = 0; k < n; k++) if (flag[k] === want) (size++, first < 0 && (first = k));
  if (first < 0) return false;
  const vis = new Uint8Array(n);
  vis[first] = 1;
  const stack = [sorted[first]];
  let count = 1;
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of succ[v]) if (mark[u] === IN && !vis[loc[u]] && flag[loc[u]] === want) (vis[loc[u]] = 1), count++, stack.push(u);
    for (const u of pred[v]) if (mark[u] === IN && !vis[loc[u]] && flag[loc[u]] === want) (vis[loc[u]] = 1), count++, stack.push(u);
  }
  return count === size;
}

/** In-group edges from the ops flagged 1 to the others (succ lists, duplicates counted). */
function cutCrossingCount(graph: OpGraph, c: CutScratch, n: number, flag: Uint8Array): number {
  let count = 0;
  for (let k = 0; k < n; k++) if (flag[k]) for (const u of graph.succ[c.sorted[k]]) if (c.mark[u] === c.IN && !flag[c.loc[u]]) count++;
  return count;
}

/** Those edges as pairs, sorted. */
function cutCrossing(graph: OpGraph, c: CutScratch, n: number, flag: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 0; k < n; k++) if (flag[k]) for (const u of graph.succ[c.sorted[k]]) if (c.mark[u] === c.IN && !flag[c.loc[u]]) out.push([c.sorted[k], u]);
  return out.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

/** Components of every prefix sorted[0..k] (forward) or suffix sorted[k..n-1] (backward, index
 * n: 0), by adding ops one at a time to a union-find. */
function cutComponentsPass(graph: OpGraph, c: CutScratch, n: number, forward: boolean): Int32Array {
  const { succ, pred } = graph;
  const { mark, loc, IN, sorted } = c;
  const out = new Int32Array(n + 1);
  const parent = new Int32Array(n);
  let comps = 0;
  for (let t = 0; t < n; t++) {
    const k = forward ? t : n - 1 - t;
    parent[k] = k;
    comps++;
    for (let side = 0; side < 2; side++) for (const u of side ? pred[sorted[k]] : succ[sorted[k]]) {
      if (mark[u] !== IN) continue;
      const m = loc[u];
      if (forward ? m >= k : m <= k) continue; // not added yet
      let ra = k, rb = m;
      while (parent[ra] !== ra) ra = parent[ra] = parent[parent[ra]];
      while (parent[rb] !== rb) rb = parent[rb] = parent[parent[rb]];
      if (ra !== rb) (parent[ra] = rb), comps--;
    }
    out[k] = comps;
  }
  return out;
}
