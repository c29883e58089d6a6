/**
 * `npm run bench:learnability`: figures for the GNN learnability checks.
 *
 * 1. Template counts and state sizes per (algorithm, D, l), with the slot count at its bound
 *    d = D^2 + 1.
 * 2. Finite-width ensembles on flooding: members needed (grown 8, 16, ... until every case is
 *    exact), training time, certification, against the theory's ensemble-size bound.
 * 3. GNN execution vs the classical algorithm on the largest shared model graph
 *    (shufflenet_v2_x1_0, 785 nodes) and resnet152: wall and CPU time, rounds, node updates,
 *    event-driven vs dense (every node every round) execution, agreement; ratios against the
 *    classical run and against the dense GNN, measured in the same run.
 * 4. Every model (shared models, DenseNet-121/169/201 exported by scripts/export-densenet.py
 *    into .cache/models or $DNNFUSE_DENSENET_DIR), every algorithm, default settings: degree,
 *    view or full degree, templates, NTK padding, margin, rounds, agreement, certified, time.
 * 5. Finite MLP ensembles for flooding and BFS on every shared model: members beside the
 *    theory bound, case accuracy, certified, CPU time (budget: 10 min of CPU per cell).
 *
 * The classical time includes the DFS's slot colouring (its neighbour order).
 * Environment: DNNFUSE_BENCH_QUICK=1 skips parts 4-5 and the dense runs; `--only models` or
 * `--only ensembles` runs just part 4 or 5 (npm run bench:learnability -- --only models);
 * `--models resnet50,vgg16` and `--algorithms bfs` restrict parts 4-5 to those models and
 * algorithms (to run the tables in parts); `--pool N` trains ensemble members on N worker
 * threads (part 5; CPU time then counts every thread of the process).
 */
import { benchArgs } from './args.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/util/random.ts';
import { loadModel } from '../src/onnx/io.ts';
import { sharedModelPath, sharedModels, sharedModelsMissing } from '../src/models/shared.ts';
import { bellmanFordReference, bfsReference, dfsReference, distance2Colouring, floodReference, makeGraph, maxDegree, type LearnGraph } from '../src/learnability/graph.ts';
import { ALGORITHMS, build, certify, certifyAsync, withVirtualRoot, type Algorithm, type CertifyOptions } from '../src/learnability/certify.ts';
import { EnsemblePool } from '../src/learnability/pool.ts';
import { nodeInits, runGnn } from '../src/learnability/gnn.ts';
import { defaultHidden, NtkPredictor, theoryEnsembleBound } from '../src/learnability/predictors.ts';
import { modelLearnGraph } from '../src/learnability/model.ts';

const QUICK = process.env.DNNFUSE_BENCH_QUICK === '1';
/** `--only models` / `--only ensembles`: just that part (sections 4 / 5). */
const opt = benchArgs({ only: { type: 'string' }, models: { type: 'string' }, algorithms: { type: 'string' }, pool: { type: 'string' } });
const ONLY = opt.only;
const argList = (v: string | undefined): string[] | undefined => v?.split(',').filter(Boolean);
/** `--models a,b` / `--algorithms a,b`: restrict parts 4-5. */
const MODELS = argList(opt.models);
const ALGOS = argList(opt.algorithms);
const POOL = opt.pool !== undefined ? Number(opt.pool) : undefined;
const wanted = (name: string) => !MODELS || MODELS.includes(name);
const wantedAlgo = (a: string) => !ALGOS || ALGOS.includes(a);

function certifyReference(g: LearnGraph, algorithm: Algorithm): void {
  switch (algorithm) {
    case 'flooding':
      floodReference(g, g.sources.map(() => 1));
      break;
    case 'bfs':
      bfsReference(g);
      break;
    case 'dfs':
      dfsReference(g, g.sources[0], distance2Colouring(g).colour);
      break;
    case 'bellman-ford':
      bellmanFordReference(g);
      break;
  }
}

function table(head: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map(String));
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((x, i) => x.padStart(w[i])).join('  ');
  console.log(line(head));
  for (const r of cells) console.log(line(r));
  console.log();
}

function timed<T>(f: () => T): { value: T; wallMs: number; cpuMs: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = f();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, wallMs, cpuMs: (c.user + c.system) / 1000 };
}

// ---------------------------------------------------------------- 1. table sizes
if (!ONLY) {
  console.log('## 1. Template counts and state sizes (slots d = D^2 + 1)\n');
  const rows: (string | number)[][] = [];
  for (const algorithm of ALGORITHMS) {
    for (const D of [2, 3, 4, 8]) {
      for (const l of [1, 4, 8, 12]) {
        const d = D * D + 1;
        const ins = build(algorithm, D, l, d, 1, Math.min(l, 3));
        rows.push([algorithm, D, l, d, ins.schema.size, ins.table.count, ins.table.maxLiterals, theoryEnsembleBound(ins.table.n0, 1000).text]);
      }
    }
  }
  table(['algorithm', 'D', 'l', 'slots', 'state bits', 'templates', 'max literals', 'bound m (T=1000)'], rows);
}

