/**
 * Graph substrate: distance-2 colouring validity and bound, the bounded-degree view (degree
 * bound met, reachability and Bellman-Ford distances preserved), the reference algorithms
 * against brute-force definitions, and the model -> graph conversion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bellmanFordReference, bfsReference, boundedDegreeView, checkColouring, dfsReference, distance2Colouring, floodReference, graphFromModel, makeGraph, maxDegree, quantizeWeight } from '../../src/learnability/graph.ts';
import { ModelBuilder } from '../../src/models/builder.ts';
import { boundedGraph } from './helpers.ts';

test('distance-2 colouring is valid and uses at most D^2 + 1 colours', () => {
  fc.assert(
    fc.property(boundedGraph(20, 5), (g) => {
      const { colour, colours } = distance2Colouring(g);
      assert.equal(checkColouring(g, colour), undefined);
      const D = maxDegree(g);
      assert.ok(colours <= D * D + 1, `${colours} colours for D=${D}`);
    }),
    { numRuns: 200, seed: 11 },
  );
});

test('checkColouring reports a clash between two neighbours of one node', () => {
  const g = makeGraph(3, [[0, 1], [1, 2]], [0]);
  assert.deepEqual(checkColouring(g, Int32Array.from([0, 1, 0])), [0, 2]);
});

test('bounded-degree view: degree bound met, reachability and directed distances preserved', () => {
  fc.assert(
    fc.property(boundedGraph(16, 9, 5), fc.integer({ min: 3, max: 5 }), (g, k) => {
      const v = boundedDegreeView(g, k);
      assert.ok(maxDegree(v.graph) <= k);
      assert.equal(v.graph.n, g.n + v.helpers);
      const a = bellmanFordReference(g).dist;
      const b = bellmanFordReference(v.graph).dist;
      for (let i = 0; i < g.n; i++) assert.equal(b[i], a[i], `node ${i}`);
      const fa = floodReference(g, g.sources.map(() => 1)).reached;
      const fb = floodReference(v.graph, v.graph.sources.map(() => 1)).reached;
      for (let i = 0; i < g.n; i++) assert.equal(fb[i], fa[i]);
    }),
    { numRuns: 150, seed: 12 },
  );
});

test('references: BFS = shortest hop count, Bellman-Ford = Dijkstra-by-scan, DFS a valid DFS tree', () => {
  fc.assert(
    fc.property(boundedGraph(12, 4), (g) => {
      // hop distances by repeated relaxation
      const hop = new Array(g.n).fill(Infinity);
      for (const s of g.sources) hop[s] = 0;
      for (let it = 0; it < g.n; it++) for (let v = 0; v < g.n; v++) for (const u of g.adj[v]) hop[v] = Math.min(hop[v], hop[u] + 1);
      const bfs = bfsReference(g).dist;
      for (let v = 0; v < g.n; v++) assert.equal(bfs[v], hop[v] === Infinity ? -1 : hop[v]);
      // directed weighted distances by a quadratic scan (Dijkstra)
      const dist = new Array(g.n).fill(Infinity);
      const done = new Array(g.n).fill(false);
      for (const s of g.sources) dist[s] = 0;
      for (;;) {
        let best = -1;
        for (let v = 0; v < g.n; v++) if (!done[v] && dist[v] < Infinity && (best < 0 || dist[v] < dist[best])) best = v;
        if (best < 0) break;
        done[best] = true;
        for (let v = 0; v < g.n; v++) g.pred[v].forEach((u, k) => { if (u === best) dist[v] = Math.min(dist[v], dist[best] + g.predW[v][k]); });
      }
      const bf = bellmanFordReference(g).dist;
      for (let v = 0; v < g.n; v++) assert.equal(bf[v], dist[v] === Infinity ? -1 : dist[v]);
      // DFS: stamps are a permutation of 0..reached-1, parents are neighbours discovered earlier
      const root = g.sources[0];
      const { disc, parent } = dfsReference(g, root, distance2Colouring(g).colour);
      const stamps = [...disc].filter((x) => x >= 0).sort((a, b) => a - b);
      stamps.forEach((x, i) => assert.equal(x, i));
      for (let v = 0; v < g.n; v++) {
        if (v === root || disc[v] < 0) continue;
        assert.ok(g.adj[v].includes(parent[v]) && disc[parent[v]] < disc[v]);
      }
    }),
    { numRuns: 200, seed: 13 },
  );
});

test('graphFromModel: graph inputs are sources, producer -> consumer edges, weights from sizes', () => {
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('x', [1, 4, 8, 8]);
  const a = b.relu(x);
  const c = b.conv(a, { outChannels: 4, kernel: 3, pads: 1 });
  const y = b.add(a, c);
  b.output(y);
  const m = b.build();
  const sizes = new Map<string, number>([[a, 256], [c, 256], [x, 256]]);
  const g = graphFromModel(m, { numel: (v) => sizes.get(v) });
  assert.equal(g.sources.length, 1);
  assert.equal(g.names[0], 'x');
  assert.equal(g.n, 1 + m.graph.nodes.length);
  // relu feeds conv and add: degree 3 (input, conv, add)
  assert.equal(g.adj[1].length, 3);
  assert.equal(quantizeWeight(1, 1000, 3), 1);
  assert.equal(quantizeWeight(1000, 1000, 3), 7);
});
