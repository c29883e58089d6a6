/**
 * Certification of one algorithm on one graph: choose the precision, colour the graph into
 * slots, generate the instruction, run it classically and as the learned GNN, compare node by
 * node, and write a certificate. A certificate is issued only at 100% agreement, with no
 * message collision and a converged run.
 */
import { bellmanFordReference, bfsReference, boundedDegreeView, dfsReference, distance2Colouring, edgeCount, floodReference, makeGraph, maxDegree, type LearnGraph } from './graph.ts';
import { bellmanFordInstruction, bfsInstruction, dfsInstruction, floodingInstruction } from './instructions.ts';
import type { Instruction } from './templates.ts';
import { nodeInits, runGnn, type GnnRunResult } from './gnn.ts';
import { decodePorts, dfsPortsInstruction, portInits, portRoundCap, portView, type PortView } from './dfs-view.ts';
import { growEnsembleSteps, NtkPredictor, trainInline, type TrainedMember, type TrainRequest, paddingFor, TablePredictor, theoryEnsembleBound, type Case, type EnsembleOptions, type Predictor } from './predictors.ts';

/** The graph algorithms whose learnability the learnability pass certifies. */
export const ALGORITHMS = ['flooding', 'bfs', 'dfs', 'bellman-ford'] as const;
/** One of ALGORITHMS. */
export type Algorithm = (typeof ALGORITHMS)[number];

/** Options of the learnability certificates: predictor, degree bound, template limits,
 * tolerance, ensemble settings, seed. */
export interface CertifyOptions {
  predictor?: 'ntk' | 'ensemble';
  /** Degree bound: 'auto' (default: the cheapest of the graph itself and the bounded-degree
   * view that certifies, see `certify`), or a number (above it: the bounded-degree view for
   * flooding, BFS, Bellman-Ford; the order-preserving port view for DFS). */
  maxDegree?: number | 'auto';
  /** The view's degree bound considered by 'auto' (default 16). */
  viewDegree?: number;
  /** Template budget of the regime (per instruction). */
  maxTemplates?: number;
  /** Template budget for training finite ensembles (default 1000: flooding and BFS tables of
   * the shared models; larger tables are reported outside the ensemble budget). */
  maxEnsembleTemplates?: number;
  eps?: number;
  ensemble?: EnsembleOptions;
  seed?: number;
  /** Override the precision (bits); default: the smallest that holds the algorithm's values. */
  bits?: number;
  log?: (msg: string) => void;
}

/** The learnability verdict for one algorithm on one model graph: certified or not, and why. */
export interface Certificate {
  algorithm: Algorithm;
  /** The local instruction executed (differs from the algorithm only on a bounded-degree view:
   * BFS runs the Bellman-Ford instruction with 0/1 weights, DFS the `dfs-ports` instruction on
   * the port view of dfs-view.ts). */
  instruction?: string;
  certified: boolean;
  regime: 'inside' | 'bounded-degree-view' | 'outside';
  reason?: string;
  nodes: number;
  edges: number;
  /** Max degree of the graph the GNN ran on, and of the original graph. */
  D: number;
  originalD: number;
  helpers?: number;
  l: number;
  slots: number;
  slotBound: number;
  stateBits: number;
  templates: number;
  maxLiterals: number;
  rounds: number;
  converged: boolean;
  predictor: 'ntk' | 'ensemble';
  eps: number;
  ensembleSize: number | 'infinite';
  caseAccuracy?: number;
  theoryEnsembleBound: string;
  theoryEnsembleBoundLog10: number;
  agreement: { nodes: number; agree: number; percent: number; firstDisagreement?: string };
  collisions: number;
  tableMismatches: number;
  maxMatched: number;
  margin: number;
  /** Inert zero-target training rows added to the template set (NTK predictor only; 0 when the
   * bare table already has margin >= eps), and the training-set size n0 = templates + padding. */
  padding: number;
  n0: number;
  nodeUpdates: number;
  /** Which setting produced this certificate and why (see `certify`). */
  setting?: { mode: 'auto' | 'fixed'; chosen: 'full-degree' | 'view'; maxDegree: number; why: string };
  /** Wall-clock times (not deterministic: the pass drops them unless asked). */
  timing?: { gnnMs: number; classicalMs: number; ensembleTrainMs?: number };
}

