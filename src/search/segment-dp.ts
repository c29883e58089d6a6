/**
 * The exact fusion optimum of one fusable component whose segments (segments.ts: super-blocks of
 * the op/tensor graph, sharing single cut ops) form a PATH, by dynamic programming along that
 * path — no MILP, no enumeration of the groups that span several segments.
 *
 * Why this is needed: a group that crosses cut ops is a piece of each segment it meets, and the
 * number of such groups is the PRODUCT of the piece counts (GoogLeNet at 4 MiB: a suffix of one
 * Inception module, whole modules, a prefix of a later module: millions of convex groups), while
 * every segment alone has a few hundred pieces. The DP keeps, at every cut op c, the set of
 * "open" groups (the part of the group holding c that lies in the segments already processed)
 * with the cheapest cost of everything else before c, and joins them with the pieces of the
 * next segment; a joined group is always evaluated whole by the cost model (validity is NOT
 * assumed to add up; LBDF skip buffers do not).
 *
 * Setting: segments S_1..S_m in path order, c_k the cut op shared by S_k and S_{k+1} (held by
 * exactly two segments; otherwise this solver declines). Facts used (proofs in exact.ts's
 * solveBySegments header, (1) and (2), and below):
 *  (1) F_D adds up: F_D(A u B) = F_D(A) + F_D(B) - F_D({c}) when A and B lie in the segments on
 *      the two sides of c and share only c. (BRR with a weight tensor shared by two ops of the
 *      component breaks this; the caller does not use this solver then.)
 *  (2) For a feasible group G, each G ∩ S_k is empty or ONE valid, connected, convex piece of
 *      S_k. So a feasible plan is, per segment, a partition of S_k into convex connected valid
 *      pieces (its "local partition"), the pieces holding c_k on both sides being joined.
 *  (3) Acyclicity is local: the plan's group graph is acyclic iff every segment's local
 *      partition is. (If: every op edge lies inside one segment. Take a simple cycle of groups;
 *      for each cut op c, the ops other than c fall on two sides joined only through c, and every
 *      group but the one holding c lies on one side, so the cycle can switch sides only through
 *      that one group, which it visits once: it never switches. Hence all its edges lie in one
 *      segment, and the pieces of its groups there form a cycle of that local partition. Only if:
 *      a cycle of pieces is a cycle of their groups, distinct because a group has one piece per
 *      segment.)
 *  (4) LBDF: F_beta(O u Q) >= F_beta(O) + F_beta(Q) - F_beta({c}) for O, Q on the two sides of c
 *      sharing c (every line/skip/full-map term only grows with the group, and the terms of
 *      c's own weights and input windows are counted in both): a filter that skips evaluating
 *      joins that cannot be valid.
 * DP. State at c_k: an open group O (ops in S_1..S_k, holding c_k, valid) with A(O) = the least
 * F_D of the closed groups of S_1..S_k over all ways to reach O. Segment S_{k+1}, entry e = c_k,
 * exit x = c_{k+1}; its pieces are:
 *  - entry pieces Q (hold e, not x): they close the open group, at cost
 *    C(Q) = min over O with O u Q valid of A(O) + F_D(O u Q)
 *         = F_D(Q) - F_D({e}) + min (A(O) + F_D(O)), by (1): states are scanned in increasing
 *    A(O) + F_D(O) and the first valid join is the minimum;
 *  - exit pieces P (hold x, not e): they open the next state P;
 *  - through pieces T (hold e and x): they extend a state O to O u T (if valid);
 *  - the others, closed at F_D.
 * Over the order ideals of S_{k+1} (down-closed sets of its ops; a local partition is acyclic iff
 * its pieces can be added one at a time, each one's predecessors already covered — the DP of
 * window.ts), g(I) = least cost to cover I with entry and closed pieces, h(J) = least cost to
 * complete J to S_{k+1} with them. Then the next states are
 *   A'(P) = min over ideals I where P can be added of g(I) + h(I u P), and
 *   A'(O u T) = A(O) + min over I of g(I) + h(I u T)  (no entry piece: e is in T);
 * on the last segment the answer is g(S_m); on the first there is no entry. Every local partition
 * of every segment and every way of joining them is covered, each at its exact F_D, so the result
 * is the component optimum (over acyclic plans of valid connected groups), and the plan is
 * rebuilt from back-pointers and re-checked (groups valid, DRAM equal to the DP value).
 * Deterministic: states, ideals and pieces are scanned in fixed orders; limits count states,
 * ideals and joins, never time.
 *
 * Hand-written: no library solves this; a MILP over the product family is what it replaces.
 */
