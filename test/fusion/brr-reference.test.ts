/**
 * The BRR cost model against a reference written from its definition (src/fusion/brr.ts header),
 * plainly, with Maps and Sets: the model's own code is allocation-free (scratch arrays, dense
 * weight ids, stamps) for the searches' sake, and this checks it computes the same F_beta, live
 * maps, F_D and re-fetch on random CNN-like graphs whose weights are shared between ops (the
 * re-fetch case) and random groups, sorted or not, at buffer sizes from tight to roomy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomCnn } from './gen.ts';
import { BrrCostModel } from '../../src/fusion/brr.ts';
import type { OpGraph } from '../../src/fusion/types.ts';
import { Rng } from '../../src/util/random.ts';

/** F_beta, the live maps at the peak, F_D and the re-fetched weight bytes, from the definition. */
function reference(g: OpGraph, group: number[], beta: number, eb: number) {
  const G = [...new Set(group)].sort((a, b) => a - b);
  const inG = new Set(G);
  const pos = new Map(G.map((id, k) => [id, k]));
  const live = G.map(() => 0);
  const intervals: { s: number; e: number; t: number }[] = [];
  for (const id of G) {
    for (const t of g.ops[id].outputs) {
      const uses = g.tensors[t].consumers.filter((c) => inG.has(c)).map((c) => pos.get(c)!);
      if (uses.length === 0) continue;
      const s = pos.get(id)!, e = Math.max(...uses);
      intervals.push({ s, e, t });
    }
  }
  for (let k = 0; k < G.length; k++) for (const iv of intervals) if (iv.s <= k && k <= iv.e) live[k] += g.tensors[iv.t].elements * eb;
  let peak = 0, at = 0;
  live.forEach((b, k) => {
    if (b > peak) [peak, at] = [b, k];
  });
  const liveMaps = intervals.filter((iv) => iv.s <= at && at <= iv.e).map((iv) => g.tensors[iv.t].name);
  // weight sub-groups: greedy consecutive packing under beta - peak
  const cap = beta - peak;
  const subs: number[][] = [];
  let open: { ops: number[]; bytes: number } | undefined;
  const subBytes: number[] = [];
  for (const id of G) {
    const w = g.ops[id].weightElements * eb;
    if (w === 0) continue;
    if (open && open.bytes + w <= cap) {
      open.ops.push(id);
      open.bytes += w;
      subBytes[subBytes.length - 1] = open.bytes;
    } else {
      open = { ops: [id], bytes: w };
      subs.push(open.ops);
      subBytes.push(w);
    }
  }
  const fBeta = peak + Math.max(0, ...subBytes);
  // F_D: inputs read once, outputs written once, each weight tensor once per sub-group using it
  let io = 0;
  const read = new Set<number>();
  for (const id of G) {
    for (const t of g.ops[id].inputs) if (!inG.has(g.tensors[t].producer) && !read.has(t)) (read.add(t), (io += g.tensors[t].elements * eb));
    for (const t of g.ops[id].outputs) {
      const T = g.tensors[t];
      if (T.graphOutput || T.consumers.length === 0 || T.consumers.some((c) => !inG.has(c))) io += T.elements * eb;
    }
  }
  const uses = new Map<string, number>();
  for (const id of G) for (const w of g.ops[id].weights ?? []) uses.set(w.name, (uses.get(w.name) ?? 0) + 1);
  let weights = G.reduce((a, id) => a + g.ops[id].weightElements, 0);
  let once = weights;
  if ([...uses.values()].some((n) => n > 1)) {
    weights = 0;
    once = 0;
    const ever = new Set<string>();
    for (const sub of subs) {
      const inSub = new Set<string>();
      for (const id of sub) {
        const ws = g.ops[id].weights ?? [];
        if (ws.length === 0) (weights += g.ops[id].weightElements), (once += g.ops[id].weightElements);
        for (const w of ws) {
          if (inSub.has(w.name)) continue;
          inSub.add(w.name);
          weights += w.elements;
          if (!ever.has(w.name)) (ever.add(w.name), (once += w.elements));
        }
      }
    }
  }
  return { fBeta, liveMaps, dram: io + weights * eb, refetch: (weights - once) * eb };
}

/** randomCnn with each conv's weights drawn from a small pool of named tensors, so that ops
 * share weights (as tied or repeated blocks do); weightElements stays their sum. */
function withSharedWeights(seed: number, blocks: number): OpGraph {
  const g = randomCnn(seed, blocks);
  const rng = new Rng(seed + 1);
  const pool = Array.from({ length: 4 }, (_, i) => ({ name: `W${i}`, elements: rng.pick([8, 64, 300]) }));
  for (const op of g.ops) {
    if (op.weightElements === 0 || rng.next() < 0.3) continue;
    op.weights = [rng.pick(pool), ...(rng.next() < 0.3 ? [rng.pick(pool)] : [])];
    op.weightElements = op.weights.reduce((a, w) => a + w.elements, 0);
  }
  return g;
}

test('property: BrrCostModel = the BRR definition (F_beta, live maps, F_D, re-fetch) with shared weights', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 2, max: 6 }), fc.constantFrom(64, 512, 2048, 16384), fc.constantFrom(1, 2), (seed, blocks, beta, eb) => {
      const g = withSharedWeights(seed, blocks);
      const m = new BrrCostModel(g, beta, eb);
      const rng = new Rng(seed + 2);
      const n = g.ops.length;
      for (let q = 0; q < 25; q++) {
        const size = 1 + rng.int(0, Math.min(n, 12) - 1);
        const start = rng.int(0, n - 1);
        // a window of consecutive ops (groups the searches meet) or scattered ops, in any order
        const group = rng.next() < 0.5 ? Array.from({ length: Math.min(size, n - start) }, (_, i) => start + i) : Array.from({ length: size }, () => rng.int(0, n - 1));
        if (rng.next() < 0.5) group.reverse();
        const ref = reference(g, group, beta, eb);
        const at = `seed ${seed} blocks ${blocks} beta ${beta} group ${group}`;
        assert.equal(m.memoryBytes(group), ref.fBeta, at);
        assert.equal(m.dram(group), ref.dram, at);
        assert.equal(m.dramBreakdown(group).refetch, ref.refetch, at);
        assert.deepEqual(m.memory(group).items.filter((i) => i.kind === 'live-map').map((i) => i.tensor), ref.liveMaps, at);
      }
    }),
    { numRuns: 150 },
  );
});
