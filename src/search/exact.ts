/**
 * The exact optimum of the fusion problem for a given cost model (beyond the paper, which has
 * none): minimize sum F_D(group) over partitions into weakly connected, valid groups whose group
 * graph is acyclic.
 *
 * Formulation (set partitioning + potentials), solved with HiGHS (npm `highs`, wasm):
 *  0. Decomposition: ops joined by fusable edges form components; groups never straddle two
 *     components, so each component is solved on its own and the plans are combined (if the
 *     combination has a cycle through several components, everything is re-solved at once with
 *     the acyclicity rows below). Chain components use a prefix DP (exact, no solver).
 0b. A component whose segments (segments.ts: blocks between cut ops) form a path is solved by
     the DP of segment-dp.ts: open groups carried across each cut op, joined with the next
     segment's pieces over its order ideals (exact; proof there). The groups that span several
     segments — the product family that made GoogLeNet's Inception chain exceed 200,000 convex
     groups — are never enumerated. Past its work limits (or off a path) the MILPs below run.
 *  1. Candidates: every connected, valid and CONVEX group of fusable ops
 *     (`enumerateConvexCandidates`; a non-convex group — one a DAG path leaves and re-enters —
 *     forces a cycle in the group graph of any plan holding it, so dropping those is exact; see
 *     the proof there). Grown one adjacent op at a time through valid convex connected sets
 *     (validity is monotone under inclusion for both cost models, lbdf.ts / brr.ts), deduplicated
 *     by key. Convexity is what keeps residual networks tractable: a group spanning a residual
 *     block must hold both of its branches, so the family grows polynomially instead of
 *     exponentially with depth (ResNet-18 LBDF int8 256 KiB: > 50k connected groups, 443 convex).
 *     Singletons are always candidates. If a component has more than `maxCandidates` (default
 *     200000) of them, its enumeration is redone with the largest size bound L that fits: the
 *     answer is then the optimum over groups of <= L ops only (`scope: 'bounded'`), plus the
 *     groups of the incumbent (so never worse than the heuristic it certifies) — not a proven
 *     optimum. (`enumerateCandidates`, plain ESU over all connected valid groups, is kept for
 *     tests and comparisons.)
 *  1b. Per component, before any MILP: if the incumbent meets `componentLowerBound` it is optimal;
 *     else the LP relaxation of the set partitioning over the complete family is solved (a valid
 *     lower bound; costs are integral in elements, so ceil(LP) is one too). An integral LP
 *     optimum is the component optimum, and an incumbent at ceil(LP) is proven optimal; only
 *     otherwise does the MILP run (time-limited; its bound is max(dual bound, ceil(LP))).
 *  2. Binary x_g per candidate; each op covered exactly once; minimize sum x_g F_D(g)
 *     (in elements: F_D / elementBytes, integral).
 *  3. Acyclicity, added lazily: the set-partitioning optimum is checked; if its group graph has a
 *     cycle, the model is re-solved with a potential pi_v in [0, n-1] per op and, for every edge
 *     u -> v with s_uv = sum of x_g over candidates holding both u and v:
 *       pi_v - pi_u + s_uv >= 1   (different groups: strictly later; same group: not earlier)
 *       pi_v - pi_u + n s_uv <= n (same group: equal potentials)
 *     Groups are connected through their internal edges, so members share one potential and every
 *     edge between groups increases it: the group graph is acyclic. Conversely any acyclic plan
 *     satisfies this with pi = the rank of its group in a topological order. Exact.
 *  On a chain (every op has at most one predecessor and one successor, in order) a DP over
 *  prefixes gives the same optimum without a solver (`exactChain`).
 *  Lower bound (`bound`, valid for the unrestricted problem): the sum over components of the
 *  component optimum (complete family, solved), or HiGHS's dual bound (complete family, time
 *  limit), or `componentLowerBound` (weights once + maps that can never stay on chip; no
 *  enumeration) for size-bounded components; at least `trivialLowerBound`. status = 'optimal'
 *  only when the returned plan meets that bound. Solves stop on deterministic work limits
 *  (branch-and-bound nodes, simplex iterations), so a run is reproducible on any machine; the
 *  wall-clock time limit is only a safety net, and where it fires the result can depend on
 *  machine speed (the plan is still never worse than the incumbent).
 */
import * as highsModule from 'highs';
import type { Highs } from 'highs';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type { CostModel, Group } from '../fusion/types.ts';
import { assignmentOf, canonicalPlan, executionOrder, planDram, type Plan } from '../fusion/plan.ts';
import { fusabilityOf } from './common.ts';
import { segmentsOf } from './segments.ts';
import { segmentPath, solveSegmentPath, type SegmentPathResult } from './segment-dp.ts';
import { collectGarbage } from '../util/gc.ts';
import { traceMemory } from '../util/memtrace.ts';
import { pagedArray, pagedFrom, readPaged } from '../util/paged.ts';

/** Options of the exact (MILP, HiGHS) fusion optimum: solver limits (time, nodes, iterations),
 * candidate count and group size bounds. */
export interface ExactOptions {
  /** HiGHS wall-clock limit, seconds (default 60), also the segment-path DP's (counted from the
   * start of the solve; past it the DP gives way to the MILPs): a safety net only. Where it fires, the result
   * depends on machine speed, so the run is not reproducible; the work limits below stop first
   * on the instances we plan, and they are deterministic. */
  timeLimit?: number;
  /** Branch-and-bound nodes per MILP solve (HiGHS mip_max_nodes; default 20000): a
   * deterministic work limit, so the same inputs give the same plan and bound on any machine. */
  nodeLimit?: number;
  /** Simplex iterations per LP relaxation (HiGHS simplex_iteration_limit; default 2000000). */
  iterationLimit?: number;
  /** Candidate-group cap (convex connected valid groups per component) before falling back to a
   * size bound (default 200000). */
  maxCandidates?: number;
  /** Force a size bound (ops per group). */
  maxGroupSize?: number;
  /** Solve each component by segments between its cut ops first (`solveBySegments`; default
   * true). Exact either way; off only to compare with the undecomposed solve. */
  decompose?: boolean;
}

/** The exact optimum: plan, DRAM, lower bound, solver status and scope. */
export interface ExactResult {
  method: 'exact';
  plan: Plan;
  /** DRAM of the returned plan (the optimum when status = 'optimal' and scope = 'all'). */
  dram: number;
  /** Lower bound proven on the optimum of the unrestricted problem (= dram when optimal). */
  bound: number;
  /** (dram - bound) / dram: how far the returned plan can be from the true optimum. */
  gap: number;
  /** 'optimal': proven optimum of the unrestricted problem. 'not-proven': a HiGHS time limit or a
   * size-bounded family stopped the proof; see bound/gap. */
  status: 'optimal' | 'not-proven';
  /** 'all': every valid connected group was a candidate (true optimum); 'bounded': groups of at
   * most maxGroupSize ops only (optimum over that family). */
  scope: 'all' | 'bounded';
  maxGroupSize?: number;
  candidates: number;
  /** How it was solved: a prefix DP on a chain, the incumbent meeting the enumeration-free lower
   * bound (`bound`: no DP, enumeration or solve), the DP along a path of segments (segment-dp.ts),
   * or HiGHS set partitioning (+ potentials rows); the most elaborate of these, in that order, that
   * a component needed. */
  solver: 'chain-dp' | 'bound' | 'segment-dp' | 'milp' | 'milp+acyclicity';
  /** A lower bound valid for every plan (weights once + graph inputs + graph outputs). */
  trivialLowerBound: number;
  ms: number;
}

type HighsApi = Highs;
// The package's .d.ts is ESM-shaped inside a CommonJS package: under NodeNext TypeScript sees
// the default export as `.default`, while Node's ESM entry (highs.mjs) exports it directly.
const loadHighs = ((highsModule as unknown as { default?: unknown }).default ?? highsModule) as () => Promise<Highs>;
let highsPromise: Promise<HighsApi> | undefined;
/** HiGHS's wasm memory in MiB, for DNNFUSE_TRACE_MEMORY's lines. */
const mibOf = (api: HighsApi) => ((api as unknown as { memoryBytes: number }).memoryBytes / 1048576).toFixed(0);
/** Node's global WebAssembly (the TypeScript libs of this project do not declare it). */
const Wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<object>; instantiate(module: object, imports: object): Promise<object> } }).WebAssembly;
let wasmModule: Promise<object> | undefined;
/**
 * HiGHS's wasm is compiled by V8's baseline compiler (Liftoff) only, without tier-up to TurboFan.
 * V8 otherwise optimises the solver's hot functions as they run, and the optimising compiler's
 * memory and code stay resident: PP-OCRv4 det's `compile --no-verify` peaked at 326 MiB RSS
 * with tier-up and 280 MiB without, for the same CPU time (14.5 vs 14.7 s user; issue 15 item 5,
 * bench:memory). Set from code because no API selects the tier of one module: the flag is set
 * just before HiGHS's module compiles and restored once it is compiled (the module keeps its
 * tiering: `plan` on PP-OCRv4 det peaked at 331-347 MiB with the flag left on, 333-337 MiB
 * restored, 361-369 MiB with tier-up), so a host process that calls dnnfuse as a library keeps
 * V8's default for its own wasm. `DNNFUSE_WASM_TIERUP=1` keeps V8's default (for measuring).
 * Returns whether the flag must be restored (not when the process was started with it).
 */
function baselineWasmOnly(): boolean {
  if (process.env.DNNFUSE_WASM_TIERUP === '1') return false;
  if ([...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].includes('--liftoff-only')) return false;
  try {
    setFlagsFromString('--liftoff-only');
    return true;
  } catch {
    return false; // an engine without the flag: tier-up costs memory, not results
  }
}
function highs(): Promise<HighsApi> {
  highsPromise ??= (async () => {
    if (!wasmModule) {
      const restore = baselineWasmOnly();
      wasmModule = Wasm.compile(readPaged(createRequire(import.meta.url).resolve('highs/runtime')));
      if (restore) void wasmModule.finally(() => setFlagsFromString('--no-liftoff-only'));
    }
    const compiled = await wasmModule;
    // Emscripten's hook: instantiate the module compiled once instead of compiling highs.wasm again.
    const instantiateWasm = (imports: object, done: (instance: object) => void) => {
      void Wasm.instantiate(compiled, imports).then(done);
      return {};
    };
    return (loadHighs as unknown as (o: object) => Promise<HighsApi>)({ instantiateWasm });
  })();
  return highsPromise;
}

