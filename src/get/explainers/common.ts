/**
 * What every GET explainer shares: the Explanation it returns, the single-group tensors, and
 * the soft masking used by GNNExplainer and PGExplainer.
 *
 * Masking: an explainer weights each in-group edge by w_e in [0, 1]. Messages along e are
 * scaled by w_e, and each node by the soft OR of its incident edges' weights,
 * n_v = 1 - prod_{e ~ v} (1 - w_e), applied to its input features and to its share of the
 * summed graph embedding. Without node weights the sum readout would still see every op's own
 * features (weights, maps) and the predictor could call a group invalid with all edges masked,
 * so the mask would carry no information; with them, an edge mask selects a subgraph.
 */
import { tf } from '../tf.ts';
import type { CostModel, Group } from '../../fusion/types.ts';
import { batchTensors, makeBatch, type BatchTensors, type GraphInput, type KGnn } from '../kgnn.ts';
import type { LocalGraph } from '../features.ts';

import type { ExplainerKind } from './kinds.ts';
export { EXPLAINER_KINDS, type ExplainerKind } from './kinds.ts';

export interface Explanation {
  method: ExplainerKind;
  /** In-group edges as op-id pairs (src, dst), most responsible first. */
  edges: [number, number][];
  /** Score of each edge (same order; higher = more responsible). */
  scores: number[];
  /** The predictor's P(invalid) of the whole group (cuts: 1 when F_beta > beta, else 0). */
  pInvalid: number;
  /** Ops of the explanation subgraph (RG-Explainer), when the method builds one. */
  nodes?: number[];
  /** Optimizer steps the explanation took (GNNExplainer's Adam steps on the mask, fewer than its
   * `steps` when the early stop ended it). */
  steps?: number;
}

export interface Explainer {
  kind: ExplainerKind;
  explain(group: Group, cost: CostModel): Explanation;
  /** The explanation from the group's GNN input alone, when it is a pure function of it (the
   * learned explainers: the k-GNN sees nothing else). `explain(group, cost)` equals
   * `explainInput(graphInput(cost.graph, group, cost.bufferBytes, cost.elementBytes))`, which
   * lets the rectifier reuse an explanation across groups of the same structure. */
  explainInput?(input: GraphInput): Explanation;
}

/** Tensors of one group's GNN input. */
export function inputTensors(input: GraphInput): { t: BatchTensors; local: LocalGraph } {
  return { t: batchTensors(makeBatch([input])), local: input.local };
}

/** Soft-OR node weights from edge weights w ([E]) over a batch's incidences -> [n]. */
export function nodeWeightsFromEdges(t: BatchTensors, w: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const lw = tf.reshape(tf.log(tf.sub(1 + 1e-6, w)), [-1, 1]) as tf.Tensor2D;
    const s = tf.add(tf.matMul(t.srcOh, lw, true, false), tf.matMul(t.dstOhT, lw));
    return tf.reshape(tf.sub(1, tf.exp(s)), [t.n]) as tf.Tensor1D;
  });
}

/** Logits under an edge mask (node weights derived from it). */
export function maskedLogits(model: KGnn, t: BatchTensors, w: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => model.logits(t, w, nodeWeightsFromEdges(t, w)));
}

/** Binary entropy of mask values, mean. */
export function maskEntropy(w: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const a = tf.mul(w, tf.log(tf.add(w, 1e-6)));
    const b = tf.mul(tf.sub(1, w), tf.log(tf.sub(1 + 1e-6, w)));
    return tf.neg(tf.mean(tf.add(a, b))) as tf.Scalar;
  });
}

/** Edges of a local graph as op-id pairs sorted by score (desc; ties by ids). */
export function rankEdges(local: LocalGraph, scores: ArrayLike<number>): { edges: [number, number][]; scores: number[] } {
  const idx = Array.from({ length: local.src.length }, (_, k) => k);
  const pair = (k: number): [number, number] => [local.ops[local.src[k]], local.ops[local.dst[k]]];
  idx.sort((x, y) => scores[y] - scores[x] || pair(x)[0] - pair(y)[0] || pair(x)[1] - pair(y)[1]);
  return { edges: idx.map(pair), scores: idx.map((k) => scores[k]) };
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
