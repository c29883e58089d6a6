/**
 * Window re-optimization: a large-neighbourhood search whose neighbourhood is solved exactly.
 *
 * A window is a run of consecutive groups g_i .. g_j of the plan's execution order (a topological
 * order of the group DAG, `executionOrder`). The window's ops are re-partitioned optimally — any
 * partition into valid, connected groups that are mutually acyclic — while every other group
 * stays as it is. This is the move the descent polish (`polishPlan`) cannot make: on SE blocks and
 * channel-shuffle branches the optimum cuts a side branch part-way, which needs a split and a
 * re-merge at once (each half-move alone raises DRAM, so a descent never takes it).
 *
 * Why the sub-problem is exact and safe (proof). Let W = g_i u .. u g_j and let the plan's groups
 * be ordered g_1 .. g_k topologically.
 *  (a) Every edge into W comes from a group before g_i, every edge out of W goes to a group after
 *      g_j: an edge x -> y with y in W and x in a later group g_l (l > j) would be a group edge
 *      g_l -> g_m with m <= j < l, against the topological order; symmetrically for edges out.
 *  (b) Hence W is convex: a path that leaves W and re-enters it would need an edge out of W (to a
 *      group after g_j) and later an edge into W (from that point on only groups after g_j are
 *      reachable, and none of them has an edge into W). So every path between two ops of W stays
 *      in W, and convexity / reachability of subsets of W can be computed inside W.
 *  (c) Take any partition P of W into valid, weakly connected groups whose group graph (edges
 *      between P's parts) is acyclic. Replace g_i .. g_j by P. Order the new plan as
 *      g_1 .. g_{i-1}, P in a topological order of its parts, g_{j+1} .. g_k. Every group edge goes
 *      forward: edges among the fixed groups did before; edges into a part of P come from
 *      g_1 .. g_{i-1} or from an earlier part of P (by (a) and P's order); edges out of a part go
 *      to a later part or to g_{j+1} .. g_k. So the new plan is acyclic, covers every op once, and
 *      all its groups are valid and connected: a feasible plan. Conversely the window's current
 *      groups are one such P, so the best P is never worse than the current plan.
 *  (d) F_D of a group depends on the group alone (the ops in it and the tensors crossing its
 *      border), so plan DRAM = sum over fixed groups + sum over P's parts, and minimizing the
 *      second sum over feasible P is independent of the rest of the plan.
 * So "minimize sum F_D over acyclic partitions of W into valid connected groups" is an exact,
 * self-contained sub-problem, and any improvement found there improves the whole plan.
 *
 * How a window is solved. Candidates: every valid, connected (through fusable edges), convex group
 * inside W, grown level by level like `enumerateConvexLevels` in exact.ts (complete by the proof
 * there; non-convex groups can never be in a feasible plan, see there), but grown only through
 * ops of W and tested for convexity with bitsets local to W (exact by (b)). Then a dynamic
 * program over the order ideals of W: a partition is acyclic iff its parts can be listed so that
 * each part's predecessors (outside the part) are covered by the parts listed before it, so
 *   best(I) = min over parts c disjoint from I with preds(c) \ c ⊆ I of F_D(c) + best(I u c),
 *   best(W) = 0,
 * over the down-closed sets I reachable that way, is the exact optimum over acyclic partitions
 * (acyclicity is built in; no cycle check afterwards). The state is the covered set alone because
 * the cost-to-go does not depend on how I was covered — (d) again, inside the window. CNN windows
 * are mostly chains with short parallel branches (SE side branch, residual skip, shuffle and
 * Inception branches), so the number of ideals stays in the hundreds.
 *
 * Why a hand-written solver and not HiGHS (which solves the global problem in exact.ts): windows
 * are small (<= 48 ops, <= 1500 candidates by default), this must run synchronously
 * inside greedyPlan (used synchronously by schedule.ts, the benches and tests) while HiGHS is an
 * async wasm module, and a window must cost a few milliseconds for ResNet-50 greedy to stay far
 * below 1 s (a MILP per window would cost more in model building alone). Determinism: candidates are listed in a fixed order (by lowest op,
 * then by generation order, which depends only on op ids), ties keep the first one found, and the
 * work limits count candidates and candidate checks, never time. A window stops growing before
 * the group that would put it over the candidate cap; a two-group window already over the cap is
 * solved over the complete size levels plus its own current groups (still never worse); a window
 * over the work limit is skipped.
 *
 * Defaults (bench:fusion, 14 models): windows of up to 48 ops catch the SE / shuffle / RegNet
 * cases (at 28 ops mobilenet_v3_small LBDF int8 256 KiB stayed 3% above the optimum, its groups
 * being 16-26 ops long); 1500 candidates keep Inception windows (GoogLeNet: four parallel
 * branches, so many convex subsets) near 1 s for the whole net.
 */
