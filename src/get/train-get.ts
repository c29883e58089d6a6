/**
 * End-to-end training of GET's learned parts for one scheme (what `dnnfuse get train` runs):
 * dataset -> k-GNN validity predictor -> PGExplainer edge MLP -> RG-Explainer policy -> int8
 * weights in models/get. Networks are split whole: training / validation / held-out test.
 *
 * Subsampling (documented; the paper used ~10.8k groups x 5 buffer sizes, 50 epochs): the
 * defaults draw `groupsPerNet` groups per network (each at the 5 buffer sizes, fp32 or int8
 * alternately) and train a few epochs, so one scheme trains in a few minutes on 2 cores with
 * the WASM backend. Larger budgets are options.
 */
import { loadModel } from '../onnx/io.ts';
import { inferShapes } from '../analysis/shapes.ts';
import { buildOpGraph } from '../fusion/op-graph.ts';
import { createCostModel } from '../fusion/cost.ts';
import type { FusionScheme, OpGraph } from '../fusion/types.ts';
import { sharedModelPath, sharedModels } from '../models/shared.ts';
import { buildSamples, type CostFactory, type NamedGraph, type Sample, type Metrics } from './dataset.ts';
import { syntheticNetwork } from './synthetic.ts';
import { evaluate, predictSamples, sampleInput, trainPredictor } from './train.ts';
import { PgExplainer } from './explainers/pgexplainer.ts';
import { RgExplainer } from './explainers/rgexplainer.ts';
import { saveWeights, loadWeights, namespace, type WeightsManifest } from './weights.ts';
import { metrics as scoreMetrics } from './dataset.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.ts';
import { badInput } from '../errors.ts';
import { kgnnShapes, type KGnn } from './kgnn.ts';
import { pgShapes } from './explainers/pgexplainer.ts';
import { rgShapes } from './explainers/rgexplainer.ts';
import { initTf } from './tf.ts';

/** Held-out networks (never trained on) and validation networks (model selection). */
export const TEST_NETS = ['googlenet', 'mnasnet1_0', 'mobilenet_v3_small', 'synthetic-900', 'synthetic-901'];
export const VAL_NETS = ['regnet_y_400mf', 'synthetic-800'];

export const defaultCost: CostFactory = (graph, scheme, bufferBytes, eb) =>
  createCostModel(scheme, graph, { bufferBytes, elementType: eb === 1 ? 'int8' : eb === 2 ? 'fp16' : 'fp32' });

const graphCache = new Map<string, OpGraph>();

/** OpGraph of a reference model `name` in the folder `modelsDir` (cached per process). */
export function sharedOpGraph(name: string, modelsDir: string): OpGraph {
  const key = `${modelsDir}/${name}`;
  let g = graphCache.get(key);
  if (!g) {
    const model = loadModel(sharedModelPath(name, modelsDir));
    inferShapes(model);
    g = buildOpGraph(model);
    graphCache.set(key, g);
  }
  return g;
}

/** Every network of the GET dataset: the reference models of `modelsDir` (a folder of ONNX
 * exports, given by the caller: `dnnfuse get train --models`; none when undefined or absent)
 * and seeded synthetic ones. */
export function getNetworks(modelsDir?: string, syntheticTrain = 8): NamedGraph[] {
  const nets: NamedGraph[] = modelsDir ? sharedModels(modelsDir).map((m) => ({ name: m.name, graph: sharedOpGraph(m.name, modelsDir) })) : [];
  for (let i = 0; i < syntheticTrain; i++) nets.push({ name: `synthetic-${i}`, graph: syntheticNetwork(i) });
  for (const name of [...TEST_NETS, ...VAL_NETS]) if (name.startsWith('synthetic-')) nets.push({ name, graph: syntheticNetwork(Number(name.slice(10))) });
  return nets;
}

