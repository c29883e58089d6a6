/**
 * Separating ops of the op graph, for the exact solver's decomposition (exact.ts,
 * `solveBySegments`; the proof that it is exact is there).
 *
 * The graph here is bipartite: ops and feature-map tensors, an op joined to every tensor it reads
 * or writes (a graph input joins its consumers). Its biconnected blocks are merged wherever they
 * share a TENSOR (a tensor is never split: its producer and consumers must stay together for
 * F_D to add up), giving "super-blocks" arranged in a tree whose shared vertices are ops. Every
 * tensor then lies, with all the ops it touches, inside one super-block, and two super-blocks
 * share at most one op (a cut op). Hand-written (iterative Tarjan, union-find) rather than
 * graphology: this is a few dozen lines on plain arrays, and graphology has no biconnected
 * components on a bipartite op/tensor graph.
 */
import type { OpGraph } from '../fusion/types.ts';

export interface Segments {
  /** Ops of `comp` per super-block (only those holding at least two ops of comp), sorted. */
  segments: number[][];
  /** Ops of comp in two or more segments, with the number of segments holding them. */
  cuts: Map<number, number>;
}

/** Super-blocks of the op/tensor graph restricted to the ops of `comp` (see header). */
export function segmentsOf(graph: OpGraph, comp: number[]): Segments {
  const n = graph.ops.length;
  const N = n + graph.tensors.length;
  const adj: number[][] = [];
  for (let v = 0; v < N; v++) adj.push([]);
  for (let id = 0; id < n; id++) {
    const op = graph.ops[id];
    for (const t of op.inputs) link(adj, id, n + t);
    for (const t of op.outputs) link(adj, id, n + t);
  }

  // Biconnected blocks (iterative Tarjan with an edge stack); each block as a vertex list.
  const disc = new Int32Array(N).fill(-1);
  const low = new Int32Array(N);
  const blocks: number[][] = [];
  let time = 0;
  const eu: number[] = [], ev: number[] = [];
  for (let r = 0; r < N; r++) {
    if (disc[r] >= 0 || adj[r].length === 0) continue;
    const stack: [number, number, number][] = [[r, -1, 0]]; // vertex, parent, next neighbour index
    disc[r] = low[r] = time++;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [v, parent] = top;
      if (top[2] < adj[v].length) {
        const w = adj[v][top[2]++];
        if (disc[w] < 0) {
          eu.push(v);
          ev.push(w);
          disc[w] = low[w] = time++;
          stack.push([w, v, 0]);
        } else if (w !== parent && disc[w] < disc[v]) {
          eu.push(v);
          ev.push(w);
          if (disc[w] < low[v]) low[v] = disc[w];
        }
        continue;
      }
      stack.pop();
      if (parent >= 0) {
        if (low[v] < low[parent]) low[parent] = low[v];
        if (low[v] >= disc[parent]) blocks.push(popBlock(eu, ev, parent, v));
      }
    }
  }

  // Merge blocks sharing a tensor vertex.
  const up = blocks.map((_, i) => i);
  const firstBlockOf = new Int32Array(N).fill(-1);
  blocks.forEach((b, i) => {
    for (const v of b) {
      if (v < n) continue;
      if (firstBlockOf[v] < 0) firstBlockOf[v] = i;
      else up[find(up, i)] = find(up, firstBlockOf[v]);
    }
  });
  const inComp = new Uint8Array(n);
  for (const v of comp) inComp[v] = 1;
  const byRoot = new Map<number, Set<number>>();
  blocks.forEach((b, i) => {
    const root = find(up, i);
    let s = byRoot.get(root);
    if (!s) byRoot.set(root, (s = new Set()));
    for (const v of b) if (v < n && inComp[v]) s.add(v);
  });
  const segments = [...byRoot.values()].filter((s) => s.size >= 2).map((s) => [...s].sort((a, b) => a - b));
  segments.sort((a, b) => a[0] - b[0]);
  const count = new Map<number, number>();
  for (const s of segments) for (const v of s) count.set(v, (count.get(v) ?? 0) + 1);
  const cuts = new Map([...count].filter(([, k]) => k >= 2));
  return { segments, cuts };
}

// segmentsOf's helpers are module functions, not closures inside it: a closure's optimized code
// is dropped by a major GC once its call returns, and the next call's closure is compiled again.

/** Joins op `op` and tensor vertex `v` once. */
function link(adj: number[][], op: number, v: number): void {
  if (!adj[op].includes(v)) {
    adj[op].push(v);
    adj[v].push(op);
  }
}

/** Pops the edges of the block closed by edge (u, w): its vertex list. */
function popBlock(eu: number[], ev: number[], u: number, w: number): number[] {
  const vs = new Set<number>();
  for (;;) {
    const a = eu.pop()!, b = ev.pop()!;
    vs.add(a);
    vs.add(b);
    if (a === u && b === w) break;
  }
  return [...vs];
}

/** Union-find root with path compression. */
function find(up: number[], x: number): number {
  return up[x] === x ? x : (up[x] = find(up, up[x]));
}
