/**
 * `dnnfuse get train`: retrains GET's validity predictor, PGExplainer and RG-Explainer for a
 * fusion scheme and writes int8 weights to models/get (or --out), printing the held-out
 * accuracy / F1 measured on the shipped weights.
 * `dnnfuse get calibrate`: tunes the predictor's decision threshold on the validation networks
 * and folds it into the weights (the held-out networks are only measured).
 * `dnnfuse get eval`: measures the shipped (or --weights) predictor on the held-out networks.
 * `dnnfuse get explain model.onnx --group a,b,c`: explains one group and prints SPLIT's tree.
 */
import { collect } from '../options.ts';
import type { Command } from 'commander';
import { badInput } from '../../errors.ts';
import { DEFAULT_TRAIN, heldOutSamples, trainGet, defaultCost, calibrateThreshold } from '../../get/train-get.ts';
import { shippedWeightsDir, loadWeights } from '../../get/weights.ts';
import { sharedModelsDir } from '../../models/shared.ts';
import { loadGetModels } from '../../get/explainers/index.ts';
import { evaluate } from '../../get/train.ts';
import { initTf } from '../../get/tf.ts';
import type { FusionScheme } from '../../fusion/types.ts';
import { loadModel } from '../../onnx/io.ts';
import { applyDimOverrides, inferShapes, parseShapeOverrides } from '../../analysis/shapes.ts';
import { buildOpGraph } from '../../fusion/op-graph.ts';
import { makeRectifier, type GetKind } from '../../get/rectifier.ts';
import { EXPLAINER_KINDS } from '../../get/explainers/kinds.ts';
import { Rng } from '../../util/random.ts';
import { isConnected } from '../../fusion/groups.ts';

function int(name: string, v: string): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 0) throw badInput(`--${name} ${v}: expected a non-negative integer`);
  return x;
}
function positive(name: string, v: string): number {
  const x = Number(v);
  if (!(x > 0) || !Number.isFinite(x)) throw badInput(`--${name} ${v}: expected a positive number`);
  return x;
}
function schemes(v: string): FusionScheme[] {
  const out = v.split(',').map((s) => s.trim());
  for (const s of out) if (s !== 'lbdf' && s !== 'brr') throw badInput(`--scheme ${s}: expected lbdf, brr or lbdf,brr`);
  return out as FusionScheme[];
}
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