import type { CostModel, Group } from '../fusion/types.ts';
import { canonicalPlan, executionOrder, planKey, type Plan } from '../fusion/plan.ts';
import { fusabilityOf } from './common.ts';

export interface WindowOptions {
  /** Most ops in a window (default 48; at most 53, the width of the DP's state key). */
  maxOps?: number;
  /** Most candidate groups per window (default 1500). */
  maxCandidates?: number;
  /** Work limit per window: candidate checks in the DP (default 1e6, ~40 ms). */
  maxWork?: number;
  /** Sweeps over the execution order (default 6); a sweep with no improvement ends the search. */
  maxPasses?: number;
}

export interface WindowStats {
  /** Windows solved to optimality. */
  solved: number;
  /** Windows solved over a size-truncated family (candidate cap). */
  truncated: number;
  /** Windows given up (work limit). */
  skipped: number;
  /** Windows whose optimum beat their current groups. */
  improved: number;
  passes: number;
}

const MAX_KEY_BITS = 53;

/** Defaults, chosen on bench:fusion (see the header). */
export const DEFAULTS = { maxOps: 48, maxCandidates: 1500, maxWork: 1000000, maxPasses: 6 };

/** One candidate part: global op ids, local bitmask (two 32-bit words: bits 0..31, 32..52),
 * local predecessors outside the part, F_D. */
export interface Cand {
  ops: number[];
  lo: number;
  hi: number;
  plo: number;
  phi: number;
  dram: number;
}

/** The candidate family of a window: its ops (sorted; local index = position), local predecessor
 * masks, and every valid connected convex part inside it (complete = not cut by the cap). */
export interface WindowFamily {
  groups: readonly Group[];
  ops: number[];
  predLo: Float64Array;
  predHi: Float64Array;
  cands: Cand[];
  complete: boolean;
}

const bit = (i: number): [number, number] => (i < 32 ? [(1 << i) >>> 0, 0] : [0, (1 << (i - 32)) >>> 0]);
const maskKey = (lo: number, hi: number) => hi * 4294967296 + lo;

/**
 * Enumerates the candidate parts of a window (see the header), level by level (all parts of k ops
 * from those of k - 1, complete by the argument of `enumerateConvexLevels` in exact.ts), growing
 * only through fusable edges between ops of the window and testing convexity with local
 * reachability bitsets (exact by (b)). Stops at the first level that would pass `maxCandidates`:
 * the family is then the complete levels plus the window's own groups (complete = false).
 */
