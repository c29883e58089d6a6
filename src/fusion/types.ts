/**
 * The fusion problem in its own terms, independent of ONNX: ops numbered in topological
 * order, the tensors between them, and the contracts that cost models, searches and group
 * splitters (random baseline, GET) share. Extraction from the IR lives in op-graph.ts.
 */
import type { Rng } from '../util/random.ts';

/** The layer-fusion scheme (cost model): 'lbdf' (line-buffer depth-first) or 'brr' (block-reuse). */
export type FusionScheme = 'lbdf' | 'brr';

/** A feature map or weight tensor as the cost models see it (shapes are static). */
export interface FusionTensor {
  /** IR value name. */
  name: string;
  /** NCHW (or any rank) static shape. */
  shape: number[];
  /** Number of elements. */
  elements: number;
  /** Producer op id, or -1 for a graph input / constant. */
  producer: number;
  /** Consumer op ids. */
  consumers: number[];
  /** (additive) True when the tensor is a graph output: written to DRAM even if consumed inside a group. */
  graphOutput?: boolean;
  /** (additive) Rows LBDF streams the map in: the extent of its row axis, set by the op graph
   * builder (row-order.ts) on 1-D maps (NCL: L) and 3-D maps (NCDHW: H) that a 1-D or 3-D conv
   * or pool reads or writes and that only row-local ops consume, and on rank-4 maps whose row
   * axis a Transpose moved off axis 2 (channels last: H at axis 1). Absent: H (axis 2) for a
   * rank-4 map, 1 otherwise (the whole map is one row). See `mapRows`. */
  rows?: number;
}

/** One op of the fusion problem: its IR node, tensors read and written, MACs. */
export interface FusionOp {
  /** Position in topological order (0..n-1). */
  id: number;
  /** IR node name. */
  node: string;
  opType: string;
  /** Indices into OpGraph.tensors of feature-map inputs (not weights). */
  inputs: number[];
  /** Indices into OpGraph.tensors of outputs. */
  outputs: number[];
  /** Elements of constant inputs (weights, biases, BN parameters). */
  weightElements: number;
  /** Sliding-window geometry for convs/pools ([kh, kw], [sh, sw], dilations; a 1-D window is
   * [k, 1]: its one spatial axis is the row axis; a 3-D one gives its last two axes); 1x1/1
   * otherwise. */
  kernel: [number, number];
  stride: [number, number];
  dilation: [number, number];
  /** True for ops that need their whole input map before producing output (global pooling,
   * reductions and Softmax over spatial axes, Instance/Group normalization, a LayerNorm whose
   * axes include the row axis, a Transpose that moves the row axis). */
  global: boolean;
  macs: number;
  /** (additive) The constant inputs behind weightElements, by IR name (a weight shared by
   * several ops appears under each; BRR re-fetches it per weight sub-group that uses it). */
  weights?: { name: string; elements: number }[];
  /** (additive) Feature-map inputs the op reads whole for every output row: a matrix product's
   * B operand when it is not a weight (attention's K^T and V), and a rank-4 map whose rows stream
   * along another axis than the op reads (row-order.ts, mapInputAxes). LBDF holds them whole, as
   * it holds the inputs of a global op. */
  whole?: number[];
  /** (additive) An op the cost models cannot see inside (control flow: If/Loop/Scan run
   * subgraphs): it is planned as a group of its own and never fused with another op. */
  opaque?: boolean;
}

/** The fusion problem independent of ONNX: ops in topological order and the tensors between them. */
export interface OpGraph {
  ops: FusionOp[];
  tensors: FusionTensor[];
  /** (additive) IR nodes left out of planning, each with why: an op whose feature maps have a
   * data-dependent shape (NonZero, NonMaxSuppression and what follows them) cannot be costed;
   * its inputs are written to DRAM and its static outputs read back like graph inputs. */
  unplanned?: { node: string; opType: string; reason: string }[];
  /** Successor / predecessor op ids (deduplicated, sorted). */
  succ: number[][];
  pred: number[][];
}

/** A fusion group: sorted op ids. */
export type Group = readonly number[];

/** One line of a memory breakdown: what is resident and why. */
export interface MemoryItem {
  tensor: string;
  kind: 'weights' | 'line-buffer' | 'skip-buffer' | 'full-map' | 'live-map' | 'weight-subgroup';
  bytes: number;
  /** e.g. rows held, or the sub-group index. */
  detail: string;
}

/** A layer-fusion cost model (LBDF or BRR) over an OpGraph: validity, buffer requirement and DRAM
 * traffic of a group of ops.
 */
export interface CostModel {
  scheme: FusionScheme;
  graph: OpGraph;
  /** Buffer capacity in bytes (beta). */
  bufferBytes: number;
  /** Bytes per element. */
  elementBytes: number;
  /** F_beta: on-chip bytes needed to run the group, with its breakdown. */
  memory(group: Group): { bytes: number; items: MemoryItem[] };
  valid(group: Group): boolean;
  /** F_D: DRAM bytes moved when the group runs on its own. */
  dram(group: Group): number;
}

/** Splits an invalid group into valid groups (each weakly connected; the result keeps the
 * group DAG acyclic). The random baseline ignores DRAM; GET splits along explained edges. */
export type Rectifier = (group: Group, cost: CostModel, rng: Rng) => Group[];
