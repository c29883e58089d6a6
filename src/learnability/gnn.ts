/**
 * Execution: a predictor used as the update function of a message-passing GNN,
 *
 *   X_{t+1} = H(Y^_t) P_c + A H(Y^_t) P_m,   Y^_t = predictor(encode(X_t)),
 *
 * with A the adjacency plus self-loops (sum aggregation), P_c the projection on the
 * computation block and P_m the projection on the message block. X_0 is the instruction's
 * initial computation block with an empty message block.
 *
 * Vectorization / sparsity (exact, not an approximation): outputs are stored as sorted lists of
 * set bits; aggregation adds the neighbours' message bits; templates are found through a
 * bit-indexed match index. A node whose closed neighbourhood produced the same outputs as in
 * the previous round has the same input, hence the same output: only nodes next to a change
 * are recomputed (event-driven evaluation of the synchronous GNN). Any aggregated message bit
 * above 1 (two writers in one slot) is counted as a collision: the run is then not exact.
 */
import type { LearnGraph } from './graph.ts';
import type { Instruction, NodeInit } from './templates.ts';
import type { Case, Predictor } from './predictors.ts';
import { TablePredictor } from './predictors.ts';

export interface GnnRunOptions {
  maxRounds?: number;
  /** Also evaluate the exact table semantics at every update and count disagreements. */
  checkTable?: boolean;
  /** Recompute every node every round (no event-driven skipping): for benchmarks. */
  dense?: boolean;
  /** Collect the distinct matched sets seen (with the exact outputs), for ensemble growth. */
  collectCases?: Map<string, Case>;
}

export interface GnnRunResult {
  /** Final computation block per node (n x compSize). */
  comp: Uint8Array;
  rounds: number;
  converged: boolean;
  nodeUpdates: number;
  collisions: number;
  /** Updates where the predictor's thresholded output differed from the exact table. */
  tableMismatches: number;
  /** Largest number of templates matched by one state. */
  maxMatched: number;
  ms: number;
}

export function nodeInits(g: LearnGraph, colour: Int32Array, root = -1): NodeInit[] {
  const srcIndex = new Map(g.sources.map((s, i) => [s, i]));
  return Array.from({ length: g.n }, (_, v) => ({
    node: v,
    slot: colour[v],
    isSource: srcIndex.has(v),
    sourceIndex: srcIndex.get(v) ?? -1,
    inSlots: g.pred[v].map((u) => colour[u]),
    inWeights: g.predW[v],
    isRoot: v === root,
  }));
}