export function enumerateWindow(cost: CostModel, groups: readonly Group[], maxCandidates: number): WindowFamily {
  const ops = groups.flat().sort((a, b) => a - b);
  const m = ops.length;
  if (m > MAX_KEY_BITS) throw new Error(`enumerateWindow: ${m} ops > ${MAX_KEY_BITS}`);
  const local = new Map<number, number>();
  ops.forEach((v, i) => local.set(v, i));
  const { succ, pred } = cost.graph;
  const fus = fusabilityOf(cost);
  const within = (l: number[]) => l.map((u) => local.get(u) ?? -1).filter((i) => i >= 0);
  const adj = ops.map((v) => within(fus.adj[v]));
  const lsucc = ops.map((v) => within(succ[v]));
  const lpred = ops.map((v) => within(pred[v]));
  const predLo = new Float64Array(m), predHi = new Float64Array(m);
  for (let i = 0; i < m; i++) for (const p of lpred[i]) {
    const [l, h] = bit(p);
    predLo[i] = (predLo[i] | l) >>> 0;
    predHi[i] = (predHi[i] | h) >>> 0;
  }
  // desc[i] / anc[i] include i; local order is topological (global ids are), so one pass each.
  const descLo = new Array<number>(m).fill(0), descHi = new Array<number>(m).fill(0);
  const ancLo = new Array<number>(m).fill(0), ancHi = new Array<number>(m).fill(0);
  for (let i = m - 1; i >= 0; i--) {
    let [l, h] = bit(i);
    for (const s of lsucc[i]) (l = (l | descLo[s]) >>> 0, h = (h | descHi[s]) >>> 0);
    descLo[i] = l;
    descHi[i] = h;
  }
  for (let i = 0; i < m; i++) {
    let [l, h] = bit(i);
    for (const p of lpred[i]) (l = (l | ancLo[p]) >>> 0, h = (h | ancHi[p]) >>> 0);
    ancLo[i] = l;
    ancHi[i] = h;
  }
  interface Entry { loc: number[]; lo: number; hi: number }
  const cands: Cand[] = [];
  const seen = new Set<number>(); // masks already tested (sizes differ per level, so one set)
  const make = (e: Entry): Cand => {
    let plo = 0, phi = 0;
    for (const i of e.loc) {
      plo = (plo | predLo[i]) >>> 0;
      phi = (phi | predHi[i]) >>> 0;
    }
    const g = e.loc.map((i) => ops[i]);
    return { ops: g, lo: e.lo, hi: e.hi, plo: (plo & ~e.lo) >>> 0, phi: (phi & ~e.hi) >>> 0, dram: cost.dram(g) };
  };
  let level: Entry[] = ops.map((_, i) => {
    const [lo, hi] = bit(i);
    return { loc: [i], lo, hi };
  });
  let complete = true;
  grow: while (level.length) {
    if (cands.length + level.length > maxCandidates) {
      complete = false;
      break;
    }
    for (const e of level) {
      cands.push(make(e));
      seen.add(maskKey(e.lo, e.hi));
    }
    const next: Entry[] = [];
    for (const S of level) {
      const { lo: slo, hi: shi } = S;
      const inS = (i: number) => (i < 32 ? (slo >>> i) & 1 : (shi >>> (i - 32)) & 1) === 1;
      for (const x of S.loc) for (const w of adj[x]) {
        if (inS(w)) continue;
        const [bl, bh] = bit(w);
        const tlo = (slo | bl) >>> 0, thi = (shi | bh) >>> 0;
        const key = maskKey(tlo, thi);
        if (seen.has(key)) continue;
        seen.add(key); // convexity and validity depend on the set alone: test it once
        // S is convex; S + w is not iff a path runs w -> (outside S) -> S or S -> (outside S) -> w.
        let convex = true;
        for (const y of lsucc[w]) if (!inS(y) && ((descLo[y] & slo) | (descHi[y] & shi)) !== 0) { convex = false; break; }
        if (convex) for (const y of lpred[w]) if (!inS(y) && ((ancLo[y] & slo) | (ancHi[y] & shi)) !== 0) { convex = false; break; }
        if (!convex) continue;
        const loc: number[] = [];
        let placed = false;
        for (const i of S.loc) {
          if (!placed && w < i) (loc.push(w), (placed = true));
          loc.push(i);
        }
        if (!placed) loc.push(w);
        if (cost.valid(loc.map((i) => ops[i]))) next.push({ loc, lo: tlo, hi: thi });
      }
      if (cands.length + next.length > maxCandidates) {
        complete = false;
        break grow;
      }
    }
    level = next;
  }
  if (!complete) {
    // Keep the window's own groups reachable, so a truncated family is never worse than now.
    const have = new Set(cands.map((c) => maskKey(c.lo, c.hi)));
    for (const g of groups) {
      const loc = g.map((v) => local.get(v)!).sort((a, b) => a - b);
      let lo = 0, hi = 0;
      for (const i of loc) {
        const [l, h] = bit(i);
        lo = (lo | l) >>> 0;
        hi = (hi | h) >>> 0;
      }
      if (!have.has(maskKey(lo, hi))) cands.push(make({ loc, lo, hi }));
    }
  }
  return { groups, ops, predLo, predHi, cands, complete };
}

