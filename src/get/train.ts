/**
 * Training and evaluation of the GET validity predictor: binary cross-entropy on P(invalid),
 * Adam, mini-batches in a seeded shuffle order. Everything (init, order) follows the seed, and
 * tfjs's CPU backend is deterministic, so a seed reproduces the weights bit for bit.
 */
import { tf } from './tf.ts';
import { KGnn, batchTensors, disposeBatch, graphInput, makeBatch, type GraphInput } from './kgnn.ts';
import { metrics, type Metrics, type Sample } from './dataset.ts';
import { Rng } from '../util/random.ts';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  log?: (msg: string) => void;
  /** Samples for per-epoch validation (the best epoch's weights are kept). */
  validation?: readonly Sample[];
  /** Learning rate multiplied by this after every epoch (default 1: constant). */
  lrDecay?: number;
  /** Validation metric choosing the kept epoch (default 'accuracy'; ties keep the earlier). */
  selectBy?: 'accuracy' | 'f1';
}

export function sampleInput(s: Sample): GraphInput {
  return graphInput(s.graph, s.group, s.bufferBytes, s.elementBytes);
}

export function trainPredictor(train: readonly Sample[], o: TrainOptions, init?: KGnn): { model: KGnn; history: { epoch: number; loss: number; val?: Metrics }[] } {
  const model = init ?? KGnn.random(o.seed);
  const inputs = train.map(sampleInput);
  const labels = train.map((s) => (s.invalid ? 1 : 0));
  const rng = new Rng(o.seed ^ 0x5eed);
  const optimizer = tf.train.adam(o.learningRate);
  const varList = [...model.vars.values()];
  const history: { epoch: number; loss: number; val?: Metrics }[] = [];
  let best: { score: number; values: Map<string, Float32Array> } | undefined;
  const order = inputs.map((_, i) => i);
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    // tfjs's Adam reads its learningRate field at every step (moments are kept).
    (optimizer as unknown as { learningRate: number }).learningRate = o.learningRate * Math.pow(o.lrDecay ?? 1, epoch);
    rng.shuffle(order);
    let lossSum = 0;
    let batches = 0;
    for (let at = 0; at < order.length; at += o.batchSize) {
      const idx = order.slice(at, at + o.batchSize);
      const batch = makeBatch(idx.map((i) => inputs[i]));
      const t = batchTensors(batch);
      const y = tf.tensor1d(idx.map((i) => labels[i]), 'float32');
      const loss = optimizer.minimize(() => tf.losses.sigmoidCrossEntropy(y, model.logits(t)) as tf.Scalar, true, varList);
      lossSum += loss!.dataSync()[0];
      batches++;
      tf.dispose([loss!, y]);
      disposeBatch(t);
    }
    const entry: { epoch: number; loss: number; val?: Metrics } = { epoch, loss: lossSum / Math.max(1, batches) };
    if (o.validation && o.validation.length) {
      entry.val = evaluate(model, o.validation);
      const score = o.selectBy === 'f1' ? entry.val.f1 : entry.val.accuracy;
      if (!best || score > best.score) best = { score, values: model.values() };
    }
    history.push(entry);
    o.log?.(`epoch ${epoch + 1}/${o.epochs} loss ${entry.loss.toFixed(4)}${entry.val ? ` val acc ${(entry.val.accuracy * 100).toFixed(2)}% F1 ${(entry.val.f1 * 100).toFixed(2)}%` : ''}`);
  }
  optimizer.dispose();
  if (best) {
    const m = new KGnn(best.values);
    model.dispose();
    return { model: m, history };
  }
  return { model, history };
}

/** P(invalid) of every sample, in batches (small: the dense adjacency is quadratic in batch nodes). */
export function predictSamples(model: KGnn, samples: readonly Sample[], batchSize = 32): Float32Array {
  const out = new Float32Array(samples.length);
  for (let at = 0; at < samples.length; at += batchSize) {
    const part = samples.slice(at, at + batchSize);
    out.set(model.predictBatch(makeBatch(part.map(sampleInput))), at);
  }
  return out;
}

export function evaluate(model: KGnn, samples: readonly Sample[]): Metrics {
  const p = predictSamples(model, samples);
  return metrics(Array.from(p, (x) => x > 0.5), samples.map((s) => s.invalid));
}
