/**
 * Graph substrate for the learnability checks: a plain adjacency view of a model's operator
 * DAG, its degree, the greedy distance-2 colouring that assigns message slots, a
 * bounded-degree view (high-degree nodes split into chains), and the classical reference
 * algorithms the learned GNN is compared against node by node.
 *
 * Conventions (fixed here, documented for users of the certificates):
 * - Nodes are the graph's real inputs (one node per non-initializer graph input, these are the
 *   algorithms' sources) followed by the operator nodes in topological order. Initializers
 *   are parameters, not nodes.
 * - Flooding, BFS and DFS work on the UNDIRECTED view (an edge wherever a value produced by
 *   one node is consumed by another; parallel edges merged). Neighbour lists are sorted by id.
 * - Bellman-Ford works on the DIRECTED view (producer -> consumer) with bounded positive
 *   integer weights: the element count of the value on the edge, quantized on a log scale to
 *   `weightBits` bits (1 .. 2^weightBits - 1); parallel edges keep the smaller weight.
 *   Without static shapes every weight is 1 (hop count).
 * - "Infinity" (unreachable) is reported as -1 by the references and decoded from the all-ones
 *   l-bit pattern / a cleared valid flag by the GNN.
 */
import type { Model } from '../ir/graph.ts';

export interface LearnGraph {
  n: number;
  /** Undirected neighbours, sorted by increasing id, no self-loops, no duplicates. */
  adj: number[][];
  /** Directed in-edges (for Bellman-Ford): predecessors and the weight of each in-edge. */
  pred: number[][];
  predW: number[][];
  /** Source nodes (the graph inputs). */
  sources: number[];
  /** Display names (value or node names). */
  names: string[];
}

/** Builds a LearnGraph from directed weighted edges (duplicates keep the smaller weight). */
export function makeGraph(n: number, edges: [number, number, number?][], sources: number[], names?: string[]): LearnGraph {
  const und = Array.from({ length: n }, () => new Set<number>());
  const inW = Array.from({ length: n }, () => new Map<number, number>());
  for (const [u, v, w0] of edges) {
    if (u === v) continue;
    if (u < 0 || v < 0 || u >= n || v >= n) throw new Error(`edge (${u},${v}) out of range for ${n} nodes`);
    const w = w0 ?? 1;
    und[u].add(v);
    und[v].add(u);
    const prev = inW[v].get(u);
    if (prev === undefined || w < prev) inW[v].set(u, w);
  }
  const adj = und.map((s) => [...s].sort((a, b) => a - b));
  const pred = inW.map((m) => [...m.keys()].sort((a, b) => a - b));
  const predW = inW.map((m, v) => pred[v].map((u) => m.get(u)!));
  return { n, adj, pred, predW, sources: [...new Set(sources)].sort((a, b) => a - b), names: names ?? Array.from({ length: n }, (_, i) => `n${i}`) };
}

export function maxDegree(g: LearnGraph): number {
  let d = 0;
  for (const a of g.adj) d = Math.max(d, a.length);
  return d;
}

export function edgeCount(g: LearnGraph): number {
  let e = 0;
  for (const a of g.adj) e += a.length;
  return e / 2;
}

/** Quantizes an element count to 1 .. 2^bits - 1 on a log2 scale relative to the largest. */
export function quantizeWeight(numel: number, maxNumel: number, bits: number): number {
  const top = (1 << bits) - 1;
  if (!(numel > 1) || !(maxNumel > 1)) return 1;
  const q = 1 + Math.floor(((top - 1) * Math.log2(numel)) / Math.log2(maxNumel));
  return Math.max(1, Math.min(top, q));
}

/**
 * The operator graph of a model. `numel(value)` gives a value's element count when known
 * (static shapes); unknown -> weight 1.
 */
export function graphFromModel(model: Model, opts: { weightBits?: number; numel?: (value: string) => number | undefined } = {}): LearnGraph {
  const g = model.graph;
  const bits = opts.weightBits ?? 3;
  const inputs = g.inputs.filter((v) => !g.initializers.has(v.name));
  const topo = g.topoOrder();
  const id = new Map<string, number>(); // value name -> producing node id
  const names: string[] = [];
  inputs.forEach((v, i) => {
    id.set(v.name, i);
    names.push(v.name);
  });
  const base = inputs.length;
  topo.forEach((node, i) => {
    for (const o of node.outputs) if (o) id.set(o, base + i);
    names.push(node.name || `${node.opType}_${i}`);
  });
  const raw: [number, number, string][] = [];
  topo.forEach((node, i) => {
    for (const x of node.inputs) {
      if (!x) continue;
      const p = id.get(x);
      if (p !== undefined && p !== base + i) raw.push([p, base + i, x]);
    }
  });
  const sizes = raw.map(([, , x]) => opts.numel?.(x));
  const known = sizes.filter((s): s is number => typeof s === 'number' && Number.isFinite(s) && s > 0);
  const maxNumel = known.length ? Math.max(...known) : 1;
  const edges: [number, number, number][] = raw.map(([u, v], k) => [u, v, sizes[k] !== undefined ? quantizeWeight(sizes[k]!, maxNumel, bits) : 1]);
  return makeGraph(base + topo.length, edges, inputs.map((_, i) => i), names);
}

