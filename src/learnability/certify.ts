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
import { growEnsemble, NtkPredictor, theoryEnsembleBound, type Case, type EnsembleOptions, type Predictor } from './predictors.ts';

/** The graph algorithms whose learnability the learnability pass certifies. */
export const ALGORITHMS = ['flooding', 'bfs', 'dfs', 'bellman-ford'] as const;
/** One of ALGORITHMS. */
export type Algorithm = (typeof ALGORITHMS)[number];

/** Options of the learnability certificates: predictor, degree bound, template limits,
 * tolerance, ensemble settings, seed. */
export interface CertifyOptions {
  predictor?: 'ntk' | 'ensemble';
  /** Degree bound of the certified regime; higher-degree graphs use the bounded-degree view
   * (flooding, Bellman-Ford) or are reported outside the regime (BFS, DFS). */
  maxDegree?: number;
  /** Template budget of the regime (per instruction). */
  maxTemplates?: number;
  /** Template budget for training finite ensembles (default 64: flooding-size tables; larger
   * tables are reported outside the ensemble budget). */
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
  /** The local instruction executed (differs from the algorithm only for BFS on a
   * bounded-degree view, which runs the Bellman-Ford instruction with 0/1 weights). */
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
  nodeUpdates: number;
  /** Wall-clock times (not deterministic: the pass drops them unless asked). */
  timing?: { gnnMs: number; classicalMs: number; ensembleTrainMs?: number };
}

interface Outcome {
  values: Int32Array;
  extra?: Int32Array;
}

const bitsFor = (maxValue: number) => Math.max(1, Math.ceil(Math.log2(maxValue + 2)));

