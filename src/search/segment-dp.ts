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
import { IdsMap } from '../fusion/ids-map.ts';
import { unionSorted } from '../fusion/groups.ts';
import type { GroupFigures } from '../fusion/cost-base.ts';

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
  /** Most order ideals of one segment (the DP declines when one passes `maxIdeals`). */
  idealsMax: number;
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
  const budget = new JoinBudget(limits.maxJoins ?? 3_000_000, limits.deadline ?? Infinity);
  const deadline = budget.deadline;
  const { pred } = cost.graph;
  const lbdf = cost.scheme === 'lbdf';
  let idealsAll = 0, idealsMax = 0, statesMax = 0;
  const ctxs: SegCtx[] = [];
  let states: State[] = [];
  let total = Infinity;

  for (let k = 0; k < path.order.length; k++) {
    const S = segments[path.order[k]];
    const e = path.entry[k], x = path.exit[k];
    const local = new Map<number, number>();
    for (let i = 0; i < S.length; i++) local.set(S[i], i);
    const predMask: bigint[] = [];
    for (let i = 0; i < S.length; i++) {
      let acc = 0n;
      for (const u of pred[S[i]]) if (local.has(u)) acc |= bitOf(local, u);
      predMask.push(acc);
    }
    const full = (1n << BigInt(S.length)) - 1n;
    // Entry costs from the states at e, scanned in increasing A(O) + F_D(O).
    const sorted = states.slice().sort(byKeyThenSize);
    const seg = segmentParts(cost, families[path.order[k]], local, predMask, e, x, sorted, lbdf, budget);
    if (!seg) return undefined;
    const { parts, argO, firstValid } = seg;
    // Pieces by local index of their first (lowest-id, hence topologically minimal) op: a piece
    // that can be added at ideal I starts at an op whose predecessors are all in I.
    const byFirst: number[][] = [];
    for (let i = 0; i < S.length; i++) byFirst.push([]);
    for (let i = 0; i < parts.length; i++) byFirst[local.get(parts[i].ops[0])!].push(i);
    const adds = new Addable(S.length, predMask, byFirst, parts);
    // Order ideals reachable by adding pieces, by size.
    const levels = orderIdeals(S.length, predMask, byFirst, parts, maxIdeals, deadline);
    if (!levels) return undefined;
    let count = 0;
    for (const l of levels) count += l.length;
    idealsAll += count;
    idealsMax = Math.max(idealsMax, count);
    const g = forwardCosts(S.length, levels, parts, adds);
    const h = backwardCosts(S.length, levels, parts, adds, full);
    ctxs.push({ parts, full, g, h, argO });
    if (x < 0) {
      total = g.get(full)?.v ?? Infinity;
      break;
    }
    const at = exitCosts(S.length, levels, parts, adds, g, h);
    const next = nextStates(cost, at, parts, sorted, firstValid, e, k, lbdf, budget);
    if (!next) return undefined;
    states = next;
    statesMax = Math.max(statesMax, states.length);
    if (states.length > maxStates || states.length === 0) return undefined;
  }
  if (total === Infinity) return undefined;

  // Rebuild the plan from the back-pointers.
  const out = new Rebuild(ctxs).all();
  // Re-check: every group valid, DRAM equal to the DP value (else decline: a fact above failed).
  let d = 0;
  for (const G of out) {
    if (!cost.valid(G)) return undefined;
    d += cost.dram(G);
  }
  if (d !== total) return undefined;
  return { plan: out, dram: d, states: statesMax, ideals: idealsAll, idealsMax, joins: budget.joins };
}

// The steps of solveSegmentPath are module-level functions and classes, not closures inside it:
// a closure's optimized code is held weakly by its feedback vector, so once the call returns a
// major GC drops it and the next call's closures are compiled by TurboFan again (in one sweep
// `addable` was compiled 26 times, `expandState` 9 times at ~0.08 s each), and the one large
// function was recompiled as a whole after each deopt in any of its parts.

/** Counts joins against the limit, and checks the clock every 256 of them. */
class JoinBudget {
  joins = 0;
  constructor(readonly maxJoins: number, readonly deadline: number) {}
  /** Counts one join; true when a limit is passed. */
  join(): boolean {
    return ++this.joins > this.maxJoins || ((this.joins & 255) === 0 && performance.now() > this.deadline);
  }
}

