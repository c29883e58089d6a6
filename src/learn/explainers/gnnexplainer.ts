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
import type { KGnn } from '../gnn.ts';
import { batchTensors, disposeBatch, graphInput, makeBatch } from '../gnn.ts';
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
  /**
   * Early stop: end the optimization once the `stableTopK` highest-ranked edges (their order
   * included) have been the same after `patience` consecutive steps. Deterministic: the
   * ranking is a function of the seeded trajectory, and a stopped run equals the plain run of
   * that many steps. 0 = off, always `steps` steps (the default), because the ranking is not
   * settled at GET's step counts: on 60 efficientnet_b0 int8 groups of a random search,
   * patience 3 at 20 steps kept the full run's top-8 order on 19 groups (patience 5: 34) and
   * saved ~10% of the time; 20 vs 40 steps themselves agree on 4 of 60. Worth it only with
   * many more steps than the benches use.
   */
  patience?: number;
  /** Edges whose rank order the early stop watches (default 8, GET's topK). */
  stableTopK?: number;
}

/** Indices of the k best edges, in rankEdges's order (score desc, ties by op ids). */
function topEdges(scores: ArrayLike<number>, key: (k: number) => [number, number], k: number): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((x, y) => scores[y] - scores[x] || key(x)[0] - key(y)[0] || key(x)[1] - key(y)[1]);
  return idx.slice(0, k);
}

/** sigma(m) in float32 (the edge scores). */
const maskValues = (m: Float32Array): Float32Array => Float32Array.from(m, (x) => 1 / (1 + Math.exp(-x)));

export class GnnExplainer implements Explainer {
  readonly kind = 'gnne' as const;
  /** Adam steps taken by the last explain() (less than `steps` under an early stop). */
  lastSteps = 0;
  constructor(
    private model: KGnn,
    private o: GnnExplainerOptions = {},
  ) {}

  explain(group: Group, cost: CostModel): Explanation {
    const input = graphInput(cost.graph, group, cost.bufferBytes, cost.elementBytes);
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
    this.lastSteps = 0;
    if (e === 0) return { method: 'gnne', edges: [], scores: [], pInvalid };
    const steps = this.o.steps ?? 40;
    const coeffs = { sizeCoeff: this.o.sizeCoeff ?? 0.05, entropyCoeff: this.o.entropyCoeff ?? 0.1 };
    const lr = this.o.learningRate ?? 0.1;
    const patience = this.o.patience ?? 0;
    const stableTopK = this.o.stableTopK ?? 8;
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
    const key = (k: number): [number, number] => [local.ops[local.src[k]], local.ops[local.dst[k]]];
    let lastTop = '';
    let stable = 0;
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
        this.lastSteps = s + 1;
        if (patience > 0) {
          // rank the mask values themselves (float32 sigmoid ties saturated logits, as the output does)
          const top = topEdges(maskValues(m), key, stableTopK).join(',');
          stable = top === lastTop ? stable + 1 : 0;
          lastTop = top;
          if (stable >= patience) break;
        }
      }
    } finally {
      obj.dispose();
    }
    return { method: 'gnne', ...rankEdges(local, maskValues(m)), pInvalid };
  }
}