import type { CostModel, Group } from '../fusion/types.ts';
import type { Plan } from '../fusion/plan.ts';

/** Work limits of the segment-path DP (deterministic; past one the DP declines). */
export interface SegmentPathLimits {
  /** Open-group states at one cut op (default 100000). */
  maxStates?: number;
  /** Order ideals of one segment (default 100000). */
  maxIdeals?: number;
  /** Joined groups evaluated by the cost model, in all (default 3000000). */
  maxJoins?: number;
  /** A wall-clock safety net (performance.now() milliseconds): past it the DP declines. The work
   * limits above stop first on the instances we plan; where this fires, the outcome depends on
   * machine speed (as with HiGHS's time limit in exact.ts). */
  deadline?: number;
}

/** The component's optimum found by the DP, with the work it took. */
export interface SegmentPathResult {
  plan: Plan;
  dram: number;
  /** Largest number of open-group states at one cut op. */
  states: number;
  /** Order ideals over all segments. */
  ideals: number;
  /** Joined groups evaluated. */
  joins: number;
}

interface Part {
  ops: Group;
  mask: bigint;
  /** Predecessors of the piece inside the segment, outside the piece. */
  pred: bigint;
  hasE: boolean;
  hasX: boolean;
  /** F_D, or C(Q) for an entry piece (Infinity: joins with no state). */
  cost: number;
}

interface State {
  ops: number[];
  a: number;
  key: number;
  mem: number;
  /** Built in segment `seg` from the ideal I and exit/through piece `part`, extending `prev`. */
  seg: number;
  I: bigint;
  part: number;
  prev?: State;
}

interface SegCtx {
  parts: Part[];
  full: bigint;
  g: Map<bigint, { v: number; prev: bigint; part: number }>;
  h: Map<bigint, { v: number; next: bigint; part: number }>;
  argO: (State | undefined)[];
}

/** Sorted union of two sorted id lists (shared ids once). */
function unionSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out.push(a[i++]);
    else if (i >= a.length || b[j] < a[i]) out.push(b[j++]);
    else (out.push(a[i++]), j++);
  }
  return out;
}

/** Segments in path order with their entry/exit cut ops, or undefined when not a path. */
export function segmentPath(segments: number[][], cuts: Map<number, number>): { order: number[]; entry: number[]; exit: number[] } | undefined {
  const m = segments.length;
  if (m < 2) return undefined;
  for (const d of cuts.values()) if (d !== 2) return undefined;
  const nb: { j: number; c: number }[][] = Array.from({ length: m }, () => []);
  const holder = new Map<number, number>();
  segments.forEach((S, i) => {
    for (const v of S) {
      if (!cuts.has(v)) continue;
      const j = holder.get(v);
      if (j === undefined) holder.set(v, i);
      else (nb[i].push({ j, c: v }), nb[j].push({ j: i, c: v }));
    }
  });
  if (nb.some((l) => l.length > 2)) return undefined;
  const start = nb.findIndex((l) => l.length === 1);
  if (start < 0) return undefined;
  const order = [start], entry = [-1], exit: number[] = [];
  for (let prev = -1, cur = start; ; ) {
    const next = nb[cur].find((e) => e.j !== prev);
    if (!next) break;
    exit.push(next.c);
    entry.push(next.c);
    order.push(next.j);
    prev = cur;
    cur = next.j;
    if (order.length > m) return undefined;
  }
  exit.push(-1);
  return order.length === m ? { order, entry, exit } : undefined;
}

/**
 * The component optimum by DP along a path of segments (see header), or undefined when the
 * segments do not form a path or a work limit is reached. `families[i]`: every valid, connected,
 * convex group inside `segments[i]` (exact.ts `enumerateConvexLevels` with the segment allowed).
 */