// ---------------------------------------------------------------- 2. finite ensembles
if (!ONLY) {
  console.log('## 2. Finite-width ensembles on flooding (hidden 64, 300 epochs, eps 5e-3, delta 1e-3, cap 1024, no cache)\n');
  const rows: (string | number)[][] = [];
  const rng = new Rng(7);
  const cases: [string, LearnGraph][] = [];
  const pathG = (n: number) => makeGraph(n, Array.from({ length: n - 1 }, (_, i) => [i, i + 1] as [number, number]), [0]);
  cases.push(['path n=8 (D=2)', pathG(8)]);
  // random trees of max degree 3
  for (const n of [10, 16]) {
    const edges: [number, number][] = [];
    const deg = new Array(n).fill(0);
    for (let v = 1; v < n; v++) {
      let u = rng.int(0, v - 1);
      while (deg[u] >= 3) u = rng.int(0, v - 1);
      edges.push([u, v]);
      deg[u]++;
      deg[v]++;
    }
    cases.push([`random tree n=${n} (D=${Math.max(...deg)})`, makeGraph(n, edges, [0])]);
  }
  cases.push(['path n=8, 2 sources (l=2)', makeGraph(8, Array.from({ length: 7 }, (_, i) => [i, i + 1] as [number, number]), [0, 7])]);
  for (const [name, g] of cases) {
    const r = timed(() => certify(g, 'flooding', { predictor: 'ensemble', seed: 0, ensemble: { hidden: 64, epochs: 300, cacheDir: null, cap: 1024 } }));
    const c = r.value;
    const members = typeof c.ensembleSize === 'number' ? c.ensembleSize : 0;
    rows.push([name, c.D, c.l, c.slots, c.templates, members, ((c.caseAccuracy ?? 0) * 100).toFixed(2) + '%', (c.timing?.ensembleTrainMs ?? 0).toFixed(0), c.certified ? 'yes' : 'NO', c.theoryEnsembleBound, (members / Number(c.theoryEnsembleBound)).toExponential(2)]);
  }
  table(['graph', 'D', 'l', 'slots', 'templates', 'members', 'case acc', 'train ms', 'certified', 'theory m', 'members/theory'], rows);
}

// ---------------------------------------------------------------- 3. GNN vs classical on the largest graphs
if (sharedModelsMissing()) {
  console.log(`## 3-4 skipped: ${sharedModelsMissing()}`);
} else {
  for (const name of ONLY ? [] : ['shufflenet_v2_x1_0', 'resnet152']) {
    const { graph } = modelLearnGraph(loadModel(sharedModelPath(name)));
    console.log(`## 3. ${name}: ${graph.n} nodes, max degree ${maxDegree(graph)} — learned GNN (NTK predictor) vs classical\n`);
    const rows: (string | number)[][] = [];
    for (const algorithm of ALGORITHMS) {
      const r = timed(() => certify(graph, algorithm));
      const c = r.value;
      // the GNN run alone, event-driven and dense (every node every round), CPU time
      const g = algorithm === 'dfs' && graph.sources.length > 1 ? withVirtualRoot(graph) : graph;
      const { colour, colours } = distance2Colouring(g);
      const ins = build(algorithm, maxDegree(g), c.l, colours, graph.sources.length, 3);
      const root = algorithm === 'dfs' ? g.sources[0] : -1;
      const inits = nodeInits(g, colour, root);
      const ev = timed(() => runGnn(g, ins, inits, new NtkPredictor(ins.table), { maxRounds: c.rounds }));
      const dn = QUICK ? undefined : timed(() => runGnn(g, ins, inits, new NtkPredictor(ins.table), { dense: true, maxRounds: c.rounds }));
      // the classical run, repeated for a measurable time
      const reps = 50;
      const cl = timed(() => {
        for (let i = 0; i < reps; i++) certifyReference(graph, algorithm);
      });
      const clMs = cl.cpuMs / reps;
      rows.push([
        algorithm, c.certified ? 'yes' : 'NO', c.agreement.percent.toFixed(1) + '%', c.l, c.slots, c.templates, c.rounds, ev.value.nodeUpdates, c.rounds * g.n,
        ev.cpuMs.toFixed(0), clMs.toFixed(3), (ev.cpuMs / Math.max(clMs, 1e-3)).toFixed(0) + 'x', dn ? dn.cpuMs.toFixed(0) : '-', dn ? (dn.cpuMs / Math.max(ev.cpuMs, 1e-3)).toFixed(1) + 'x' : '-', r.wallMs.toFixed(0),
      ]);
    }
    table(['algorithm', 'cert', 'agree', 'l', 'slots', 'templates', 'rounds', 'updates', 'dense updates', 'gnn cpu ms', 'classical cpu ms', 'gnn/classical', 'dense cpu ms', 'dense/event', 'certify wall ms'], rows);
  }

  // ---------------------------------------------------------------- 4. every model, every algorithm
  if (!QUICK && (!ONLY || ONLY === 'models')) modelsTable();
  if (!QUICK && (!ONLY || ONLY === 'ensembles')) await ensemblesTable();
}

