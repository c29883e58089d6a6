/**
 * The `learnability` pass: on the model's operator graph, runs message flooding, BFS, DFS and
 * Bellman-Ford classically and as a message-passing GNN whose update function is a learned
 * predictor of the algorithm's local instruction (closed-form infinite-width NTK ensemble, or
 * trained finite-width MLP ensembles), compares them node by node and writes one certificate
 * per algorithm (src/learnability/certify.ts). Sources: the graph inputs. Bellman-Ford
 * weights: value element counts quantized to `weightBits` bits (see graph.ts).
 *
 * Analysis only: the graph is not changed. A certificate with `certified: false` is a result,
 * not an error; the CLI command turns it into exit code 1.
 *
 * Options (ctx.options.learnability): algorithms (array or comma list), predictor ('ntk' |
 * 'ensemble'), maxDegree ('auto' default, or a bound), viewDegree, maxTemplates, eps, weightBits, bits, hidden, epochs, precondition, init, lr, delta, cap,
 * start, cacheDir (null = no cache), overrides (input shapes), timing (keep wall-clock times).
 */
import type { Pass, PassContext } from './pass.ts';
import { optionsSchema } from './pass.ts';
import type { Model } from '../ir/graph.ts';
import { badInput } from '../errors.ts';
import { ALGORITHMS, certify, type Algorithm, type Certificate, type CertifyOptions } from '../learnability/certify.ts';
import { edgeCount, maxDegree } from '../learnability/graph.ts';
import { modelLearnGraph } from '../learnability/model.ts';

/** The learnability pass's annotations: one certificate per algorithm and whether all were granted. */
export interface LearnabilityAnnotations {
  version: 1;
  graph: { nodes: number; edges: number; maxDegree: number; sources: string[]; weightBits: number; sizedEdges: number; note?: string };
  certificates: Certificate[];
  allCertified: boolean;
}

declare module './pass.ts' {
  interface PassOptionsMap {
    learnability: LearnabilityOptions;
  }
}

/** Options of the learnability pass (`--option learnability.key=value`). */
export interface LearnabilityOptions extends Omit<CertifyOptions, 'log' | 'ensemble'> {
  algorithms?: Algorithm[] | string;
  weightBits?: number;
  hidden?: number;
  epochs?: number;
  /** Early stop of an ensemble member: largest training error (default eps / 5). */
  tol?: number;
  precondition?: boolean;
  init?: 'antisymmetric' | 'gaussian';
  lr?: number;
  delta?: number;
  cap?: number;
  start?: number;
  cacheDir?: string | null;
  overrides?: Record<string, number[]>;
  /** Keep wall-clock times in the certificates (off by default: annotations stay
   * byte-identical for the same model, options and seed). */
  timing?: boolean;
}

export function parseAlgorithms(spec: Algorithm[] | string | undefined): Algorithm[] {
  if (spec === undefined) return [...ALGORITHMS];
  const list = (Array.isArray(spec) ? spec : spec.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean);
  const alias: Record<string, Algorithm> = { flood: 'flooding', flooding: 'flooding', bfs: 'bfs', dfs: 'dfs', 'bellman-ford': 'bellman-ford', bellmanford: 'bellman-ford', bf: 'bellman-ford' };
  if (list.length === 0) throw badInput('--algorithms is empty; use some of flooding,bfs,dfs,bellman-ford');
  return [...new Set(list.map((a) => {
    const k = alias[a];
    if (!k) throw badInput(`unknown algorithm '${a}' (known: ${ALGORITHMS.join(', ')})`);
    return k;
  }))];
}