export interface TrainGetOptions {
  scheme: FusionScheme;
  /** Folder of the reference ONNX models trained and evaluated on (besides synthetic ones). */
  modelsDir?: string;
  seed: number;
  groupsPerNet: number;
  testGroupsPerNet: number;
  maxSize: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Per-epoch learning-rate factor (1 = constant) and the validation metric picking the epoch. */
  lrDecay?: number;
  selectBy?: 'accuracy' | 'f1';
  /** Invalid training groups used for PGExplainer / RG-Explainer training. */
  explainerGroups: number;
  pgEpochs: number;
  rgEpochs: number;
  /** Tune the decision threshold on the validation split (calibrateThreshold) after saving. */
  tuneThreshold?: boolean;
  outDir?: string;
  log?: (m: string) => void;
  cost?: CostFactory;
  networks?: NamedGraph[];
}

export const DEFAULT_TRAIN: Omit<TrainGetOptions, 'scheme' | 'outDir' | 'log'> = {
  seed: 1,
  groupsPerNet: 40,
  testGroupsPerNet: 40,
  maxSize: 24,
  epochs: 4,
  batchSize: 16,
  learningRate: 2e-3,
  explainerGroups: 160,
  pgEpochs: 2,
  rgEpochs: 1,
  tuneThreshold: true,
};

export interface TrainGetReport {
  scheme: FusionScheme;
  samples: { train: number; validation: number; test: number };
  networks: { train: string[]; validation: string[]; test: string[] };
  /** Held-out metrics of the float32 model and of the shipped (int8-dequantized) model. */
  test: Metrics;
  testShipped?: Metrics;
  validation: Metrics;
  seconds: { predictor: number; explainers: number; total: number };
  backend: string;
  files?: { json: string; bin: string; bytes: number };
}

