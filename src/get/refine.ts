/**
 * GET's exact refinement (beyond the paper; see rectifier.ts, `GetOptions.refine`): SPLIT answers
 * an invalid group with the FIRST valid split its greedy cut tree reaches, and merge-back only
 * rejoins whole parts, so a cut placed one op away from where the optimum places it stays there.
 * This step replaces that split by the BEST valid refinement of the group: the least-DRAM
 * partition of the group's ops into valid, connected, mutually acyclic groups, by the window
 * dynamic program of search/window.ts with the group as a one-group window.
 *
 * Why it is safe (window.ts's header, (a)-(d), with i = j): the invalid group is one group of an
 * acyclic plan, so it is a run of one group of the plan's execution order; any acyclic partition
 * of it into valid connected groups leaves the plan acyclic, and F_D adds up over groups. The
 * SPLIT answer is itself such a partition (checkSplit), so the DP's optimum is never worse than
 * it. When the group's family of valid convex connected parts is larger than the candidate cap,
 * the DP runs over the complete size levels plus SPLIT's own parts (still never worse; `exact`
 * false); groups of more than `maxOps` ops, or a DP over its work limit, keep SPLIT's answer.
 * Deterministic: the DP's order and tie-breaks depend only on op ids and the parts; no rng.
 *
 * Why the window DP and not a new solver: it already enumerates the valid convex connected parts
 * of a set of ops and solves the acyclic partition exactly; the group is exactly such a set.
 */
import type { CostModel, Group } from '../fusion/types.ts';
import { mergeSorted } from '../fusion/groups.ts';
import { bitHi, bitLo, EMPTY_FAMILY, extendFamily, MAX_KEY_BITS, solveFamily, solveWindow, type Cand } from '../search/window.ts';
import { executionOrder } from '../fusion/plan.ts';
import { segmentPathOptimum } from '../search/exact.ts';

/** The largest group the window DP takes (RefineLimits.maxOps, default 48, at most 53). */
const windowOps = (limits: RefineLimits) => Math.min(MAX_KEY_BITS, limits.maxOps ?? 48);
/** RefineLimits.maxCandidates's default. */
const MAX_CANDIDATES = 1500;

/** Limits of the refinement (deterministic: counts, never time). */
export interface RefineLimits {
  /** Groups with more ops keep SPLIT's answer (default 48, the window default; at most 53). */
  maxOps?: number;
  /** Candidate parts enumerated per group (default 1500). */
  maxCandidates?: number;
  /** Candidate checks in the DP (default 1e6). */
  maxWork?: number;
}

/** The refinement of one group: its best partition found, and whether that beat `parts`. */
export interface Refinement {
  parts: number[][];
  dram: number;
  /** Strictly cheaper than the given parts. */
  improved: boolean;
  /** The DP ran over every valid convex connected part of the group (a proven optimum). */
  exact: boolean;
}

/**
 * The least-DRAM acyclic partition of the union of `parts` (a valid split of one group of an
 * acyclic plan: parts valid, connected, mutually acyclic) into valid connected groups, or
 * undefined when the group is over `maxOps` ops or the DP over its work limit (keep `parts`).
 */
export function refineSplit(parts: readonly (readonly number[])[], cost: CostModel, limits: RefineLimits = {}): Refinement | undefined {
  if (parts.length === 0) return undefined;
  let n = 0;
  for (const p of parts) n += p.length;
  if (n > windowOps(limits)) return undefined;
  const r = solveWindow(cost, parts as Group[], { maxCandidates: limits.maxCandidates, maxWork: limits.maxWork });
  if (!r) return undefined;
  const out = r.parts.map((p) => [...p].sort((a, b) => a - b));
  return { parts: out, dram: r.dram, improved: r.improved, exact: r.exact };
}