export function runGnn(g: LearnGraph, instr: Instruction, inits: NodeInit[], predictor: Predictor, opts: GnnRunOptions = {}): GnnRunResult {
  const t0 = performance.now();
  const sc = instr.schema;
  const s = sc.size;
  const cs = sc.compSize;
  const n = g.n;
  const table = instr.table;
  const maxRounds = opts.maxRounds ?? 1_000_000;
  const exact = opts.checkTable || opts.collectCases ? new TablePredictor(table) : undefined;

  // Outputs H(Y^) as sorted set-bit lists, kept for the last P rounds (P = the instruction's
  // period): hist[v * P + (t mod P)] is node v's output at round t, msgStart its first message
  // bit. A node's input at round t is a function of its closed neighbourhood's outputs at t-1;
  // if none of them differs from round t-1-P, its output equals its output at t-P, which is
  // already in the ring: only nodes next to a change are recomputed (P = 1: next to a change
  // since the previous round).
  const P = instr.period;
  const hist: Int32Array[] = new Array(n * P);
  const msgStart = new Int32Array(n * P);
  const initBits: Int32Array[] = new Array(n);
  for (let v = 0; v < n; v++) {
    const st = instr.init(inits[v]);
    if (st.length !== s) throw new Error('initial state has the wrong size');
    const bits: number[] = [];
    for (let b = 0; b < cs; b++) if (st[b]) bits.push(b);
    initBits[v] = Int32Array.from(bits);
  }
  // X_0 = initial computation block, empty messages: stored as the "output of round -1"
  const prevSlot = (t: number) => ((t - 1) % P + P) % P;
  for (let v = 0; v < n; v++) {
    hist[v * P + prevSlot(0)] = initBits[v];
    msgStart[v * P + prevSlot(0)] = initBits[v].length;
  }
  const X = new Uint8Array(s);
  const setBits = new Int32Array(s);
  const matched = new Int32Array(table.count);
  const out = new Int32Array(s);
  const outExact = new Int32Array(s);
  const nbrs = g.adj;

  const dirty = new Uint8Array(n);
  let dirtyList: number[] = Array.from({ length: n }, (_, i) => i);
  const changedNow: number[] = [];
  let rounds = 0;
  let nodeUpdates = 0;
  let collisions = 0;
  let tableMismatches = 0;
  let maxMatched = 0;
  let converged = false;
  const resultBits: number[] = [];
  for (const f of instr.resultFields) {
    const fld = sc.comp.get(f);
    if (!fld) throw new Error(`unknown result field ${f}`);
    for (let i = 0; i < fld.width; i++) resultBits.push(fld.offset + i);
  }
  const snapshot = (slot: number) => {
    const snap = new Uint8Array(n * resultBits.length);
    const tmp = new Uint8Array(cs);
    for (let v = 0; v < n; v++) {
      tmp.fill(0);
      const yv = hist[v * P + slot];
      for (let i = 0; i < msgStart[v * P + slot]; i++) tmp[yv[i]] = 1;
      resultBits.forEach((b, k) => (snap[v * resultBits.length + k] = tmp[b]));
    }
    return snap;
  };
  let lastSnap = P > 1 ? snapshot(prevSlot(0)) : undefined;
  const pendingV: number[] = [];
  const pendingY: Int32Array[] = [];

  while (rounds < maxRounds) {
    const t = rounds;
    const prev = prevSlot(t);
    const cur = t % P;
    const full = t < P || opts.dense === true; // no output from P rounds ago yet: everyone computes
    const work = full ? Array.from({ length: n }, (_, i) => i) : dirtyList;
    pendingV.length = 0;
    pendingY.length = 0;
    for (const v of work) {
      // X_v = own computation block + sum of message blocks over N[v]
      let nSet = 0;
      const yv = hist[v * P + prev];
      const ms = msgStart[v * P + prev];
      for (let i = 0; i < ms; i++) {
        X[yv[i]] = 1;
        setBits[nSet++] = yv[i];
      }
      const nb = nbrs[v];
      for (let q = -1; q < nb.length; q++) {
        const u = q < 0 ? v : nb[q];
        const yu = hist[u * P + prev];
        for (let i = msgStart[u * P + prev]; i < yu.length; i++) {
          const b = yu[i];
          if (X[b] === 0) {
            X[b] = 1;
            setBits[nSet++] = b;
          } else collisions++;
        }
      }
      const m = table.match(X, setBits, nSet, matched);
      if (m > maxMatched) maxMatched = m;
      const k = predictor.predict(matched, m, out);
      if (exact) {
        const ke = exact.predict(matched, m, outExact);
        let same = ke === k;
        for (let i = 0; same && i < k; i++) if (out[i] !== outExact[i]) same = false;
        if (!same) tableMismatches++;
        if (opts.collectCases) {
          const ids = Array.from(matched.subarray(0, m)).sort((a, b) => a - b);
          const key = ids.join(',');
          if (!opts.collectCases.has(key)) opts.collectCases.set(key, { matched: ids, expected: Array.from(outExact.subarray(0, ke)) });
        }
      }
      for (let i = 0; i < nSet; i++) X[setBits[i]] = 0;
      nodeUpdates++;
      // compare with the output P rounds ago (P = 1: the previous round)
      const old = t < P ? undefined : hist[v * P + cur];
      let changed = !old || k !== old.length;
      for (let i = 0; !changed && i < k; i++) if (out[i] !== old![i]) changed = true;
      if (changed) {
        pendingV.push(v);
        pendingY.push(out.slice(0, k));
      }
      if (changed) changedNow.push(v);
    }
    rounds++;
    // commit synchronously (every node read the previous round's outputs)
    for (let i = 0; i < pendingV.length; i++) {
      const v = pendingV[i];
      const bits = pendingY[i];
      hist[v * P + cur] = bits;
      let ms = bits.length;
      for (let j = 0; j < bits.length; j++) if (bits[j] >= cs) { ms = j; break; }
      msgStart[v * P + cur] = ms;
    }
    // next round: recompute the closed neighbourhoods of the nodes that changed
    const next: number[] = [];
    for (const v of changedNow) {
      if (!dirty[v]) { dirty[v] = 1; next.push(v); }
      for (const u of nbrs[v]) if (!dirty[u]) { dirty[u] = 1; next.push(u); }
    }
    for (const v of next) dirty[v] = 0;
    dirtyList = next;
    const anyChange = changedNow.length > 0;
    changedNow.length = 0;
    if (P === 1) {
      if (!anyChange) { converged = true; break; }
    } else if (rounds % P === 0) {
      const snap = snapshot(prevSlot(rounds));
      let same = true;
      for (let i = 0; same && i < snap.length; i++) if (snap[i] !== lastSnap![i]) same = false;
      lastSnap = snap;
      if (same) { converged = true; break; }
    }
  }
  const last = prevSlot(rounds);
  const comp = new Uint8Array(n * cs);
  for (let v = 0; v < n; v++) {
    const yv = hist[v * P + last];
    for (let i = 0; i < msgStart[v * P + last]; i++) comp[v * cs + yv[i]] = 1;
  }
  return { comp, rounds, converged, nodeUpdates, collisions, tableMismatches, maxMatched, ms: performance.now() - t0 };
}
