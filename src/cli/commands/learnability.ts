/**
 * `dnnfuse learnability model.onnx`: certificates that a GNN whose update is a learned
 * predictor of the local instruction executes flooding, BFS, DFS and Bellman-Ford exactly on
 * the model's graph (agreement with the classical run, node by node). Prints a table (or JSON
 * with --json). Exit codes: 0 all certified, 1 some algorithm not certified, 2 bad input.
 */
import { collect } from '../options.ts';
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { badInput } from '../../errors.ts';
import { loadModel } from '../../onnx/io.ts';
import { applyDimOverrides, parseShapeOverrides } from '../../analysis/shapes.ts';
import { runLearnability, type LearnabilityAnnotations } from '../../passes/learnability.ts';


function num(name: string, v: string | undefined, integer = true): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || (integer && !Number.isInteger(x))) throw badInput(`--${name} ${v}: expected ${integer ? 'an integer' : 'a number'}`);
  return x;
}

export function formatTable(a: LearnabilityAnnotations): string {
  const head = ['algorithm', 'certified', 'regime', 'setting', 'D', 'l', 'slots', 'state', 'templates', 'rounds', 'predictor', 'members', 'bound', 'agreement', 'margin', 'gnn ms', 'classical ms'];
  const rows = a.certificates.map((c) => [
    c.algorithm, c.certified ? 'yes' : 'NO', c.regime, c.setting ? `${c.setting.mode}:${c.setting.chosen}` : '-', String(c.D), String(c.l), String(c.slots), String(c.stateBits), String(c.templates), String(c.rounds),
    c.predictor, String(c.ensembleSize), c.theoryEnsembleBound, `${c.agreement.percent.toFixed(2)}%`, Number.isFinite(c.margin) ? c.margin.toExponential(2) : '-',
    c.timing ? c.timing.gnnMs.toFixed(1) : '-', c.timing ? c.timing.classicalMs.toFixed(2) : '-',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((x, i) => x.padEnd(w[i])).join('  ').trimEnd();
  const trained = a.certificates.filter((c) => c.timing?.ensembleTrainMs !== undefined).map((c) => `${c.algorithm}: ensemble of ${c.ensembleSize} trained/loaded in ${c.timing!.ensembleTrainMs!.toFixed(0)} ms, case accuracy ${((c.caseAccuracy ?? 0) * 100).toFixed(2)}%`);
  const settings = a.certificates.filter((c) => c.setting?.mode === 'auto' && !/no view needed/.test(c.setting.why)).map((c) => `${c.algorithm}: ${c.setting!.chosen} because ${c.setting!.why}`);
  const notes = a.certificates.filter((c) => c.reason).map((c) => `${c.algorithm}: ${c.reason}${c.agreement.firstDisagreement ? ` (first: ${c.agreement.firstDisagreement})` : ''}`);
  return [
    `graph: ${a.graph.nodes} nodes, ${a.graph.edges} edges, max degree ${a.graph.maxDegree}, sources ${a.graph.sources.join(', ') || '(none)'}`,
    line(head), ...rows.map(line), ...trained, ...settings, ...notes,
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('learnability')
    .description('Certify that learned GNN updates run flooding, BFS, DFS and Bellman-Ford exactly on the model graph')
    .argument('<model>', 'ONNX model')
    .option('--algorithms <list>', 'comma list of flooding,bfs,dfs,bellman-ford', 'flooding,bfs,dfs,bellman-ford')
    .option('--predictor <kind>', 'ntk (closed-form infinite-width ensemble) or ensemble (trained finite MLPs)', 'ntk')
    .option('--max-degree <n|auto>', 'auto: per algorithm the cheapest of the graph itself and its bounded-degree view that certifies; n: fixed bound (higher degree: the bounded-degree view; DFS: the order-preserving port view)', 'auto')
    .option('--view-degree <n>', 'auto: degree bound of the bounded-degree view considered', '16')
    .option('--max-templates <n>', 'template budget per instruction', '500000')
    .option('--eps <x>', 'Heaviside threshold', '0.005')
    .option('--weight-bits <n>', 'Bellman-Ford edge weights: tensor sizes quantized to this many bits', '3')
    .option('--bits <n>', 'force the precision l (default: the smallest that holds the values)')
    .option('--max-ensemble-templates <n>', 'ensemble: largest template table trained (training cost grows with templates x state bits x hidden width)', '1000')
    .option('--hidden <n>', 'ensemble: hidden width (default: max(64, 8 x state bits))')
    .option('--epochs <n>', 'ensemble: most full-batch gradient steps per member (default 40 preconditioned, 400 plain)')
    .option('--tol <x>', 'ensemble: a member stops once every training output is within tol of its target (default eps / 5; 0: always --epochs)')
    .option('--no-precondition', 'ensemble: plain gradient descent (step 1/lambda_max) instead of the preconditioned one')
    .option('--init <kind>', 'ensemble: member initialization, antisymmetric (f = 0 at init, default) or gaussian')
    .option('--lr <x>', 'ensemble: learning rate (default 1/lambda_max of the template kernel)')
    .option('--delta <x>', 'ensemble: stop at the first size whose case accuracy is >= 1 - delta', '0.001')
    .option('--cap <n>', 'ensemble: largest ensemble', '1024')
    .option('--cache-dir <dir>', 'ensemble cache folder', '.cache/dnnfuse/ensembles')
    .option('--no-cache', 'do not read or write the ensemble cache')
    .option('--shape <name=dims>', 'fix a dynamic input shape (for Bellman-Ford weights), repeatable', collect, [])
    .option('--dim <name=n>', 'fix every input\'s dim named NAME (an ONNX dim_param, e.g. batch=1 or past=6) at once (repeatable)', collect, [])
    .option('--seed <n>', 'seed of every training run', '0')
    .option('--json', 'print the certificates as JSON on stdout (deterministic: no timings unless --timing)')
    .option('--timing', 'include wall-clock times in the JSON')
    .option('-q, --quiet', 'no progress on stderr')
    .action((modelPath: string, o: Record<string, string | boolean | string[] | undefined>) => {
      if (!existsSync(modelPath)) throw badInput(`model file not found: ${modelPath}`);
      const model = loadModel(modelPath);
      applyDimOverrides(model, (o.dim as string[] | undefined) ?? []);
      const log = (m: string) => {
        if (!o.quiet) process.stderr.write(`dnnfuse: ${m}\n`);
      };
      const predictor = String(o.predictor);
      if (predictor !== 'ntk' && predictor !== 'ensemble') throw badInput(`--predictor ${predictor}: expected ntk or ensemble`);
      const res = runLearnability(model, {
        algorithms: String(o.algorithms),
        predictor,
        maxDegree: o.maxDegree === 'auto' ? 'auto' : num('max-degree', o.maxDegree as string),
        viewDegree: num('view-degree', o.viewDegree as string),
        maxTemplates: num('max-templates', o.maxTemplates as string),
        maxEnsembleTemplates: num('max-ensemble-templates', o.maxEnsembleTemplates as string),
        eps: num('eps', o.eps as string, false),
        weightBits: num('weight-bits', o.weightBits as string),
        bits: num('bits', o.bits as string | undefined),
        hidden: num('hidden', o.hidden as string | undefined),
        epochs: num('epochs', o.epochs as string | undefined),
        tol: num('tol', o.tol as string | undefined, false),
        precondition: o.precondition !== false,
        init: o.init === undefined ? undefined : (String(o.init) as 'antisymmetric' | 'gaussian'),
        lr: num('lr', o.lr as string | undefined, false),
        delta: num('delta', o.delta as string, false),
        cap: num('cap', o.cap as string),
        cacheDir: o.cache === false ? null : String(o.cacheDir),
        overrides: parseShapeOverrides(o.shape as string[]),
        timing: !o.json || o.timing === true,
      }, num('seed', o.seed as string) ?? 0, log);
      process.stdout.write((o.json ? JSON.stringify(res, null, 2) : formatTable(res)) + '\n');
      if (!res.allCertified) process.exitCode = 1;
    });
}