/**
 * The proven optimum of one invalid group, computed from the group alone (GetOptions.refineFirst,
 * rectifier.ts): the least-DRAM acyclic partition of its ops into valid, connected, convex parts,
 * by the same window DP as refineSplit but over the group as it is, with no split given. Defined
 * only when the DP is exact: the group has at most `maxOps` ops and its family of valid convex
 * connected parts is complete under `maxCandidates` (else undefined: the group needs SPLIT, and
 * refineSplit then refines SPLIT's answer as before). Why this exists: when refineSplit is exact,
 * its DRAM is this optimum whatever SPLIT answered, so the explainer's split only decided which
 * of several equally cheap partitions was returned; answering with this one instead (a pure
 * function of the group: local order = sorted op ids, ties keep the first part found, all
 * singletons when no multi-op part helps) gives the same DRAM per group without explaining it.
 * Not the paper's method: no explainer is involved, and the rectifier counts such groups apart.
 */
export function optimalSplit(group: readonly number[], cost: CostModel, limits: RefineLimits = {}): Refinement | undefined {
  if (group.length < 2 || group.length > windowOps(limits)) return undefined;
  const g = [...group].sort((a, b) => a - b);
  const fam = extendFamily(cost, EMPTY_FAMILY, g, limits.maxCandidates ?? MAX_CANDIDATES, false);
  if (!fam.complete) return undefined;
  // The invalid group itself is no candidate (invalid); compared against all singletons (always a
  // feasible answer: one-op groups need no validity), so `improved` false means they are optimal.
  const singles = g.map((v) => [v]);
  const r = solveFamily(cost, { ...fam, groups: singles }, limits.maxWork ?? 1000000);
  if (!r) return undefined;
  return { parts: r.parts.map((p) => [...p].sort((a, b) => a - b)), dram: r.dram, improved: true, exact: true };
}

/**
 * The proven optimum of a group past the window DP's size (`maxOps`), for pruning only
 * (rectifier.ts `optimum`): the exact solver's segment-path DP (search/exact.ts
 * segmentPathOptimum: the group cut at the graph's separating ops, each segment's valid convex
 * parts enumerated, at most `maxCandidates` each; a 200-op efficientnet_b0 group in about a
 * millisecond), or undefined (a group the window DP takes, or past the DP's limits). Under that
 * size, a group the window DP could not enumerate has a dense family, which the segment DP
 * enumerates slowly too (GoogLeNet's Inception groups: ~7 ms each, for floors that pruned
 * nothing in compile's local search). Parts sorted; deterministic (work limits, no clock).
 */
export function segmentOptimum(group: readonly number[], cost: CostModel, limits: RefineLimits = {}): number[][] | undefined {
  if (group.length <= windowOps(limits)) return undefined;
  return segmentPathOptimum(cost, [...group].sort((a, b) => a - b), limits.maxCandidates ?? MAX_CANDIDATES)?.plan.map((p) => [...p].sort((a, b) => a - b));
}

/**
 * Plan-level exact re-grouping (beyond the paper; rectifier.ts `settle`, after merge-back.ts
 * mergeIntoPlan): mergeIntoPlan joins a produced part with a neighbouring group greedily, one
 * pair at a time, and never moves a cut inside the produced parts, so it stops where a better
 * grouping needs a part's cut moved together with a merge (MobileNetV2 LBDF int8 128 KiB, local
 * search + pg, seed 1: five groups over ops 100-119 where the optimum has four, cut elsewhere).
 * Here each window of consecutive groups of the execution order around a group holding
 * produced ops (at most `maxOps` ops, default 32) is re-grouped optimally by window.ts's DP over
 * the candidates that keep every group of the searched plan that was valid (`units` not holding
 * produced ops) whole; the produced parts' ops, which come from the invalid groups, may be
 * re-partitioned freely; a candidate that spans two or more units holds a produced op.
 *
 * Why valid groups stay whole: search/prune.ts's lower bound on a rectified plan's DRAM, which
 * pruning relies on to leave the searches unchanged, assumes it (its point 2: a group of the
 * rectified plan spanning several groups of the searched plan holds a part of an invalid group
 * and every valid one of them whole; parts are treated as pieces of invalid groups, so they
 * may be cut again). It also keeps the step local to what the rectification changed.
 * Safe and never worse: window.ts's proof (any acyclic partition of a window of consecutive
 * groups into valid connected groups keeps the plan acyclic; the window's current groups are
 * such a partition and pass the filter). Deterministic (no rng; fixed orders).
 */