interface Outcome {
  values: Int32Array;
  extra?: Int32Array;
}

const bitsFor = (maxValue: number) => Math.max(1, Math.ceil(Math.log2(maxValue + 2)));

/** The degree bound of the bounded-degree view that `maxDegree: 'auto'` considers. */
export const VIEW_DEGREE = 16;

/**
 * Runs `algorithm` on `g` and certifies (or not) the learned GNN execution.
 *
 * `maxDegree: 'auto'` (the default) picks the setting: when the graph's degree is at most
 * `viewDegree` (16) the GNN runs on the graph itself; above it, the candidates are the graph
 * at its own degree and its bounded-degree view: the chain view at `viewDegree` (flooding, BFS,
 * Bellman-Ford) or the order-preserving port view of max degree 3 (DFS, dfs-view.ts).
 * They are tried cheapest first, the cost being the instruction's template count (the size of
 * the learning problem: the training set, the ensemble-size bound and the per-round matching all
 * grow with it), and the first that certifies is reported; `setting` says which and why. A
 * number fixes the bound: above it, the view (bounds below 3: outside the regime).
 */
export function certify(g: LearnGraph, algorithm: Algorithm, opts: CertifyOptions = {}): Certificate {
  const steps = certifySteps(g, algorithm, opts);
  let r = steps.next();
  while (!r.done) r = steps.next(trainInline(r.value));
  return r.value;
}

/**
 * `certify` with the finite ensemble's members trained by `train` (e.g. a worker pool,
 * pool.ts) instead of in this thread. Member i depends only on (table, setup, seed, i), so the
 * certificate is the same as `certify`'s whatever `train` spreads the batches over.
 */
export async function certifyAsync(g: LearnGraph, algorithm: Algorithm, opts: CertifyOptions, train: (r: TrainRequest) => Promise<TrainedMember[]>): Promise<Certificate> {
  const steps = certifySteps(g, algorithm, opts);
  let r = steps.next();
  while (!r.done) r = steps.next(await train(r.value));
  return r.value;
}

/** certify as a generator: yields the ensemble members it needs trained (predictor 'ensemble'). */
function* certifySteps(g: LearnGraph, algorithm: Algorithm, opts: CertifyOptions): Generator<TrainRequest, Certificate, TrainedMember[]> {
  const spec = opts.maxDegree ?? 'auto';
  if (spec !== 'auto') {
    const c = yield* certifyAt(g, algorithm, opts, spec);
    return { ...c, setting: { mode: 'fixed', chosen: c.regime === 'bounded-degree-view' ? 'view' : 'full-degree', maxDegree: spec, why: `--max-degree ${spec} given` } };
  }
  const viewDeg = opts.viewDegree ?? VIEW_DEGREE;
  const D = maxDegree(g);
  if (D <= viewDeg) {
    const c = yield* certifyAt(g, algorithm, opts, D);
    return { ...c, setting: { mode: 'auto', chosen: 'full-degree', maxDegree: D, why: `max degree ${D} <= ${viewDeg}: the graph itself, no view needed` } };
  }
  type Cand = { chosen: 'full-degree' | 'view'; maxDegree: number; templates?: number; note?: string; D?: number };
  const cands: Cand[] = [];
  for (const [chosen, bound] of [['full-degree', D], ['view', viewDeg]] as const) {
    const est = settingTemplates(g, algorithm, bound, opts.bits);
    cands.push(typeof est === 'string' ? { chosen, maxDegree: bound, note: est } : { chosen, maxDegree: bound, templates: est.templates, D: est.D });
  }
  const order = [...cands].sort((a, b) => (a.templates ?? Infinity) - (b.templates ?? Infinity) || (a.chosen === 'full-degree' ? -1 : 1));
  const viewName = (c: Cand) => (algorithm === 'dfs' ? `order-preserving port view (degree ${c.D ?? 3})` : `view at degree ${c.maxDegree}`);
  const describe = (c: Cand) => `${c.chosen === 'view' ? viewName(c) : `full degree ${c.maxDegree}`}: ${c.templates !== undefined ? `${c.templates} templates` : c.note}`;
  const tried: string[] = [];
  let first: Certificate | undefined;
  for (const c of order) {
    if (c.templates === undefined) continue;
    const cert = yield* certifyAt(g, algorithm, opts, c.maxDegree);
    first ??= cert;
    tried.push(`${describe(c)} -> ${cert.certified ? 'certified' : `not certified (${cert.reason})`}`);
    if (cert.certified) {
      const other = order.filter((o) => o !== c).map(describe);
      const why = tried.length > 1 ? `${tried.join('; ')}` : `cheapest setting that certifies (${describe(c)}${other.length ? `; the other: ${other.join('; ')}` : ''})`;
      return { ...cert, setting: { mode: 'auto', chosen: c.chosen, maxDegree: c.maxDegree, why } };
    }
  }
  const fallback = first ?? (yield* certifyAt(g, algorithm, opts, order[0].maxDegree));
  return { ...fallback, setting: { mode: 'auto', chosen: order[0].chosen, maxDegree: order[0].maxDegree, why: `no setting certifies: ${tried.length ? tried.join('; ') : order.map(describe).join('; ')}` } };
}