export function register(program: Command): void {
  const get = program.command('get').description('GET: graph explanation for operator fusion (validity predictor, explainers, SPLIT)');
  get
    .command('train')
    .description('Retrain the GET validity predictor and explainers from the shared models and synthetic CNNs')
    .option('--scheme <list>', 'lbdf, brr or lbdf,brr', 'lbdf,brr')
    .option('--out <dir>', 'output folder of <scheme>.json/.bin', shippedWeightsDir())
    .option('--models <dir>', 'folder of the reference ONNX models (default: $DNNFUSE_SHARED_MODELS or ../shared/models)', sharedModelsDir())
    .option('--seed <n>', 'seed', String(DEFAULT_TRAIN.seed))
    .option('--groups <n>', 'groups drawn per training network (x5 buffer sizes)', String(DEFAULT_TRAIN.groupsPerNet))
    .option('--test-groups <n>', 'groups per held-out network', String(DEFAULT_TRAIN.testGroupsPerNet))
    .option('--epochs <n>', 'predictor epochs', String(DEFAULT_TRAIN.epochs))
    .option('--explainer-groups <n>', 'invalid groups for PGExplainer / RG-Explainer training', String(DEFAULT_TRAIN.explainerGroups))
    .option('--lr <x>', 'learning rate', String(DEFAULT_TRAIN.learningRate))
    .option('--lr-decay <x>', 'learning-rate factor per epoch (1 = constant)', '1')
    .option('--select-by <metric>', 'validation metric choosing the kept epoch: accuracy or f1', 'accuracy')
    .option('--no-tune-threshold', 'keep the 0.5 decision threshold (default: tune it on the validation networks)')
    .option('--json', 'print the reports as JSON')
    .action(async (o) => {
      const reports = [];
      for (const scheme of schemes(o.scheme)) {
        const { report } = await trainGet({
          ...DEFAULT_TRAIN,
          scheme,
          modelsDir: o.models,
          seed: int('seed', o.seed),
          groupsPerNet: int('groups', o.groups),
          testGroupsPerNet: int('test-groups', o.testGroups),
          epochs: int('epochs', o.epochs),
          explainerGroups: int('explainer-groups', o.explainerGroups),
          tuneThreshold: o.tuneThreshold,
          learningRate: positive('lr', o.lr),
          lrDecay: positive('lr-decay', o.lrDecay),
          selectBy: o.selectBy === 'f1' ? 'f1' : o.selectBy === 'accuracy' ? 'accuracy' : (() => { throw badInput(`--select-by ${o.selectBy}: expected accuracy or f1`); })(),
          outDir: o.out,
          log: o.json ? undefined : (m) => process.stderr.write(m + '\n'),
        });
        reports.push(report);
      }
      if (o.json) process.stdout.write(JSON.stringify(reports, null, 1) + '\n');
      else for (const r of reports) {
        const m = r.testShipped ?? r.test;
        process.stdout.write(`${r.scheme}: held-out (${r.networks.test.join(', ')}; n=${m.n}) accuracy ${pct(m.accuracy)} F1 ${pct(m.f1)}; training ${r.seconds.total.toFixed(0)} s on ${r.backend}\n`);
      }
    });
  get
    .command('calibrate')
    .description('Tune the predictor decision threshold on the validation networks (best F1) and fold it into the weights')
    .option('--scheme <list>', 'lbdf, brr or lbdf,brr', 'lbdf,brr')
    .option('--weights <dir>', 'weights folder (rewritten in place: <scheme>.json)', shippedWeightsDir())
    .option('--models <dir>', 'folder of the reference ONNX models (default: $DNNFUSE_SHARED_MODELS or ../shared/models)', sharedModelsDir())
    .action(async (o) => {
      for (const scheme of schemes(o.scheme)) {
        const c = await calibrateThreshold(scheme, o.weights, { modelsDir: o.models });
        process.stdout.write(`${scheme}: threshold ${c.threshold} (cumulative ${c.cumulativeThreshold}); validation F1 ${pct(c.validation.f1)}; held-out n=${c.test.n} accuracy ${pct(c.test.accuracy)} F1 ${pct(c.test.f1)}\n`);
      }
    });
  get
    .command('eval')
    .description('Accuracy / F1 of the trained predictor on the held-out networks')
    .option('--scheme <list>', 'lbdf, brr or lbdf,brr', 'lbdf,brr')
    .option('--weights <dir>', 'weights folder', shippedWeightsDir())
    .option('--models <dir>', 'folder of the reference ONNX models (default: $DNNFUSE_SHARED_MODELS or ../shared/models)', sharedModelsDir())
    .action(async (o) => {
      await initTf();
      for (const scheme of schemes(o.scheme)) {
        const w = loadWeights(scheme, o.weights);
        const t = w.manifest.training as { seed: number; testGroupsPerNet: number; maxSize: number };
        const models = loadGetModels(scheme, o.weights);
        const m = evaluate(models.gnn, heldOutSamples(scheme, t, defaultCost, o.models));
        process.stdout.write(`${scheme}: held-out n=${m.n} accuracy ${pct(m.accuracy)} F1 ${pct(m.f1)} precision ${pct(m.precision)} recall ${pct(m.recall)}\n`);
      }
    });
  get
    .command('explain')
    .description('Explain why a group is invalid and show how SPLIT cuts it')
    .argument('<model>', 'ONNX model')
    .requiredOption('--group <ops>', 'comma list of op ids (topological numbering of the fusion op graph)')
    .option('--scheme <s>', 'lbdf or brr', 'lbdf')
    .option('--buffer-kb <n>', 'buffer size in KiB', '256')
    .option('--element <t>', 'int8, fp16 or fp32', 'fp32')
    .option('--get <kind>', 'gnne, pg, rg or cuts', 'gnne')
    .option('--shape <name=dims>', 'fix a dynamic input shape, repeatable', collect, [])
    .option('--dim <name=n>', 'fix every input\'s dim named NAME (an ONNX dim_param, e.g. batch=1 or past=6) at once (repeatable)', collect, [])
    .option('--seed <n>', 'seed', '0')
    .action(async (file: string, o) => {
      await initTf();
      const model = loadModel(file);
      applyDimOverrides(model, o.dim ?? []);
      inferShapes(model, { overrides: parseShapeOverrides(o.shape) });
      const graph = buildOpGraph(model);
      const group = String(o.group).split(',').map((s) => int('group', s.trim()));
      for (const id of group) if (id >= graph.ops.length) throw badInput(`--group: op ${id} does not exist (the model has ${graph.ops.length} fusion ops)`);
      if (!isConnected(graph, group)) throw badInput(`--group ${o.group}: the ops are not weakly connected in the fusion op graph`);
      const [scheme] = schemes(o.scheme);
      if (!['int8', 'fp16', 'fp32'].includes(o.element)) throw badInput(`--element ${o.element}: expected int8, fp16 or fp32`);
      const kind = o.get as GetKind;
      if (!(EXPLAINER_KINDS as readonly string[]).includes(kind)) throw badInput(`--get ${o.get}: expected one of ${EXPLAINER_KINDS.join(', ')}`);
      const { createCostModel } = await import('../../fusion/cost.ts');
      const cost = createCostModel(scheme, graph, { bufferBytes: int('buffer-kb', o.bufferKb) * 1024, elementType: o.element });
      const rect = makeRectifier(kind);
      const parts = rect(group, cost, new Rng(int('seed', o.seed)));
      const key = [...group].sort((a, b) => a - b).join(',');
      process.stdout.write(JSON.stringify({ group, valid: cost.valid(group), memoryBytes: cost.memory(group).bytes, parts, tree: rect.trees.get(key) ?? null, stats: rect.stats }, null, 1) + '\n');
    });
}
