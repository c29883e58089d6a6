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

/**
 * A DenseNet-shaped operator graph (the learnability view of a torchvision DenseNet export,
 * built directly: learnability depends only on topology): a stem chain, then per dense block
 * `layers` layers, layer i = Concat(block input, outputs of layers < i) -> BN -> ReLU -> Conv
 * -> BN -> ReLU -> Conv, the block's output a Concat of all of them, and a transition chain
 * between blocks. The concat fan-in reaches layers + 1, so a block of 24 layers has degree 26
 * (DenseNet-121's third block). Edge weights 1..7 vary with the position (Bellman-Ford).
 */
export function denseNetGraph(blocks: number[]): LearnGraph {
  const edges: [number, number, number][] = [];
  let n = 0;
  const node = () => n++;
  const w = () => 1 + (edges.length * 5) % 7;
  const chain = (from: number, len: number) => {
    let x = from;
    for (let i = 0; i < len; i++) {
      const y = node();
      edges.push([x, y, w()]);
      x = y;
    }
    return x;
  };
  const input = node();
  let x = chain(input, 4); // conv0, norm0, relu0, pool0
  blocks.forEach((layers, bi) => {
    const feats = [x];
    for (let i = 0; i < layers; i++) {
      const cat = node();
      for (const f of feats) edges.push([f, cat, w()]);
      feats.push(chain(cat, 6));
    }
    const out = node();
    for (const f of feats) edges.push([f, out, w()]);
    x = bi < blocks.length - 1 ? chain(out, 4) : chain(out, 5); // transition / head
  });
  return makeGraph(n, edges, [input]);
}

/** A random graph with high-degree hubs: `hubs` nodes joined to 17..maxDeg random others, plus
 * random sparse edges; 1..3 sources. Max degree > 16 (above the default view degree). */
export function hubGraph(maxN = 40, maxDeg = 30): fc.Arbitrary<LearnGraph> {
  return fc
    .record({
      n: fc.integer({ min: 20, max: maxN }),
      hubs: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 17, max: maxDeg }), fc.nat()), { minLength: 1, maxLength: 3 }),
      pairs: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 7 })), { maxLength: 40 }),
      src: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    })
    .map(({ n, hubs, pairs, src }) => {
      const edges: [number, number, number][] = [];
      for (const [h0, k, salt] of hubs) {
        const h = h0 % n;
        const deg = Math.min(k, n - 1);
        // deg distinct others, pseudo-randomly by a stride coprime-ish to n
        const others = Array.from({ length: n }, (_, i) => i).filter((i) => i !== h).sort((a, b) => ((a * 7919 + salt) % 1013) - ((b * 7919 + salt) % 1013)).slice(0, deg);
        for (const u of others) edges.push(u < h ? [u, h, 1 + (u % 7)] : [h, u, 1 + (u % 7)]);
      }
      for (const [a, b, w] of pairs) if (a % n !== b % n) edges.push([Math.min(a % n, b % n), Math.max(a % n, b % n), w]);
      return makeGraph(n, edges, src.map((s) => s % n));
    });
}
