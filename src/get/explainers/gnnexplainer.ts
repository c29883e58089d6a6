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
 *
 * The loss and its gradient come from mask-objective.ts (the same function as the tfjs
 * autodiff of common.ts's masked forward, hand-differentiated: ~10x cheaper per step, see its
 * header). Adam runs here on the E mask logits in plain loops, with tf.train.adam's update
 * (bias-corrected moments, epsilon = the backend's float epsilon); a vector of a few dozen
 * entries is cheaper to update in JS than through a dozen tensor kernels.
 */
import { tf } from '../tf.ts';
import type { CostModel, Group } from '../../fusion/types.ts';
import type { GraphInput, KGnn } from '../kgnn.ts';
import { batchTensors, disposeBatch, graphInput, makeBatch } from '../kgnn.ts';
import { Rng } from '../../util/random.ts';
import { rankEdges, sigmoid, type Explainer, type Explanation } from './common.ts';
import { MaskObjective } from './mask-objective.ts';

export interface GnnExplainerOptions {
  /** Adam steps (default 40; GET's benches use 20). */
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
    return this.explainInput(graphInput(cost.graph, group, cost.bufferBytes, cost.elementBytes));
  }

  explainInput(input: GraphInput): Explanation {
    const local = input.local;
    // P(invalid) of the whole group from the predictor's plain (unmasked) forward
    const t = batchTensors(makeBatch([input]));
    let pInvalid: number;
    try {
      const logit = tf.tidy(() => this.model.logits(t));
      pInvalid = sigmoid(logit.dataSync()[0]);
      logit.dispose();
    } finally {
      disposeBatch(t);
    }
    const e = local.src.length;
    if (e === 0) return { method: 'gnne', edges: [], scores: [], pInvalid };
    const steps = this.o.steps ?? 40;
    const coeffs = { sizeCoeff: this.o.sizeCoeff ?? 0.05, entropyCoeff: this.o.entropyCoeff ?? 0.1 };
    const lr = this.o.learningRate ?? 0.1;
    const rng = new Rng(this.o.seed ?? 0);
    const m = Float32Array.from({ length: e }, () => (this.o.init ?? 1) + 0.1 * rng.normal());
    // tf.train.adam's defaults and update order
    const beta1 = 0.9;
    const beta2 = 0.999;
    const eps = tf.backend().epsilon();
    const mom1 = new Float32Array(e);
    const mom2 = new Float32Array(e);
    let accBeta1 = beta1;
    let accBeta2 = beta2;
    const obj = new MaskObjective(this.model, input);
    try {
      for (let s = 0; s < steps; s++) {
        const { grad } = obj.lossAndGrad(m, coeffs);
        for (let k = 0; k < e; k++) {
          mom1[k] = beta1 * mom1[k] + (1 - beta1) * grad[k];
          mom2[k] = beta2 * mom2[k] + (1 - beta2) * grad[k] * grad[k];
          const mHat = mom1[k] / (1 - accBeta1);
          const vHat = mom2[k] / (1 - accBeta2);
          m[k] = m[k] - lr * (mHat / (Math.sqrt(vHat) + eps));
        }
        accBeta1 *= beta1;
        accBeta2 *= beta2;
      }
    } finally {
      obj.dispose();
    }
    return { method: 'gnne', ...rankEdges(local, Float32Array.from(m, sigmoid)), pInvalid };
  }
}
