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
 * 4. Every shared model, all four algorithms: certification and time.
 *
 * The classical time includes the DFS's slot colouring (its neighbour order).
 * Environment: DNNFUSE_BENCH_QUICK=1 skips part 4 and the dense runs.
 */
import { Rng } from '../src/util/random.ts';
import { loadModel } from '../src/onnx/io.ts';
import { sharedModelPath, sharedModels, sharedModelsMissing } from '../src/models/shared.ts';
import { bellmanFordReference, bfsReference, dfsReference, distance2Colouring, floodReference, makeGraph, maxDegree, type LearnGraph } from '../src/learnability/graph.ts';
import { ALGORITHMS, build, certify, precision, withVirtualRoot, type Algorithm } from '../src/learnability/certify.ts';
import { nodeInits, runGnn } from '../src/learnability/gnn.ts';
import { NtkPredictor, theoryEnsembleBound } from '../src/learnability/predictors.ts';
import { modelLearnGraph } from '../src/learnability/model.ts';

const QUICK = process.env.DNNFUSE_BENCH_QUICK === '1';

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
console.log('## 1. Template counts and state sizes (slots d = D^2 + 1)\n');
{
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
console.log('## 2. Finite-width ensembles on flooding (hidden 64, 300 epochs, eps 5e-3, delta 1e-3, cap 1024, no cache)\n');
{
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
  for (const name of ['shufflenet_v2_x1_0', 'resnet152']) {
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

  // ---------------------------------------------------------------- 4. all shared models
  if (!QUICK) {
    console.log('## 4. Every shared model, all four algorithms (NTK predictor)\n');
    const rows: (string | number)[][] = [];
    let total = 0;
    for (const m of sharedModels()) {
      const { graph } = modelLearnGraph(loadModel(sharedModelPath(m.name)));
      const row: (string | number)[] = [m.name, graph.n, maxDegree(graph)];
      let wall = 0;
      let ok = 0;
      for (const a of ALGORITHMS as readonly Algorithm[]) {
        const r = timed(() => certify(graph, a));
        wall += r.wallMs;
        if (r.value.certified) ok++;
        row.push(`${r.value.certified ? 'ok' : 'NO'} ${r.cpuMs.toFixed(0)}ms`);
      }
      total += wall;
      row.push(`${ok}/4`, wall.toFixed(0));
      rows.push(row);
    }
    table(['model', 'nodes', 'D', 'flooding', 'bfs', 'dfs', 'bellman-ford', 'certified', 'wall ms'], rows);
    console.log(`all models, all algorithms: ${(total / 1000).toFixed(1)} s wall\n`);
    void precision;
  }
}