const byKeyThenSize = (p: State, q: State) => p.key - q.key || p.ops.length - q.ops.length;
const byFirstNumber = (p: [number, unknown], q: [number, unknown]) => p[0] - q[0];

/** valid(a ∪ b) for two sorted id lists, with its F_beta bytes in `out` (read only when valid;
 * out.dram is not filled: the DP derives F_D by (1)): the cost model's own evaluateUnion when it
 * has one (no array, no memo entry, no F_D computed per join), else through the union. */
function fitsUnion(cost: CostModel, a: readonly number[], b: readonly number[], out: GroupFigures): boolean {
  const own = (cost as { evaluateUnion?: (a: readonly number[], b: readonly number[], out: GroupFigures, withDram: boolean) => boolean }).evaluateUnion;
  if (own) return own.call(cost, a, b, out, false);
  const u = unionSorted(a, b);
  out.valid = cost.valid(u);
  if (out.valid) out.bytes = memOf(cost, u);
  return out.valid;
}

function memOf(cost: CostModel, g: Group): number {
  return (cost as { memoryBytes?: (g: Group) => number }).memoryBytes?.(g) ?? cost.memory(g).bytes;
}

function bitOf(local: Map<number, number>, v: number): bigint {
  return 1n << BigInt(local.get(v)!);
}

/** Q's first state to scan (see segmentParts): the latest first-valid state of Q minus one op. */
function scanStart(G: Group, e: number, firstValid: IdsMap<number>): number {
  let start = 0;
  for (const w of G) {
    if (w === e) continue;
    const at = firstValid.getWithout(G, w);
    if (at !== undefined && at > start) start = at;
  }
  return start;
}

/** The pieces of one segment (its family), entry pieces with their cost C(Q) and best state;
 * undefined when the join limit is reached. */
function segmentParts(cost: CostModel, family: Group[], local: Map<number, number>, predMask: bigint[], e: number, x: number, sorted: State[], lbdf: boolean, budget: JoinBudget): { parts: Part[]; argO: (State | undefined)[]; firstValid: IdsMap<number> } | undefined {
  const beta = cost.bufferBytes;
  const dE = e >= 0 ? cost.dram([e]) : 0;
  const mE = e >= 0 && lbdf ? memOf(cost, [e]) : 0;
  const parts: Part[] = [];
  const argO: (State | undefined)[] = [];
  // Monotonicity (validity is monotone under inclusion): a state valid with Q is valid with
  // every Q' ⊂ Q, so Q's first valid state in the scan order comes no earlier than that of any
  // entry piece Q minus one op. The family is listed by size, so those come first.
  const firstValid = new IdsMap<number>();
  const figures: GroupFigures = { bytes: 0, dram: 0, valid: false };
  for (const G of family) {
    let mask = 0n, pm = 0n;
    for (const v of G) mask |= bitOf(local, v);
    for (const v of G) pm |= predMask[local.get(v)!];
    const hasE = e >= 0 && G.includes(e), hasX = x >= 0 && G.includes(x);
    let c = cost.dram(G);
    let best: State | undefined;
    if (hasE && !hasX) {
      c = Infinity;
      const mQ = lbdf ? memOf(cost, G) : 0;
      let i = scanStart(G, e, firstValid);
      for (; i < sorted.length; i++) {
        const O = sorted[i];
        if (lbdf && O.mem + mQ - mE > beta) continue; // (4): cannot be valid
        if (budget.join()) return undefined;
        if (fitsUnion(cost, O.ops, G, figures)) {
          c = cost.dram(G) - dE + O.key;
          best = O;
          break;
        }
      }
      firstValid.set(G, i);
    }
    parts.push({ ops: G, mask, pred: pm & ~mask, hasE, hasX, cost: c });
    argO.push(best);
  }
  return { parts, argO, firstValid };
}

/**
 * The order ideals of a segment reachable from the empty one by adding pieces (a piece can be
 * added at I when its first op's predecessors and the piece's own are in I and it meets no op of
 * I), grouped by size, each level in discovery order: levels are scanned by size, each ideal's
 * pieces in Addable's order, and a new ideal is appended to the level of its size. Undefined as
 * soon as more than `maxIdeals` ideals (the empty one included) are found or the clock passes
 * `deadline` (checked every 1,024 ideals and after each level).
 *
 * Why words, not the DP's BigInts: this loop visits every ideal, and where a segment has too many
 * it runs to the limit before the DP declines. A 217-op segment of a 12-layer GPT-style decoder
 * (5,961 pieces): 100,001 ideals cost 7.4 s as BigInts (each test and union allocates one).
 * Here an ideal is `W` 32-bit words in one arena and the set of those seen is an open-addressing
 * table over them; each ideal becomes a BigInt once, when the levels are returned. The limit was
 * checked once a level was done: one level of that segment added 391,619 ideals in 63 s before
 * the check declined anyway (the decision is the same: the set only grows).
 */
