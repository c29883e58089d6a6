/**
 * DFS on the order-preserving port view (src/learnability/dfs-view.ts, issue 14 item 2): the
 * view's shape, the `dfs-ports` instruction's exact run (table semantics) against classical DFS
 * of the ORIGINAL graph on random high-degree graphs, the certificate at a fixed bound and under
 * 'auto', and the chain view's counterexample graph now walked in the original order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { certify, precision, settingTemplates, withVirtualRoot } from '../../src/learnability/certify.ts';
import { decodePorts, dfsPortsInstruction, portInits, portRoundCap, portView } from '../../src/learnability/dfs-view.ts';
import { dfsReference, distance2Colouring, makeGraph, maxDegree, type LearnGraph } from '../../src/learnability/graph.ts';
import { nodeInits, runGnn } from '../../src/learnability/gnn.ts';
import { TablePredictor } from '../../src/learnability/predictors.ts';
import { boundedGraph, denseNetGraph, hubGraph } from './helpers.ts';

/** Runs `dfs-ports` with the exact table semantics on the port view of g (virtual root when g
 * has several sources) and returns the decoded stamps/parents and the classical reference. */
function runPorts(g: LearnGraph, rank?: ArrayLike<number>) {
  const aug = g.sources.length > 1 ? withVirtualRoot(g) : g;
  const r = rank ?? distance2Colouring(aug).colour;
  const pv = portView(aug, r);
  const { colour, colours } = distance2Colouring(pv.graph);
  const pin = portInits(pv, colour);
  const l = precision(g, 'dfs');
  const ins = dfsPortsInstruction(Math.max(1, maxDegree(pv.graph)), l, colours, (v) => pin[v]);
  const root = aug.sources.length ? aug.sources[0] : -1;
  const res = runGnn(pv.graph, ins, nodeInits(pv.graph, colour, root), new TablePredictor(ins.table), { maxRounds: portRoundCap(pv) });
  const got = decodePorts(pv, aug.n, ins, res.comp);
  const ref = root >= 0 ? dfsReference(aug, root, r) : { disc: new Int32Array(aug.n).fill(-1), parent: new Int32Array(aug.n).fill(-1) };
  return { pv, res, got, ref, colours };
}

test('the port view: max degree <= 3, one port per incident edge, every original edge once between its endpoints\' ports, ports in rank order', () => {
  fc.assert(
    fc.property(hubGraph(40, 30), fc.integer({ min: 0, max: 1000 }), (g, salt) => {
      const rank = Array.from({ length: g.n }, (_, i) => (i * 7919 + salt) % 1009);
      const pv = portView(g, rank);
      assert.ok(maxDegree(pv.graph) <= 3);
      assert.equal(pv.graph.n, g.adj.reduce((s, a) => s + Math.max(1, a.length), 0));
      const seen = new Set<string>();
      for (let p = 0; p < pv.graph.n; p++) {
        const q = pv.real[p];
        if (q < 0) continue;
        assert.equal(pv.real[q], p);
        const [a, b] = [pv.owner[p], pv.owner[q]];
        assert.ok(g.adj[a].includes(b), `view edge ${a}-${b} is not an original edge`);
        seen.add(`${a},${b}`);
      }
      for (let v = 0; v < g.n; v++) for (const u of g.adj[v]) assert.ok(seen.has(`${v},${u}`));
      // walking v's path from its head lists its neighbours by increasing rank
      for (let v = 0; v < g.n; v++) {
        const order: number[] = [];
        for (let p = v; p >= 0; p = pv.next[p]) if (pv.real[p] >= 0) order.push(pv.owner[pv.real[p]]);
        assert.deepEqual(order, [...g.adj[v]].sort((x, y) => rank[x] - rank[y] || x - y));
      }
    }),
    { numRuns: 30, seed: 7 },
  );
});

test('dfs-ports on the port view = classical DFS of the original graph (stamps, parents) on random high-degree graphs, no collision, converged', () => {
  fc.assert(
    fc.property(hubGraph(40, 30), (g) => {
      assert.ok(maxDegree(g) > 16);
      const { pv, res, got, ref, colours } = runPorts(g);
      assert.ok(maxDegree(pv.graph) <= 3 && colours <= 10);
      assert.ok(res.converged, 'no termination');
      assert.equal(res.collisions, 0);
      assert.deepEqual(Array.from(got.values), Array.from(ref.disc));
      assert.deepEqual(Array.from(got.extra), Array.from(ref.parent));
    }),
    { numRuns: 40, seed: 14 },
  );
});

test('dfs-ports follows any given neighbour order (random ranks) on small graphs with several sources', () => {
  fc.assert(
    fc.property(boundedGraph(14, 6), fc.integer({ min: 0, max: 1000 }), (g, salt) => {
      const n = g.sources.length > 1 ? g.n + 1 : g.n;
      const rank = Array.from({ length: n }, (_, i) => (i * 4099 + salt) % 997);
      const { res, got, ref } = runPorts(g, rank);
      assert.ok(res.converged);
      assert.equal(res.collisions, 0);
      assert.deepEqual(Array.from(got.values), Array.from(ref.disc));
      assert.deepEqual(Array.from(got.extra), Array.from(ref.parent));
    }),
    { numRuns: 60, seed: 15 },
  );
});

test('the chain view\'s counterexample (star 0-{1..5} + path 1-6-4): the port view keeps the order 0 1 6 4 2 3 5', () => {
  const g = makeGraph(7, [[0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [1, 6], [6, 4]], [0]);
  const byId = Array.from({ length: 7 }, (_, i) => i);
  const { got } = runPorts(g, byId);
  const order = byId.filter((v) => got.values[v] >= 0).sort((x, y) => got.values[x] - got.values[y]);
  assert.deepEqual(order, [0, 1, 6, 4, 2, 3, 5]);
});

test('certificates: DFS above a fixed bound runs on the port view and is certified (NTK predictor)', () => {
  fc.assert(
    fc.property(hubGraph(30, 24), (g) => {
      const c = certify(g, 'dfs', { maxDegree: 4 });
      assert.ok(c.certified, `${c.reason} ${c.agreement.firstDisagreement ?? ''}`);
      assert.equal(c.regime, 'bounded-degree-view');
      assert.equal(c.instruction, 'dfs-ports');
      assert.ok(c.D <= 3 && (c.helpers ?? 0) > 0);
      assert.equal(c.agreement.percent, 100);
      assert.equal(c.tableMismatches, 0);
    }),
    { numRuns: 10, seed: 16 },
  );
});

test("DFS on a DenseNet-shaped graph (degree 26): 'auto' picks the port view (fewer templates than full degree), certified; full degree certifies the same walk", () => {
  const g = denseNetGraph([6, 24]);
  const view = settingTemplates(g, 'dfs', 16);
  const full = settingTemplates(g, 'dfs', 26);
  assert.ok(typeof view !== 'string' && typeof full !== 'string');
  assert.ok(view.templates < full.templates, `${view.templates} vs ${full.templates}`);
  const c = certify(g, 'dfs');
  assert.ok(c.certified, c.reason);
  assert.equal(c.setting?.chosen, 'view');
  assert.equal(c.instruction, 'dfs-ports');
  assert.match(c.setting?.why ?? '', /port view/);
  const f = certify(g, 'dfs', { maxDegree: 26 });
  assert.ok(f.certified && f.regime === 'inside');
  // both compare node by node with the same classical DFS (same rank order): both at 100%
  assert.equal(c.agreement.agree, f.agreement.agree);
});