/**
 * Greedy distance-2 colouring in id order: every two nodes at distance <= 2 get different
 * colours, so all of N[v] = N(v) + v have distinct colours and per-slot message sums stay 0/1.
 * Uses at most D^2 + 1 colours (each node sees at most D + D(D-1) coloured nodes).
 */
export function distance2Colouring(g: LearnGraph): { colour: Int32Array; colours: number } {
  const colour = new Int32Array(g.n).fill(-1);
  let colours = 0;
  for (let v = 0; v < g.n; v++) {
    const used = new Set<number>();
    for (const u of g.adj[v]) {
      if (colour[u] >= 0) used.add(colour[u]);
      for (const w of g.adj[u]) if (w !== v && colour[w] >= 0) used.add(colour[w]);
    }
    let c = 0;
    while (used.has(c)) c++;
    colour[v] = c;
    colours = Math.max(colours, c + 1);
  }
  return { colour, colours: Math.max(colours, 1) };
}

/** Checks a colouring is a valid distance-2 colouring; returns a violating pair or undefined. */
export function checkColouring(g: LearnGraph, colour: Int32Array): [number, number] | undefined {
  for (let v = 0; v < g.n; v++) {
    const nb = [v, ...g.adj[v]];
    const seen = new Map<number, number>();
    for (const u of nb) {
      const o = seen.get(colour[u]);
      if (o !== undefined) return [o, u];
      seen.set(colour[u], u);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Bounded-degree view

export interface DegreeView {
  graph: LearnGraph;
  /** view node -> original node it stands for (helpers map to the node they split). */
  owner: Int32Array;
  /** Number of helper nodes added. */
  helpers: number;
  split: number;
}

/**
 * Splits every node of degree > maxDeg (>= 3) into a chain v - h1 - h2 - ... of helpers, each
 * with at most maxDeg neighbours; v's incident edges are dealt out along the chain in
 * neighbour order. Original node ids are kept (0..n-1), helpers are appended. Directed
 * edges keep their weight and direction at their ports; chain links are 0-weight in both
 * directions, so shortest directed distances and reachability are preserved exactly
 * (every view path maps to an original walk of the same weight and conversely).
 */
/*
 * Why DFS does not run on this view (it runs on the order-preserving port view of dfs-view.ts):
 * the DFS order is the order in which v tries its neighbours, and on the view v's neighbours
 * sit on different chain nodes. When the walk leaves v towards an earlier neighbour u and u's
 * subtree reaches a later neighbour w of v, the original DFS sees v visited from w and backs
 * off; on the view, w's edge ends at a helper of v that is NOT visited (visited-ness is a
 * per-node flag, and nothing tells the helpers that their owner was entered), so the walk enters
 * v's chain from w and discovers v's remaining neighbours inside w's subtree, in chain order.
 * Example (test/learnability/high-degree.test.ts): star 0 - {1..5} plus the path 1 - 6 - 4,
 * degree bound 3: the original order is 0 1 6 4 2 3 5, the view's (original nodes) 0 1 6 4 5 3 2.
 * An order-preserving view needs an instruction that knows chain links from real edges
 * (marking the owner's whole chain visited before the walk moves on); the plain DFS
 * instruction on any split view cannot tell them apart. dfs-view.ts does exactly that.
 */
export function boundedDegreeView(g: LearnGraph, maxDeg: number): DegreeView {
  if (maxDeg < 3) throw new Error('a bounded-degree view needs max degree >= 3');
  const owner: number[] = Array.from({ length: g.n }, (_, i) => i);
  // port[v]: neighbour u -> view node of v's chain that holds edge {u,v}
  const port: Map<number, number>[] = Array.from({ length: g.n }, () => new Map());
  const chainEdges: [number, number, number][] = [];
  let split = 0;
  for (let v = 0; v < g.n; v++) {
    const nb = g.adj[v];
    if (nb.length <= maxDeg) {
      for (const u of nb) port[v].set(u, v);
      continue;
    }
    split++;
    let cur = v;
    let cap = maxDeg - 1; // v: maxDeg-1 edges + link to next
    let i = 0;
    while (i < nb.length) {
      const remaining = nb.length - i;
      const last = remaining <= cap + 1; // the final chain node may use its link slot
      const take = last ? remaining : cap;
      for (let k = 0; k < take; k++) port[v].set(nb[i + k], cur);
      i += take;
      if (i < nb.length) {
        const h = owner.length;
        owner.push(v);
        chainEdges.push([cur, h, 0], [h, cur, 0]);
        cur = h;
        cap = maxDeg - 2;
      }
    }
  }
  const edges: [number, number, number][] = [...chainEdges];
  for (let v = 0; v < g.n; v++) {
    g.pred[v].forEach((u, k) => edges.push([port[u].get(v)!, port[v].get(u)!, g.predW[v][k]]));
    // undirected-only adjacency is implied by directed edges (every model edge is directed)
  }
  const names = owner.map((o, i) => (i < g.n ? g.names[i] : `${g.names[o]}#split${i}`));
  const view = makeGraph(owner.length, edges, g.sources, names);
  return { graph: view, owner: Int32Array.from(owner), helpers: owner.length - g.n, split };
}

// ---------------------------------------------------------------------------------------
// Classical reference algorithms

/** Flooding: every node ends with the OR of the messages of all sources in its (undirected)
 * component; `reached` marks nodes connected to some source. */
export function floodReference(g: LearnGraph, messages: number[]): { reached: Uint8Array; value: Int32Array } {
  const reached = new Uint8Array(g.n);
  const value = new Int32Array(g.n);
  const comp = new Int32Array(g.n).fill(-1);
  const compVal: number[] = [];
  const compHas: boolean[] = [];
  for (let s = 0; s < g.n; s++) {
    if (comp[s] >= 0) continue;
    const c = compVal.length;
    compVal.push(0);
    compHas.push(false);
    const stack = [s];
    comp[s] = c;
    while (stack.length) {
      const v = stack.pop()!;
      for (const u of g.adj[v]) if (comp[u] < 0) { comp[u] = c; stack.push(u); }
    }
  }
  g.sources.forEach((s, i) => {
    compVal[comp[s]] |= messages[i];
    compHas[comp[s]] = true;
  });
  for (let v = 0; v < g.n; v++) {
    reached[v] = compHas[comp[v]] ? 1 : 0;
    value[v] = compVal[comp[v]];
  }
  return { reached, value };
}

/** Sequential queue BFS from all sources (queued in id order), neighbours by increasing id.
 * Returns hop distances (-1 = unreachable) and the visiting order. */
export function bfsReference(g: LearnGraph): { dist: Int32Array; order: number[] } {
  const dist = new Int32Array(g.n).fill(-1);
  const queue: number[] = [];
  for (const s of g.sources) if (dist[s] < 0) { dist[s] = 0; queue.push(s); }
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head];
    for (const u of g.adj[v]) if (dist[u] < 0) { dist[u] = dist[v] + 1; queue.push(u); }
  }
  return { dist, order: queue };
}

/** Sequential DFS token walk from `root`, trying neighbours by increasing `rank` (the slot
 * colour: the only order a local instruction can see). Discovery time stamps in pre-order
 * (root = 0), parents (-1 for the root / unreached), -1 stamps for unreached nodes. */
export function dfsReference(g: LearnGraph, root: number, rank: ArrayLike<number>): { disc: Int32Array; parent: Int32Array; moves: number } {
  const disc = new Int32Array(g.n).fill(-1);
  const parent = new Int32Array(g.n).fill(-1);
  const order = g.adj.map((a) => [...a].sort((x, y) => rank[x] - rank[y] || x - y));
  let time = 0;
  let moves = 0;
  disc[root] = time++;
  const stack: [number, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [v] = top;
    let next = -1;
    while (top[1] < order[v].length) {
      const u = order[v][top[1]++];
      if (disc[u] < 0) { next = u; break; }
    }
    if (next >= 0) {
      disc[next] = time++;
      parent[next] = v;
      stack.push([next, 0]);
      moves++;
    } else {
      stack.pop();
      if (stack.length) moves++;
    }
  }
  return { disc, parent, moves };
}

/** Bellman-Ford on the directed weighted view from all sources (distance 0); -1 = unreachable.
 * Passes over all in-edges until nothing relaxes (at most n - 1 passes). */
export function bellmanFordReference(g: LearnGraph): { dist: Int32Array; passes: number } {
  const INF = Number.MAX_SAFE_INTEGER;
  const d = new Array<number>(g.n).fill(INF);
  for (const s of g.sources) d[s] = 0;
  let passes = 0;
  for (let it = 0; it < Math.max(1, g.n); it++) {
    let changed = false;
    passes++;
    for (let v = 0; v < g.n; v++) {
      const p = g.pred[v];
      for (let k = 0; k < p.length; k++) {
        const u = p[k];
        if (d[u] !== INF && d[u] + g.predW[v][k] < d[v]) { d[v] = d[u] + g.predW[v][k]; changed = true; }
      }
    }
    if (!changed) break;
  }
  return { dist: Int32Array.from(d, (x) => (x === INF ? -1 : x)), passes };
}
