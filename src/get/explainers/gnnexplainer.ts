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
import { graphInput } from '../kgnn.ts';
import { Rng } from '../../util/random.ts';
import { rankEdges, sigmoid, type Explainer, type Explanation } from './common.ts';
import { MaskObjective } from './mask-objective.ts';
import { GroupForward } from './group-forward.ts';

export interface GnnExplainerOptions {
  /** Adam steps (default 40; GET's benches use 20). */
  steps?: number;
  learningRate?: number;
  sizeCoeff?: number;
  entropyCoeff?: number;
  init?: number;
  seed?: number;
  /** Early stop (default 0: off; GET's rectifier uses GNNE_STABLE_STEPS, rectifier.ts): stop once the set of the `stableTop`
   * highest-ranked edges has stayed the same for this many consecutive steps (after at least
   * `minSteps`). SPLIT tries the top-ranked edges as cuts and picks among them by validity and
   * DRAM, so once that set is stable more steps rarely change the split; the bench's per-seed
   * DRAM figures are the check (bench/get.ts). */
  stableSteps?: number;
  /** Edges whose set must be stable (default 12: the 8 cuts SPLIT tries, with room for edges that
   * give the same cut); a group with no more edges than this needs its whole ranking stable. */
  stableTop?: number;
  /** Steps before the early stop may stop (default 4). */
  minSteps?: number;
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
    const pInvalid = sigmoid(new GroupForward(this.model, input).full().logit);
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
    const stable = this.o.stableSteps ?? 0;
    const top = Math.min(e, this.o.stableTop ?? 12);
    const minSteps = this.o.minSteps ?? 4;
    let lastTop = '';
    let same = 0;
    let ran = 0;
    /** Key of the set of the `top` highest mask logits (ties: edge index, as a stable order). */
    const topKey = (): string => {
      const idx = Array.from({ length: e }, (_, k) => k).sort((x, y) => m[y] - m[x] || x - y);
      // a group with at most `top` edges: the whole ranking must be stable (its set is all edges)
      return (top < e ? idx.slice(0, top).sort((x, y) => x - y) : idx).join(',');
    };
    try {
      for (let s = 0; s < steps; s++) {
        const { grad } = obj.lossAndGrad(m, coeffs);
        ran++;
        for (let k = 0; k < e; k++) {
          mom1[k] = beta1 * mom1[k] + (1 - beta1) * grad[k];
          mom2[k] = beta2 * mom2[k] + (1 - beta2) * grad[k] * grad[k];
          const mHat = mom1[k] / (1 - accBeta1);
          const vHat = mom2[k] / (1 - accBeta2);
          m[k] = m[k] - lr * (mHat / (Math.sqrt(vHat) + eps));
        }
        accBeta1 *= beta1;
        accBeta2 *= beta2;
        if (stable > 0) {
          const key = topKey();
          same = key === lastTop ? same + 1 : 0;
          lastTop = key;
          if (same >= stable && s + 1 >= minSteps) break;
        }
      }
    } finally {
      obj.dispose();
    }
    return { method: 'gnne', ...rankEdges(local, Float32Array.from(m, sigmoid)), pInvalid, steps: ran };
  }
}