/**
 * Drops this module's compiled HiGHS wasm module (each solveExact already drops its instance
 * when it ends); the next solve compiles it again (about 70 ms). The module's machine code, and
 * the instance's wasm memory, which only grows (20 MiB at least, 300 MiB after a 158,223-column
 * LP), go back to the system once collected, unlike malloc'd memory: `dnnfuse compile` drops
 * them after each pass that used them, so that later passes and onnxruntime's check do not sit
 * on them (ResNet-50 compile: peak RSS 350 -> 322 MiB, bench:memory). Returns whether there was
 * one.
 */
export function releaseSolver(): boolean {
  const had = highsPromise !== undefined || wasmModule !== undefined;
  highsPromise = undefined;
  wasmModule = undefined;
  return had;
}

/** Every valid connected group of fusable ops (see header), or undefined past `cap`. */
export function enumerateCandidates(cost: CostModel, cap: number, maxSize = Infinity, within?: number[]): Group[] | undefined {
  const fus = fusabilityOf(cost);
  const n = cost.graph.ops.length;
  const out: Group[] = [];
  const near = new Int32Array(n); // >0: in the set or adjacent to it
  const sub: number[] = [];
  let overflow = false;
  const sortedSub = () => [...sub].sort((a, b) => a - b);
  const addNear = (w: number, d: number) => {
    near[w] += d;
    for (const u of fus.adj[w]) near[u] += d;
  };
  const extend = (ext: number[], root: number) => {
    out.push(sortedSub());
    if (out.length > cap) {
      overflow = true;
      return;
    }
    if (sub.length >= maxSize) return;
    const rest = ext.slice();
    while (rest.length && !overflow) {
      const w = rest.pop()!;
      sub.push(w);
      const g = sortedSub();
      if (cost.valid(g)) {
        const next = rest.slice();
        for (const u of fus.adj[w]) if (u > root && near[u] === 0 && !next.includes(u)) next.push(u);
        addNear(w, 1);
        extend(next, root);
        addNear(w, -1);
      }
      sub.pop();
    }
  };
  for (const v of within ?? Array.from({ length: n }, (_, i) => i)) {
    if (overflow) break;
    sub.push(v);
    addNear(v, 1);
    extend(fus.adj[v].filter((u) => u > v), v);
    addNear(v, -1);
    sub.pop();
  }
  return overflow ? undefined : out;
}

/** Descendant (`desc`) and ancestor (`anc`) bitsets of every op (each includes the op itself),
 * as Uint32Array words, for convexity tests. */
export interface Reachability {
  desc: Uint32Array[];
  anc: Uint32Array[];
  words: number;
}

/** The graph's reachability (n^2 / 4 bytes for n ops). A solve computes it once and hands it to
 * each enumeration: computed per segment, it was an eighth of a sweep's allocation (GoogLeNet
 * has dozens of segments, each enumeration rebuilt the whole graph's bitsets). */
export function reachability(cost: CostModel): Reachability {
  const { succ, pred, ops } = cost.graph;
  const n = ops.length;
  const words = (n + 31) >>> 5;
  const desc: Uint32Array[] = new Array(n);
  const anc: Uint32Array[] = new Array(n);
  for (let v = n - 1; v >= 0; v--) {
    const b = new Uint32Array(words);
    b[v >>> 5] |= 1 << (v & 31);
    for (const u of succ[v]) {
      const d = desc[u];
      for (let k = 0; k < words; k++) b[k] |= d[k];
    }
    desc[v] = b;
  }
  for (let v = 0; v < n; v++) {
    const b = new Uint32Array(words);
    b[v >>> 5] |= 1 << (v & 31);
    for (const u of pred[v]) {
      const d = anc[u];
      for (let k = 0; k < words; k++) b[k] |= d[k];
    }
    anc[v] = b;
  }
  return { desc, anc, words };
}

/**
 * Every valid, connected and **convex** group of fusable ops (or undefined past `cap`).
 *
 * Why convex groups suffice (exact pruning, not a heuristic): a group G is convex when no path of
 * the op DAG leaves G and comes back. If G is not convex, a path G -> x -> ... -> y -> G with x..y
 * outside G runs through other groups, so the group graph of ANY plan holding G has a closed walk
 * G -> grp(x) -> ... -> grp(y) -> G, i.e. a cycle: no feasible plan uses G. This removes, e.g.,
 * every group that takes a residual block's skip path but not its main branch, which is what made
 * the connected-group family explode on residual networks.
 *
 * Completeness of the growth (every valid convex connected set S is reached from a singleton by
 * adding one adjacent op at a time through valid convex connected sets): for |S| >= 2 some op v of
 * S is extreme in S (no predecessor in S, or no successor in S) and S \ {v} stays connected.
 * Proof: take a leaf block B of S's block-cut tree with attaching cut vertex z (B = S when S has no
 * cut vertex; then any z in B). Inside valid groups every DAG edge is a fusable edge (a valid group
 * holds each of its edges as a valid connected pair, validity being monotone), so ops of B \ {z}
 * only neighbour ops of B. If no op of B \ {z} were extreme in S, walking back inside B \ {z}
 * from any op reaches an op whose only predecessor in S is z, and walking forward from there
 * reaches one whose only successor in S is z: a cycle z -> ... -> z in a DAG. So an extreme v in
 * B \ {z} exists, and removing a non-cut op keeps S connected. S \ {v} is convex (a path between
 * two of its ops through v would give v a predecessor and a successor in S... through outside ops,
 * contradicting S's convexity, or inside S, contradicting v extreme), connected, and valid by
 * monotonicity. Induction on |S|.
 * Each set is generated once (a hash set of keys deduplicates the several ways to reach it).
 */
export function enumerateConvexCandidates(cost: CostModel, cap: number, maxSize = Infinity, within?: number[]): Group[] | undefined {
  const r = enumerateConvexLevels(cost, cap, maxSize, within);
  return r.complete ? r.groups : undefined;
}

/**
 * The same family grown level by level (all groups of k ops from those of k - 1; complete by the
 * argument above). Stops at the first level that would pass `cap` and returns the groups of the
 * complete levels: `complete` = nothing was cut off by the cap (every group of <= maxSizeIn ops is
 * returned), else `maxSize` = the largest L whose groups of <= L ops are all returned (one pass
 * instead of a binary search over L).
 */
export function enumerateConvexLevels(cost: CostModel, cap: number, maxSizeIn = Infinity, within?: number[], allowed?: Uint8Array, reach: Reachability = reachability(cost)): { groups: Group[]; complete: boolean; maxSize: number } {
  const fus = fusabilityOf(cost);
  const { succ, pred } = cost.graph;
  const n = cost.graph.ops.length;
  const { desc, anc, words } = reach;
  const out: Group[] = [];
  const inS = new Uint32Array(words);
  const tried = new Int32Array(n).fill(-1);
  let level: Group[] = (within ?? Array.from({ length: n }, (_, i) => i)).map((v) => [v]);
  let stamp = 0;
  let size = 1;
  let sinceGc = 0; // node sets tried since the last collection
  for (;;) {
    if (out.length + level.length > cap) return { groups: out, complete: false, maxSize: size - 1 };
    for (const g of level) out.push(g);
    if (level.length === 0) return { groups: out, complete: true, maxSize: size - 1 };
    if (size >= maxSizeIn) return { groups: out, complete: true, maxSize: size };
    const seen = new Set<string>();
    const next: Group[] = [];
    for (const S of level) {
      inS.fill(0);
      for (const x of S) inS[x >>> 5] |= 1 << (x & 31);
      stamp++;
      for (const m of S) {
        for (const w of fus.adj[m]) {
          if (hasBit(inS, w) || tried[w] === stamp || (allowed && !allowed[w])) continue;
          tried[w] = stamp;
          // S is convex; S + w is not iff a path runs w -> (outside) -> S or S -> (outside) -> w.
          let convex = true;
          for (const x of succ[w]) if (!hasBit(inS, x) && meets(desc[x], inS, words)) { convex = false; break; }
          if (convex) for (const x of pred[w]) if (!hasBit(inS, x) && meets(anc[x], inS, words)) { convex = false; break; }
          if (!convex) continue;
          // S + w sorted, by toSpliced: an array of exactly |S| + 1 elements (pushing into []
          // reserves 17 elements and 41 from the 18th: PP-OCRv4 det has 158,571 groups of up to
          // 18 ops, about 11 MB less heap at the exact solver's peak) whose elements stay small
          // integers. S.concat(w) allocated the same length but gave V8's generic HOLEY_ELEMENTS
          // kind: every cost-model function then met a second array map besides the searches'
          // PACKED_SMI groups, deoptimized ("wrong map") and was compiled again, once per
          // isolate of a sweep's pool, and read each id as a tagged value.
          let at = S.length;
          while (at > 0 && S[at - 1] > w) at--;
          const T = S.toSpliced(at, 0, w);
          const key = T.join(',');
          if (seen.has(key)) continue;
          seen.add(key);
          if (cost.valid(T)) next.push(T);
        }
      }
      if (out.length + next.length > cap) return { groups: out, complete: false, maxSize: size };
    }
    level = next;
    size++;
    // On a large family, collect the levels' garbage (their key sets, the rejected groups) before
    // more piles up: V8 would let it grow to about the live heap again (PP-OCRv4 det: 158,571
    // candidates, peak RSS 308 -> see bench:memory). Once per LEVEL_GARBAGE groups tried, not
    // once per level: a deep family of small levels (ppocr-cls-qdq BRR 1 MiB: 51,681 groups in
    // 321 levels of ~160) ran a full collection of a 100 MB heap per level, 6 s of a 7 s solve.
    sinceGc += seen.size;
    if (out.length >= LARGE_FAMILY && sinceGc >= LEVEL_GARBAGE) {
      collectGarbage();
      sinceGc = 0;
    }
  }
}

/** Node sets tried by enumerateConvexLevels between two collections of a large family's garbage. */
const LEVEL_GARBAGE = 10_000;

// enumerateConvexLevels' bit tests: module functions, not closures inside it (a closure's
// optimized code is dropped by a major GC once its call returns, and compiled again next call).
function meets(b: Uint32Array, inS: Uint32Array, words: number): boolean {
  for (let k = 0; k < words; k++) if (b[k] & inS[k]) return true;
  return false;
}
function hasBit(inS: Uint32Array, x: number): boolean {
  return (inS[x >>> 5] & (1 << (x & 31))) !== 0;
}