export function mergeWindowsAround(plan: readonly (readonly number[])[], units: readonly (readonly number[])[], produced: ReadonlySet<number>, cost: CostModel, limits: { maxOps?: number; maxCandidates?: number; maxWork?: number } = {}): { plan: number[][]; improved: number } {
  const maxOps = Math.min(MAX_KEY_BITS, limits.maxOps ?? 32);
  const n = cost.graph.ops.length;
  const unitOf = new Int32Array(n).fill(-1);
  units.forEach((u, i) => u.forEach((v) => (unitOf[v] = i)));
  const freeUnit = units.map((u) => u.length > 0 && produced.has(u[0]));
  let cur: number[][] = plan.map((g) => [...g].sort((a, b) => a - b));
  let improved = 0;
  const isActive = (g: readonly number[]) => g.some((v) => produced.has(v));
  const tried = new Set<string>();
  const text = new Map<readonly number[], { ops: string; free: string }>();
  const textOf = (q: readonly number[]) => {
    let t = text.get(q);
    if (!t) text.set(q, (t = { ops: q.join(','), free: q.filter((v) => freeUnit[unitOf[v]]).join(',') }));
    return t;
  };
  for (let guard = 0; guard < 4 * cur.length + 4; guard++) {
    const order = executionOrder(cost.graph, cur);
    if (!order) break;
    let changed = false;
    for (let p = 0; p < order.length; p++) {
      const g = cur[order[p]];
      if (!isActive(g)) continue;
      // grow a window of consecutive groups around position p, alternately after and before
      let s = p, e = p, size = g.length;
      for (let grew = true; grew; ) {
        grew = false;
        if (e + 1 < order.length && size + cur[order[e + 1]].length <= maxOps) (size += cur[order[++e]].length, (grew = true));
        if (s > 0 && size + cur[order[s - 1]].length <= maxOps) (size += cur[order[--s]].length, (grew = true));
      }
      if (e === s) continue;
      const groups = order.slice(s, e + 1).map((i) => cur[i]);
      // the answer depends on the window's groups and which of their ops are free: cached per
      // cost model (searches meet the same windows again and again)
      // (planKey(groups) + '/' + each group's free ops, with each group's two strings built once
      // per call: the groups of `cur` are sorted, so planKey only orders them by first op)
      const key = groups.slice().sort(byFirst).map((q) => textOf(q).ops).join('|') + '/' + groups.map((q) => textOf(q).free).join('|');
      if (tried.has(key)) continue;
      tried.add(key);
      let memo = windowMemo.get(cost);
      if (!memo) windowMemo.set(cost, (memo = new Map()));
      let r = memo.get(key);
      if (r === undefined) {
        r = solveUnits(cost, groups, unitOf, freeUnit, limits) ?? null;
        if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value!);
        memo.set(key, r);
      }
      if (!r) continue;
      const inWin = new Set(order.slice(s, e + 1));
      cur = [...cur.filter((_, i) => !inWin.has(i)), ...r.map((q) => [...q])];
      improved++;
      changed = true;
      break; // the order changed: start again
    }
    if (!changed) break;
  }
  return { plan: cur, improved };
}

const byFirst = (a: readonly number[], b: readonly number[]) => a[0] - b[0];

/** Candidates per window of mergeWindowsAround (and 4x that many node sets tested): it runs on
 * every rectified plan, so it is kept well below window.ts's 1500. */
const WINDOW_CANDIDATES = 300;

/** Window answers kept per cost model (oldest dropped past MEMO_MAX). */
const windowMemo = new WeakMap<CostModel, Map<string, number[][] | null>>();
const MEMO_MAX = 50000;