function* certifyAt(g: LearnGraph, algorithm: Algorithm, opts: CertifyOptions, maxDeg: number): Generator<TrainRequest, Certificate, TrainedMember[]> {
  const originalD = maxDegree(g);
  const predictorKind = opts.predictor ?? 'ntk';
  const eps = opts.eps ?? 5e-3;
  const log = opts.log ?? (() => {});
  const base = {
    algorithm, nodes: g.n, edges: edgeCount(g), originalD, predictor: predictorKind, eps,
  };

  // classical run on the original graph (the ground truth)
  const tc = performance.now();
  const ref = reference(g, algorithm);
  const classicalMs = performance.now() - tc;

  // the graph the GNN runs on
  const view = degreeView(g, algorithm, maxDeg);
  if (typeof view === 'string') return outside(base, classicalMs, view);
  const { run, owner, regime, helpers, exec } = view;
  const D = maxDegree(run);
  const { colour, colours } = distance2Colouring(run);
  // the port view's counter stamps original nodes: the original graph's precision
  const l = opts.bits ?? (view.ports ? precision(g, 'dfs') : precision(run, exec, exec === algorithm ? ref : undefined));
  if (!(Number.isInteger(l) && l >= 1 && l <= 30)) return outside({ ...base, D }, classicalMs, `precision ${l} bits outside 1..30`);
  if (exec === 'bellman-ford' && weightBits(run) > l) return outside({ ...base, D }, classicalMs, `edge weights need ${weightBits(run)} bits > precision ${l}`);
  if (colours > 64) return outside({ ...base, D }, classicalMs, `distance-2 colouring needs ${colours} slots (> 64)`);

  let root = -1;
  let graph = run;
  if (view.ports) root = run.sources.length ? run.sources[0] : -1; // the virtual root is already in the view
  else if (algorithm === 'dfs') {
    if (run.sources.length === 1) root = run.sources[0];
    else if (run.sources.length > 1) {
      // several sources: a virtual root adjacent to all of them (not reported)
      graph = withVirtualRoot(run);
      root = run.n;
    }
  }
  const col = graph === run ? { colour, colours } : distance2Colouring(graph);
  const Dg = maxDegree(graph);
  const pinit = view.ports ? portInits(view.ports, col.colour) : undefined;
  const instr = pinit ? dfsPortsInstruction(Math.max(Dg, 1), l, col.colours, (v) => pinit[v]) : build(exec, Math.max(Dg, 1), l, col.colours, g.sources.length, weightBits(graph));
  const templates = instr.table.count;
  const common = {
    ...base, instruction: instr.name, D: Dg, helpers, l, slots: col.colours, slotBound: Dg * Dg + 1, stateBits: instr.schema.size, templates, maxLiterals: instr.table.maxLiterals,
  };
  if (templates > (opts.maxTemplates ?? 500_000)) return { ...outside(common, classicalMs, `${templates} templates exceed the budget ${opts.maxTemplates ?? 500_000}`), ...common };

  const inits = nodeInits(graph, col.colour, root);
  const maxRounds = view.ports ? portRoundCap(view.ports) : roundCap(graph, exec, l, instr);
  let predictor: Predictor;
  let caseAccuracy: number | undefined;
  let ensembleTrainMs: number | undefined;
  if (predictorKind === 'ntk') predictor = new NtkPredictor(instr.table, eps);
  else {
    if (templates > (opts.maxEnsembleTemplates ?? 1000)) return { ...outside(common, classicalMs, `${templates} templates are too many to train finite ensembles (budget ${opts.maxEnsembleTemplates ?? 1000})`), ...common, regime: 'outside' };
    // the cases the ensemble must get right: every distinct input met on this graph
    const cases = new Map<string, Case>();
    const tbl = new NtkPredictor(instr.table, eps); // any predictor: only the exact outputs are kept
    runGnn(graph, instr, inits, tbl, { maxRounds, collectCases: cases });
    for (let j = 0; j < instr.table.count; j++) {
      const outs = Array.from(instr.table.outBit.subarray(instr.table.outStart[j], instr.table.outStart[j + 1]));
      if (!cases.has(String(j))) cases.set(String(j), { matched: [j], expected: outs });
    }
    const grown = yield* growEnsembleSteps(instr.table, { instruction: instr.name, D: instr.D, l, slots: col.colours }, [...cases.values()], { eps, seed: opts.seed ?? 0, log, ...opts.ensemble });
    predictor = grown.predictor;
    caseAccuracy = grown.caseAccuracy;
    ensembleTrainMs = grown.trainMs;
  }
  let res = runGnn(graph, instr, inits, predictor, { maxRounds, checkTable: true });
  if (predictorKind === 'ntk' && (res.tableMismatches > 0 || !(predictor.minMargin >= eps))) {
    // The closed form's on-value of a bit written by one matched template is
    // alpha(m) + beta(m) N_b (m matched templates, N_b templates writing bit b, beta ~ -1/n0):
    // with many matches (m ~ 150 at D = 26 for Bellman-Ford) and many writers (N_b = d + 1 for
    // any0) the interference term wins and the bit drops below eps. Inert zero-target rows
    // (padding) shrink beta; the padding is sized for the largest matched set of the EXACT
    // execution (the states an exact run visits), with margin >= eps on every on-bit.
    const m = runGnn(graph, instr, inits, new TablePredictor(instr.table), { maxRounds }).maxMatched;
    let padding: number | undefined;
    try {
      padding = paddingFor(instr.table, Math.max(1, m), eps);
    } catch {
      // alpha(m) itself is below 2 eps (a threshold too high for m matched templates): no
      // padding helps; the bare table's result stands
    }
    if (padding) {
      instr.table.padding = padding;
      log(`${algorithm}: NTK margin ${predictor.minMargin.toExponential(2)} < eps on the bare table (${res.tableMismatches} table mismatches, up to ${res.maxMatched} matched templates): ${padding} inert training rows added`);
      predictor = new NtkPredictor(instr.table, eps);
      res = runGnn(graph, instr, inits, predictor, { maxRounds, checkTable: true });
    }
  }
  const got = view.ports ? decodePorts(view.ports, g.n, instr, res.comp) : decode(graph, instr, res, col.colour, exec);
  const agreement = compare(g, algorithm, ref, got, owner);
  const bound = theoryEnsembleBound(instr.table.n0, res.rounds);
  // exact execution: terminated, no slot collision, every update equal to the instruction's
  // table, and the final results equal to the classical run on every node
  const certified = res.converged && res.collisions === 0 && res.tableMismatches === 0 && agreement.agree === agreement.nodes;
  const reason = certified
    ? undefined
    : !res.converged
      ? `no termination within ${maxRounds} rounds`
      : res.collisions
        ? `${res.collisions} message collisions`
        : agreement.agree !== agreement.nodes
          ? `GNN disagrees with the classical run on ${agreement.nodes - agreement.agree} node(s)`
          : `${res.tableMismatches} node update(s) differ from the instruction table (final results agree)`;
  return {
    ...common, certified, regime, reason, rounds: res.rounds, converged: res.converged,
    ensembleSize: predictor.members === 0 ? 'infinite' : predictor.members, caseAccuracy,
    theoryEnsembleBound: bound.text, theoryEnsembleBoundLog10: bound.log10, agreement, collisions: res.collisions, tableMismatches: res.tableMismatches,
    maxMatched: res.maxMatched, margin: predictor.minMargin, padding: instr.table.padding, n0: instr.table.n0, nodeUpdates: res.nodeUpdates, timing: { gnnMs: res.ms, classicalMs, ensembleTrainMs },
  };
}