export function solveSegmentPath(cost: CostModel, segments: number[][], cuts: Map<number, number>, families: Group[][], limits: SegmentPathLimits = {}): SegmentPathResult | undefined {
  const path = segmentPath(segments, cuts);
  if (!path) return undefined;
  const maxStates = limits.maxStates ?? 100_000;
  const maxIdeals = limits.maxIdeals ?? 100_000;
  const maxJoins = limits.maxJoins ?? 3_000_000;
  const deadline = limits.deadline ?? Infinity;
  // Counts joins and checks the clock every 256 of them.
  const join = () => ++joins > maxJoins || ((joins & 255) === 0 && performance.now() > deadline);
  const { pred } = cost.graph;
  const beta = cost.bufferBytes;
  const mem = (g: Group) => (cost as { memoryBytes?: (g: Group) => number }).memoryBytes?.(g) ?? cost.memory(g).bytes;
  const lbdf = cost.scheme === 'lbdf';
  let joins = 0, idealsAll = 0, statesMax = 0;
  const ctxs: SegCtx[] = [];
  let states: State[] = [];
  let total = Infinity;

  for (let k = 0; k < path.order.length; k++) {
    const S = segments[path.order[k]];
    const e = path.entry[k], x = path.exit[k];
    const local = new Map(S.map((v, i) => [v, i]));
    const bit = (v: number) => 1n << BigInt(local.get(v)!);
    const predMask = S.map((v) => pred[v].reduce((acc, u) => (local.has(u) ? acc | bit(u) : acc), 0n));
    const full = (1n << BigInt(S.length)) - 1n;
    // Entry costs from the states at e, scanned in increasing A(O) + F_D(O).
    const sorted = states.slice().sort((p, q) => p.key - q.key || (p.ops.length - q.ops.length));
    const dE = e >= 0 ? cost.dram([e]) : 0;
    const mE = e >= 0 && lbdf ? mem([e]) : 0;
    const parts: Part[] = [];
    const argO: (State | undefined)[] = [];
    // Monotonicity (validity is monotone under inclusion): a state valid with Q is valid with
    // every Q' ⊂ Q, so Q's first valid state in the scan order comes no earlier than that of any
    // entry piece Q minus one op. The family is listed by size, so those come first.
    const firstValid = new Map<string, number>();
    const scanStart = (G: Group) => {
      let start = 0;
      for (const w of G) {
        if (w === e) continue;
        const at = firstValid.get(G.filter((u) => u !== w).join(','));
        if (at !== undefined && at > start) start = at;
      }
      return start;
    };
    for (const G of families[path.order[k]]) {
      let mask = 0n, pm = 0n;
      for (const v of G) mask |= bit(v);
      for (const v of G) pm |= predMask[local.get(v)!];
      const hasE = e >= 0 && G.includes(e), hasX = x >= 0 && G.includes(x);
      let c = cost.dram(G);
      let best: State | undefined;
      if (hasE && !hasX) {
        c = Infinity;
        const mQ = lbdf ? mem(G) : 0;
        let i = scanStart(G);
        for (; i < sorted.length; i++) {
          const O = sorted[i];
          if (lbdf && O.mem + mQ - mE > beta) continue; // (4): cannot be valid
          if (join()) return undefined;
          if (cost.valid(unionSorted(O.ops, G))) {
            c = cost.dram(G) - dE + O.key;
            best = O;
            break;
          }
        }
        firstValid.set(G.join(','), i);
      }
      parts.push({ ops: G, mask, pred: pm & ~mask, hasE, hasX, cost: c });
      argO.push(best);
    }
    // Pieces by local index of their first (lowest-id, hence topologically minimal) op: a piece
    // that can be added at ideal I starts at an op whose predecessors are all in I.
    const byFirst: number[][] = S.map(() => []);
    parts.forEach((p, i) => byFirst[local.get(p.ops[0])!].push(i));
    // Order ideals reachable by adding pieces, by size.
    const levels: bigint[][] = Array.from({ length: S.length + 1 }, () => []);
    const seen = new Set<bigint>([0n]);
    levels[0].push(0n);
    const addable = (I: bigint, visit: (pi: number, J: bigint) => void) => {
      for (let i = 0; i < S.length; i++) {
        const b = 1n << BigInt(i);
        if (I & b || (predMask[i] & ~I) !== 0n) continue;
        for (const pi of byFirst[i]) {
          const p = parts[pi];
          if ((p.mask & I) === 0n && (p.pred & ~I) === 0n) visit(pi, I | p.mask);
        }
      }
    };
    for (let s = 0; s < S.length; s++) {
      for (const I of levels[s]) {
        addable(I, (pi, J) => {
          if (seen.has(J)) return;
          seen.add(J);
          levels[s + parts[pi].ops.length].push(J);
        });
      }
      if (seen.size > maxIdeals || performance.now() > deadline) return undefined;
    }
    idealsAll += seen.size;
    const g = new Map<bigint, { v: number; prev: bigint; part: number }>([[0n, { v: 0, prev: -1n, part: -1 }]]);
    for (let s = 0; s < S.length; s++) {
      for (const I of levels[s]) {
        const gi = g.get(I);
        if (!gi) continue;
        addable(I, (pi, J) => {
          const p = parts[pi];
          if (p.hasX || p.cost === Infinity) return;
          const v = gi.v + p.cost;
          const cur = g.get(J);
          if (!cur || v < cur.v) g.set(J, { v, prev: I, part: pi });
        });
      }
    }
    const h = new Map<bigint, { v: number; next: bigint; part: number }>([[full, { v: 0, next: -1n, part: -1 }]]);
    for (let s = S.length - 1; s >= 0; s--) {
      for (const I of levels[s]) {
        let best: { v: number; next: bigint; part: number } | undefined;
        addable(I, (pi, J) => {
          const p = parts[pi];
          if (p.hasX || p.cost === Infinity) return;
          const hj = h.get(J);
          if (!hj) return;
          const v = p.cost + hj.v;
          if (!best || v < best.v) best = { v, next: J, part: pi };
        });
        if (best) h.set(I, best);
      }
    }
    ctxs.push({ parts, full, g, h, argO });
    if (x < 0) {
      total = g.get(full)?.v ?? Infinity;
      break;
    }
    // Exit and through pieces: the best ideal to add each at.
    const at = new Map<number, { v: number; I: bigint }>();
    for (let s = 0; s < S.length; s++) {
      for (const I of levels[s]) {
        const gi = g.get(I);
        if (!gi) continue;
        addable(I, (pi, J) => {
          if (!parts[pi].hasX) return;
          const hj = h.get(J);
          if (!hj) return;
          const v = gi.v + hj.v;
          const cur = at.get(pi);
          if (!cur || v < cur.v) at.set(pi, { v, I });
        });
      }
    }
    const next = new Map<string, State>();
    const put = (st: State) => {
      const key = st.ops.join(',');
      const cur = next.get(key);
      if (!cur || st.a < cur.a) next.set(key, st);
    };
    for (const [pi, { v, I }] of [...at].sort((p, q) => p[0] - q[0])) {
      const p = parts[pi];
      if (!p.hasE) {
        put({ ops: [...p.ops], a: v, key: v + cost.dram(p.ops), mem: lbdf ? mem(p.ops) : 0, seg: k, I, part: pi });
        continue;
      }
      const mT = lbdf ? mem(p.ops) : 0;
      for (let i = scanStart(p.ops); i < sorted.length; i++) {
        const O = sorted[i];
        if (lbdf && O.mem + mT - mE > beta) continue;
        if (join()) return undefined;
        const U = unionSorted(O.ops, p.ops);
        if (!cost.valid(U)) continue;
        const a = O.a + v;
        put({ ops: U, a, key: a + cost.dram(U), mem: lbdf ? mem(U) : 0, seg: k, I, part: pi, prev: O });
      }
    }
    states = [...next.values()];
    statesMax = Math.max(statesMax, states.length);
    if (states.length > maxStates || states.length === 0) return undefined;
  }
  if (total === Infinity) return undefined;

  // Rebuild the plan from the back-pointers.
  const out: Group[] = [];
  const emitPart = (k: number, pi: number) => {
    const ctx = ctxs[k];
    const p = ctx.parts[pi];
    if (p.hasE) {
      const O = ctx.argO[pi]!;
      out.push(unionSorted(O.ops, p.ops));
      expandState(O);
    } else out.push(p.ops);
  };
  const expand = (k: number, I: bigint, pi: number) => {
    const ctx = ctxs[k];
    for (let cur = I; cur !== 0n; ) {
      const b = ctx.g.get(cur)!;
      emitPart(k, b.part);
      cur = b.prev;
    }
    for (let cur = pi >= 0 ? I | ctx.parts[pi].mask : I; cur !== ctx.full; ) {
      const b = ctx.h.get(cur)!;
      emitPart(k, b.part);
      cur = b.next;
    }
  };
  const expandState = (O: State) => {
    expand(O.seg, O.I, O.part);
    if (O.prev) expandState(O.prev);
  };
  expand(ctxs.length - 1, ctxs[ctxs.length - 1].full, -1);
  // Re-check: every group valid, DRAM equal to the DP value (else decline: a fact above failed).
  let d = 0;
  for (const G of out) {
    if (!cost.valid(G)) return undefined;
    d += cost.dram(G);
  }
  if (d !== total) return undefined;
  return { plan: out, dram: d, states: statesMax, ideals: idealsAll, joins };
}
