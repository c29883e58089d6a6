/**
 * GET validity predictor (Mills et al., "Applying Graph Explanation to Operator Fusion", arXiv 2501.00636): a k-GNN (Morris et al., "Weisfeiler and Leman go
 * neural", the 1-GNN layer) over the ops of a fusion group.
 *
 *   h_v^{l+1} = ReLU(W_self h_v^l + W_in sum_{u -> v} w_uv h_u^l + W_out sum_{v -> u} w_vu h_u^l + b)
 *
 * 4 layers, hidden 128, sum aggregation. The data-flow direction matters to a line-buffer
 * schedule, so in- and out-neighbours get their own weight matrix (the 1-GNN with the
 * neighbourhood split by edge direction); w_uv is 1 except under an explainer's edge mask.
 * Graph embedding = sum of node embeddings; a 2-layer head gives one logit, P(group invalid).
 *
 * Built on TensorFlow.js (autodiff + Adam); message passing is a dense adjacency matmul over a
 * batch of groups laid out block-diagonally (see BatchTensors). Initial weights come from the project's seeded
 * Rng (Glorot normal), so a seed fixes the whole training run.
 */
import { tf } from './tf.ts';
import type { Group, OpGraph } from '../fusion/types.ts';
import { FEATURE_DIM, groupFeatures, localGraph, type LocalGraph } from './features.ts';
import { Rng } from '../util/random.ts';

export const HIDDEN = 128;
export const LAYERS = 4;
export const HEAD_HIDDEN = 64;

/** One group as GNN input. */
export interface GraphInput {
  features: Float32Array;
  local: LocalGraph;
}

/** Several groups stacked block-diagonally. */
export interface GraphBatch {
  x: Float32Array;
  n: number;
  src: Int32Array;
  dst: Int32Array;
  graphOf: Int32Array;
  numGraphs: number;
  /** Offset of each graph's first node / first edge in the batch. */
  nodeOffset: number[];
  edgeOffset: number[];
}

export function graphInput(graph: OpGraph, group: Group, bufferBytes: number, elementBytes: number): GraphInput {
  const local = localGraph(graph, group);
  return { features: groupFeatures(graph, group, bufferBytes, elementBytes, local), local };
}

export function makeBatch(items: readonly GraphInput[]): GraphBatch {
  let n = 0;
  let e = 0;
  for (const it of items) {
    n += it.local.ops.length;
    e += it.local.src.length;
  }
  const x = new Float32Array(n * FEATURE_DIM);
  const src = new Int32Array(e);
  const dst = new Int32Array(e);
  const graphOf = new Int32Array(n);
  const nodeOffset: number[] = [];
  const edgeOffset: number[] = [];
  let no = 0;
  let eo = 0;
  items.forEach((it, g) => {
    nodeOffset.push(no);
    edgeOffset.push(eo);
    x.set(it.features, no * FEATURE_DIM);
    for (let k = 0; k < it.local.src.length; k++) {
      src[eo + k] = it.local.src[k] + no;
      dst[eo + k] = it.local.dst[k] + no;
    }
    graphOf.fill(g, no, no + it.local.ops.length);
    no += it.local.ops.length;
    eo += it.local.src.length;
  });
  return { x, n, src, dst, graphOf, numGraphs: items.length, nodeOffset, edgeOffset };
}

/**
 * Dense tensors of a batch. tfjs's CPU UnsortedSegmentSum (also the gradient of Gather) loops
 * over segments, O(segments x rows), so message passing and readout are dense matmuls instead:
 * `adj[v, u]` counts edges u -> v; `srcOh` [E, n] / `dstOhT` [n, E] are one-hot edge
 * incidences, used when an explainer weights edges (adj = dstOhT diag(w) srcOh);
 * `pool` [numGraphs, n] sums node embeddings per graph. Batches of a few dozen small groups
 * keep n^2 small.
 */
export interface BatchTensors {
  x: tf.Tensor2D;
  adj: tf.Tensor2D;
  srcOh: tf.Tensor2D;
  dstOhT: tf.Tensor2D;
  pool: tf.Tensor2D;
  n: number;
  e: number;
  numGraphs: number;
}

export function batchTensors(b: GraphBatch): BatchTensors {
  const n = b.n;
  const e = b.src.length;
  const adj = new Float32Array(n * n);
  const srcOh = new Float32Array(e * n);
  const dstOhT = new Float32Array(n * e);
  for (let k = 0; k < e; k++) {
    adj[b.dst[k] * n + b.src[k]] += 1;
    srcOh[k * n + b.src[k]] = 1;
    dstOhT[b.dst[k] * e + k] = 1;
  }
  const pool = new Float32Array(b.numGraphs * n);
  for (let v = 0; v < n; v++) pool[b.graphOf[v] * n + v] = 1;
  return {
    x: tf.tensor2d(b.x, [n, FEATURE_DIM]),
    adj: tf.tensor2d(adj, [n, n]),
    srcOh: tf.tensor2d(srcOh, [e, n]),
    dstOhT: tf.tensor2d(dstOhT, [n, e]),
    pool: tf.tensor2d(pool, [b.numGraphs, n]),
    n,
    e,
    numGraphs: b.numGraphs,
  };
}