interface RunGraph {
  run: LearnGraph;
  owner?: Int32Array;
  regime: Certificate['regime'];
  helpers?: number;
  /** The instruction executed: BFS on a bounded-degree view runs as Bellman-Ford on the
   * undirected view with weight 1 on original edges and 0 on the split chains, which keeps hop
   * distances exact (the sequential BFS instruction would count chain hops). */
  exec: Algorithm;
  /** DFS above the bound: the port view (dfs-view.ts), built on the graph with its virtual root. */
  ports?: PortView;
}

/** The graph the GNN runs on under a degree bound, or why there is none. */
function degreeView(g: LearnGraph, algorithm: Algorithm, maxDeg: number): RunGraph | string {
  const originalD = maxDegree(g);
  if (originalD <= maxDeg) return { run: g, regime: 'inside', exec: algorithm };
  if (maxDeg < 3) return `max degree ${originalD} > ${maxDeg}; a bounded-degree view needs a bound >= 3`;
  if (algorithm === 'dfs') {
    // the order-preserving port view (max degree 3), ports in the reference's rank order
    const aug = g.sources.length > 1 ? withVirtualRoot(g) : g;
    const pv = portView(aug, distance2Colouring(aug).colour);
    return { run: pv.graph, owner: pv.owner, helpers: pv.helpers, regime: 'bounded-degree-view', exec: 'dfs', ports: pv };
  }
  let src = g;
  let exec: Algorithm = algorithm;
  if (algorithm === 'bfs') {
    const edges: [number, number, number][] = [];
    g.adj.forEach((a, v) => a.forEach((u) => edges.push([u, v, 1])));
    src = makeGraph(g.n, edges, g.sources, g.names);
    exec = 'bellman-ford';
  }
  const view = boundedDegreeView(src, maxDeg);
  return { run: view.graph, owner: view.owner, helpers: view.helpers, regime: 'bounded-degree-view', exec };
}

