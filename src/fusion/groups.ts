/**
 * Graph algorithms on fusion groups, each defined once here and shared by the plan checks, the
 * random split, the searches, the GET dataset sampler, the explainers and SPLIT: weak
 * connectivity (components, isConnected), convex closure, in-group edges, down-closed two-way
 * partitions (cutPartition), and the sorted-id helpers they use.
 */
import type { Group, OpGraph } from './types.ts';

export const groupKey = (g: Group): string => g.join(',');

/** Merge of two sorted id lists (duplicates kept). */
export function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out = new Array<number>(a.length + b.length);
  let i = 0, j = 0, k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i] < b[j] ? a[i++] : b[j++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
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
  for (const s of sorted ? ids : [...ids].sort((a, b) => a - b)) {
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
    out.push(comp.sort((a, b) => a - b));
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
  if (!sorted) U = [...new Set(U)].sort((a, b) => a - b);
  if (U.length < 2) return [...U];
  const { succ, pred } = graph;
  const lo = U[0], hi = U[U.length - 1];
  const mark = new Uint8Array(graph.ops.length); // 1 in U, 2 below-reachable, 4 above-reachable
  for (const u of U) mark[u] = 1;
  let stack = [...U];
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of succ[v]) if (u < hi && !(mark[u] & 3)) (mark[u] |= 2, stack.push(u));
  }
  const extra: number[] = [];
  stack = [...U];
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of pred[v]) if (u > lo && !(mark[u] & 5)) {
      mark[u] |= 4;
      stack.push(u);
      if (mark[u] & 2) extra.push(u);
    }
  }
  return extra.length ? mergeSorted(U, extra.sort((x, y) => x - y)) : [...U];
}

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
  const [i, j] = edge;
  const set = new Set(group);
  if (!set.has(i) || !set.has(j) || !graph.succ[i].includes(j)) return undefined;
  const crossing = (a: Set<number>): [number, number][] => {
    const out: [number, number][] = [];
    for (const v of a) for (const u of graph.succ[v]) if (set.has(u) && !a.has(u)) out.push([v, u]);
    return out.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  };
  // bridge?
  const seen = new Set<number>([i]);
  const stack = [i];
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of graph.succ[v]) if (set.has(u) && !seen.has(u) && !(v === i && u === j)) (seen.add(u), stack.push(u));
    for (const u of graph.pred[v]) if (set.has(u) && !seen.has(u) && !(v === j && u === i)) (seen.add(u), stack.push(u));
  }
  if (!seen.has(j)) {
    const a = [...seen].sort((x, y) => x - y);
    const b = group.filter((v) => !seen.has(v));
    return { edge, a, b: [...b].sort((x, y) => x - y), cutEdges: [[i, j]], rule: 'bridge' };
  }
  const candidates: { a: Set<number>; rule: CutPartition['rule'] }[] = [];
  // ancestors of i (down-closed)
  const anc = new Set<number>([i]);
  stack.push(i);
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of graph.pred[v]) if (set.has(u) && !anc.has(u)) (anc.add(u), stack.push(u));
  }
  if (!anc.has(j)) candidates.push({ a: anc, rule: 'ancestors' });
  // complement of descendants of j
  const desc = new Set<number>([j]);
  stack.push(j);
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of graph.succ[v]) if (set.has(u) && !desc.has(u)) (desc.add(u), stack.push(u));
  }
  if (!desc.has(i)) candidates.push({ a: new Set(group.filter((v) => !desc.has(v))), rule: 'descendants' });
  // topological prefixes ending between i and j
  const sorted = [...group].sort((x, y) => x - y);
  for (let p = sorted.indexOf(i); p < sorted.length && sorted[p] < j; p++) {
    candidates.push({ a: new Set(sorted.slice(0, p + 1)), rule: 'prefix' });
  }
  let best: CutPartition | undefined;
  for (const c of candidates) {
    if (c.a.size === 0 || c.a.size === group.length || !c.a.has(i) || c.a.has(j)) continue;
    const a = [...c.a].sort((x, y) => x - y);
    const b = sorted.filter((v) => !c.a.has(v));
    if (!isConnected(graph, a) || !isConnected(graph, b)) continue;
    const cutEdges = crossing(c.a);
    if (!best || cutEdges.length < best.cutEdges.length) best = { edge, a, b, cutEdges, rule: c.rule };
  }
  return best;
}