export async function trainGet(o: TrainGetOptions): Promise<{ report: TrainGetReport; model: KGnn; pg: PgExplainer; rg: RgExplainer }> {
  const backend = await initTf();
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const nets = o.networks ?? getNetworks(o.modelsDir);
  const isTest = (n: string) => TEST_NETS.includes(n);
  const isVal = (n: string) => VAL_NETS.includes(n);
  const trainNets = nets.filter((n) => !isTest(n.name) && !isVal(n.name));
  const valNets = nets.filter((n) => isVal(n.name));
  const testNets = nets.filter((n) => isTest(n.name));
  const cost = o.cost ?? defaultCost;
  const base = { scheme: o.scheme, maxSize: o.maxSize };
  const train = buildSamples(trainNets, cost, { ...base, groupsPerNet: o.groupsPerNet, seed: o.seed });
  const val = buildSamples(valNets, cost, { ...base, groupsPerNet: o.testGroupsPerNet, seed: o.seed + 7 });
  const test = buildSamples(testNets, cost, { ...base, groupsPerNet: o.testGroupsPerNet, seed: o.seed + 13 });
  const frac = (s: Sample[]) => ((100 * s.filter((x) => x.invalid).length) / Math.max(1, s.length)).toFixed(1);
  log(`${o.scheme}: ${train.length} training samples (${frac(train)}% invalid) from ${trainNets.length} networks, ${val.length} validation, ${test.length} held-out test; backend ${backend}`);
  const { model } = trainPredictor(train, { epochs: o.epochs, batchSize: o.batchSize, learningRate: o.learningRate, lrDecay: o.lrDecay, selectBy: o.selectBy, seed: o.seed, validation: val, log });
  const tPred = performance.now();
  const testM = evaluate(model, test);
  const valM = evaluate(model, val);
  log(`${o.scheme}: held-out accuracy ${(testM.accuracy * 100).toFixed(2)}% F1 ${(testM.f1 * 100).toFixed(2)}% (n=${testM.n})`);

  // Explainers train on training groups the predictor calls invalid (distinct groups, smallest beta first).
  const p = predictSamples(model, train);
  const seen = new Set<string>();
  const explGroups: { input: ReturnType<typeof sampleInput> }[] = [];
  train.forEach((s, i) => {
    const k = `${s.net}/${s.group.join(',')}`;
    if (p[i] > 0.5 && s.group.length >= 2 && !seen.has(k) && explGroups.length < o.explainerGroups) {
      seen.add(k);
      explGroups.push({ input: sampleInput(s) });
    }
  });
  const pg = PgExplainer.random(model, o.seed + 1);
  pg.train(explGroups, { epochs: o.pgEpochs, batchSize: 8, learningRate: 5e-3, seed: o.seed + 2, log });
  const rg = RgExplainer.random(model, o.seed + 3);
  rg.train(explGroups, { epochs: o.rgEpochs, learningRate: 5e-3, seed: o.seed + 4, log });
  const tEnd = performance.now();
  const report: TrainGetReport = {
    scheme: o.scheme,
    samples: { train: train.length, validation: val.length, test: test.length },
    networks: { train: trainNets.map((n) => n.name), validation: valNets.map((n) => n.name), test: testNets.map((n) => n.name) },
    test: testM,
    validation: valM,
    seconds: { predictor: (tPred - t0) / 1000, explainers: (tEnd - tPred) / 1000, total: (tEnd - t0) / 1000 },
    backend,
  };
  if (o.outDir) {
    const tensors = new Map<string, { shape: number[]; values: Float32Array }>();
    const add = (ns: string, shapes: [string, number[]][], values: Map<string, Float32Array>) => {
      for (const [name, shape] of shapes) tensors.set(`${ns}/${name}`, { shape, values: values.get(name)! });
    };
    add('kgnn', kgnnShapes(), model.values());
    add('pg', pgShapes(), pg.values());
    add('rg', rgShapes(), rg.values());
    const training = { ...DEFAULT_TRAIN, ...Object.fromEntries(Object.entries(o).filter(([k]) => !['log', 'cost', 'networks', 'outDir'].includes(k))), networks: report.networks, samples: report.samples };
    report.files = saveWeights(o.outDir, o.scheme, tensors, { test: testM, validation: valM }, training);
    // Re-measure on exactly what ships (int8-dequantized).
    const { KGnn: K } = await import('./kgnn.ts');
    const shipped = new K(namespace(loadWeights(o.scheme, o.outDir), 'kgnn'));
    report.testShipped = evaluate(shipped, test);
    shipped.dispose();
    report.files = saveWeights(o.outDir, o.scheme, tensors, { test: report.testShipped, testFloat32: testM, validation: valM, testSamples: test.length, seconds: report.seconds }, training);
    log(`${o.scheme}: shipped (int8) held-out accuracy ${(report.testShipped.accuracy * 100).toFixed(2)}% F1 ${(report.testShipped.f1 * 100).toFixed(2)}%; wrote ${report.files.json} + ${report.files.bytes} B`);
    if (o.tuneThreshold ?? true) {
      const c = await calibrateThreshold(o.scheme, o.outDir, { cost });
      report.testShipped = c.test;
      log(`${o.scheme}: decision threshold ${c.threshold} (best validation F1 ${(c.validation.f1 * 100).toFixed(2)}%) -> held-out accuracy ${(c.test.accuracy * 100).toFixed(2)}% F1 ${(c.test.f1 * 100).toFixed(2)}%`);
    }
  }
  return { report, model, pg, rg };
}

/** The held-out sample the shipped metrics were measured on (same seed/options as training). */
export function heldOutSamples(scheme: FusionScheme, o: { seed: number; testGroupsPerNet: number; maxSize: number }, cost: CostFactory = defaultCost, modelsDir?: string): Sample[] {
  const nets = getNetworks(modelsDir).filter((n) => TEST_NETS.includes(n.name));
  return buildSamples(nets, cost, { scheme, maxSize: o.maxSize, groupsPerNet: o.testGroupsPerNet, seed: o.seed + 13 });
}

/** Validation sample of a training run (same networks / seed as trainGet). */
export function validationSamples(scheme: FusionScheme, o: { seed: number; testGroupsPerNet: number; maxSize: number }, cost: CostFactory = defaultCost, modelsDir?: string): Sample[] {
  const nets = getNetworks(modelsDir).filter((n) => VAL_NETS.includes(n.name));
  return buildSamples(nets, cost, { scheme, maxSize: o.maxSize, groupsPerNet: o.testGroupsPerNet, seed: o.seed + 7 });
}

/** Candidate decision thresholds on P(invalid). */
export const THRESHOLDS = Array.from({ length: 19 }, (_, i) => Math.round((i + 1) * 5) / 100);