/**
 * The size of the learning problem under a degree bound, without running anything: the
 * instruction's template count on the graph the GNN would run on (undefined: no such graph,
 * or outside the slot budget). Used to order the candidate settings of `maxDegree: 'auto'`.
 */
export function settingTemplates(g: LearnGraph, algorithm: Algorithm, maxDeg: number, bits?: number): { templates: number; slots: number; D: number } | string {
  const view = degreeView(g, algorithm, maxDeg);
  if (typeof view === 'string') return view;
  let graph = view.run;
  if (algorithm === 'dfs' && !view.ports && graph.sources.length > 1) graph = withVirtualRoot(graph);
  const { colours } = distance2Colouring(graph);
  if (colours > 64) return `distance-2 colouring needs ${colours} slots (> 64)`;
  const l = bits ?? (view.ports ? precision(g, 'dfs') : precision(view.run, view.exec));
  if (!(Number.isInteger(l) && l >= 1 && l <= 30)) return `precision ${l} bits outside 1..30`;
  const D = maxDegree(graph);
  const ins = view.ports ? dfsPortsInstruction(Math.max(D, 1), l, colours) : build(view.exec, Math.max(D, 1), l, colours, g.sources.length, weightBits(graph));
  return { templates: ins.table.count, slots: colours, D };
}

