/**
 * GNNExplainer (Ying et al., NeurIPS 2019) for the GET validity predictor: a soft mask over the
 * group's edges, optimized per group so the masked group keeps the prediction "invalid"
 * (maximizing the mutual information between prediction and subgraph reduces, for a fixed
 * model, to minimizing -log P(invalid | masked group)) while staying small and near-binary:
 *
 *   loss = -log sigmoid(logit(G ⊙ sigma(m))) + sizeCoeff * sum sigma(m) + entropyCoeff * H(sigma(m))
 *
 * Mask logits start at `init` plus seeded noise (deterministic per seed); Adam, `steps` steps.
 * Edges come back ranked by the final mask value.
 */
import { tf } from '../tf.ts';
import type { CostModel, Group } from '../../fusion/types.ts';
import type { KGnn } from '../gnn.ts';
import { disposeBatch } from '../gnn.ts';
import { Rng } from '../../util/random.ts';
import { groupTensors, maskEntropy, maskedLogits, rankEdges, sigmoid, type Explainer, type Explanation } from './common.ts';

export interface GnnExplainerOptions {
  steps?: number;
  learningRate?: number;
  sizeCoeff?: number;
  entropyCoeff?: number;
  init?: number;
  seed?: number;
}

export class GnnExplainer implements Explainer {
  readonly kind = 'gnne' as const;
  constructor(
    private model: KGnn,
    private o: GnnExplainerOptions = {},
  ) {}

  explain(group: Group, cost: CostModel): Explanation {
    const { t, local } = groupTensors(group, cost);
    try {
      const pInvalid = sigmoid(tf.tidy(() => this.model.logits(t)).dataSync()[0]);
      const e = local.src.length;
      if (e === 0) return { method: 'gnne', edges: [], scores: [], pInvalid };
      const steps = this.o.steps ?? 40;
      const sizeCoeff = this.o.sizeCoeff ?? 0.05;
      const entropyCoeff = this.o.entropyCoeff ?? 0.1;
      const rng = new Rng(this.o.seed ?? 0);
      const init = Float32Array.from({ length: e }, () => (this.o.init ?? 1) + 0.1 * rng.normal());
      const m = tf.variable(tf.tensor1d(init), true);
      const opt = tf.train.adam(this.o.learningRate ?? 0.1);
      for (let s = 0; s < steps; s++) {
        const loss = opt.minimize(
          () =>
            tf.tidy(() => {
              const w = tf.sigmoid(m) as tf.Tensor1D;
              const logit = maskedLogits(this.model, t, w);
              const pred = tf.mean(tf.softplus(tf.neg(logit)));
              return tf.addN([pred, tf.mul(sizeCoeff, tf.sum(w)), tf.mul(entropyCoeff, maskEntropy(w))]) as tf.Scalar;
            }),
          false,
          [m],
        );
        loss?.dispose();
      }
      const w = tf.tidy(() => tf.sigmoid(m)).dataSync() as Float32Array;
      opt.dispose();
      m.dispose();
      return { method: 'gnne', ...rankEdges(local, Float32Array.from(w)), pInvalid };
    } finally {
      disposeBatch(t);
    }
  }
}