export function runLearnability(model: Model, opts: LearnabilityOptions, seed: number, log: (m: string) => void): LearnabilityAnnotations {
  const weightBits = opts.weightBits ?? 3;
  if (!(Number.isInteger(weightBits) && weightBits >= 1 && weightBits <= 16)) throw badInput(`learnability: weightBits must be 1..16, got ${weightBits}`);
  if (opts.predictor !== undefined && opts.predictor !== 'ntk' && opts.predictor !== 'ensemble') throw badInput(`learnability: predictor must be 'ntk' or 'ensemble', got '${String(opts.predictor)}'`);
  if (opts.maxDegree !== undefined && opts.maxDegree !== 'auto' && !(Number.isInteger(opts.maxDegree) && opts.maxDegree >= 1)) throw badInput(`learnability: max degree must be 'auto' or a positive integer, got ${opts.maxDegree}`);
  if (opts.viewDegree !== undefined && !(Number.isInteger(opts.viewDegree) && opts.viewDegree >= 3)) throw badInput(`learnability: view degree must be an integer >= 3, got ${opts.viewDegree}`);
  if (opts.hidden !== undefined && !(Number.isInteger(opts.hidden) && opts.hidden >= 2 && (opts.hidden % 2 === 0 || opts.init === 'gaussian'))) throw badInput(`learnability: hidden must be an even integer >= 2 (antisymmetric init pairs the units), got ${opts.hidden}`);
  if (opts.init !== undefined && opts.init !== 'antisymmetric' && opts.init !== 'gaussian') throw badInput(`learnability: init must be 'antisymmetric' or 'gaussian', got '${String(opts.init)}'`);
  if (opts.eps !== undefined && !(opts.eps > 0 && opts.eps < 1)) throw badInput(`learnability: eps must be in (0, 1), got ${opts.eps}`);
  if (opts.tol !== undefined && !(opts.tol >= 0 && opts.tol < 1)) throw badInput(`learnability: tol must be in [0, 1), got ${opts.tol}`);
  const algorithms = parseAlgorithms(opts.algorithms);
  const info = modelLearnGraph(model, { weightBits, overrides: opts.overrides });
  const g = info.graph;
  log(`learnability: ${g.n} graph nodes (${g.sources.length} source${g.sources.length === 1 ? '' : 's'}), ${edgeCount(g)} edges, max degree ${maxDegree(g)}`);
  const certificates: Certificate[] = [];
  for (const a of algorithms) {
    const c = certify(g, a, {
      ...opts, seed, log,
      ensemble: { hidden: opts.hidden, epochs: opts.epochs, tol: opts.tol, precondition: opts.precondition, init: opts.init, lr: opts.lr, delta: opts.delta, cap: opts.cap, start: opts.start, cacheDir: opts.cacheDir, seed },
    });
    if (!opts.timing) delete c.timing;
    log(`learnability: ${a}: ${c.certified ? 'certified' : `NOT certified (${c.reason})`}, ${c.rounds} rounds, ${c.agreement.percent.toFixed(2)}% agreement${c.setting ? `; ${c.setting.chosen} (${c.setting.why})` : ''}`);
    certificates.push(c);
  }
  return {
    version: 1,
    graph: { nodes: g.n, edges: edgeCount(g), maxDegree: maxDegree(g), sources: g.sources.map((s) => g.names[s]), weightBits, sizedEdges: info.sizedValues, note: info.shapeNote },
    certificates,
    allCertified: certificates.every((c) => c.certified),
  };
}

export const learnabilityPass: Pass<LearnabilityAnnotations> = {
  name: 'learnability',
  description: 'Certify that learned GNN updates execute flooding, BFS, DFS and Bellman-Ford exactly on the model graph',
  reads: ['graph'],
  writes: ['annotations:learnability'],
  kind: 'certificates',
  timings: ['certificates.*.timing.gnnMs', 'certificates.*.timing.classicalMs', 'certificates.*.timing.ensembleTrainMs'],
  options: optionsSchema({
    algorithms: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    predictor: { enum: ['ntk', 'ensemble'] },
    maxDegree: { anyOf: [{ const: 'auto' }, { type: 'integer' }] },
    viewDegree: { type: 'integer' },
    maxTemplates: { type: 'integer' },
    maxEnsembleTemplates: { type: 'integer' },
    eps: { type: 'number' },
    seed: { type: 'integer' },
    bits: { type: 'integer' },
    weightBits: { type: 'integer' },
    hidden: { type: 'integer' },
    epochs: { type: 'integer' },
    tol: { type: 'number' },
    precondition: { type: 'boolean' },
    init: { enum: ['antisymmetric', 'gaussian'] },
    lr: { type: 'number' },
    delta: { type: 'number' },
    cap: { type: 'integer' },
    start: { type: 'integer' },
    cacheDir: { type: ['string', 'null'] },
    overrides: { type: 'object', additionalProperties: { type: 'array', items: { type: 'integer' } } },
    timing: { type: 'boolean' },
  }),
  run(model: Model, ctx: PassContext) {
    const opts = ctx.options.learnability ?? {};
    const a = runLearnability(model, opts, ctx.seed, ctx.log);
    if (a.allCertified) return { changed: false, annotations: a };
    const bad = a.certificates.filter((c) => !c.certified).map((c) => `${c.algorithm}${c.reason ? ` (${c.reason})` : ''}`);
    return { changed: false, annotations: a, status: 'failed', reason: `not certified: ${bad.join('; ') || 'see the certificates'}` };
  },
};