/** Lower bound on any plan: every weight read once, graph inputs read, graph outputs written. */
export function trivialLowerBound(cost: CostModel): number {
  const { ops, tensors } = cost.graph;
  let s = 0;
  for (const op of ops) s += op.weightElements;
  for (const t of tensors) if (t.producer < 0 || t.graphOutput || t.consumers.length === 0) s += t.elements;
  return s * cost.elementBytes;
}

export function isChain(cost: CostModel): boolean {
  const { succ, pred } = cost.graph;
  return succ.every((s, i) => s.length === 0 ? i === succ.length - 1 : s.length === 1 && s[0] === i + 1) && pred.every((p, i) => (i === 0 ? p.length === 0 : p.length === 1 && p[0] === i - 1));
}

/** Exact DP on a chain: best[j] = min_i best[i] + F_D(ops i..j-1) over valid segments. */
export function exactChain(cost: CostModel): Plan {
  const n = cost.graph.ops.length;
  const best = new Float64Array(n + 1).fill(Infinity);
  const from = new Int32Array(n + 1);
  best[0] = 0;
  for (let j = 1; j <= n; j++) {
    for (let i = j - 1; i >= 0; i--) {
      const seg = Array.from({ length: j - i }, (_, k) => i + k);
      if (!cost.valid(seg)) break; // monotone: longer segments ending at j are invalid too
      const c = best[i] + cost.dram(seg);
      if (c < best[j]) {
        best[j] = c;
        from[j] = i;
      }
    }
  }
  const plan: Plan = [];
  for (let j = n; j > 0; j = from[j]) plan.push(Array.from({ length: j - from[j] }, (_, k) => from[j] + k));
  return canonicalPlan(plan);
}

export interface ExactOptionsFull extends ExactOptions {
  /** A known plan (e.g. the best heuristic's) given to HiGHS as its first incumbent. */
  incumbent?: Plan;
  /** A size-bounded family is solved as an LP first, and the MILP runs only when that LP does not
   * settle it: true always, false never (the same plan either way; tests compare), default from
   * `LP_FIRST_FROM` columns, where HiGHS's MILP root processing costs time and memory; on smaller
   * families the extra LP costs more than it saves (bench:sweep: 32.7 -> 41.4 s CPU for
   * googlenet, resnet50 and mobilenet_v2 with the LP on every family). */
  lpFirst?: boolean;
  /** The acyclicity re-solve is built only up to this many nonzeros in its potential rows
   * (default ACYCLIC_MAX_NONZEROS); past it the components on cycles keep the incumbent's
   * groups (breakCycles; tests set 0). */
  acyclicMaxNonzeros?: number;
  /** Columns past which an acyclicity re-solve over a size-bounded family (scope 'bounded') is
   * not built; its components on cycles keep the incumbent's groups instead (default 20,000). */
  acyclicBoundedMaxColumns?: number;
  /** Columns past which no acyclicity re-solve is built, whatever the scope (default 100,000). */
  acyclicMaxColumns?: number;
  /** Rounds of the column-generation LP of a size-bounded family before it gives up and the
   * incumbent stands (default LP_MAX_ROUNDS; tests set 1). */
  lpMaxRounds?: number;
  /** Families from this many columns go to HiGHS column-wise (default 20000; tests compare). */
  columnWiseFrom?: number;
  /** Segment families (solveBySegments) from this many columns whose LP leaves a gap run their
   * no-good MILP rounds only after the undecomposed LP failed to prove the incumbent (default
   * 20000; the same optimum either way, tests compare with 0). */
  deferRoundsFrom?: number;
}

/** Connected components of the fusable-edge graph (ops of different components never share a
 * group), each sorted; singletons included. */
export function fusableComponents(cost: CostModel): number[][] {
  const fus = fusabilityOf(cost);
  const n = cost.graph.ops.length;
  const comp = new Int32Array(n).fill(-1);
  const out: number[][] = [];
  for (let v = 0; v < n; v++) {
    if (comp[v] >= 0) continue;
    const members: number[] = [];
    const st = [v];
    comp[v] = out.length;
    while (st.length) {
      const x = st.pop()!;
      members.push(x);
      for (const u of fus.adj[x]) if (comp[u] < 0) (comp[u] = out.length, st.push(u));
    }
    out.push(members.sort((a, b) => a - b));
  }
  return out;
}

function isChainSet(cost: CostModel, ids: number[]): boolean {
  const fus = fusabilityOf(cost);
  const inSet = new Set(ids);
  for (let k = 0; k < ids.length; k++) {
    const v = ids[k];
    // inside the component, v's graph neighbours must be exactly its chain neighbours
    const nb = [...cost.graph.succ[v], ...cost.graph.pred[v]].filter((u) => inSet.has(u)).sort((a, b) => a - b);
    const want = [k > 0 ? ids[k - 1] : -1, k < ids.length - 1 ? ids[k + 1] : -1].filter((u) => u >= 0);
    if (nb.length !== want.length || nb.some((u, i) => u !== want[i])) return false;
    if (k > 0 && !fus.adj[v].includes(ids[k - 1])) return false;
  }
  return true;
}

/**
 * Solves the problem per fusable component (components never share a group, so the sum of the
 * component optima is the optimum whenever the combined plan is acyclic — checked; otherwise the
 * whole problem is re-solved with the potential rows). Chains use the DP; other components use
 * HiGHS on their candidate family (complete when under the cap, else size-bounded).
 */
/** The incumbent's groups by first op: `find(g)` is the incumbent group with the same ids as
 * `g` (both sorted), if any — what a lookup by `g.join(',')` in the incumbent's keys finds. */
function incumbentIndex(groups: Group[]): { find: (g: Group) => Group | undefined } {
  const byFirst = new Map<number, Group[]>();
  for (const g of groups) {
    const l = byFirst.get(g[0]);
    if (l) l.push(g);
    else byFirst.set(g[0], [g]);
  }
  const same = (a: Group, b: Group) => a.length === b.length && a.every((x, i) => x === b[i]);
  return { find: (g) => byFirst.get(g[0])?.find((h) => same(h, g)) };
}

/** Solvers running now; the HiGHS instance is dropped when the last one ends. */
let highsUsers = 0;

export async function solveExact(cost: CostModel, opts: ExactOptionsFull = {}): Promise<ExactResult> {
  highsUsers++;
  const t0 = performance.now();
  try {
    return await solveExactWith(cost, opts);
  } catch (e) {
    if (!solverAborted(e) || !opts.incumbent) throw e;
    // HiGHS aborted (its wasm memory, 32-bit, is full): the instance is dead and its bounds are
    // lost; the incumbent stands, with the bound that needs no solver.
    highsPromise = undefined;
    const dram = planDram(cost, opts.incumbent);
    const lb = trivialLowerBound(cost);
    const bound = Math.min(dram, lb);
    return { method: 'exact', plan: canonicalPlan(opts.incumbent), dram, bound, gap: dram > 0 ? (dram - bound) / dram : 0, status: dram <= bound ? 'optimal' : 'not-proven', scope: 'all', candidates: 0, solver: 'milp', trivialLowerBound: lb, ms: performance.now() - t0 };
  } finally {
    // HiGHS's wasm memory only grows (a large MILP leaves hundreds of MB resident); a fresh
    // instance per solve lets it be collected once the solve is over (the compiled module is
    // kept: instantiating it again is cheap).
    if (--highsUsers === 0) highsPromise = undefined;
  }
}

