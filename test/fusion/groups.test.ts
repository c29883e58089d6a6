/**
 * The group-graph algorithms of src/fusion/groups.ts, each defined once: connectivity (with the
 * empty set's semantics pinned down), convex closure on unsorted input, sorted merge.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { OpGraph } from '../../src/fusion/types.ts';
import { components, convexClosure, isConnected, mergeSorted, unionSorted } from '../../src/fusion/groups.ts';
import { randomCnn } from './gen.ts';

/** An op graph from edges only (the algorithms read ops.length, succ and pred). */
function graphOf(n: number, edges: [number, number][]): OpGraph {
  const succ: number[][] = Array.from({ length: n }, () => []);
  const pred: number[][] = Array.from({ length: n }, () => []);
  for (const [a, b] of edges) (succ[a].push(b), pred[b].push(a));
  return { ops: Array.from({ length: n }, (_, id) => ({ id }) as OpGraph['ops'][number]), tensors: [], succ, pred };
}

// 0 -> 1 -> 2 -> 4, 0 -> 3 -> 4 (a diamond with a tail), 5 alone
const g = graphOf(6, [[0, 1], [1, 2], [2, 4], [0, 3], [3, 4]]);

test('isConnected: exactly one weakly connected component; the empty set is not connected', () => {
  assert.equal(isConnected(g, []), false);
  assert.deepEqual(components(g, []), []);
  assert.equal(isConnected(g, [5]), true);
  assert.equal(isConnected(g, [0, 1, 2]), true);
  assert.equal(isConnected(g, [1, 3]), false, 'siblings without their common producer');
  assert.equal(isConnected(g, [2, 3, 4]), true, 'joined through their consumer (weakly)');
  assert.equal(isConnected(g, [4, 5]), false);
  assert.deepEqual(components(g, [5, 1, 3, 0]), [[0, 1, 3], [5]]);
});

test('convexClosure: members plus the ops on paths between them; unsorted and repeated input give the same set', () => {
  assert.deepEqual(convexClosure(g, [0, 4]), [0, 1, 2, 3, 4]);
  assert.deepEqual(convexClosure(g, [4, 0, 4]), [0, 1, 2, 3, 4]);
  assert.deepEqual(convexClosure(g, new Set([1, 4])), [1, 2, 4]);
  assert.deepEqual(convexClosure(g, [3]), [3]);
  assert.deepEqual(convexClosure(g, []), []);
  assert.deepEqual(convexClosure(g, [1, 3]), [1, 3], 'no path between siblings');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000 }), fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), (seed, picks) => {
      const cnn = randomCnn(seed, 4);
      const U = picks.map((p) => p % cnn.ops.length);
      const sorted = [...new Set(U)].sort((a, b) => a - b);
      const H = convexClosure(cnn, U);
      assert.deepEqual(H, convexClosure(cnn, sorted));
      assert.deepEqual(convexClosure(cnn, H), H, 'closed');
      for (const u of sorted) assert.ok(H.includes(u));
    }),
    { numRuns: 40, seed: 3 },
  );
});

test('mergeSorted keeps order and duplicates', () => {
  assert.deepEqual(mergeSorted([1, 4, 6], [2, 4, 9]), [1, 2, 4, 4, 6, 9]);
  assert.deepEqual(mergeSorted([], [3]), [3]);
});

test('components: the weakly connected parts, each sorted, by smallest id; a copy, never the input', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (seed, picks, sortIn) => {
      const cnn = randomCnn(seed, 2);
      const ids = [...new Set(picks.map((p) => p % cnn.ops.length))];
      if (sortIn) ids.sort((a, b) => a - b);
      // reference: union-find over the edges inside the set
      const parent = new Map(ids.map((v) => [v, v]));
      const find = (v: number): number => (parent.get(v) === v ? v : find(parent.get(v)!));
      for (const v of ids) for (const u of cnn.succ[v]) if (parent.has(u)) parent.set(find(u), find(v));
      const parts = new Map<number, number[]>();
      for (const v of ids) parts.set(find(v), [...(parts.get(find(v)) ?? []), v]);
      const want = [...parts.values()].map((p) => p.sort((a, b) => a - b)).sort((p, q) => p[0] - q[0]);
      const got = components(cnn, ids);
      assert.deepEqual(got, want);
      for (const c of got) assert.notEqual(c, ids, 'a part is never the caller array');
    }),
    { numRuns: 300 },
  );
});

test('unionSorted: the sorted union, shared ids once; into a reused array, cut to its length', () => {
  const sortedSet = fc.uniqueArray(fc.integer({ min: 0, max: 50 }), { maxLength: 12 }).map((a) => a.sort((x, y) => x - y));
  const scratch: number[] = [];
  fc.assert(
    fc.property(sortedSet, sortedSet, (a, b) => {
      const want = [...new Set([...a, ...b])].sort((x, y) => x - y);
      assert.deepEqual(unionSorted(a, b), want);
      const into = unionSorted(a, b, scratch);
      assert.equal(into, scratch, 'the array given is the one filled');
      assert.deepEqual([...into], want);
    }),
    { numRuns: 300 },
  );
});