/**
 * The decision threshold on P(invalid) with the best F1 (invalid class) on `truth`, ties to the
 * threshold closest to 0.5 (then the lower one).
 */
export function tuneThreshold(p: ArrayLike<number>, truth: readonly boolean[]): { threshold: number; metrics: Metrics } {
  let best: { threshold: number; metrics: Metrics } | undefined;
  for (const t of THRESHOLDS) {
    const m = scoreMetrics(Array.from(p, (x) => x > t), truth);
    if (!best || m.f1 > best.metrics.f1 || (m.f1 === best.metrics.f1 && Math.abs(t - 0.5) < Math.abs(best.threshold - 0.5))) best = { threshold: t, metrics: m };
  }
  return best!;
}

/**
 * Threshold calibration of trained weights (what `dnnfuse get calibrate` and `get train` run):
 * picks the decision threshold t with the best F1 on the VALIDATION networks (never the
 * held-out ones), measured on the shipped int8 predictor, and folds it into the head's output
 * bias (b2 -= logit(t)), so P'(invalid) > 0.5 exactly when P(invalid) > t and every consumer
 * (evaluation, SPLIT, the explainers) uses the tuned decision without a format change. Only
 * the manifest changes (b2 is a float32 vector stored inline; the .bin is untouched); it records
 * metrics.threshold (cumulative over repeated calibrations: 1 / (1 + prod of odds)), the
 * validation metrics at that threshold, and the held-out metrics of the calibrated predictor.
 * Idempotent: a calibrated predictor re-tunes to 0.5 unless the validation optimum moved.
 */
export async function calibrateThreshold(scheme: FusionScheme, dir: string, o: { cost?: CostFactory; modelsDir?: string } = {}): Promise<{ threshold: number; cumulativeThreshold: number; validation: Metrics; test: Metrics }> {
  await initTf();
  const { KGnn: K } = await import('./kgnn.ts');
  const w = loadWeights(scheme, dir);
  const t = w.manifest.training as { seed: number; testGroupsPerNet: number; maxSize: number };
  const cost = o.cost ?? defaultCost;
  const gnn = new K(namespace(w, 'kgnn'));
  const val = validationSamples(scheme, t, cost, o.modelsDir);
  const tuned = tuneThreshold(predictSamples(gnn, val), val.map((s) => s.invalid));
  gnn.dispose();
  const jsonPath = join(dir, `${scheme}.json`);
  const manifest = JSON.parse(readFileSync(jsonPath, 'utf8')) as WeightsManifest;
  const b2 = manifest.tensors.find((e) => e.name === 'kgnn/head.b2');
  if (!b2 || !b2.values || b2.values.length !== 1) throw badInput(`${jsonPath}: no float32 tensor 'kgnn/head.b2' to fold the threshold into`);
  const logit = Math.log(tuned.threshold / (1 - tuned.threshold));
  b2.values[0] = Math.fround(b2.values[0] - logit);
  const prev = typeof manifest.metrics.threshold === 'number' ? manifest.metrics.threshold : 0.5;
  const odds = (prev / (1 - prev)) * (tuned.threshold / (1 - tuned.threshold));
  const cumulative = Math.round((odds / (1 + odds)) * 1e6) / 1e6;
  writeFileAtomic(jsonPath, JSON.stringify(manifest, null, 1) + '\n');
  // Held-out metrics of exactly what now ships.
  const shipped = new K(namespace(loadWeights(scheme, dir), 'kgnn'));
  const test = evaluate(shipped, heldOutSamples(scheme, t, cost, o.modelsDir));
  const validation = evaluate(shipped, val);
  shipped.dispose();
  manifest.metrics = { ...manifest.metrics, ...(manifest.metrics.threshold === undefined ? { testUncalibrated: manifest.metrics.test } : {}), test, validation, threshold: cumulative, thresholdRule: 'best validation F1 over 0.05..0.95 step 0.05, folded into kgnn/head.b2' };
  writeFileAtomic(jsonPath, JSON.stringify(manifest, null, 1) + '\n');
  return { threshold: tuned.threshold, cumulativeThreshold: cumulative, validation, test };
}
