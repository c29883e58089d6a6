/** Shared generators for the learnability tests. */
import fc from 'fast-check';
import { makeGraph, type LearnGraph } from '../../src/learnability/graph.ts';

/** A random graph with n nodes, max degree <= D, random positive weights (directions from
 * lower to higher id, like a DAG), and 1..3 sources. */
export function boundedGraph(maxN = 12, D = 3, maxW = 7): fc.Arbitrary<LearnGraph> {
  return fc
    .record({
      n: fc.integer({ min: 1, max: maxN }),
      pairs: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: maxW })), { maxLength: 3 * maxN }),
      src: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    })
    .map(({ n, pairs, src }) => {
      const deg = new Array(n).fill(0);
      const seen = new Set<string>();
      const edges: [number, number, number][] = [];
      for (const [a, b, w] of pairs) {
        const u = Math.min(a % n, b % n);
        const v = Math.max(a % n, b % n);
        if (u === v || seen.has(`${u},${v}`) || deg[u] >= D || deg[v] >= D) continue;
        seen.add(`${u},${v}`);
        deg[u]++;
        deg[v]++;
        edges.push([u, v, w]);
      }
      return makeGraph(n, edges, src.map((s) => s % n));
    });
}

/** Decodes a Prüfer sequence of length n - 2 into the edges of a labelled tree on n nodes. */
export function pruferTree(seq: number[], n: number): [number, number][] {
  const degree = new Array(n).fill(1);
  for (const x of seq) degree[x]++;
  const edges: [number, number][] = [];
  for (const x of seq) {
    let leaf = 0;
    while (degree[leaf] !== 1) leaf++;
    edges.push([leaf, x]);
    degree[leaf]--;
    degree[x]--;
  }
  const rest = degree.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
  edges.push([rest[0], rest[1]]);
  return edges;
}
