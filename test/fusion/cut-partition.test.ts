/**
 * cutPartition (src/fusion/groups.ts) against the per-candidate implementation it replaced
 * (kept below verbatim as the reference), and a GroupCutter reused for all of a group's edges
 * (another group's cutter used in between): the same cut, sides, cut edges and rule for every
 * edge of random groups (connected and not, sorted and not) of random CNN-like graphs, random
 * DAGs with skip edges, and for non-edges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Group, OpGraph } from '../../src/fusion/types.ts';
import { cutPartition, GroupCutter, groupEdges, isConnected, type CutPartition } from '../../src/fusion/groups.ts';
import { sampleGroup } from '../../src/get/dataset.ts';
import { syntheticNetwork } from '../../src/get/synthetic.ts';
import { Rng } from '../../src/util/random.ts';
import { randomCnn } from './gen.ts';

function referenceCutPartition(graph: OpGraph, group: Group, edge: [number, number]): CutPartition | undefined {
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

/** An op graph from edges only (cutPartition reads succ and pred). */
function graphOf(n: number, edges: [number, number][]): OpGraph {
  const succ: number[][] = Array.from({ length: n }, () => []);
  const pred: number[][] = Array.from({ length: n }, () => []);
  for (const [a, b] of edges) (succ[a].push(b), pred[b].push(a));
  return { ops: Array.from({ length: n }, (_, id) => ({ id }) as OpGraph['ops'][number]), tensors: [], succ, pred };
}

function sameOnGroup(graph: OpGraph, group: Group, rng: Rng): number {
  let compared = 0;
  const edges = groupEdges(graph, [...group].sort((a, b) => a - b));
  // one GroupCutter for all the group's edges, and another group's cutter used between its cuts
  // (they share the graph's scratch stamps)
  const cutter = new GroupCutter(graph, group);
  const rest = graph.ops.map((o) => o.id).filter((v) => !group.includes(v));
  const other = new GroupCutter(graph, rest.length ? rest : [group[0]]);
  const otherEdges = groupEdges(graph, rest);
  for (const [k, e] of edges.entries()) {
    const ref = referenceCutPartition(graph, group, e);
    assert.deepEqual(cutPartition(graph, group, e), ref, `group ${group}, edge ${e}`);
    assert.deepEqual(cutter.cut(e), ref, `GroupCutter: group ${group}, edge ${e}`);
    if (otherEdges.length) other.cut(otherEdges[k % otherEdges.length]);
    compared++;
  }
  // a non-edge and an edge leaving the group: undefined in both
  const a = group[rng.int(0, group.length - 1)], b = group[rng.int(0, group.length - 1)];
  assert.deepEqual(cutPartition(graph, group, [a, b]), referenceCutPartition(graph, group, [a, b]));
  return compared;
}

test('cutPartition equals the per-candidate reference on every edge of random groups (CNN-like and synthetic graphs)', () => {
  const rng = new Rng(11);
  let compared = 0;
  for (let seed = 0; seed < 12; seed++) {
    for (const graph of [randomCnn(seed, 10), syntheticNetwork(seed)]) {
      const all = graph.ops.map((o) => o.id);
      compared += sameOnGroup(graph, all, rng);
      for (let k = 0; k < 8; k++) {
        const group = sampleGroup(graph, rng, 3 + rng.int(0, 30));
        compared += sameOnGroup(graph, group, rng);
        compared += sameOnGroup(graph, rng.shuffle([...group]), rng); // unsorted input
      }
    }
  }
  assert.ok(compared > 1000, `only ${compared} cuts compared`);
});

test('cutPartition equals the reference on random DAGs with skip edges and arbitrary (also disconnected) groups', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 24 }), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { maxLength: 60 }), fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }), fc.integer(), (n, raw, pick, seed) => {
      const edges: [number, number][] = [];
      for (let v = 1; v < n; v++) edges.push([v - 1, v]); // a chain, plus skips
      for (const [x, y, keep] of raw) {
        const a = x % n, b = y % n;
        if (keep && a < b) edges.push([a, b]);
      }
      const graph = graphOf(n, edges);
      const group = Array.from({ length: n }, (_, v) => v).filter((v) => pick[v] || v === 0 || v === n - 1);
      const rng = new Rng(seed);
      sameOnGroup(graph, group, rng);
      sameOnGroup(graph, rng.shuffle([...group]), rng);
    }),
    { numRuns: 300, seed: 5 },
  );
});