function outside(common: Partial<Certificate> & { algorithm: Algorithm; nodes: number; edges: number; originalD: number; predictor: 'ntk' | 'ensemble'; eps: number }, classicalMs: number, reason: string): Certificate {
  return {
    D: common.originalD, l: 0, slots: 0, slotBound: 0, stateBits: 0, templates: 0, maxLiterals: 0, ...common, certified: false, regime: 'outside', reason, rounds: 0, converged: false,
    ensembleSize: 0, theoryEnsembleBound: '-', theoryEnsembleBoundLog10: NaN, agreement: { nodes: common.nodes, agree: 0, percent: 0 }, collisions: 0, tableMismatches: 0,
    maxMatched: 0, margin: NaN, padding: 0, n0: 0, nodeUpdates: 0, timing: { gnnMs: 0, classicalMs },
  };
}

export function weightBits(g: LearnGraph): number {
  let maxW = 1;
  for (const ws of g.predW) for (const w of ws) maxW = Math.max(maxW, w);
  return Math.max(1, Math.ceil(Math.log2(maxW + 1)));
}

export function build(algorithm: Algorithm, D: number, l: number, d: number, sources: number, wBits = l): Instruction {
  switch (algorithm) {
    case 'flooding':
      return floodingInstruction(D, l, d, sourceMessages(sources, l));
    case 'bfs':
      return bfsInstruction(D, l, d);
    case 'dfs':
      return dfsInstruction(D, l, d);
    case 'bellman-ford':
      return bellmanFordInstruction(D, l, d, Math.min(l, wBits));
  }
}

/** Source i floods the message ((i mod (2^l - 1)) + 1): non-zero, distinct while possible. */
export function sourceMessages(count: number, l: number): number[] {
  const top = 2 ** l - 1;
  return Array.from({ length: count }, (_, i) => (i % top) + 1);
}

type Ref = { flood?: ReturnType<typeof floodReference>; bfs?: ReturnType<typeof bfsReference>; dfs?: ReturnType<typeof dfsReference>; bf?: ReturnType<typeof bellmanFordReference> };

function reference(g: LearnGraph, algorithm: Algorithm): Ref {
  switch (algorithm) {
    case 'flooding':
      return { flood: floodReference(g, sourceMessages(g.sources.length, floodBits(g))) };
    case 'bfs':
      return { bfs: bfsReference(g) };
    case 'dfs':
      return { dfs: dfsOnGraph(g) };
    case 'bellman-ford':
      return { bf: bellmanFordReference(g) };
  }
}

/** DFS reference in the slot order of g's colouring; several sources hang under a virtual
 * root (id g.n, reported as parent g.n). */
function dfsOnGraph(g: LearnGraph): ReturnType<typeof dfsReference> {
  if (g.sources.length === 1) return dfsReference(g, g.sources[0], distance2Colouring(g).colour);
  if (g.sources.length === 0) return { disc: new Int32Array(g.n).fill(-1), parent: new Int32Array(g.n).fill(-1), moves: 0 };
  const aug = withVirtualRoot(g);
  const r = dfsReference(aug, g.n, distance2Colouring(aug).colour);
  return { disc: r.disc.slice(0, g.n), parent: r.parent.slice(0, g.n), moves: r.moves };
}

export function withVirtualRoot(g: LearnGraph): LearnGraph {
  const edges: [number, number, number][] = [];
  g.adj.forEach((a, v) => a.forEach((u) => u > v && edges.push([v, u, 1])));
  g.sources.forEach((s) => edges.push([g.n, s, 1]));
  return makeGraph(g.n + 1, edges, [g.n], [...g.names, 'virtual-root']);
}

const floodBits = (g: LearnGraph) => Math.max(1, Math.ceil(Math.log2(g.sources.length + 1)));