async function solveExactWith(cost: CostModel, opts: ExactOptionsFull): Promise<ExactResult> {
  const t0 = performance.now();
  const n = cost.graph.ops.length;
  const lb = trivialLowerBound(cost);
  const eb = cost.elementBytes;
  const cap = opts.maxCandidates ?? 200_000;
  const timeLimit = opts.timeLimit ?? 60;
  const work = { nodeLimit: opts.nodeLimit ?? 20_000, iterationLimit: opts.iterationLimit ?? 2_000_000 };
  const comps = fusableComponents(cost);
  // One time limit for the whole solve: every HiGHS call gets what is left of it (a component at
  // most its share), and a component reached after it keeps the incumbent's groups, not proven.
  // (Each call had the whole limit: gpt-kv LBDF int8 1 MiB took 62 s under --time-limit 30.)
  const deadline = t0 + timeLimit * 1000;
  const left = () => Math.max(0, (deadline - performance.now()) / 1000);
  const whole = () => ({ ...work, timeLimit: left(), columnWiseFrom: opts.columnWiseFrom });
  const perComponent = () => ({ ...whole(), timeLimit: Math.min(left(), timeLimit / Math.max(1, comps.length > 8 ? 8 : comps.length)) });
  const plan: Plan = [];
  let scope: 'all' | 'bounded' = 'all';
  let minBound = Infinity;
  let status: 'optimal' | 'not-proven' = 'optimal';
  let solver: ExactResult['solver'] = 'chain-dp';
  let totalCands = 0;
  let boundSum = 0; // sum of per-component lower bounds
  const allCands: Group[] = [];
  /** Components settled without their family (settle), and whether a chain's family overflowed
   * its cap: what keeps the acyclicity re-solve's family partial. */
  const settled: number[][] = [];
  let chainOverflow = false;
  const incAssign = opts.incumbent ? new Map(opts.incumbent.map((g) => [g.join(','), g])) : undefined;
  let reach: Reachability | undefined; // for the components' enumerations, once
  /** The incumbent's groups inside a component (components never share a group) and their DRAM,
   * when they cover it with valid groups. */
  const incumbentWithin = (comp: number[]): { groups: Group[]; cost: number } | undefined => {
    if (!incAssign) return undefined;
    const inComp = new Set(comp);
    const groups = [...incAssign.values()].filter((g) => inComp.has(g[0]));
    if (groups.reduce((a, g) => a + g.length, 0) !== comp.length || !groups.every((g) => g.length === 1 || cost.valid(g))) return undefined;
    return { groups, cost: groups.reduce((a, g) => a + cost.dram(g), 0) };
  };
  /** A component's groups decided without its family: they and its singletons are all a global
   * acyclicity re-solve gets of it; `bound` is its lower bound. */
  const settle = (comp: number[], groups: Group[], bound: number) => {
    plan.push(...groups);
    boundSum += bound;
    allCands.push(...groups, ...comp.map((v) => [v]));
    settled.push(comp);
  };
  for (const comp of comps) {
    if (comp.length === 1) {
      plan.push(comp);
      boundSum += cost.dram(comp);
      allCands.push(comp);
      continue;
    }
    if (isChainSet(cost, comp) && opts.maxGroupSize === undefined) {
      const sub = exactChainOn(cost, comp);
      plan.push(...sub);
      const d = sub.reduce((a, g) => a + cost.dram(g), 0);
      boundSum += d;
      // the full family too, in case the combined plan needs the global acyclicity solve
      const fam = enumerateConvexCandidates(cost, cap, Infinity, comp);
      if (fam) for (const g of fam) allCands.push(g);
      else {
        allCands.push(...sub, ...comp.filter((v) => !sub.some((g) => g.length === 1 && g[0] === v)).map((v) => [v]));
        chainOverflow = true;
      }
      continue;
    }
    // The incumbent meets a lower bound of the component: optimal for it, with no DP, enumeration
    // or solve. The enumeration-free bound is tried first (ppocr-cls-qdq BRR 1 MiB: a one-group
    // plan, proven after 51,681 groups were enumerated; gpt-kv BRR 1 MiB: after a segment LP of
    // 93,031 columns, 233 MiB of HiGHS), the segment rounds' bound below.
    const own = incumbentWithin(comp);
    const compBound = componentLowerBound(cost, comp);
    const meets = (bound: number): boolean => {
      if (!own || opts.maxGroupSize !== undefined || own.cost > bound) return false;
      solver = elaborate(solver, 'bound');
      settle(comp, own.groups, own.cost);
      return true;
    };
    if (meets(compBound)) continue;
    // Past the time limit: the component keeps the incumbent's groups (its ops alone without
    // one), not proven, with the best bound known of it.
    const outOfTime = (proven: number): boolean => {
      if (performance.now() < deadline) return false;
      status = 'not-proven';
      settle(comp, own?.groups ?? comp.map((v) => [v]), Math.max(compBound, proven));
      return true;
    };
    if (outOfTime(0)) continue;
    // Segments along a path: the exact DP of segment-dp.ts (no MILP; the groups spanning cut
    // ops are never enumerated), a proven component optimum whenever its work limits hold.
    if (opts.decompose !== false && opts.maxGroupSize === undefined) {
      const dp = segmentPathOptimum(cost, comp, cap, deadline);
      if (dp) {
        totalCands += dp.candidates;
        solver = elaborate(solver, 'segment-dp');
        settle(comp, dp.plan, dp.dram);
        continue;
      }
    }
    // Segments between cut ops first (exact; see solveBySegments): small families, and either
    // a proven component optimum or a lower bound the undecomposed solve below keeps.
    let compLb = 0;
    // A large segment family whose LP left a gap: its no-good MILP rounds (HiGHS's root
    // processing over tens of thousands of columns) wait until the undecomposed LP below has had
    // its chance to prove the incumbent (see solveBySegments' `deferFrom`), and are not run when
    // the component's family overflowed its cap (below).
    let deferred = false;
    /** True when the deferred rounds decided the component (settled). */
    const segmentRounds = async (): Promise<boolean> => {
      if (!deferred) return false;
      deferred = false;
      const dec = await solveBySegments(cost, comp, cap, perComponent(), incAssign);
      if (!dec) return false;
      compLb = Math.max(compLb, dec.lb);
      if (!dec.plan) return false;
      settle(comp, dec.plan, dec.lb);
      return true;
    };
    if (opts.decompose !== false && opts.maxGroupSize === undefined) {
      const dec = await solveBySegments(cost, comp, cap, perComponent(), incAssign, opts.deferRoundsFrom ?? LP_FIRST_FROM);
      if (dec) {
        totalCands += dec.candidates;
        solver = 'milp';
        if (dec.plan) {
          settle(comp, dec.plan, dec.lb);
          continue;
        }
        compLb = dec.lb;
        deferred = dec.deferred === true;
      }
    }
    // The segment rounds' bound may be what the incumbent meets (above it only if compLb is).
    if (meets(compLb)) continue;
    if (outOfTime(compLb)) continue;
    let maxSize = opts.maxGroupSize ?? Infinity;
    const en = enumerateConvexLevels(cost, cap, maxSize, comp, undefined, (reach ??= reachability(cost)));
    // A large enumeration leaves its per-level key sets and overflowing level as garbage.
    if (en.groups.length >= LARGE_FAMILY) collectGarbage();
    traceMemory(`exact: ${en.groups.length} candidates enumerated (${comp.length} ops)`);
    let cands = en.groups;
    let complete = opts.maxGroupSize === undefined;
    if (opts.maxGroupSize !== undefined) scope = 'bounded';
    if (!en.complete) {
      scope = 'bounded';
      complete = false;
      if (en.maxSize < 1) cands = enumerateConvexLevels(cost, Infinity, 1, comp, undefined, reach).groups; // singletons
      maxSize = Math.max(1, en.maxSize);
      minBound = Math.min(minBound, maxSize);
    }
    // The incumbent's groups inside this component join the family (so the answer is never worse
    // than the incumbent even when the family is size-bounded).
    // Compared by ids, not by key text: a key per candidate (158,223 on PP-OCRv4 det) was garbage
    // at the solver's memory peak (bench:memory).
    const inc = incAssign ? incumbentIndex([...incAssign.values()]) : undefined;
    if (inc) {
      const inComp = new Set(comp);
      const have = new Set<Group>();
      for (const g of cands) {
        const h = inc.find(g);
        if (h) have.add(h);
      }
      for (const g of incAssign!.values()) if (g.length > 1 && inComp.has(g[0]) && !have.has(inc.find(g)!)) cands.push(g);
    }
    totalCands += cands.length;
    for (const g of cands) allCands.push(g);
    const incumbent = inc ? cands.map((g) => (inc.find(g) ? 1 : 0)) : undefined;
    const clb = Math.max(compBound, compLb);
    solver = 'milp';
    // The incumbent's groups inside this component and their DRAM (an incumbent meeting the
    // enumeration-free bound was accepted before the enumeration).
    const incGroups = own?.groups ?? [];
    const incCovered = own !== undefined;
    const incCost = own?.cost ?? Infinity;
    if (complete) {
      // LP relaxation first (fast, and a valid bound even if the MILP stops on its time limit):
      // over the complete convex family it relaxes the component's problem. An integral LP
      // optimum is the component optimum; an incumbent at the rounded-up LP value is optimal.
      const lp = await solveSetPartition(cost, comp, cands, false, whole(), undefined, true);
      if (lp.optimal && lp.x) {
        // Costs are integral (elements), so the optimum is >= ceil(LP value); the slack absorbs
        // the solver's feasibility tolerance.
        const lpBound = Math.max(Math.ceil(lp.obj! * (1 - 1e-7) - 1e-6) * eb, compLb);
        const integral = lp.x.every((v) => v < 1e-7 || v > 1 - 1e-7);
        const lpPlan = cands.filter((_, j) => lp.x![j] > 0.5);
        if (integral && lpPlan.reduce((a, g) => a + g.length, 0) === comp.length) {
          const d = lpPlan.reduce((a, g) => a + cost.dram(g), 0);
          boundSum += d;
          plan.push(...(incCost <= d ? incGroups : lpPlan));
          continue;
        }
        if (incCost <= lpBound) {
          boundSum += incCost;
          plan.push(...incGroups);
          continue;
        }
        if (await segmentRounds()) continue;
        const r = await solveSetPartition(cost, comp, cands, false, perComponent(), incumbent);
        if (!r.optimal) status = 'not-proven';
        boundSum += r.optimal ? r.plan.reduce((a, g) => a + cost.dram(g), 0) : Math.max(r.dual * eb, lpBound, clb);
        plan.push(...r.plan);
        continue;
      }
    } else if (deferred) {
      // The family overflowed its cap, so the deferred rounds would be the only proof left: no-good
      // MILPs over the segment family's 20,000 columns or more. They are not run. HiGHS's root
      // processing on such a MILP neither stops at the time limit nor frees its memory: gpt-kv
      // (corpus) LBDF int8 1 MiB spent 28 of its 49 s there and grew HiGHS to 2 GB, for no
      // proof and the same bound (the segment LP's, kept in compLb). They proved no component in
      // bench:fusion, the shared models' sweep (448 points) or the corpus sweep (120 points).
      deferred = false;
    }
    if (!complete && (opts.lpFirst ?? cands.length >= LP_FIRST_FROM)) {
      // A size-bounded family with an incumbent covering the component gets the same LP first. On
      // a large family HiGHS's MILP spends most of its time and memory in root processing (clique
      // table, cuts, heuristics) even when the root LP is integral: PP-OCRv4 det at 640x640,
      // 158,223 columns, 2.5 M nonzeros, took 14 s and ~450 MiB of wasm memory that only grows,
      // the LP alone 1.9 s and ~120 MiB (bench:memory). An incumbent at the LP's rounded-up value
      // is optimal over the family, and it is the MILP's answer too (HiGHS replaces a given
      // solution only by a strictly better one); otherwise the MILP runs as before, since on a
      // tie between other plans the LP's vertex need not be the MILP's. The bound kept for the
      // unrestricted problem is the enumeration-free one, as below.
      if (incCovered) {
        const lp = await solveLpByColumns(cost, comp, cands, incumbent!, { ...perComponent(), maxRounds: opts.lpMaxRounds });
        traceMemory(`highs: LP by columns, ${lp.rounds} rounds, ${lp.columns} of ${cands.length} columns`);
        // An integral LP optimum covering the component is exact (its DRAM is the family's
        // optimum); otherwise the rounded-up LP value, with the slack of the solver's tolerance.
        const lpPlan = lp.optimal && lp.x ? cands.filter((_, j) => lp.x![j] > 0.5) : [];
        const integral = !!lp.x?.every((v) => v < 1e-7 || v > 1 - 1e-7) && lpPlan.reduce((a, g) => a + g.length, 0) === comp.length;
        const optimum = integral ? lpPlan.reduce((a, g) => a + cost.dram(g), 0) : Math.ceil(lp.obj! * (1 - 1e-7) - 1e-6) * eb;
        // An LP that stopped on its rounds or time: the MILP over the same family would spend
        // more (its root processing), for a plan at most, not a bound: the incumbent stands.
        if (!lp.optimal || incCost <= optimum) {
          boundSum += Math.max(clb, compLb);
          status = 'not-proven';
          plan.push(...incGroups);
          continue;
        }
      }
    }
    if (await segmentRounds()) continue;
    const r = await solveSetPartition(cost, comp, cands, false, perComponent(), incumbent);
    if (!r.optimal) status = 'not-proven';
    // Lower bound for this component: its optimum / dual bound when the family was complete;
    // otherwise only the enumeration-free bound is valid for the unrestricted problem (or the
    // segment rounds' bound when they ran).
    boundSum += complete ? (r.optimal ? r.plan.reduce((a, g) => a + cost.dram(g), 0) : Math.max(r.dual * eb, clb, compLb)) : Math.max(clb, compLb);
    if (!complete) status = 'not-proven';
    plan.push(...r.plan);
  }
  let final = canonicalPlan(plan);
  if (!executionOrder(cost.graph, final)) {
    // Components interact through a cycle: solve everything at once with the potential rows.
    solver = 'milp+acyclicity';
    // The components settled without their family get it now, where it is small: the re-solve is
    // then over every convex group, and its optimum is the problem's (IS-Net quint8 BRR 64 KiB: a
    // plan 140 bytes above the components' bound stayed unproven for want of these families).
    let partial = chainOverflow;
    if (!chainOverflow) {
      for (const comp of settled) {
        const fam = enumerateConvexCandidates(cost, SETTLED_FAMILY_CAP, Infinity, comp);
        if (fam) for (const g of fam) allCands.push(g);
        else partial = true;
      }
    }
    if (partial) scope = 'bounded';
    const all = Array.from({ length: n }, (_, i) => i);
    // A re-solve over a size-bounded family proves nothing (its optimum is not the problem's), so
    // past a large family it is not worth its MILP: Keypoint R-CNN's (194,257 columns, scope
    // bounded) grew HiGHS's wasm memory to 1.9 GB, ran to the 30 s limit, and found the incumbent.
    // One over complete families could prove, but not past ACYCLIC_MAX_COLUMNS.
    const worthIt = allCands.length < (scope === 'all' ? (opts.acyclicMaxColumns ?? ACYCLIC_MAX_COLUMNS) : (opts.acyclicBoundedMaxColumns ?? ACYCLIC_BOUNDED_MAX_COLUMNS));
    if (worthIt && potentialRowsNonzeros(cost, allCands) <= (opts.acyclicMaxNonzeros ?? ACYCLIC_MAX_NONZEROS)) {
      const r = await solveSetPartition(cost, all, allCands, true, whole(), undefined);
      // the per-component bound stays valid (acyclicity only adds constraints)
      final = canonicalPlan(r.plan);
      if (!r.optimal) status = 'not-proven';
      else if (scope === 'all' && status === 'optimal') boundSum = planDram(cost, r.plan);
    } else {
      // Too large to build (IS-Net BRR int8 4 MiB: 214,211 columns, 42.6 M nonzeros, past
      // HiGHS's 4 GiB of wasm memory), or past the columns caps above: the components on cycles
      // fall back to their incumbent groups, the others keep their optima; the per-component
      // bound stays valid.
      status = 'not-proven';
      final = canonicalPlan(breakCycles(cost, final, comps, (comp) => incumbentWithin(comp)?.groups));
    }
  }
  if (opts.incumbent && (!executionOrder(cost.graph, final) || planDram(cost, final) > planDram(cost, opts.incumbent))) final = canonicalPlan(opts.incumbent);
  const dram = planDram(cost, final);
  const optimal = (status === 'optimal' && scope === 'all') || dram <= Math.max(boundSum, lb);
  const bound = optimal ? dram : Math.min(dram, Math.max(boundSum, lb));
  return {
    method: 'exact',
    plan: final,
    dram,
    bound,
    gap: dram > 0 ? (dram - bound) / dram : 0,
    status: optimal ? 'optimal' : 'not-proven',
    scope,
    maxGroupSize: scope === 'bounded' ? (opts.maxGroupSize ?? minBound) : undefined,
    candidates: totalCands,
    solver,
    trivialLowerBound: lb,
    ms: performance.now() - t0,
  };
}

