/**
 * The generic LOCAL-model step: local Boolean rules compiled into templates by enumerating
 * the bits they read, run as the learned GNN (NTK predictor), compared with evaluating the
 * rule directly on random bounded-degree graphs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { distance2Colouring } from '../../src/learnability/graph.ts';
import { localInstruction, type LocalRule } from '../../src/learnability/instructions.ts';
import { Schema } from '../../src/learnability/templates.ts';
import { nodeInits, runGnn } from '../../src/learnability/gnn.ts';
import { NtkPredictor } from '../../src/learnability/predictors.ts';
import { boundedGraph } from './helpers.ts';

test('LOCAL step: b = a XOR (OR of the neighbours\' a), compiled from rules, = direct evaluation', () => {
  fc.assert(
    fc.property(boundedGraph(12, 3), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), (g, a) => {
      const { colour, colours: d } = distance2Colouring(g);
      const sc = new Schema([{ name: 'slot', width: d }, { name: 'a', width: 1 }, { name: 'b', width: 1 }], [{ name: 'a', width: 1 }], d);
      const rules: LocalRule[] = [{ reads: [sc.bit('a')], writes: [sc.bit('a')], fn: ([x]) => [x] }];
      for (let s = 0; s < d; s++) {
        rules.push({ reads: [sc.bit('slot', s)], writes: [sc.bit('slot', s)], fn: ([x]) => [x] });
        rules.push({ reads: [sc.bit('slot', s), sc.bit('a')], writes: [sc.msg(s, 'a')], fn: ([x, y]) => [x & y] });
        const others = Array.from({ length: d }, (_, c) => c).filter((c) => c !== s);
        rules.push({
          reads: [sc.bit('slot', s), sc.bit('a'), ...others.map((c) => sc.msg(c, 'a'))],
          writes: [sc.bit('b')],
          fn: ([me, x, ...nb]) => [me ? x ^ (nb.some(Boolean) ? 1 : 0) : 0],
        });
      }
      const ins = localInstruction({ D: 3, l: 1, slots: d, schema: sc, rules, resultFields: ['b'], init: (info) => {
        const st = new Uint8Array(sc.size);
        st[sc.bit('slot', info.slot)] = 1;
        st[sc.bit('a')] = a[info.node] ? 1 : 0;
        return st;
      } });
      const res = runGnn(g, ins, nodeInits(g, colour), new NtkPredictor(ins.table), { checkTable: true });
      assert.ok(res.converged);
      assert.equal(res.collisions, 0);
      assert.equal(res.tableMismatches, 0);
      for (let v = 0; v < g.n; v++) {
        const want = (a[v] ? 1 : 0) ^ (g.adj[v].some((u) => a[u]) ? 1 : 0);
        assert.equal(res.comp[v * sc.compSize + sc.bit('b')], want, `node ${v}`);
      }
    }),
    { numRuns: 60, seed: 31 },
  );
});

test('LOCAL rules reading too many bits are refused', () => {
  const sc = new Schema([{ name: 'x', width: 20 }], [], 1);
  assert.throws(() => localInstruction({ D: 1, l: 1, slots: 1, schema: sc, resultFields: ['x'], init: () => new Uint8Array(sc.size), rules: [{ reads: Array.from({ length: 20 }, (_, i) => i), writes: [0], fn: () => [1] }] }), /reads 20 bits/);
});