/** The window's best re-grouping under the unit rule of mergeWindowsAround, or undefined when
 * nothing is strictly cheaper (or the DP is over its limits). The candidates are enumerated over
 * nodes, not ops: a whole valid unit is one node, a free op is one node (window.ts's op-level
 * family would enumerate, then drop, every part that cuts a valid unit: 5x the time on a
 * 213-op synthetic network). Connected sets of nodes are grown level by level from every node,
 * kept when valid; a set of two or more nodes without a free op is neither kept nor grown (every
 * allowed set holds a free node, from which it can be grown one adjacent node at a time). The
 * window's own groups are always candidates, so the answer is never worse than them; a non-convex
 * candidate is harmless (the DP can never place it: its ops' outside predecessors would need it
 * first). Growth stops at `maxCandidates` candidates or 4x that many node sets tested.
 *
 * Speed (it is most of the Lamarckian settle's time in local search and NSGA-II): a node set
 * carries its op-level masks (ops and their in-window predecessors, two 32-bit halves each, the
 * sums of its nodes' disjoint masks), so a candidate's masks cost nothing; its nodes are the bits
 * of its node mask, visited in ascending order (the order of the sorted node list they replace);
 * ops map to local indices and nodes through per-graph stamped arrays instead of Maps. Same sets
 * tested in the same order, same candidates in the same order, same answer
 * (test/get/solve-units.test.ts compares it with the previous implementation).
 */