/**
 * A lower bound on the DRAM charged to the groups of one fusable component C in ANY feasible plan
 * (no enumeration): the weights of C once, every map produced in C that must be written (graph
 * output, no consumer, or a consumer it can never share a group with: an unfusable edge or a
 * consumer outside C), and every map consumed in C that must be read at least once (produced
 * outside C, or produced in C with a consumer in C it can never share a group with).
 */
export function componentLowerBound(cost: CostModel, comp: number[]): number {
  const { ops, tensors } = cost.graph;
  const fus = fusabilityOf(cost);
  const inC = new Set(comp);
  let s = 0;
  const seen = new Set<number>();
  for (const v of comp) {
    s += ops[v].weightElements;
    for (const t of ops[v].outputs) {
      const T = tensors[t];
      const forced = T.consumers.filter((c) => !inC.has(c) || !fus.adj[v].includes(c));
      if (T.graphOutput || T.consumers.length === 0 || forced.length) s += T.elements;
      if (forced.some((c) => inC.has(c))) s += T.elements; // read back by a member of C
    }
    for (const t of ops[v].inputs) {
      const T = tensors[t];
      if (seen.has(t)) continue;
      seen.add(t);
      if (!inC.has(T.producer)) s += T.elements;
    }
  }
  return s * cost.elementBytes;
}

/** Chain DP restricted to the ops of one chain component (ids in chain order). */
function exactChainOn(cost: CostModel, ids: number[]): Plan {
  const m = ids.length;
  const best = new Float64Array(m + 1).fill(Infinity);
  const from = new Int32Array(m + 1);
  best[0] = 0;
  for (let j = 1; j <= m; j++) {
    for (let i = j - 1; i >= 0; i--) {
      const seg = ids.slice(i, j);
      if (!cost.valid(seg)) break;
      const c = best[i] + cost.dram(seg);
      if (c < best[j]) (best[j] = c, (from[j] = i));
    }
  }
  const plan: Plan = [];
  for (let j = m; j > 0; j = from[j]) plan.push(ids.slice(from[j], j));
  return plan;
}

/** Set partitioning of `ops` by `cands` with HiGHS (optionally with the potential rows). The
 * candidates always include the singletons of `ops`, so the problem is feasible. */
export interface SolveLimits {
  timeLimit: number;
  nodeLimit: number;
  iterationLimit: number;
}

/** ExactResult.solver's values, least elaborate first: a result names the most elaborate method
 * one of its components needed. */
const SOLVERS: readonly ExactResult['solver'][] = ['chain-dp', 'bound', 'segment-dp', 'milp', 'milp+acyclicity'];
const elaborate = (a: ExactResult['solver'], b: ExactResult['solver']) => (SOLVERS.indexOf(a) >= SOLVERS.indexOf(b) ? a : b);

/** Families from this many columns are passed to HiGHS column-wise, after a full collection. */
const LARGE_FAMILY = 20_000;
/** Size-bounded families from this many columns are settled by their LP first when it can. */
const LP_FIRST_FROM = LARGE_FAMILY;

async function solveSetPartition(cost: CostModel, ops: number[], cands: Group[], withPotentials: boolean, limits: SolveLimits & { columnWiseFrom?: number }, incumbent: number[] | undefined, relax = false): Promise<{ plan: Plan; optimal: boolean; dual: number; x?: Float64Array; obj?: number; rowDual?: Float64Array }> {
  const api = await highs();
  const eb = cost.elementBytes;
  const local = new Map(ops.map((v, i) => [v, i]));
  const n = ops.length;
  const nx = cands.length;
  const numCols = nx + (withPotentials ? n : 0);
  // Large families (PP-OCRv4 det: 158,223 columns, 2.5 M nonzeros) are built column-wise in typed
  // arrays, after a full collection of what the enumeration and the decompositions before it left:
  // HiGHS's wasm memory only grows, and it grows while that garbage is still resident. Column-wise
  // with each column's rows ascending is the matrix HiGHS makes of the row-wise one (same solve,
  // same answer), without the row-wise copy on either side.
  const columnWise = !withPotentials && nx >= (limits.columnWiseFrom ?? LARGE_FAMILY);
  if (columnWise) collectGarbage();
  const rowStarts: number[] = [0];
  const idx: number[] = [];
  const val: number[] = [];
  const rowLower: number[] = [];
  const rowUpper: number[] = [];
  let matrix: { format: 'csr' | 'csc'; numRows: number; numCols: number; starts: Int32Array; indices: Int32Array; values: Float64Array };
  if (columnWise) {
    const starts = pagedArray(Int32Array, numCols + 1);
    for (let j = 0; j < nx; j++) starts[j + 1] = starts[j] + cands[j].length;
    const indices = pagedArray(Int32Array, starts[nx]);
    for (let j = 0; j < nx; j++) {
      const g = cands[j], at = starts[j];
      for (let k = 0; k < g.length; k++) indices[at + k] = local.get(g[k])!;
      indices.subarray(at, at + g.length).sort();
    }
    for (let v = 0; v < n; v++) (rowLower.push(1), rowUpper.push(1));
    matrix = { format: 'csc', numRows: n, numCols, starts, indices, values: pagedArray(Float64Array, indices.length).fill(1) };
  } else {
    const byOp: number[][] = Array.from({ length: n }, () => []);
    cands.forEach((g, j) => {
      for (const id of g) byOp[local.get(id)!].push(j);
    });
    for (let v = 0; v < n; v++) {
      for (const j of byOp[v]) (idx.push(j), val.push(1));
      rowStarts.push(idx.length);
      rowLower.push(1);
      rowUpper.push(1);
    }
    if (withPotentials) {
      const { succ } = cost.graph;
      for (const u of ops) {
        for (const v of succ[u]) {
          const lu = local.get(u)!, lv = local.get(v);
          if (lv === undefined) continue;
          const both = byOp[lu].length < byOp[lv].length ? byOp[lu].filter((j) => cands[j].includes(v)) : byOp[lv].filter((j) => cands[j].includes(u));
          idx.push(nx + lv, nx + lu);
          val.push(1, -1);
          for (const j of both) (idx.push(j), val.push(1));
          rowStarts.push(idx.length);
          rowLower.push(1);
          rowUpper.push(Infinity);
          if (both.length) {
            idx.push(nx + lv, nx + lu);
            val.push(1, -1);
            for (const j of both) (idx.push(j), val.push(n));
            rowStarts.push(idx.length);
            rowLower.push(-Infinity);
            rowUpper.push(n);
          }
        }
      }
    }
    matrix = { format: 'csr', numRows: rowLower.length, numCols, starts: pagedFrom(Int32Array, rowStarts), indices: pagedFrom(Int32Array, idx), values: pagedFrom(Float64Array, val) };
  }
  const numRows = rowLower.length;
  const colCost = pagedArray(Float64Array, numCols);
  cands.forEach((g, j) => (colCost[j] = cost.dram(g) / eb));
  const colUpper = pagedArray(Float64Array, numCols).fill(1);
  for (let k = nx; k < numCols; k++) colUpper[k] = n - 1;
  const integrality = pagedArray(Int32Array, numCols);
  if (!relax) integrality.fill(1, 0, nx);
  const lp = {
    numCols,
    numRows,
    colCost,
    colLower: pagedArray(Float64Array, numCols),
    colUpper,
    rowLower: pagedFrom(Float64Array, rowLower, (x) => (x === -Infinity ? -api.infinity : x)),
    rowUpper: pagedFrom(Float64Array, rowUpper, (x) => (x === Infinity ? api.infinity : x)),
    matrix,
    integrality,
  } as HighsLp;
  const start = incumbent && !withPotentials && incumbent.reduce((a, b) => a + b, 0) > 0 ? pagedFrom(Float64Array, incumbent) : undefined;
  const r = await runHighs(api, lp, relax, limits, start, `${relax ? 'LP' : 'MILP'} ${numCols} cols`);
  const x = r.colValue;
  const plan: Plan = [];
  for (let j = 0; j < nx; j++) if (x[j] > 0.5) plan.push(cands[j]);
  const covered = plan.reduce((a, g) => a + g.length, 0) === n;
  if (relax) {
    // LP relaxation: x may be fractional; `plan` holds the columns at 1 only when integral.
    let obj = 0;
    const xs = x.slice(0, nx);
    for (let j = 0; j < nx; j++) obj += colCost[j] * xs[j];
    return { plan, optimal: r.optimal, dual: r.optimal ? obj : 0, x: xs, obj, rowDual: r.rowDual };
  }
  const dual = r.mipDual;
  if (!covered) return { plan: ops.map((v) => [v]), optimal: false, dual: Number.isFinite(dual) ? dual : 0 };
  return { plan, optimal: r.optimal, dual: Number.isFinite(dual) ? dual : 0 };
}