/**
 * The least-DRAM acyclic partition of a window over its candidate family, by the DP over ideals
 * of the header. Returns the window's own groups when nothing is strictly better, or undefined
 * when `maxWork` candidate checks did not suffice.
 */
export function solveFamily(cost: CostModel, fam: WindowFamily, maxWork: number): { parts: Group[]; dram: number; improved: boolean } | undefined {
  const { ops, predLo, predHi, cands, groups } = fam;
  const m = ops.length;
  // Index by lowest local op (the op a part starts at: it must be minimal among the uncovered).
  const byLow: Cand[][] = ops.map(() => []);
  for (const c of cands) byLow[c.lo ? 31 - Math.clz32(c.lo & -c.lo) : 63 - Math.clz32(c.hi & -c.hi)].push(c);
  const fullLo = m >= 32 ? 0xffffffff : ((1 << m) >>> 0) - 1;
  const fullHi = m > 32 ? (2 ** (m - 32) - 1) >>> 0 : 0;
  // memo: covered set -> least cost to cover the rest; choice: the part that achieves it. Every
  // state is expanded once (no pruning, so memo values are exact).
  const memo = new Map<number, number>();
  const choice = new Map<number, Cand>();
  let work = 0;
  let out = false;
  const best = (lo: number, hi: number): number => {
    if (lo === fullLo && hi === fullHi) return 0;
    const key = maskKey(lo, hi);
    const known = memo.get(key);
    if (known !== undefined) return known;
    let b = Infinity;
    let arg: Cand | undefined;
    for (let u = 0; u < m && !out; u++) {
      if ((u < 32 ? (lo >>> u) & 1 : (hi >>> (u - 32)) & 1) === 1) continue;
      if (((predLo[u] & ~lo) | (predHi[u] & ~hi)) !== 0) continue;
      for (const c of byLow[u]) {
        if (++work > maxWork) {
          out = true;
          break;
        }
        if (((c.lo & lo) | (c.hi & hi)) !== 0) continue;
        if (((c.plo & ~lo) | (c.phi & ~hi)) !== 0) continue;
        const v = c.dram + best((lo | c.lo) >>> 0, (hi | c.hi) >>> 0);
        if (v < b) (b = v, arg = c);
      }
    }
    if (out) return Infinity;
    memo.set(key, b);
    if (arg) choice.set(key, arg);
    return b;
  };
  let before = 0;
  for (const g of groups) before += cost.dram(g);
  const total = best(0, 0);
  if (out) return undefined;
  if (!(total < before - 1e-9 * Math.max(1, before))) return { parts: groups.map((g) => [...g]), dram: before, improved: false };
  const parts: Group[] = [];
  for (let lo = 0, hi = 0; !(lo === fullLo && hi === fullHi); ) {
    const c = choice.get(maskKey(lo, hi))!;
    parts.push(c.ops);
    lo = (lo | c.lo) >>> 0;
    hi = (hi | c.hi) >>> 0;
  }
  return { parts, dram: total, improved: true };
}

/**
 * The optimal re-partition of the ops of `groups` (a window of consecutive groups of an execution
 * order — the caller guarantees that shape, see the header). `exact` is false when the candidate
 * family was truncated by the cap (the result is then the optimum over the complete size levels
 * plus the window's own groups). Undefined when the work limit stopped the DP.
 */
