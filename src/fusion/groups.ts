/**
 * Small graph algorithms on fusion groups shared by the GET dataset sampler, the explainers
 * and SPLIT: weak connectivity, convex closure, down-closed two-way partitions.
 */
import type { Group, OpGraph } from './types.ts';
import { components } from './plan.ts';

export const groupKey = (g: Group): string => g.join(',');

export function isConnected(graph: OpGraph, ops: Group): boolean {
  return ops.length > 0 && components(graph, ops).length === 1;
}

/** Ops on a path between two members (ids are topological, so the search is bounded). */
export function convexClosure(graph: OpGraph, members: Iterable<number>): number[] {
  const set = new Set(members);
  if (set.size === 0) return [];
  const lo = Math.min(...set);
  const hi = Math.max(...set);
  const desc = new Set<number>();
  const stack = [...set];
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of graph.succ[v]) if (u <= hi && !desc.has(u)) (desc.add(u), stack.push(u));
  }
  const anc = new Set<number>();
  stack.push(...set);
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of graph.pred[v]) if (u >= lo && !anc.has(u)) (anc.add(u), stack.push(u));
  }
  for (const v of desc) if (anc.has(v)) set.add(v);
  return [...set].sort((a, b) => a - b);
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
 * The cut that edge (i, j) stands for (SPEC section 1, skip edges). Ops are numbered in
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