type HighsLp = Parameters<HighsApi['createModel']>[0];

/**
 * One HiGHS solve: the model is built, run and disposed here, and only plain data leaves
 * (status, solution, duals). Why a function of its own: a HiGHS instance defines its classes
 * (PersistentModel, its option store) afresh, so each instance's model objects have hidden
 * classes of their own, and TurboFan code that touched one keeps that hidden class in its
 * deoptimization data, hence its constructor, hence the instance's closure and its wasm memory.
 * With the calls inside solveSetPartition (optimized: it builds the matrices), PP-OCRv4 det's
 * `compile` kept the plan pass's HiGHS memory (~25 MiB of external memory) through the check in
 * 6 runs of 14 (heap snapshot: solveSetPartition's code -> deopt data -> the map of
 * PersistentModel -> its constructor -> context -> wasmMemory), and its peak RSS moved with it
 * (bench:memory, issue 15 item 5). Async although nothing in it waits: TurboFan does not inline
 * an async function, and a plain one was inlined into solveSetPartition, which kept the same
 * path (measured: HiGHS's memory kept in 5 runs of 6). `start`: an incumbent (ignored when HiGHS
 * refuses it).
 */
async function runHighs(api: HighsApi, lp: HighsLp, relax: boolean, limits: SolveLimits, start: Float64Array | undefined, what: string): Promise<{ optimal: boolean; colValue: Float64Array; rowDual?: Float64Array; mipDual: number }> {
  const model = api.createModel(lp);
  try {
    // The LP relaxation gets at least 10 s (it is cheap, and its bound is what certifies most
    // instances); presolve off: on these set-partitioning models it cost more than it saved, and
    // HiGHS does not check its time limit inside presolve.
    model.options.set({
      output_flag: false,
      time_limit: relax ? Math.max(10, limits.timeLimit) : Math.max(1, limits.timeLimit),
      mip_max_nodes: limits.nodeLimit,
      simplex_iteration_limit: limits.iterationLimit,
      mip_rel_gap: 0,
      mip_abs_gap: 0.5,
      random_seed: 0,
      presolve: 'off',
    });
    if (start) {
      try {
        model.setSolution({ colValue: start } as Parameters<typeof model.setSolution>[0]);
      } catch {
        /* an incumbent outside the family, or infeasible for a joint model, is just not used */
      }
    }
    traceMemory(`highs: ${what} built, wasm ${mibOf(api)} MiB`);
    model.run();
    traceMemory(`highs: solved, wasm ${mibOf(api)} MiB`);
    const optimal = model.getModelStatus() === api.constants.modelStatus.optimal;
    const sol = model.getSolution();
    return { optimal, colValue: pagedFrom(Float64Array, sol.colValue), ...(relax ? { rowDual: pagedFrom(Float64Array, sol.rowDual) } : {}), mipDual: relax ? NaN : Number(model.info.get('mip_dual_bound')) };
  } finally {
    model.dispose();
  }
}

/** The LP relaxation of the set partitioning of `ops` by `cands` handed to HiGHS whole (every
 * column): the reference `solveLpByColumns` is tested against. */
export async function solveLpWhole(cost: CostModel, ops: number[], cands: Group[], limits: SolveLimits): Promise<{ optimal: boolean; obj: number; x?: Float64Array }> {
  const r = await solveSetPartition(cost, ops, cands, false, limits, undefined, true);
  return { optimal: r.optimal, obj: r.obj ?? 0, x: r.x };
}

/** Rounds of `solveLpByColumns` before it gives up (the corpus sweep with the optimum: at most
 * 56, PP-OCRv4 det; the shared models' families never need it; RAFT-small: 252). */
const LP_MAX_ROUNDS = 100;
/** Columns priced into the restricted LP per round of `solveLpByColumns`, at most. */
const PRICE_BATCH = 2000;

/**
 * The LP relaxation of the set partitioning of `ops` by `cands` (the LP-first step on a large
 * size-bounded family) by column generation, instead of handing HiGHS every column: the
 * restricted LP starts from the singletons and the incumbent's groups (`incumbent[j]` = 1), and
 * each round adds the columns of most negative reduced cost c_j - sum of the row duals over the
 * column's ops (priced here, in one pass over the family), until none is below -1e-7 (HiGHS's
 * dual feasibility tolerance): the restricted LP's duals are then feasible for the whole LP, so
 * its optimum is the whole LP's (weak duality), and its solution, zero outside the restricted
 * columns, is an optimal solution of the whole LP. What the LP-first step reads of it — the
 * optimum, and whether the solution is integral — is what the whole-family LP gave (the x of
 * an LP with several optimal vertices may differ, which is why the complete-family LP, whose
 * plan is used, is not solved this way).
 *
 * Why: PP-OCRv4 det at 640x640 (158,223 columns, 2.5 M nonzeros): HiGHS's wasm memory grew by
 * ~220 MiB for the whole LP and stays resident; the restricted LPs hold a few thousand columns
 * (bench:memory, issue 15 item 5). Deterministic (ties by column index).
 */
export async function solveLpByColumns(cost: CostModel, ops: number[], cands: Group[], incumbent: number[], limits: SolveLimits & { columnWiseFrom?: number; maxRounds?: number }): Promise<{ optimal: boolean; obj: number; x?: Float64Array; rounds: number; columns: number }> {
  const eb = cost.elementBytes;
  const local = new Map(ops.map((v, i) => [v, i]));
  const nx = cands.length;
  const colCost = pagedArray(Float64Array, nx);
  for (let j = 0; j < nx; j++) colCost[j] = cost.dram(cands[j]) / eb;
  const inRmp = pagedArray(Uint8Array, nx);
  const rmp: number[] = [];
  for (let j = 0; j < nx; j++) if (cands[j].length === 1 || incumbent[j] === 1) (inRmp[j] = 1, rmp.push(j));
  const rc = pagedArray(Float64Array, nx);
  // What the enumeration left (string keys, discarded levels) is garbage by now: collect it
  // before HiGHS's wasm memory, which only grows, takes its pages.
  collectGarbage();
  // Each restricted LP is built column-wise (typed arrays) after a full collection, as a large
  // family is (solveSetPartition): the rounds' row-wise copies (JS arrays per op, the index and
  // value lists) and HiGHS's input arrays were garbage V8 left resident while the candidates and
  // the cost model's memo stay live. PP-OCRv4 det 640x640, `--pipeline plan`: peak RSS 271 -> 228
  // MiB, same schedule byte for byte (the column-wise matrix is the one HiGHS makes of the
  // row-wise one), one collection per round (31 rounds, about 1 s of CPU; bench:memory).
  // `columnWiseFrom` given (solveExact's option, the tests') keeps its meaning.
  const rmpLimits = { ...limits, columnWiseFrom: limits.columnWiseFrom ?? 0 };
  // Each round rebuilds and re-solves the restricted LP (the npm highs API adds no columns to a
  // built model): RAFT-small's 176,355 columns took 252 rounds and 40 s, past any time limit.
  // Rounds stop at LP_MAX_ROUNDS (deterministic) or at the time limit (the safety net): the LP
  // then proves nothing (optimal false).
  const deadline = performance.now() + limits.timeLimit * 1000;
  for (let round = 1; ; round++) {
    const lp = await solveSetPartition(cost, ops, rmp.map((j) => cands[j]), false, rmpLimits, undefined, true);
    if (!lp.optimal || !lp.x || !lp.rowDual) return { optimal: false, obj: lp.obj ?? 0, rounds: round, columns: rmp.length };
    const y = lp.rowDual;
    const priced: number[] = [];
    for (let j = 0; j < nx; j++) {
      if (inRmp[j]) continue;
      let r = colCost[j];
      for (const v of cands[j]) r -= y[local.get(v)!];
      rc[j] = r;
      if (r < -1e-7) priced.push(j);
    }
    if (!priced.length) {
      const x = pagedArray(Float64Array, nx);
      rmp.forEach((j, k) => (x[j] = lp.x![k]));
      return { optimal: true, obj: lp.obj!, x, rounds: round, columns: rmp.length };
    }
    if (round >= (limits.maxRounds ?? LP_MAX_ROUNDS) || performance.now() > deadline) return { optimal: false, obj: lp.obj!, rounds: round, columns: rmp.length };
    priced.sort((a, b) => rc[a] - rc[b] || a - b);
    for (const j of priced.slice(0, PRICE_BATCH)) (inRmp[j] = 1, rmp.push(j));
  }
}