/** The precision each algorithm needs on graph g (values must fit below the all-ones pattern). */
export function precision(g: LearnGraph, algorithm: Algorithm, ref?: Ref): number {
  switch (algorithm) {
    case 'flooding':
      return floodBits(g);
    case 'bfs': {
      const d = (ref?.bfs ?? bfsReference(g)).dist;
      return bitsFor(Math.max(0, ...d));
    }
    case 'dfs':
      return Math.max(1, Math.ceil(Math.log2(g.n + 2)));
    case 'bellman-ford': {
      const d = bellmanFordReference(g).dist;
      return Math.max(bitsFor(Math.max(0, ...d)), weightBits(g));
    }
  }
}

function roundCap(g: LearnGraph, algorithm: Algorithm, _l: number, instr: Instruction): number {
  switch (algorithm) {
    case 'flooding':
      return 2 * g.n + 5;
    case 'bfs':
      return 3 * g.n + 5;
    case 'dfs':
      return 6 * g.n + 10;
    case 'bellman-ford':
      return instr.period * (g.n + 2);
  }
}

function readNum(comp: Uint8Array, off: number, width: number): number {
  let v = 0;
  for (let i = 0; i < width; i++) if (comp[off + i]) v += 2 ** i;
  return v;
}

/** Decodes the per-node results from the final computation blocks. */
export function decode(g: LearnGraph, instr: Instruction, res: GnnRunResult, colour: Int32Array, algorithm: Algorithm): Outcome {
  const sc = instr.schema;
  const cs = sc.compSize;
  const f = (name: string) => sc.comp.get(name)!;
  const values = new Int32Array(g.n);
  const extra = new Int32Array(g.n).fill(-1);
  for (let v = 0; v < g.n; v++) {
    const o = v * cs;
    switch (algorithm) {
      case 'flooding':
        values[v] = res.comp[o + f('got').offset] ? readNum(res.comp, o + f('val').offset, f('val').width) : -1;
        break;
      case 'bfs':
        values[v] = res.comp[o + f('vis').offset] ? readNum(res.comp, o + f('dist').offset, f('dist').width) : -1;
        break;
      case 'bellman-ford':
        values[v] = res.comp[o + f('fin').offset] ? readNum(res.comp, o + f('dist').offset, f('dist').width) : -1;
        break;
      case 'dfs': {
        values[v] = res.comp[o + f('vis').offset] ? readNum(res.comp, o + f('disc').offset, f('disc').width) : -1;
        const par = f('par');
        for (let c = 0; c < par.width; c++) if (res.comp[o + par.offset + c]) extra[v] = g.adj[v].find((u) => colour[u] === c) ?? -2;
        break;
      }
    }
  }
  return { values, extra };
}

function compare(g: LearnGraph, algorithm: Algorithm, ref: Ref, got: Outcome, owner?: Int32Array): Certificate['agreement'] {
  let agree = 0;
  let first: string | undefined;
  // view node v < g.n stands for original node v (helpers are appended after)
  void owner;
  const dfsRef = ref.dfs;
  for (let v = 0; v < g.n; v++) {
    let ok: boolean;
    let want: string;
    const have = got.values[v];
    switch (algorithm) {
      case 'flooding': {
        const r = ref.flood!;
        const w = r.reached[v] ? r.value[v] : -1;
        ok = w === have;
        want = String(w);
        break;
      }
      case 'bfs':
        ok = ref.bfs!.dist[v] === have;
        want = String(ref.bfs!.dist[v]);
        break;
      case 'bellman-ford':
        ok = ref.bf!.dist[v] === have;
        want = String(ref.bf!.dist[v]);
        break;
      case 'dfs': {
        const wp = dfsRef!.parent[v];
        ok = dfsRef!.disc[v] === have && (wp === g.n ? got.extra![v] === g.n : wp === got.extra![v]);
        want = `disc ${dfsRef!.disc[v]} parent ${wp}`;
        break;
      }
    }
    if (ok) agree++;
    else if (!first) first = `${g.names[v]}: GNN ${algorithm === 'dfs' ? `disc ${have} parent ${got.extra![v]}` : have}, classical ${want}`;
  }
  return { nodes: g.n, agree, percent: g.n ? (100 * agree) / g.n : 100, firstDisagreement: first };
}
