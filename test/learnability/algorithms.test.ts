/**
 * The learned GNN (closed-form NTK predictor) against the classical algorithms, node by node:
 * flooding vs reachability on random bounded-degree graphs and on all 16,807 labelled trees
 * with 7 nodes; BFS, DFS and Bellman-Ford vs their reference implementations on random small
 * graphs (several sources, disconnected parts); the bounded-degree view on high fan-in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ALGORITHMS, certify } from '../../src/learnability/certify.ts';
import { bfsReference, distance2Colouring, floodReference, makeGraph, maxDegree } from '../../src/learnability/graph.ts';
import { bfsInstruction, floodingInstruction } from '../../src/learnability/instructions.ts';
import { nodeInits, runGnn } from '../../src/learnability/gnn.ts';
import { NtkPredictor } from '../../src/learnability/predictors.ts';
import { boundedGraph, pruferTree } from './helpers.ts';

for (const algorithm of ALGORITHMS) {
  test(`${algorithm}: learned GNN = classical run on random bounded-degree graphs`, () => {
    fc.assert(
      fc.property(boundedGraph(10, 3), (g) => {
        const c = certify(g, algorithm);
        assert.equal(c.collisions, 0);
        assert.equal(c.tableMismatches, 0, 'the NTK predictor reproduces the template table');
        assert.ok(c.certified, `${c.reason} ${c.agreement.firstDisagreement ?? ''}`);
        assert.equal(c.agreement.percent, 100);
        assert.ok(c.slots <= c.D * c.D + 1 || c.D === 0);
        assert.ok(c.margin > 0);
      }),
      { numRuns: algorithm === 'bellman-ford' ? 40 : 80, seed: 21 },
    );
  });
}

test('flooding = reachability and BFS = queue BFS on all 16,807 labelled trees with 7 nodes (one batched GNN run each)', () => {
  const n = 7;
  const trees = 7 ** 5;
  const edges: [number, number][] = [];
  const sources: number[] = [];
  for (let t = 0; t < trees; t++) {
    const seq: number[] = [];
    for (let k = 0, x = t; k < 5; k++, x = Math.floor(x / 7)) seq.push(x % 7);
    for (const [u, v] of pruferTree(seq, n)) edges.push([t * n + u, t * n + v]);
    sources.push(t * n + (t % n)); // vary the source inside the tree
  }
  const g = makeGraph(trees * n, edges, sources);
  assert.equal(maxDegree(g), 6);
  const { colour, colours } = distance2Colouring(g);
  assert.ok(colours <= 7, 'trees: at most D + 1 colours');
  const inits = nodeInits(g, colour);
  // flooding
  const fl = floodingInstruction(6, 1, colours);
  const fr = runGnn(g, fl, inits, new NtkPredictor(fl.table, 1e-4), { checkTable: true });
  assert.ok(fr.converged);
  assert.equal(fr.collisions, 0);
  assert.equal(fr.tableMismatches, 0);
  const ref = floodReference(g, sources.map(() => 1)).reached;
  const got = fl.schema.comp.get('got')!.offset;
  let agree = 0;
  for (let v = 0; v < g.n; v++) if (fr.comp[v * fl.schema.compSize + got] === ref[v]) agree++;
  assert.equal(agree, g.n);
  // BFS with l = 3 bits (tree distances <= 6)
  const bi = bfsInstruction(6, 3, colours);
  const br = runGnn(g, bi, inits, new NtkPredictor(bi.table, 1e-4), { checkTable: true });
  assert.equal(br.tableMismatches, 0);
  const dist = bfsReference(g).dist;
  const cs = bi.schema.compSize;
  const d0 = bi.schema.comp.get('dist')!.offset;
  for (let v = 0; v < g.n; v++) {
    const val = br.comp[v * cs + d0] + 2 * br.comp[v * cs + d0 + 1] + 4 * br.comp[v * cs + d0 + 2];
    assert.equal(val, dist[v], `node ${v}`);
  }
});

test('high fan-in: every algorithm certified on its bounded-degree view (DFS: the port view)', () => {
  // a star-like DAG: one input feeding 9 branches that meet in one concat
  const edges: [number, number, number][] = [];
  for (let i = 1; i <= 9; i++) edges.push([0, i, i % 3 + 1], [i, 10, 2]);
  edges.push([10, 11, 1]);
  const g = makeGraph(12, edges, [0]);
  for (const algorithm of ALGORITHMS) {
    const c = certify(g, algorithm, { maxDegree: 4 });
    assert.equal(c.regime, 'bounded-degree-view');
    assert.ok(c.certified, c.reason);
    assert.ok(c.D <= 4);
    assert.ok((c.helpers ?? 0) > 0);
    assert.equal(c.instruction, algorithm === 'bfs' ? 'bellman-ford' : algorithm === 'dfs' ? 'dfs-ports' : algorithm);
    // inside the regime when the bound allows it
    const inside = certify(g, algorithm, { maxDegree: 10 });
    assert.ok(inside.certified);
    assert.equal(inside.instruction, algorithm);
  }
});

test('BFS on bounded-degree views (0/1-weighted Bellman-Ford) = queue BFS on the original graph', () => {
  fc.assert(
    fc.property(boundedGraph(14, 7), (g) => {
      const c = certify(g, 'bfs', { maxDegree: 3 });
      assert.ok(c.certified, `${c.reason} ${c.agreement.firstDisagreement ?? ''}`);
      assert.equal(c.regime, maxDegree(g) > 3 ? 'bounded-degree-view' : 'inside');
    }),
    { numRuns: 25, seed: 22 },
  );
});

test('a disagreement is reported, never certified: too few bits for BFS distances', () => {
  const edges: [number, number][] = [];
  for (let i = 1; i < 8; i++) edges.push([i - 1, i]);
  const g = makeGraph(8, edges, [0]);
  const c = certify(g, 'bfs', { bits: 2 }); // distances up to 7 need 3 bits
  assert.equal(c.certified, false);
  assert.ok(c.agreement.percent < 100);
  assert.match(c.reason ?? '', /disagrees|termination/);
});