/**
 * The exact solver's decomposition at cut ops (segments.ts): each segment is solved on its own,
 * and the component's optimum is rebuilt from the segment optima — or, when it cannot be, the
 * same sum is a lower bound that can still prove the incumbent optimal.
 *
 * Setting: C a fusable component; its segments S_1..S_m (ops of C per super-block of the
 * op/tensor graph, segments.ts): every tensor lies with ALL the ops it touches (producer and
 * consumers, in C or not) in one super-block, and two segments share at most one op, a cut op c,
 * held by d(c) >= 2 segments in a tree.
 *
 * (1) F_D adds up. For a group G of C, F_D(G) = sum_i F_D(G ∩ S_i) - sum_{c in G} (d(c) - 1) F_D({c})
 *   (empty intersections count 0). F_D sums per-tensor terms (read once if a member reads it and
 *   its producer is not a member; written once if a member produces it and it is a graph output,
 *   unconsumed, or read by a non-member) plus per-op weights. A tensor's term depends only on
 *   which of the ops it touches are in the group. Those ops all lie in one segment S_T, so
 *   G ∩ S_T gives the tensor's true term; in any other segment S' the tensor touches at most one
 *   op, a cut op c = S' ∩ S_T, and its term there is its term in F_D({c}) when c is in G (and 0
 *   when not). Each cut op c in G therefore adds its tensors' {c}-terms and its weights d(c) - 1
 *   extra times; the subtraction removes exactly those. LBDF weights are per op; BRR's are per op
 *   only when no weight tensor is shared by two ops (its re-fetch term depends on the whole
 *   group's packing): with shared weights in C this decomposition is not used.
 * (2) Each G ∩ S_i of a feasible group is a feasible group of the segment problem: valid
 *   (validity is monotone under inclusion, lbdf.ts / brr.ts), connected (a fusable path between
 *   two of its ops that leaves S_i leaves and re-enters through the same cut op, so it can be
 *   shortened), convex (a DAG path leaving and re-entering G ∩ S_i stays in S_i for the same
 *   reason, since it cannot visit a cut op twice, so it leaves G: G would not be convex).
 * The relaxed problem: partition every segment S_i on its own into valid convex connected groups
 * of S_i (a cut op gets one copy per segment; acyclicity dropped), minimizing
 * sum_i DRAM(S_i's groups) - sum_c (d(c) - 1) F_D({c}). By (1) and (2) every feasible plan of C
 * maps to a solution of the same value, so the relaxed optimum (or any lower bound on it: LP,
 * dual bound) is a lower bound on C's optimum. Two kinds of rows tighten it, both satisfied by
 * every feasible plan:
 * (3) LBDF memory rows. F_beta adds up like F_D except that a skip buffer can only grow with the
 *   group (weights per op; a map's line buffer depends on its consumers in the group, all in the
 *   map's segment; a skip lag over G is a max over a superset of the merges it sees in G ∩ S_T):
 *   F_beta(G) >= sum_i F_beta(G ∩ S_i) - sum_{c in G} (d(c) - 1) F_beta({c}). Rooting the pieces
 *   of G at one cut op c, every other piece is the child of exactly one other cut op c' and holds
 *   it, so it has F_beta >= F_beta({c'}) (monotone): hence sum over the d(c) pieces holding c of
 *   (F_beta(piece) - F_beta({c})) <= beta - F_beta({c}) for a valid G. One such row per cut op
 *   (none when F_beta({c}) > beta: then only {c} holds c). BRR's F_beta (a peak over the group's
 *   steps) does not add up this way: no rows.
 * (4) No-goods, added lazily: the relaxed optimum's pieces are joined at the cut ops (the groups
 *   holding c in each segment become one group). Joined groups are convex and connected (the
 *   arguments of (2) backwards) and the joined plan has DRAM exactly the relaxed value by (1).
 *   If every joined group is valid, that plan is optimal for C (acyclicity of the whole plan is
 *   checked by solveExact as for any component). If one is not, a minimal connected set P of
 *   its pieces with an invalid union gets the row sum_{p in P} x_p <= |P| - 1: any plan choosing
 *   all of P joins them into a group holding their union, invalid by monotonicity, so no feasible
 *   plan is cut off; then solve again.
 * When a segment's family overflows the cap the decomposition is not used; when the MILP stops
 * on a limit its dual bound is the component's bound and no plan is claimed (the undecomposed
 * solve then runs with that bound).
 */
export async function solveBySegments(cost: CostModel, comp: number[], cap: number, limits: SolveLimits, incAssign: Map<string, Group> | undefined, deferFrom = Infinity): Promise<{ plan?: Plan; lb: number; candidates: number; deferred?: boolean } | undefined> {
  if (cost.scheme === 'brr' && sharesWeights(cost, comp)) return undefined;
  const { segments, cuts } = segmentsOf(cost.graph, comp);
  if (segments.length < 2) return undefined;
  const n = cost.graph.ops.length;
  const eb = cost.elementBytes;
  const mem = (g: Group) => (cost as { memoryBytes?: (g: Group) => number }).memoryBytes?.(g) ?? cost.memory(g).bytes;
  // Every segment's complete family (convex connected valid groups inside the segment).
  const fams = segmentFamilies(cost, segments, cap);
  if (!fams) return undefined;
  // One joint set partitioning over segment-local copies of the ops (a cut op has one copy per
  // segment), coupled only by the LBDF memory rows (3).
  const cols: { seg: number; g: Group }[] = [];
  fams.forEach((f, si) => f.forEach((g) => cols.push({ seg: si, g })));
  const segIndex = segments.map((S) => new Map(S.map((v, i) => [v, i])));
  const base: number[] = [];
  let rows = 0;
  for (const S of segments) (base.push(rows), (rows += S.length));
  const copyRows: number[][] = Array.from({ length: rows }, () => []);
  cols.forEach(({ seg, g }, j) => {
    for (const v of g) copyRows[base[seg] + segIndex[seg].get(v)!].push(j);
  });
  const coupling: { cols: number[]; coef: number[]; upper: number }[] = [];
  if (cost.scheme === 'lbdf') {
    for (const [c, d] of cuts) {
      const mc = mem([c]);
      if (mc > cost.bufferBytes) continue; // only {c} holds c: nothing to couple
      const js: number[] = [], cs: number[] = [];
      cols.forEach(({ g }, j) => {
        if (g.length > 1 && g.includes(c)) (js.push(j), cs.push(mem(g) - mc));
      });
      // sum over the d pieces holding c of (M(piece) - M(c)) <= beta - M(c)
      if (js.length) coupling.push({ cols: js, coef: cs, upper: cost.bufferBytes - mc });
      void d;
    }
  }
  const colCost = pagedFrom(Float64Array, cols, ({ g }) => cost.dram(g) / eb);
  const correction = [...cuts].reduce((a, [c, d]) => a + (d - 1) * cost.dram([c]), 0);
  const inComp = new Uint8Array(n);
  for (const v of comp) inComp[v] = 1;
  const incGroups = incAssign ? [...incAssign.values()].filter((g) => inComp[g[0]]) : [];
  const incCovered = incGroups.length > 0 && incGroups.reduce((a, g) => a + g.length, 0) === comp.length;
  const incCost = incCovered ? incGroups.reduce((a, g) => a + cost.dram(g), 0) : Infinity;
  let incumbent: Float64Array | undefined;
  if (incCovered) {
    const want = new Set<string>();
    segments.forEach((S, si) => {
      const inS = new Set(S);
      for (const g of incGroups) {
        const h = g.filter((v) => inS.has(v));
        if (h.length) want.add(`${si}:${h.join(',')}`);
      }
    });
    incumbent = pagedFrom(Float64Array, cols, ({ seg, g }) => (want.has(`${seg}:${g.join(',')}`) ? 1 : 0));
  }
  const lp = await solveJoint(copyRows, coupling, colCost, limits, undefined, true);
  let lb = lp.optimal ? Math.ceil(lp.obj * (1 - 1e-7) - 1e-6) * eb - correction : 0;
  const done = (plan: Plan | undefined, bound: number) => ({ plan, lb: bound, candidates: cols.length });
  if (incCost <= lb) return done(incGroups, incCost);
  // A family of `deferFrom` columns or more (solveExact: LP_FIRST_FROM) stops here with the LP's bound
  // (`deferred`): each no-good round is a MILP over every column, and HiGHS's root processing on
  // such a family costs tens of seconds and hundreds of MiB, while the undecomposed family's LP is
  // tighter (no copies at the cut ops) and often proves the incumbent at once (a 4-layer GPT-2
  // decoder: 74,843 segment columns, round 1 stopped on the time limit; the undecomposed LP over
  // 176,021 columns met the incumbent). solveExact runs the rounds when that LP does not prove it.
  if (cols.length >= deferFrom) return { ...done(undefined, lb), deferred: true };
  // (4) Lazy rows: solve, join; a joined group that is invalid yields a no-good on a minimal
  // connected set of its pieces, and the joint problem is solved again (at most 60 rounds and
  // the time limit; the bound stays valid at every round).
  const t0 = performance.now();
  const unionOf = (js: number[]) => [...new Set(js.flatMap((j) => cols[j].g))].sort((x, y) => x - y);
  for (let round = 0; round < 60; round++) {
    // One time budget for all rounds (each solve gets what is left of it).
    const left = limits.timeLimit - (performance.now() - t0) / 1000;
    if (left <= 0) break;
    const r = await solveJoint(copyRows, coupling, colCost, { ...limits, timeLimit: left }, incumbent, false);
    if (!r.optimal) return done(undefined, Math.max(lb, Math.ceil(r.dual * (1 - 1e-7) - 1e-6) * eb - correction));
    lb = Math.max(lb, Math.round(r.obj) * eb - correction);
    if (incCost <= lb) return done(incGroups, incCost);
    // Join the chosen pieces at the cut ops (union-find).
    const up = new Int32Array(n).map((_, i) => i);
    const find = (x: number): number => (up[x] === x ? x : (up[x] = find(up[x])));
    const chosen: number[] = [];
    cols.forEach(({ g }, j) => {
      if (r.x![j] > 0.5) {
        chosen.push(j);
        for (const v of g) up[find(v)] = find(g[0]);
      }
    });
    const byRoot = new Map<number, number[]>();
    for (const v of comp) {
      const root = find(v);
      const l = byRoot.get(root);
      if (l) l.push(v);
      else byRoot.set(root, [v]);
    }
    const joined = [...byRoot.values()];
    const bad = joined.filter((g) => !cost.valid(g));
    if (!bad.length) {
      const d = joined.reduce((x, g) => x + cost.dram(g), 0);
      // d = the relaxed optimum by (1): with every joined group valid it is the component optimum.
      return d <= lb ? done(joined, d) : done(undefined, lb);
    }
    for (const g of bad) {
      const root = find(g[0]);
      let set = chosen.filter((j) => find(cols[j].g[0]) === root);
      // Drop pieces while the rest stays connected (through shared cut ops) and invalid.
      for (let changed = true; changed; ) {
        changed = false;
        for (const j of set) {
          const rest = set.filter((k) => k !== j);
          if (rest.length < 2 || !piecesConnected(rest.map((k) => cols[k].g)) || cost.valid(unionOf(rest))) continue;
          set = rest;
          changed = true;
          break;
        }
      }
      // Every plan choosing all of these pieces joins them into a group holding their union,
      // which is invalid (validity is monotone): no feasible plan is cut off.
      coupling.push({ cols: set, coef: set.map(() => 1), upper: set.length - 1 });
    }
  }
  return done(undefined, lb);
}

