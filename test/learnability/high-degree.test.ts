/**
 * Certificates on high-degree graphs (issue 14): the NTK predictor's margin at a DenseNet
 * concat's fan-in (the bare template table loses it to the closed form's interference term
 * beta(m) N_b; inert padding rows restore it), DFS certified at the graph's own degree against
 * classical DFS on random high-degree graphs (the port view: dfs-view.test.ts), and the default setting ('auto') choosing per
 * algorithm the cheapest of full degree and the bounded-degree view that certifies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ALGORITHMS, build, certify, precision, settingTemplates, weightBits } from '../../src/learnability/certify.ts';
import { boundedDegreeView, dfsReference, distance2Colouring, makeGraph, maxDegree } from '../../src/learnability/graph.ts';
import { nodeInits, runGnn } from '../../src/learnability/gnn.ts';
import { NtkPredictor, TablePredictor, ntkAlphaBeta } from '../../src/learnability/predictors.ts';
import { boundedGraph, denseNetGraph, hubGraph } from './helpers.ts';

test('Bellman-Ford at degree 26 (a 24-layer dense block): the bare table loses its margin, the padded one is exact with margin >= eps', () => {
  const g = denseNetGraph([24]);
  assert.equal(maxDegree(g), 26);
  const eps = 5e-3;
  // the bare template table: the closed form misses bits (interference, not conditioning)
  const { colour, colours } = distance2Colouring(g);
  const l = precision(g, 'bellman-ford');
  const ins = build('bellman-ford', 26, l, colours, 1, weightBits(g));
  const inits = nodeInits(g, colour);
  const bare = runGnn(g, ins, inits, new NtkPredictor(ins.table, eps), { checkTable: true, maxRounds: ins.period * (g.n + 2) });
  assert.ok(bare.tableMismatches > 0, 'the bare table reproduces every update: the regression this test pins is gone');
  const M = runGnn(g, ins, inits, new TablePredictor(ins.table), { maxRounds: ins.period * (g.n + 2) }).maxMatched;
  let nMax = 0;
  for (const w of ins.table.writers) nMax = Math.max(nMax, w);
  const worst = (n0: number) => Math.min(...Array.from({ length: M }, (_, i) => { const { alpha, beta } = ntkAlphaBeta(i + 1, n0); return alpha + beta * nMax; }));
  assert.ok(worst(ins.table.count) < eps, `bare table: worst on-value ${worst(ins.table.count)} should be below eps`);
  // the kernel solve is well conditioned: K = (1 - c) I + c J, cond = 1 + n0 c / (1 - c)
  const c = 1 / (2 * Math.PI);
  assert.ok(1 + (ins.table.count * c) / (1 - c) < 1e3);
  // the certificate pads the table and pins the margin
  const cert = certify(g, 'bellman-ford');
  assert.ok(cert.certified, cert.reason);
  assert.equal(cert.setting?.chosen, 'full-degree');
  assert.equal(cert.D, 26);
  assert.equal(cert.tableMismatches, 0);
  assert.ok(cert.padding > 0 && cert.n0 === cert.templates + cert.padding);
  assert.ok(cert.margin >= eps, `margin ${cert.margin} < eps`);
  assert.ok(worst(cert.n0) >= 2 * eps, 'every on-bit of every visited state clears 2 eps');
});

test('DFS at the graph\'s own degree = classical DFS (rank order, discovery stamps, parents) on random high-degree graphs', () => {
  fc.assert(
    fc.property(hubGraph(40, 30), (g) => {
      assert.ok(maxDegree(g) > 16);
      const c = certify(g, 'dfs', { maxDegree: maxDegree(g) });
      assert.ok(c.certified, `${c.reason} ${c.agreement.firstDisagreement ?? ''}`);
      assert.equal(c.agreement.percent, 100);
      assert.equal(c.setting?.chosen, 'full-degree');
      assert.ok(c.D >= maxDegree(g), 'run at the graph\'s own degree (a virtual root may add one)');
      assert.ok(c.regime === 'inside');
    }),
    { numRuns: 25, seed: 41 },
  );
});

test('DFS on a DenseNet-shaped graph (degree 26) is certified at full degree (--max-degree 26)', () => {
  const c = certify(denseNetGraph([6, 24]), 'dfs', { maxDegree: 26 });
  assert.ok(c.certified, c.reason);
  assert.equal(c.D, 26);
  assert.equal(c.regime, 'inside');
});

test("maxDegree 'auto': every algorithm certified, the chosen setting is the cheapest that certifies, and the report says why", () => {
  fc.assert(
    fc.property(boundedGraph(14, 8), (g) => {
      for (const algorithm of ALGORITHMS) {
        const c = certify(g, algorithm, { viewDegree: 4 });
        assert.ok(c.certified, `${algorithm}: ${c.reason} ${c.setting?.why}`);
        assert.ok(c.setting && c.setting.mode === 'auto' && c.setting.why.length > 0);
        const D = maxDegree(g);
        if (D <= 4) {
          assert.equal(c.setting.chosen, 'full-degree');
          continue;
        }
        const full = settingTemplates(g, algorithm, D);
        const view = settingTemplates(g, algorithm, 4);
        const tFull = typeof full === 'string' ? Infinity : full.templates;
        const tView = typeof view === 'string' ? Infinity : view.templates;
        // cheapest first: the other setting is chosen only when the cheaper one did not certify
        const cheaper = tFull <= tView ? 'full-degree' : 'view';
        if (c.setting.chosen !== cheaper) assert.match(c.setting.why, /not certified/);
        assert.equal(c.templates, c.setting.chosen === 'full-degree' ? tFull : tView);
      }
    }),
    { numRuns: 12, seed: 42 },
  );
});

test('a fixed --max-degree: the view above it, for DFS the order-preserving port view', () => {
  const g = makeGraph(12, Array.from({ length: 11 }, (_, i) => [0, i + 1] as [number, number]), [0]);
  const c = certify(g, 'dfs', { maxDegree: 4 });
  assert.equal(c.regime, 'bounded-degree-view');
  assert.equal(c.instruction, 'dfs-ports');
  assert.ok(c.certified, c.reason);
  assert.equal(c.setting?.mode, 'fixed');
  assert.ok(certify(g, 'dfs').certified);
  assert.equal(certify(g, 'dfs', { maxDegree: 2 }).regime, 'outside');
});

test('why DFS is not run on the chain view: the walk re-enters a visited node\'s chain through a helper and changes the order', () => {
  const g = makeGraph(7, [[0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [1, 6], [6, 4]], [0]);
  const byId = (n: number) => Array.from({ length: n }, (_, i) => i);
  const order = (disc: Int32Array, n: number) => byId(n).filter((i) => disc[i] >= 0).sort((x, y) => disc[x] - disc[y]);
  const original = order(dfsReference(g, 0, byId(g.n)).disc, g.n);
  const v = boundedDegreeView(g, 3);
  const onView = order(dfsReference(v.graph, 0, byId(v.graph.n)).disc, v.graph.n).filter((i) => i < g.n);
  assert.deepEqual(original, [0, 1, 6, 4, 2, 3, 5]);
  assert.deepEqual(onView, [0, 1, 6, 4, 5, 3, 2]);
});
