/**
 * The implementation of refine.ts's solveUnits before it was rewritten for speed (Maps, sorted
 * node lists, candidate masks recomputed per op), kept verbatim as the reference the rewrite must
 * match answer for answer (test/get/solve-units.test.ts).
 */
import type { CostModel } from '../../src/fusion/types.ts';
import { mergeSorted } from '../../src/fusion/groups.ts';
import { bitHi, bitLo, solveFamily, type Cand } from '../../src/search/window.ts';

export function solveUnitsReference(cost: CostModel, groups: readonly number[][], unitOf: Int32Array, freeUnit: boolean[], limits: { maxCandidates?: number; maxWork?: number }): number[][] | undefined {
  const maxCandidates = limits.maxCandidates ?? 300;
  const { succ, pred } = cost.graph;
  // local op order: the groups in execution order, each sorted (topological, as window.ts)
  const ops: number[] = [];
  for (const g of groups) ops.push(...g);
  const local = new Map<number, number>();
  ops.forEach((v, i) => local.set(v, i));
  const predLo: number[] = [], predHi: number[] = [];
  for (const v of ops) {
    let l = 0, h = 0;
    for (const u of pred[v]) {
      const i = local.get(u);
      if (i !== undefined) (l += bitLo(i), h += bitHi(i));
    }
    predLo.push(l);
    predHi.push(h);
  }
  // nodes: whole valid units, single free ops
  const nodeOf = new Map<number, number>();
  const nodes: number[][] = [];
  const free: boolean[] = [];
  const unitNode = new Map<number, number>();
  for (const v of ops) {
    const u = unitOf[v];
    if (freeUnit[u]) (nodeOf.set(v, nodes.length), nodes.push([v]), free.push(true));
    else {
      let k = unitNode.get(u);
      if (k === undefined) (unitNode.set(u, (k = nodes.length)), nodes.push([]), free.push(false));
      nodes[k].push(v);
      nodeOf.set(v, k);
    }
  }
  for (const ns of nodes) ns.sort((a, b) => a - b); // a unit may span groups: its ops in id order
  const adj = nodes.map((ns, k) => {
    const out = new Set<number>();
    for (const v of ns) for (const list of [succ[v], pred[v]]) for (const u of list) {
      const j = nodeOf.get(u);
      if (j !== undefined && j !== k) out.add(j);
    }
    return [...out].sort((x, y) => x - y);
  });
  const cands: Cand[] = [];
  const have = new Set<number>(); // node sets already candidates (nkey)
  const add = (g: number[]) => {
    let lo = 0, hi = 0, plo = 0, phi = 0;
    for (const v of g) {
      const i = local.get(v)!;
      lo += bitLo(i);
      hi += bitHi(i);
      plo = (plo | predLo[i]) >>> 0;
      phi = (phi | predHi[i]) >>> 0;
    }
    cands.push({ ops: g, lo, hi, plo: (plo & ~lo) >>> 0, phi: (phi & ~hi) >>> 0, dram: cost.dram(g) });
  };
  for (const g of groups) add(g);
  // Node sets carry their membership as two 32-bit halves (nodes <= maxOps <= 53), keyed by the
  // exact number hi * 2^32 + lo: no key string or sort per set tested (the same sets are tested
  // in the same order as with sorted-list keys, so the candidates and the answer are unchanged).
  type Set_ = { nodes: number[]; ops: number[]; free: boolean; lo: number; hi: number };
  const nkey = (lo: number, hi: number) => hi * 4294967296 + (lo >>> 0);
  let level: Set_[] = [];
  const seen = new Set<number>();
  // the window's groups are unions of nodes (units are never cut, free ops are nodes): a grown
  // set equal to one of them is already a candidate. Keyed by node set, as the grown sets are.
  for (const g of groups) {
    let lo = 0, hi = 0, size = 0;
    for (const v of g) {
      const k = nodeOf.get(v)!;
      if (k < 32) lo = (lo | (1 << k)) >>> 0;
      else hi = (hi | (1 << (k - 32))) >>> 0;
    }
    for (let k = 0; k < nodes.length; k++) if (k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1) size += nodes[k].length;
    if (size === g.length) have.add(nkey(lo, hi)); // (a group that is no union of nodes equals no grown set)
  }
  for (let k = 0; k < nodes.length; k++) {
    const g = nodes[k].slice();
    const lo = k < 32 ? (1 << k) >>> 0 : 0, hi = k < 32 ? 0 : (1 << (k - 32)) >>> 0;
    seen.add(nkey(lo, hi));
    if (!cost.valid(g) && g.length > 1) continue;
    level.push({ nodes: [k], ops: g, free: free[k], lo, hi });
  }
  grow: while (level.length) {
    const next: Set_[] = [];
    for (const S of level) {
      const key = nkey(S.lo, S.hi);
      if (!have.has(key)) {
        if (cands.length >= maxCandidates) break grow;
        have.add(key);
        add(S.ops);
      }
      if (S.nodes.length > 1 && !S.free) continue;
      for (const k of S.nodes) for (const j of adj[k]) {
        const jlo = j < 32 ? (1 << j) >>> 0 : 0, jhi = j < 32 ? 0 : (1 << (j - 32)) >>> 0;
        if ((S.lo & jlo) !== 0 || (S.hi & jhi) !== 0) continue; // j in S
        if (!S.free && !free[j]) continue; // two valid units without a free op: not allowed
        const lo = (S.lo | jlo) >>> 0, hi = (S.hi | jhi) >>> 0;
        const nk = nkey(lo, hi);
        if (seen.has(nk)) continue;
        if (seen.size >= 4 * maxCandidates) break grow; // work cap: sets tested
        seen.add(nk);
        const g = mergeSorted(S.ops, nodes[j]);
        if (cost.valid(g)) {
          const ns = S.nodes.slice();
          let at = ns.length;
          while (at > 0 && ns[at - 1] > j) at--;
          ns.splice(at, 0, j);
          next.push({ nodes: ns, ops: g, free: S.free || free[j], lo, hi });
        }
      }
    }
    level = next;
  }
  const r = solveFamily(cost, { groups, ops, predLo, predHi, cands, complete: false }, limits.maxWork ?? 1000000);
  if (!r || !r.improved) return undefined;
  return r.parts.map((q) => [...q].sort((a, b) => a - b));
}