export function solveUnits(cost: CostModel, groups: readonly number[][], unitOf: Int32Array, freeUnit: readonly boolean[], limits: { maxCandidates?: number; maxWork?: number }): number[][] | undefined {
  const maxCandidates = limits.maxCandidates ?? WINDOW_CANDIDATES;
  const { succ, pred } = cost.graph;
  const sc = scratchOf(cost);
  const gen = ++sc.gen;
  const { stamp, local, nodeAt } = sc;
  // local op order: the groups in execution order, each sorted (topological, as window.ts)
  const ops: number[] = [];
  for (const g of groups) for (const v of g) (stamp[v] = gen, (local[v] = ops.length), ops.push(v));
  const m = ops.length;
  const predLo: number[] = new Array(m), predHi: number[] = new Array(m);
  for (let i = 0; i < m; i++) {
    let l = 0, h = 0;
    for (const u of pred[ops[i]]) if (stamp[u] === gen) {
      const x = local[u];
      l += bitLo(x);
      h += bitHi(x);
    }
    predLo[i] = l;
    predHi[i] = h;
  }
  // nodes: whole valid units, single free ops (numbered in the order of their first op)
  const nodes: number[][] = [];
  const free: boolean[] = [];
  const unitNode = new Map<number, number>();
  for (const v of ops) {
    const u = unitOf[v];
    if (freeUnit[u]) (nodeAt[v] = nodes.length, nodes.push([v]), free.push(true));
    else {
      let k = unitNode.get(u);
      if (k === undefined) (unitNode.set(u, (k = nodes.length)), nodes.push([]), free.push(false));
      nodes[k].push(v);
      nodeAt[v] = k;
    }
  }
  const nn = nodes.length;
  // per node: op-level masks (ops; in-window predecessors), unsigned halves
  const nLo = new Array<number>(nn).fill(0), nHi = new Array<number>(nn).fill(0);
  const nPlo = new Array<number>(nn).fill(0), nPhi = new Array<number>(nn).fill(0);
  for (let k = 0; k < nn; k++) {
    const ns = nodes[k];
    ns.sort((a, b) => a - b); // a unit may span groups: its ops in id order
    let lo = 0, hi = 0, plo = 0, phi = 0;
    for (const v of ns) {
      const i = local[v];
      lo += bitLo(i);
      hi += bitHi(i);
      plo = (plo | predLo[i]) >>> 0;
      phi = (phi | predHi[i]) >>> 0;
    }
    nLo[k] = lo;
    nHi[k] = hi;
    nPlo[k] = plo;
    nPhi[k] = phi;
  }
  // neighbours of each node as a node mask (halves), from the ops' edges inside the window
  const adjLo = new Array<number>(nn).fill(0), adjHi = new Array<number>(nn).fill(0);
  for (let k = 0; k < nn; k++) {
    let lo = 0, hi = 0;
    for (const v of nodes[k]) for (let e = 0; e < 2; e++) for (const u of e === 0 ? succ[v] : pred[v]) if (stamp[u] === gen) {
      const j = nodeAt[u];
      if (j === k) continue;
      if (j < 32) lo |= 1 << j;
      else hi |= 1 << (j - 32);
    }
    adjLo[k] = lo;
    adjHi[k] = hi;
  }
  const cands: Cand[] = [];
  const have = sc.have.reset(); // node sets already candidates
  // the window's own groups, by their ops (a group need not be a union of nodes)
  for (const g of groups) {
    let lo = 0, hi = 0, plo = 0, phi = 0;
    for (const v of g) {
      const i = local[v];
      lo += bitLo(i);
      hi += bitHi(i);
      plo = (plo | predLo[i]) >>> 0;
      phi = (phi | predHi[i]) >>> 0;
    }
    cands.push({ ops: g, lo, hi, plo: (plo & ~lo) >>> 0, phi: (phi & ~hi) >>> 0, dram: cost.dram(g) });
  }
  // the window's groups are unions of nodes (units are never cut, free ops are nodes): a grown
  // set equal to one of them is already a candidate. Keyed by node set, as the grown sets are.
  for (const g of groups) {
    let lo = 0, hi = 0, size = 0;
    for (const v of g) {
      const k = nodeAt[v];
      if (k < 32) lo |= 1 << k;
      else hi |= 1 << (k - 32);
    }
    for (let k = 0; k < nn; k++) if (k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1) size += nodes[k].length;
    if (size === g.length) have.add(lo, hi); // (a group that is no union of nodes equals no grown set)
  }
  // F_D of a valid set, -1 for an invalid one (one memo lookup where the cost model offers it)
  const fused = cost as CostModel & { validDram?(g: number[]): number };
  const validDram = fused.validDram ? (g: number[]) => fused.validDram!(g) : (g: number[]) => (cost.valid(g) ? cost.dram(g) : -1);
  // a node set: its ops (sorted), whether it holds a free node, its node mask (lo, hi: int32
  // halves), its op-level masks (olo, ohi; predecessors plo, phi, not yet minus its own ops) and
  // its F_D
  let level: NodeSet[] = [];
  const seen = sc.seen.reset();
  for (let k = 0; k < nn; k++) {
    const g = nodes[k].slice();
    const lo = k < 32 ? 1 << k : 0, hi = k < 32 ? 0 : 1 << (k - 32);
    seen.add(lo, hi);
    const d = validDram(g);
    if (d < 0 && g.length > 1) continue;
    level.push({ ops: g, free: free[k], lo, hi, olo: nLo[k], ohi: nHi[k], plo: nPlo[k], phi: nPhi[k], dram: d < 0 ? cost.dram(g) : d });
  }
  const cap = 4 * maxCandidates;
  grow: while (level.length) {
    const next: NodeSet[] = [];
    for (const S of level) {
      if (!have.has(S.lo, S.hi)) {
        if (cands.length >= maxCandidates) break grow;
        have.add(S.lo, S.hi);
        cands.push({ ops: S.ops, lo: S.olo, hi: S.ohi, plo: (S.plo & ~S.olo) >>> 0, phi: (S.phi & ~S.ohi) >>> 0, dram: S.dram });
      }
      // a set of two or more nodes holds a free node (a non-free node is only ever joined by a
      // free one), so every set is grown
      // The sets S ∪ {j} in the order of the node lists they replace: S's nodes k ascending, each
      // one's neighbours j ascending, each j at its first appearance (a later one is seen).
      let doneLo = S.lo, doneHi = S.hi; // j in S, or j already tried from S
      for (let half = 0; half < 2; half++) {
        for (let x = half === 0 ? S.lo : S.hi; x !== 0; x &= x - 1) {
          const k = 31 - Math.clz32(x & -x) + 32 * half;
          const mlo = adjLo[k] & ~doneLo, mhi = adjHi[k] & ~doneHi;
          doneLo |= mlo;
          doneHi |= mhi;
          for (let h2 = 0; h2 < 2; h2++) {
            for (let y = h2 === 0 ? mlo : mhi; y !== 0; y &= y - 1) {
              const bit = y & -y;
              const j = 31 - Math.clz32(bit) + 32 * h2;
              if (!S.free && !free[j]) continue; // two valid units without a free op: not allowed
              const lo = h2 === 0 ? S.lo | bit : S.lo, hi = h2 === 0 ? S.hi : S.hi | bit;
              if (seen.has(lo, hi)) continue;
              if (seen.size >= cap) break grow; // work cap: sets tested
              seen.add(lo, hi);
              const g = mergeSorted(S.ops, nodes[j]);
              const d = validDram(g);
              if (d >= 0) next.push({ ops: g, free: S.free || free[j], lo, hi, olo: S.olo + nLo[j], ohi: S.ohi + nHi[j], plo: (S.plo | nPlo[j]) >>> 0, phi: (S.phi | nPhi[j]) >>> 0, dram: d });
            }
          }
        }
      }
    }
    level = next;
  }
  const r = solveFamily(cost, { groups, ops, predLo, predHi, cands, complete: false }, limits.maxWork ?? 1000000);
  if (!r || !r.improved) return undefined;
  return r.parts.map((q) => [...q].sort((a, b) => a - b));
}