export function disposeBatch(t: BatchTensors): void {
  tf.dispose([t.x, t.adj, t.srcOh, t.dstOhT, t.pool]);
}

/** Parameter shapes by name, in the serialization order. */
export function kgnnShapes(featureDim = FEATURE_DIM): [string, number[]][] {
  const shapes: [string, number[]][] = [];
  for (let l = 0; l < LAYERS; l++) {
    const din = l === 0 ? featureDim : HIDDEN;
    shapes.push([`l${l}.self`, [din, HIDDEN]], [`l${l}.in`, [din, HIDDEN]], [`l${l}.out`, [din, HIDDEN]], [`l${l}.b`, [HIDDEN]]);
  }
  shapes.push(['head.w1', [HIDDEN, HEAD_HIDDEN]], ['head.b1', [HEAD_HIDDEN]], ['head.w2', [HEAD_HIDDEN, 1]], ['head.b2', [1]]);
  return shapes;
}

/** Glorot-normal matrices / zero biases from a seeded Rng. */
export function initParams(shapes: [string, number[]][], rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    if (shape.length === 2) {
      const std = Math.sqrt(2 / (shape[0] + shape[1]));
      for (let i = 0; i < size; i++) v[i] = rng.normal() * std;
    }
    out.set(name, v);
  }
  return out;
}

/** tfjs variable names are global: number the instances. */
let nextInstance = 0;

export class KGnn {
  readonly vars = new Map<string, tf.Variable>();

  constructor(values: Map<string, Float32Array>, featureDim = FEATURE_DIM) {
    const kgnnInstance = nextInstance++;
    for (const [name, shape] of kgnnShapes(featureDim)) {
      const v = values.get(name);
      if (!v) throw new Error(`k-GNN weights: missing tensor '${name}'`);
      this.vars.set(name, tf.variable(tf.tensor(v, shape), true, `kgnn${kgnnInstance}/${name}`));
    }
  }

  static random(seed: number): KGnn {
    return new KGnn(initParams(kgnnShapes(), new Rng(seed)));
  }

  v(name: string): tf.Variable {
    const t = this.vars.get(name);
    if (!t) throw new Error(`k-GNN: no tensor '${name}'`);
    return t;
  }

  /** Node embeddings after the last layer ([n, HIDDEN]); edgeWeight scales each message and
   * nodeWeight each node's input features (the explainers' soft masks; 1 = unmasked). */
  nodeEmbeddings(b: BatchTensors, edgeWeight?: tf.Tensor1D, nodeWeight?: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => {
      let h: tf.Tensor2D = nodeWeight ? (tf.mul(b.x, tf.reshape(nodeWeight, [-1, 1])) as tf.Tensor2D) : b.x;
      const adj: tf.Tensor2D = edgeWeight ? tf.matMul(tf.mul(b.dstOhT, tf.reshape(edgeWeight, [1, -1])) as tf.Tensor2D, b.srcOh) : b.adj;
      for (let l = 0; l < LAYERS; l++) {
        const mIn = tf.matMul(adj, h);
        const mOut = tf.matMul(adj, h, true, false);
        const pre = tf.addN([
          tf.matMul(h, this.v(`l${l}.self`)),
          tf.matMul(mIn, this.v(`l${l}.in`)),
          tf.matMul(mOut, this.v(`l${l}.out`)),
        ]);
        h = tf.relu(tf.add(pre, this.v(`l${l}.b`))) as tf.Tensor2D;
      }
      return h;
    });
  }

  /** Logit of P(invalid) from summed (node-weighted) node embeddings ([numGraphs]). */
  head(nodes: tf.Tensor2D, pool: tf.Tensor2D, numGraphs: number, nodeWeight?: tf.Tensor1D): tf.Tensor1D {
    return tf.tidy(() => {
      const hn = nodeWeight ? (tf.mul(nodes, tf.reshape(nodeWeight, [-1, 1])) as tf.Tensor2D) : nodes;
      const g = tf.matMul(pool, hn);
      const z = tf.relu(tf.add(tf.matMul(g, this.v('head.w1')), this.v('head.b1'))) as tf.Tensor2D;
      return tf.reshape(tf.add(tf.matMul(z, this.v('head.w2')), this.v('head.b2')), [numGraphs]) as tf.Tensor1D;
    });
  }

  logits(b: BatchTensors, edgeWeight?: tf.Tensor1D, nodeWeight?: tf.Tensor1D): tf.Tensor1D {
    return tf.tidy(() => this.head(this.nodeEmbeddings(b, edgeWeight, nodeWeight), b.pool, b.numGraphs, nodeWeight));
  }

  /** P(invalid) for each graph of a batch. */
  predictBatch(batch: GraphBatch): Float32Array {
    const t = batchTensors(batch);
    try {
      const p = tf.tidy(() => tf.sigmoid(this.logits(t)));
      const out = p.dataSync() as Float32Array;
      p.dispose();
      return Float32Array.from(out);
    } finally {
      disposeBatch(t);
    }
  }

  values(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.vars) out.set(name, Float32Array.from(v.dataSync() as Float32Array));
    return out;
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