export function solveWindow(cost: CostModel, groups: readonly Group[], opts: { maxCandidates?: number; maxWork?: number } = {}): { parts: Group[]; dram: number; improved: boolean; exact: boolean; candidates: number } | undefined {
  const fam = enumerateWindow(cost, groups, opts.maxCandidates ?? DEFAULTS.maxCandidates);
  const r = solveFamily(cost, fam, opts.maxWork ?? DEFAULTS.maxWork);
  return r && { ...r, exact: fam.complete, candidates: fam.cands.length };
}

/**
 * Slides windows over the execution order and replaces each window's groups by its optimal
 * re-partition when that lowers DRAM (see the header). From every start position s the window
 * takes as many consecutive groups as fit in `maxOps` ops and `maxCandidates` candidates (a
 * larger window's neighbourhood contains every smaller one's), at least two. The end only moves
 * forward as s does (two pointers: [s+1 .. e] fits whenever [s .. e] does, its family being a
 * subset), so a sweep enumerates about two families per start. Windows already solved without
 * gain are not solved again. Sweeps repeat until one finds nothing (or `maxPasses`). Never
 * returns a plan with more DRAM than `start`; deterministic.
 */
export function reoptimizeWindows(cost: CostModel, start: Plan, opts: WindowOptions = {}, stats?: WindowStats): Plan {
  const maxOps = Math.min(MAX_KEY_BITS, Math.max(2, opts.maxOps ?? DEFAULTS.maxOps));
  const maxCandidates = opts.maxCandidates ?? DEFAULTS.maxCandidates;
  const maxWork = opts.maxWork ?? DEFAULTS.maxWork;
  const maxPasses = opts.maxPasses ?? DEFAULTS.maxPasses;
  const st: WindowStats = stats ?? { solved: 0, truncated: 0, skipped: 0, improved: 0, passes: 0 };
  let plan = canonicalPlan(start);
  const done = new Set<string>(); // windows (by their groups) whose groups are optimal
  const fits = new Map<string, boolean>(); // window -> its family is complete under the cap
  let last: { key: string; fam: WindowFamily } | undefined; // the latest family enumerated
  const family = (win: Group[], key: string): WindowFamily => {
    if (last?.key === key) return last.fam;
    const fam = enumerateWindow(cost, win, maxCandidates);
    fits.set(key, fam.complete);
    last = { key, fam };
    return fam;
  };
  const fitsWin = (win: Group[], key: string): boolean => fits.get(key) ?? family(win, key).complete;
  for (let pass = 0; pass < maxPasses; pass++) {
    st.passes++;
    let improvedPass = false;
    let order = executionOrder(cost.graph, plan);
    if (!order) throw new Error('reoptimizeWindows: the start plan has a cycle');
    const win = (s: number, e: number) => order!.slice(s, e + 1).map((gi) => plan[gi]);
    let e = 0;
    let size = 0; // ops in groups s..e
    for (let s = 0; s + 1 < order.length; s++) {
      if (e <= s) (e = s + 1, size = plan[order[s]].length + plan[order[e]].length);
      else size -= plan[order[s - 1]].length;
      if (size > maxOps) continue; // two groups already over the op limit: no window here
      // Grow while the next group fits in ops and candidates.
      while (e + 1 < order.length && size + plan[order[e + 1]].length <= maxOps) {
        const w = win(s, e + 1);
        if (!fitsWin(w, planKey(w))) break;
        size += plan[order[++e]].length;
      }
      const w = win(s, e);
      const key = planKey(w);
      if (done.has(key)) continue;
      const fam = family(w, key);
      // A carried-over window is a subset of a complete one, so only [s, s+1] can be truncated.
      const r = solveFamily(cost, fam, maxWork);
      if (!r) {
        st.skipped++;
        continue;
      }
      if (fam.complete) st.solved++;
      else st.truncated++;
      if (!r.improved) {
        done.add(key);
        continue;
      }
      st.improved++;
      improvedPass = true;
      const inWin = new Set(order.slice(s, e + 1));
      plan = canonicalPlan([...plan.filter((_, i) => !inWin.has(i)), ...r.parts]);
      order = executionOrder(cost.graph, plan)!;
      e = s; // the groups after s changed: regrow from here
    }
    if (!improvedPass) break;
  }
  return plan;
}