/** A node set of solveUnits' enumeration (see there). */
interface NodeSet { ops: number[]; free: boolean; lo: number; hi: number; olo: number; ohi: number; plo: number; phi: number; dram: number }

/** A set of node masks (two int32 halves; node sets of solveUnits), open addressing over typed
 * arrays, emptied in O(1) by a generation stamp: a JS Set of 53-bit numbers hashed each key
 * (no library offers a set over int pairs). Grows when half full. */
class MaskSet {
  private lo = new Int32Array(1024);
  private hi = new Int32Array(1024);
  private stamp = new Int32Array(1024);
  private gen = 0;
  size = 0;
  reset(): this {
    if (++this.gen > 0x7ffffff0) (this.stamp.fill(0), (this.gen = 1));
    this.size = 0;
    return this;
  }
  private slot(lo: number, hi: number): number {
    const mask = this.lo.length - 1;
    let i = (Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1) >>> 16) & mask;
    while (this.stamp[i] === this.gen && (this.lo[i] !== lo || this.hi[i] !== hi)) i = (i + 1) & mask;
    return i;
  }
  has(lo: number, hi: number): boolean {
    return this.stamp[this.slot(lo, hi)] === this.gen;
  }
  add(lo: number, hi: number): void {
    const i = this.slot(lo, hi);
    if (this.stamp[i] === this.gen) return;
    this.stamp[i] = this.gen;
    this.lo[i] = lo;
    this.hi[i] = hi;
    if (++this.size * 2 > this.lo.length) this.grow();
  }
  private grow(): void {
    const { lo, hi, stamp, gen } = this;
    const n = lo.length * 2;
    (this.lo = new Int32Array(n)), (this.hi = new Int32Array(n)), (this.stamp = new Int32Array(n));
    this.gen = 1;
    for (let i = 0; i < lo.length; i++) if (stamp[i] === gen) {
      const j = this.slot(lo[i], hi[i]);
      (this.stamp[j] = 1), (this.lo[j] = lo[i]), (this.hi[j] = hi[i]);
    }
  }
}

/** Per graph: stamped scratch arrays of solveUnits (op -> local index, op -> node) and its sets. */
const scratches = new WeakMap<CostModel, { stamp: Int32Array; local: Int32Array; nodeAt: Int32Array; gen: number; seen: MaskSet; have: MaskSet }>();

function scratchOf(cost: CostModel) {
  let s = scratches.get(cost);
  const n = cost.graph.ops.length;
  if (!s) scratches.set(cost, (s = { stamp: new Int32Array(n), local: new Int32Array(n), nodeAt: new Int32Array(n), gen: 0, seen: new MaskSet(), have: new MaskSet() }));
  if (s.gen > 0x7ffffff0) (s.stamp.fill(0), (s.gen = 0));
  return s;
}