/** Runs `algorithm` on `g` and certifies (or not) the learned GNN execution. */
export function certify(g: LearnGraph, algorithm: Algorithm, opts: CertifyOptions = {}): Certificate {
  const maxDeg = opts.maxDegree ?? 16;
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
  let run = g;
  let owner: Int32Array | undefined;
  let regime: Certificate['regime'] = 'inside';
  let helpers: number | undefined;
  // the instruction executed: BFS on a bounded-degree view runs as Bellman-Ford on the
  // undirected view with weight 1 on original edges and 0 on the split chains, which keeps hop
  // distances exact (the sequential BFS instruction would count chain hops)
  let exec: Algorithm = algorithm;
  if (originalD > maxDeg) {
    if ((algorithm === 'flooding' || algorithm === 'bellman-ford' || algorithm === 'bfs') && maxDeg >= 3) {
      let src = g;
      if (algorithm === 'bfs') {
        const edges: [number, number, number][] = [];
        g.adj.forEach((a, v) => a.forEach((u) => edges.push([u, v, 1])));
        src = makeGraph(g.n, edges, g.sources, g.names);
        exec = 'bellman-ford';
      }
      const view = boundedDegreeView(src, maxDeg);
      run = view.graph;
      owner = view.owner;
      helpers = view.helpers;
      regime = 'bounded-degree-view';
    } else {
      return outside(base, classicalMs, maxDeg < 3 ? `max degree ${originalD} > ${maxDeg}; a bounded-degree view needs a bound >= 3` : `max degree ${originalD} > ${maxDeg}; the DFS order is not preserved by splitting high-degree nodes`);
    }
  }
  const D = maxDegree(run);
  const { colour, colours } = distance2Colouring(run);
  const l = opts.bits ?? precision(run, exec, exec === algorithm ? ref : undefined);
  if (!(Number.isInteger(l) && l >= 1 && l <= 30)) return outside({ ...base, D }, classicalMs, `precision ${l} bits outside 1..30`);
  if (exec === 'bellman-ford' && weightBits(run) > l) return outside({ ...base, D }, classicalMs, `edge weights need ${weightBits(run)} bits > precision ${l}`);
  if (colours > 64) return outside({ ...base, D }, classicalMs, `distance-2 colouring needs ${colours} slots (> 64)`);

  let root = -1;
  let graph = run;
  if (algorithm === 'dfs') {
    if (run.sources.length === 1) root = run.sources[0];
    else if (run.sources.length > 1) {
      // several sources: a virtual root adjacent to all of them (not reported)
      graph = withVirtualRoot(run);
      root = run.n;
    }
  }
  const col = graph === run ? { colour, colours } : distance2Colouring(graph);
  const Dg = maxDegree(graph);
  const instr = build(exec, Math.max(Dg, 1), l, col.colours, g.sources.length, weightBits(graph));
  const templates = instr.table.count;
  const common = {
    ...base, instruction: instr.name, D: Dg, helpers, l, slots: col.colours, slotBound: Dg * Dg + 1, stateBits: instr.schema.size, templates, maxLiterals: instr.table.maxLiterals,
  };
  if (templates > (opts.maxTemplates ?? 500_000)) return { ...outside(common, classicalMs, `${templates} templates exceed the budget ${opts.maxTemplates ?? 500_000}`), ...common };

  const inits = nodeInits(graph, col.colour, root);
  const maxRounds = roundCap(graph, exec, l, instr);
  let predictor: Predictor;
  let caseAccuracy: number | undefined;
  let ensembleTrainMs: number | undefined;
  if (predictorKind === 'ntk') predictor = new NtkPredictor(instr.table, eps);
  else {
    if (templates > (opts.maxEnsembleTemplates ?? 64)) return { ...outside(common, classicalMs, `${templates} templates are too many to train finite ensembles (budget ${opts.maxEnsembleTemplates ?? 64})`), ...common, regime: 'outside' };
    // the cases the ensemble must get right: every distinct input met on this graph
    const cases = new Map<string, Case>();
    const tbl = new NtkPredictor(instr.table, eps); // any predictor: only the exact outputs are kept
    runGnn(graph, instr, inits, tbl, { maxRounds, collectCases: cases });
    for (let j = 0; j < instr.table.count; j++) {
      const outs = Array.from(instr.table.outBit.subarray(instr.table.outStart[j], instr.table.outStart[j + 1]));
      if (!cases.has(String(j))) cases.set(String(j), { matched: [j], expected: outs });
    }
    const grown = growEnsemble(instr.table, { instruction: instr.name, D: instr.D, l, slots: col.colours }, [...cases.values()], { eps, seed: opts.seed ?? 0, log, ...opts.ensemble });
    predictor = grown.predictor;
    caseAccuracy = grown.caseAccuracy;
    ensembleTrainMs = grown.trainMs;
  }
  const res = runGnn(graph, instr, inits, predictor, { maxRounds, checkTable: true });
  const got = decode(graph, instr, res, col.colour, exec);
  const agreement = compare(g, algorithm, ref, got, owner);
  const bound = theoryEnsembleBound(templates, res.rounds);
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
    maxMatched: res.maxMatched, margin: predictor.minMargin, nodeUpdates: res.nodeUpdates, timing: { gnnMs: res.ms, classicalMs, ensembleTrainMs },
  };
}

function outside(common: Partial<Certificate> & { algorithm: Algorithm; nodes: number; edges: number; originalD: number; predictor: 'ntk' | 'ensemble'; eps: number }, classicalMs: number, reason: string): Certificate {
  return {
    D: common.originalD, l: 0, slots: 0, slotBound: 0, stateBits: 0, templates: 0, maxLiterals: 0, ...common, certified: false, regime: 'outside', reason, rounds: 0, converged: false,
    ensembleSize: 0, theoryEnsembleBound: '-', theoryEnsembleBoundLog10: NaN, agreement: { nodes: common.nodes, agree: 0, percent: 0 }, collisions: 0, tableMismatches: 0,
    maxMatched: 0, margin: NaN, nodeUpdates: 0, timing: { gnnMs: 0, classicalMs },
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
