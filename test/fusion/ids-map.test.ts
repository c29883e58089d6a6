/**
 * IdsMap (src/fusion/ids-map.ts) against a Map keyed by the ids joined with ',' (what it
 * replaced in the segment DP): the same values and the same insertion order under any sequence
 * of sets, lookups and one-id-less lookups, colliding hashes included; and the cost models'
 * evaluateUnion against valid(), dram() and memoryBytes() of the union it stands for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IdsMap, hashIds } from '../../src/fusion/ids-map.ts';
import { LbdfCostModel } from '../../src/fusion/lbdf.ts';
import { BrrCostModel } from '../../src/fusion/brr.ts';
import type { GroupFigures } from '../../src/fusion/cost-base.ts';
import { randomCnn } from './gen.ts';

const sortedIds = fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 8 }).map((a) => a.sort((x, y) => x - y));

/** Two different id lists with the same 30-bit hash (found by a search over random triples). */
function collidingPair(): [number[], number[]] {
  const pair: [number[], number[]] = [[1602, 2565, 2996], [1416, 1817, 2806]];
  assert.equal(hashIds(pair[0]), hashIds(pair[1]), 'hashIds changed: find a new colliding pair');
  return pair;
}

test('IdsMap: the same values in the same order as a Map keyed by the joined ids', () => {
  const [c1, c2] = collidingPair();
  const keys = fc.oneof(sortedIds, fc.constant(c1), fc.constant(c2));
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), ids: keys, v: fc.integer() }),
    fc.record({ kind: fc.constant('get' as const), ids: keys }),
    fc.record({ kind: fc.constant('without' as const), ids: keys, at: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const m = new IdsMap<number>();
      const ref = new Map<string, number>();
      for (const o of ops) {
        if (o.kind === 'set') {
          m.set(o.ids, o.v);
          ref.set(o.ids.join(','), o.v);
        } else if (o.kind === 'get') {
          assert.equal(m.get(o.ids), ref.get(o.ids.join(',')));
        } else if (o.ids.length > 0) {
          const w = o.ids[o.at % o.ids.length];
          assert.equal(m.getWithout(o.ids, w), ref.get(o.ids.filter((x) => x !== w).join(',')));
        }
      }
      assert.equal(m.size, ref.size);
      assert.deepEqual([...m.values()], [...ref.values()]);
    }),
    { numRuns: 300 },
  );
});

test('IdsMap: two lists with the same hash are two keys', () => {
  const [c1, c2] = collidingPair();
  assert.equal(hashIds(c1), hashIds(c2));
  const m = new IdsMap<string>();
  m.set(c1, 'first');
  m.set(c2, 'second');
  assert.equal(m.get(c1), 'first');
  assert.equal(m.get(c2), 'second');
  assert.equal(m.getWithout([...c1, 1000].sort((a, b) => a - b), 1000), 'first');
  assert.equal(m.size, 2);
});

test('evaluateUnion gives the figures of the union and leaves the memo as it was', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 64 }), fc.array(fc.nat(), { minLength: 2, maxLength: 20 }), (seed, kib, picks) => {
      const g = randomCnn(seed, 3);
      const n = g.ops.length;
      const half = picks.length >> 1;
      const a = [...new Set(picks.slice(0, half).map((p) => p % n))].sort((x, y) => x - y);
      const b = [...new Set(picks.slice(half).map((p) => p % n))].sort((x, y) => x - y);
      const union = (x: number[], y: number[]) => [...new Set([...x, ...y])].sort((p, q) => p - q);
      for (const make of [() => new LbdfCostModel(g, kib * 1024, 1), () => new BrrCostModel(g, kib * 1024, 1)]) {
        const fresh = make();
        const m = make();
        const out: GroupFigures = { bytes: -1, dram: -1, valid: false };
        const figures = (u: number[]) => ({ bytes: fresh.memoryBytes(u), dram: fresh.dram(u), valid: fresh.valid(u) });
        assert.equal(m.evaluateUnion(a, b, out), fresh.valid(union(a, b)));
        assert.deepEqual(out, figures(union(a, b)));
        // a shorter union after a longer one (the scratch array is cut to length)
        const [b1, a1] = [b.slice(0, 1), a.slice(-1)];
        assert.equal(m.evaluateUnion(b1, a1, out), fresh.valid(union(b1, a1)));
        assert.deepEqual(out, figures(union(b1, a1)));
        // nothing was memoized: each union is evaluated again when asked
        const before = m.evaluations;
        m.valid(union(a, b));
        assert.equal(m.evaluations, before + 1);
        // and one the memo holds is answered from it
        m.evaluateUnion(a, b, out);
        assert.equal(m.evaluations, before + 1);
        assert.deepEqual(out, figures(union(a, b)));
        // without F_D: validity and F_beta alone from a model that has not seen the union
        const m2 = make();
        assert.equal(m2.evaluateUnion(a, b, out, false), fresh.valid(union(a, b)));
        assert.deepEqual({ ...out, dram: 0 }, { ...figures(union(a, b)), dram: 0 });
        assert.ok(Number.isNaN(out.dram));
      }
    }),
    { numRuns: 200 },
  );
});