/** The shared models plus the DenseNet exports (scripts/export-densenet.py), by name and path. */
function benchModels(): { name: string; path: string }[] {
  const out = sharedModels().filter((m) => wanted(m.name)).map((m) => ({ name: m.name, path: sharedModelPath(m.name) }));
  const dir = process.env.DNNFUSE_DENSENET_DIR ?? join(process.cwd(), '.cache', 'models');
  for (const n of ['densenet121', 'densenet169', 'densenet201']) {
    const p = join(dir, `${n}.onnx`);
    if (!wanted(n)) continue;
    if (existsSync(p)) out.push({ name: n, path: p });
    else console.log(`(${n} skipped: ${p} not found; export it with /usr/bin/python3 scripts/export-densenet.py)`);
  }
  return out;
}

function modelsTable(): void {
  console.log('## 4. Every model, every algorithm, default settings (NTK predictor, --max-degree auto)\n');
  const rows: (string | number)[][] = [];
  let certified = 0;
  let total = 0;
  for (const m of benchModels()) {
    const { graph } = modelLearnGraph(loadModel(m.path));
    for (const a of (ALGORITHMS as readonly Algorithm[]).filter(wantedAlgo)) {
      const r = timed(() => certify(graph, a));
      const c = r.value;
      total++;
      if (c.certified) certified++;
      rows.push([
        m.name, a, maxDegree(graph), c.setting?.chosen === 'view' ? `view ${c.D}` : `full ${c.D}`, c.templates, c.padding, c.margin.toExponential(2), c.rounds,
        `${c.agreement.percent.toFixed(1)}%`, c.certified ? 'yes' : 'NO', (r.cpuMs / 1000).toFixed(2), (r.wallMs / 1000).toFixed(2),
      ]);
      console.log(rows[rows.length - 1].join('  '));
    }
  }
  table(['model', 'algorithm', 'degree', 'view/full', 'templates', 'padding', 'margin', 'rounds', 'agreement', 'certified', 'cpu s', 'wall s'], rows);
  console.log(`certified with the defaults: ${certified}/${total}; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB\n`);
}

async function ensemblesTable(): Promise<void> {
  console.log(`## 5. Finite MLP ensembles (trained, averaged, thresholded at eps 5e-3, from 8 members up to the first size at which every case met on the graph is exact; defaults: antisymmetric init, preconditioned GD of at most 40 epochs, each member stopping once it fits its table within eps / 5, hidden max(64, 8 x state bits), no cache; members trained ${POOL ? `on a pool of ${POOL} threads` : 'in the main thread'}; cpu s = CPU time of the process, all threads)\n`);
  const rows: (string | number)[][] = [];
  const pool = POOL ? new EnsemblePool(POOL) : undefined;
  for (const m of benchModels().filter((x) => !x.name.startsWith('densenet'))) {
    const { graph } = modelLearnGraph(loadModel(m.path));
    for (const a of (['flooding', 'bfs'] as const).filter(wantedAlgo)) {
      const opts: CertifyOptions = { predictor: 'ensemble', seed: 0, ensemble: { cacheDir: null, cap: 2048 } };
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const value = pool ? await certifyAsync(graph, a, opts, pool.train) : certify(graph, a, opts);
      const cu = process.cpuUsage(c0);
      const r = { value, wallMs: performance.now() - t0, cpuMs: (cu.user + cu.system) / 1000 };
      const c = r.value;
      const hidden = defaultHidden(c.stateBits);
      rows.push([m.name, a, c.D, c.templates, c.stateBits, hidden, String(c.ensembleSize), c.theoryEnsembleBound, `${((c.caseAccuracy ?? 0) * 100).toFixed(2)}%`, c.margin.toExponential(2), c.certified ? 'yes' : `NO (${c.reason})`, (r.cpuMs / 1000).toFixed(1), (r.wallMs / 1000).toFixed(1)]);
      console.log(rows[rows.length - 1].join('  '));
    }
  }
  await pool?.close();
  console.log();
  table(['model', 'algorithm', 'D', 'templates', 'state bits', 'hidden', 'members', 'theory bound', 'case acc', 'margin', 'certified', 'cpu s', 'wall s'], rows);
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (all threads)\n`);
}