export function orderIdeals(size: number, predMask: readonly bigint[], byFirst: readonly (readonly number[])[], parts: readonly Pick<Part, 'ops' | 'mask' | 'pred'>[], maxIdeals: number, deadline = Infinity): bigint[][] | undefined {
  const W = Math.max(1, (size + 31) >>> 5);
  const opPred = new Uint32Array(size * W);
  for (let i = 0; i < size; i++) toWords(predMask[i], opPred, i * W, W);
  const partMask = new Uint32Array(parts.length * W), partPred = new Uint32Array(parts.length * W);
  for (let p = 0; p < parts.length; p++) {
    toWords(parts[p].mask, partMask, p * W, W);
    toWords(parts[p].pred, partPred, p * W, W);
  }
  const ideals = new IdealSet(W);
  ideals.add(new Uint32Array(W)); // the empty ideal
  const levels: number[][] = [];
  for (let i = 0; i <= size; i++) levels.push([]);
  levels[0].push(0);
  const J = new Uint32Array(W);
  for (let s = 0; s < size; s++) {
    for (const id of levels[s]) {
      const I = ideals.arena, o = id * W;
      for (let i = 0; i < size; i++) {
        const w = i >>> 5;
        if ((I[o + w] >>> (i & 31)) & 1) continue;
        if (!subset(opPred, i * W, I, o, W)) continue;
        for (const p of byFirst[i]) {
          const po = p * W;
          let ok = true;
          for (let k = 0; k < W; k++) {
            if ((partMask[po + k] & I[o + k]) !== 0 || (partPred[po + k] & ~I[o + k]) !== 0) {
              ok = false;
              break;
            }
          }
          if (!ok) continue;
          for (let k = 0; k < W; k++) J[k] = I[o + k] | partMask[po + k];
          const known = ideals.size;
          const jd = ideals.add(J);
          if (ideals.size === known) continue; // seen
          if (ideals.size > maxIdeals || ((ideals.size & 1023) === 0 && performance.now() > deadline)) return undefined;
          levels[s + parts[p].ops.length].push(jd);
        }
      }
    }
    if (performance.now() > deadline) return undefined;
  }
  const A = ideals.arena;
  return levels.map((l) => l.map((id) => toBigInt(A, id * W, W)));
}

/** b's low W 32-bit words into out[at ..] (bit i of b is bit i & 31 of word i >>> 5). */
function toWords(b: bigint, out: Uint32Array, at: number, W: number): void {
  for (let w = 0; w < W; w++, b >>= 32n) out[at + w] = Number(b & 0xffffffffn);
}

/** The BigInt of the W words at a[at ..] (toWords' inverse). */
function toBigInt(a: Uint32Array, at: number, W: number): bigint {
  let b = 0n;
  for (let w = W - 1; w >= 0; w--) b = (b << 32n) | BigInt(a[at + w]);
  return b;
}

/** a's W words (at ao) are a subset of b's (at bo). */
function subset(a: Uint32Array, ao: number, b: Uint32Array, bo: number, W: number): boolean {
  for (let k = 0; k < W; k++) if ((a[ao + k] & ~b[bo + k]) !== 0) return false;
  return true;
}

/** A set of W-word bitsets, numbered in insertion order: an arena of their words and an
 * open-addressing table of their numbers. Hand-written: no library keys a hash set by a slice of
 * a typed array; the project's IdsMap (fusion/ids-map.ts) keys by id lists, which would be one
 * array per ideal and a Map of hash heads (strings or BigInts as keys are what this replaces). */