/** The component optimum by the segment-path DP (segment-dp.ts), when the component's segments
 * form a path, every segment's family fits under `cap` and the DP's work limits hold; F_D must
 * add up across cut ops (not BRR with shared weights, as for solveBySegments). */
export function segmentPathOptimum(cost: CostModel, comp: number[], cap: number, deadline = Infinity): (SegmentPathResult & { candidates: number }) | undefined {
  if (cost.scheme === 'brr' && sharesWeights(cost, comp)) return undefined;
  const { segments, cuts } = segmentsOf(cost.graph, comp);
  if (!segmentPath(segments, cuts)) return undefined;
  const fams = segmentFamilies(cost, segments, cap);
  if (!fams) return undefined;
  const candidates = fams.reduce((a, f) => a + f.length, 0);
  const r = solveSegmentPath(cost, segments, cuts, fams, { deadline });
  return r && { ...r, candidates };
}

/** Pieces (groups of different segments) connected through shared ops. */
function piecesConnected(ps: Group[]): boolean {
  const seen = new Set<number>([0]);
  const st = [0];
  while (st.length) {
    const i = st.pop()!;
    for (let k = 0; k < ps.length; k++) if (!seen.has(k) && ps[k].some((v) => ps[i].includes(v))) (seen.add(k), st.push(k));
  }
  return seen.size === ps.length;
}

/** True when some weight tensor is used by two ops of the component (BRR re-fetch). */
function sharesWeights(cost: CostModel, comp: number[]): boolean {
  const seen = new Set<string>();
  for (const v of comp) {
    for (const w of cost.graph.ops[v].weights ?? []) {
      if (seen.has(w.name)) return true;
      seen.add(w.name);
    }
  }
  return false;
}

/** The joint segment problem (solveBySegments) with HiGHS: one row per segment-local op copy
 * (= 1), the coupling rows (<= upper), binary columns (or the LP relaxation). */
async function solveJoint(copyRows: number[][], coupling: { cols: number[]; coef: number[]; upper: number }[], colCost: Float64Array, limits: SolveLimits, incumbent: Float64Array | undefined, relax: boolean): Promise<{ optimal: boolean; obj: number; dual: number; x?: Float64Array }> {
  const api = await highs();
  const numCols = colCost.length;
  const starts: number[] = [0], idx: number[] = [], val: number[] = [], lo: number[] = [], hi: number[] = [];
  for (const r of copyRows) {
    for (const j of r) (idx.push(j), val.push(1));
    starts.push(idx.length);
    lo.push(1);
    hi.push(1);
  }
  for (const c of coupling) {
    c.cols.forEach((j, k) => (idx.push(j), val.push(c.coef[k])));
    starts.push(idx.length);
    lo.push(-api.infinity);
    hi.push(c.upper);
  }
  const numRows = lo.length;
  const integrality = pagedArray(Int32Array, numCols);
  if (!relax) integrality.fill(1);
  const lp = {
    numCols, numRows, colCost,
    colLower: pagedArray(Float64Array, numCols), colUpper: pagedArray(Float64Array, numCols).fill(1),
    rowLower: pagedFrom(Float64Array, lo), rowUpper: pagedFrom(Float64Array, hi),
    matrix: { format: 'csr', numRows, numCols, starts: pagedFrom(Int32Array, starts), indices: pagedFrom(Int32Array, idx), values: pagedFrom(Float64Array, val) },
    integrality,
  } as HighsLp;
  const start = incumbent && !relax && incumbent.some((v) => v > 0) ? incumbent : undefined;
  const r = await runHighs(api, lp, relax, limits, start, `${relax ? 'LP' : 'MILP'} ${numCols} cols (segment path)`);
  const ok = r.optimal;
  const x = r.colValue.subarray(0, numCols); // runHighs's own copy
  let obj = 0;
  for (let j = 0; j < numCols; j++) obj += colCost[j] * x[j];
  if (relax) return { optimal: ok, obj, dual: ok ? obj : 0, x };
  const dual = r.mipDual;
  return { optimal: ok, obj, dual: Number.isFinite(dual) ? dual : 0, x };
}

/** Each segment's complete family (every convex connected valid group inside it, up to `cap`
 * ops), or undefined when one segment's enumeration is incomplete. Exported for tests. */
export function segmentFamilies(cost: CostModel, segments: number[][], cap: number): Group[][] | undefined {
  const n = cost.graph.ops.length;
  const fams: Group[][] = [];
  const reach = reachability(cost);
  for (const S of segments) {
    const allowed = new Uint8Array(n);
    for (const v of S) allowed[v] = 1;
    const en = enumerateConvexLevels(cost, cap, Infinity, S, allowed, reach);
    if (!en.complete) return undefined;
    fams.push(en.groups);
  }
  return fams;
}

/** Nonzeros of the potential rows of the acyclicity re-solve (two rows per edge, each with two
 * potentials, and a candidate's column in both rows of every edge inside it), counted before
 * building them. */
function potentialRowsNonzeros(cost: CostModel, cands: Group[]): number {
  const { succ } = cost.graph;
  let nnz = 0;
  for (let u = 0; u < succ.length; u++) nnz += 4 * succ[u].length;
  for (const g of cands) {
    if (g.length < 2) continue;
    const inG = new Set(g);
    for (const u of g) for (const v of succ[u]) if (inG.has(v)) nnz += 2;
  }
  return nnz;
}

/** Largest family of a settled component (segment DP, incumbent at its bound) that the
 * acyclicity re-solve enumerates to make its answer exact. */
const SETTLED_FAMILY_CAP = 20_000;

/** Past this many nonzeros in its potential rows, the acyclicity re-solve is not built (HiGHS's
 * wasm memory, 32-bit, ends at 4 GiB: the 42.6 M of IS-Net BRR aborted it; PP-OCRv4 det's
 * 2.5 M-nonzero set partitioning takes about 300 MiB). */
const ACYCLIC_MAX_NONZEROS = 8_000_000;

/** Past this many columns, an acyclicity re-solve over a size-bounded family (which cannot prove
 * optimality) is not built. */
const ACYCLIC_BOUNDED_MAX_COLUMNS = LARGE_FAMILY;

/** Past this many columns, no acyclicity re-solve is built: the MILP (with its potential rows) of
 * Keypoint R-CNN after compile's fold-constants, 176,166 columns over complete families, grew
 * HiGHS's wasm memory to 1.8 GB and ran to the 30 s limit without a proof; the largest MILP of
 * the IS-Net quint8 sweep, which proves 7 of its 8 points, has 55,557. */
const ACYCLIC_MAX_COLUMNS = 100_000;

/**
 * An acyclic plan from one whose group graph has cycles, without a solver: every component (of
 * `comps`, which no group straddles) with a group on a cycle, or between two, takes its
 * `fallback` groups (the incumbent's), and singletons if it already had them; repeated until
 * the group graph is acyclic (all singletons are: the op graph is a DAG). The components kept
 * keep their groups, so the plan costs no more than the fallback plan.
 */
function breakCycles(cost: CostModel, plan: Plan, comps: number[][], fallback: (comp: number[]) => Group[] | undefined): Plan {
  const compOf = new Int32Array(cost.graph.ops.length);
  comps.forEach((c, i) => { for (const v of c) compOf[v] = i; });
  const byComp = new Map<number, Group[]>();
  for (const g of plan) {
    const c = compOf[g[0]];
    if (!byComp.has(c)) byComp.set(c, []);
    byComp.get(c)!.push(g);
  }
  const fellBack = new Set<number>();
  for (;;) {
    const cur = [...byComp.values()].flat();
    const cyclic = groupsOnCycles(cost, cur);
    if (!cyclic.length) return cur;
    for (const gi of cyclic) {
      const c = compOf[cur[gi][0]];
      const next = fellBack.has(c) ? undefined : fallback(comps[c]);
      byComp.set(c, next ?? comps[c].map((v) => [v]));
      fellBack.add(c);
    }
  }
}

/** Indices of the groups of `plan` that lie on a cycle of its group graph, or on a path from one
 * cycle to another: what is left after removing sources, then sinks, until none remain. */
function groupsOnCycles(cost: CostModel, plan: Plan): number[] {
  const a = assignmentOf(plan, cost.graph.ops.length);
  const m = plan.length;
  const out: Set<number>[] = Array.from({ length: m }, () => new Set());
  const inn: Set<number>[] = Array.from({ length: m }, () => new Set());
  plan.forEach((g, gi) => {
    for (const u of g) for (const v of cost.graph.succ[u]) {
      const gv = a[v];
      if (gv >= 0 && gv !== gi) (out[gi].add(gv), inn[gv].add(gi));
    }
  });
  const alive = new Uint8Array(m).fill(1);
  const peel = (from: Set<number>[], to: Set<number>[]) => {
    const deg = from.map((s) => [...s].filter((x) => alive[x]).length);
    const queue = deg.flatMap((d, i) => (alive[i] && d === 0 ? [i] : []));
    while (queue.length) {
      const g = queue.pop()!;
      alive[g] = 0;
      for (const h of to[g]) if (alive[h] && --deg[h] === 0) queue.push(h);
    }
  };
  peel(inn, out); // sources, and what only they lead to
  peel(out, inn); // sinks
  return [...alive.keys()].filter((i) => alive[i]);
}

/** An Emscripten abort of HiGHS's wasm (out of memory: `Aborted()`), after which its instance
 * cannot be used. */
function solverAborted(e: unknown): boolean {
  return e instanceof Error && e.name === 'RuntimeError' && /^Aborted\(/.test(e.message);
}