class IdealSet {
  arena: Uint32Array;
  size = 0;
  private table = new Int32Array(512).fill(-1);
  constructor(private readonly W: number) {
    this.arena = new Uint32Array(256 * W);
  }
  /** The number of `x` (W words); a new one is added as number `size - 1`. */
  add(x: Uint32Array): number {
    if ((this.size + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    const W = this.W, A = this.arena, mask = this.table.length - 1;
    for (let slot = this.hash(x, 0) & mask; ; slot = (slot + 1) & mask) {
      const id = this.table[slot];
      if (id < 0) {
        const next = this.size;
        if ((next + 1) * W > A.length) {
          const grown = new Uint32Array(A.length * 2);
          grown.set(A);
          this.arena = grown;
        }
        this.arena.set(x, next * W);
        this.table[slot] = next;
        this.size++;
        return next;
      }
      let k = 0;
      while (k < W && A[id * W + k] === x[k]) k++;
      if (k === W) return id;
    }
  }
  private hash(src: Uint32Array, at: number): number {
    let h = 0x811c9dc5;
    for (let k = 0; k < this.W; k++) h = Math.imul(h ^ src[at + k], 0x01000193) ^ (h >>> 15);
    return h >>> 0;
  }
  private rehash(n: number): void {
    const t = new Int32Array(n).fill(-1), mask = n - 1;
    for (let id = 0; id < this.size; id++) {
      let slot = this.hash(this.arena, id * this.W) & mask;
      while (t[slot] >= 0) slot = (slot + 1) & mask;
      t[slot] = id;
    }
    this.table = t;
  }
}

/** The pieces that can be added at an ideal I, with the ideal each gives (I | piece), in the
 * scan order: by first op, then family order. `at(I)` fills `pi` and `J` and returns how many. */
class Addable {
  readonly pi: number[] = [];
  readonly J: bigint[] = [];
  /** 1n << i for each local index (a BigInt is a heap object: made once, not per call). */
  private readonly bit: bigint[] = [];
  constructor(private readonly size: number, private readonly predMask: bigint[], private readonly byFirst: number[][], private readonly parts: Part[]) {
    for (let i = 0; i < size; i++) this.bit.push(1n << BigInt(i));
  }
  at(I: bigint): number {
    let n = 0;
    const { predMask, byFirst, parts, bit } = this;
    const notI = ~I;
    for (let i = 0; i < this.size; i++) {
      if ((I & bit[i]) !== 0n || (predMask[i] & notI) !== 0n) continue;
      for (const pi of byFirst[i]) {
        const p = parts[pi];
        if ((p.mask & I) === 0n && (p.pred & notI) === 0n) {
          this.pi[n] = pi;
          this.J[n] = I | p.mask;
          n++;
        }
      }
    }
    return n;
  }
}

/** g(I): the least cost to cover I with entry and closed pieces (see the header). */
function forwardCosts(size: number, levels: bigint[][], parts: Part[], adds: Addable): Map<bigint, { v: number; prev: bigint; part: number }> {
  const g = new Map<bigint, { v: number; prev: bigint; part: number }>([[0n, { v: 0, prev: -1n, part: -1 }]]);
  for (let s = 0; s < size; s++) {
    for (const I of levels[s]) {
      const gi = g.get(I);
      if (!gi) continue;
      const n = adds.at(I);
      for (let t = 0; t < n; t++) {
        const pi = adds.pi[t], J = adds.J[t];
        const p = parts[pi];
        if (p.hasX || p.cost === Infinity) continue;
        const v = gi.v + p.cost;
        const cur = g.get(J);
        if (!cur || v < cur.v) g.set(J, { v, prev: I, part: pi });
      }
    }
  }
  return g;
}

/** h(J): the least cost to complete J to the segment with entry and closed pieces. */
function backwardCosts(size: number, levels: bigint[][], parts: Part[], adds: Addable, full: bigint): Map<bigint, { v: number; next: bigint; part: number }> {
  const h = new Map<bigint, { v: number; next: bigint; part: number }>([[full, { v: 0, next: -1n, part: -1 }]]);
  for (let s = size - 1; s >= 0; s--) {
    for (const I of levels[s]) {
      let best: { v: number; next: bigint; part: number } | undefined;
      const n = adds.at(I);
      for (let t = 0; t < n; t++) {
        const pi = adds.pi[t], J = adds.J[t];
        const p = parts[pi];
        if (p.hasX || p.cost === Infinity) continue;
        const hj = h.get(J);
        if (!hj) continue;
        const v = p.cost + hj.v;
        if (!best || v < best.v) best = { v, next: J, part: pi };
      }
      if (best) h.set(I, best);
    }
  }
  return h;
}

/** Exit and through pieces: the best ideal to add each at. */
function exitCosts(size: number, levels: bigint[][], parts: Part[], adds: Addable, g: Map<bigint, { v: number }>, h: Map<bigint, { v: number }>): Map<number, { v: number; I: bigint }> {
  const at = new Map<number, { v: number; I: bigint }>();
  for (let s = 0; s < size; s++) {
    for (const I of levels[s]) {
      const gi = g.get(I);
      if (!gi) continue;
      const n = adds.at(I);
      for (let t = 0; t < n; t++) {
        const pi = adds.pi[t], J = adds.J[t];
        if (!parts[pi].hasX) continue;
        const hj = h.get(J);
        if (!hj) continue;
        const v = gi.v + hj.v;
        const cur = at.get(pi);
        if (!cur || v < cur.v) at.set(pi, { v, I });
      }
    }
  }
  return at;
}

/** The open-group states at the segment's exit cut op (undefined: the join limit). */
function nextStates(cost: CostModel, at: Map<number, { v: number; I: bigint }>, parts: Part[], sorted: State[], firstValid: IdsMap<number>, e: number, k: number, lbdf: boolean, budget: JoinBudget): State[] | undefined {
  const beta = cost.bufferBytes;
  const mE = e >= 0 && lbdf ? memOf(cost, [e]) : 0;
  const dE = e >= 0 ? cost.dram([e]) : 0;
  const next = new IdsMap<State>();
  const figures: GroupFigures = { bytes: 0, dram: 0, valid: false };
  for (const [pi, { v, I }] of [...at].sort(byFirstNumber)) {
    const p = parts[pi];
    if (!p.hasE) {
      putState(next, { ops: [...p.ops], a: v, key: v + cost.dram(p.ops), mem: lbdf ? memOf(cost, p.ops) : 0, seg: k, I, part: pi });
      continue;
    }
    const mT = lbdf ? memOf(cost, p.ops) : 0;
    const dT = cost.dram(p.ops);
    for (let i = scanStart(p.ops, e, firstValid); i < sorted.length; i++) {
      const O = sorted[i];
      if (lbdf && O.mem + mT - mE > beta) continue;
      if (budget.join()) return undefined;
      if (!fitsUnion(cost, O.ops, p.ops, figures)) continue;
      const a = O.a + v;
      // F_D(O u T) = F_D(O) + F_D(T) - F_D({e}) by (1), with F_D(O) = O.key - O.a: exact, F_D
      // being whole (or dyadic) byte counts; a union's own F_D is half of a join's evaluation.
      putState(next, { ops: unionSorted(O.ops, p.ops), a, key: a + (O.key - O.a) + dT - dE, mem: lbdf ? figures.bytes : 0, seg: k, I, part: pi, prev: O });
    }
  }
  return [...next.values()];
}

/** Keeps the cheaper of two states with the same ops (the first one's place in the order). */
function putState(next: IdsMap<State>, st: State): void {
  const cur = next.get(st.ops);
  if (!cur || st.a < cur.a) next.set(st.ops, st);
}

/** The plan from the DP's back-pointers. */
class Rebuild {
  readonly out: Group[] = [];
  constructor(private readonly ctxs: SegCtx[]) {}
  all(): Group[] {
    const last = this.ctxs.length - 1;
    this.expand(last, this.ctxs[last].full, -1);
    return this.out;
  }
  private emitPart(k: number, pi: number): void {
    const ctx = this.ctxs[k];
    const p = ctx.parts[pi];
    if (p.hasE) {
      const O = ctx.argO[pi]!;
      this.out.push(unionSorted(O.ops, p.ops));
      this.expandState(O);
    } else this.out.push(p.ops);
  }
  private expand(k: number, I: bigint, pi: number): void {
    const ctx = this.ctxs[k];
    for (let cur = I; cur !== 0n; ) {
      const b = ctx.g.get(cur)!;
      this.emitPart(k, b.part);
      cur = b.prev;
    }
    for (let cur = pi >= 0 ? I | ctx.parts[pi].mask : I; cur !== ctx.full; ) {
      const b = ctx.h.get(cur)!;
      this.emitPart(k, b.part);
      cur = b.next;
    }
  }
  private expandState(O: State): void {
    this.expand(O.seg, O.I, O.part);
    if (O.prev) this.expandState(O.prev);
  }
}
