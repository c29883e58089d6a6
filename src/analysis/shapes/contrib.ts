/**
 * Shape rules of onnxruntime's contrib ops (domain com.microsoft) that shipped models carry:
 * - what onnxruntime's graph optimizer writes into a model it saves (FusedConv, FusedGemm,
 *   FusedMatMul, Gelu, FastGelu, BiasGelu, QuickGelu, SkipLayerNormalization, BiasAdd);
 * - what its transformer optimizer and quantizers write into exported transformers and LLMs
 *   (Attention, MultiHeadAttention, GroupQueryAttention, EmbedLayerNormalization,
 *   SkipSimplifiedLayerNormalization, RotaryEmbedding, MatMulNBits for 2-8 bit weights,
 *   GatherBlockQuantized for quantized embedding tables);
 * - the quantized operators of its QOperator format (shapes/qoperator.ts).
 * Each follows onnxruntime's own shape inference for the outputs inference needs (checked
 * against the shapes onnxruntime produces, test/shapes/contrib.test.ts); outputs it only fills
 * for training (SkipLayerNormalization's mean and inv_std_var) stay unknown, and a dim that
 * depends on run-time values (GroupQueryAttention's present length) is unknown, never guessed.
 */
import { DataType } from '../../ir/dtype.ts';
import type { Dim } from '../../ir/graph.ts';
import { isNum, like, out, Unknown, type Out, type Rule, type RuleCtx } from './context.ts';
import { elementwiseRules, sameAsInput } from './elementwise.ts';
import { matmulShape, nnRules } from './nn.ts';
import { fusedMatmulOperand } from '../contrib-geometry.ts';
import { qoperatorRules } from './qoperator.ts';

const mul = (a: Dim, b: Dim): Dim => (isNum(a) && isNum(b) ? a * b : undefined);
const div = (c: RuleCtx, a: Dim, b: number, what: string): Dim => {
  if (!isNum(a)) return undefined;
  if (b <= 0 || a % b !== 0) c.fail(`${what}: ${a} is not a multiple of ${b}`);
  return a / b;
};
const needAttr = (c: RuleCtx, name: string): number => {
  const v = c.node.attrInt(name);
  if (v === undefined) c.fail(`attribute '${name}' is required`);
  return v;
};

/** alpha * op(A) op(B), op = contrib-geometry.ts fusedMatmulOperand (transposes, batch transposes). */
const fusedMatmul: Rule = (c) => {
  const op = (i: 0 | 1): Dim[] => fusedMatmulOperand(c.node, i, c.shape(i)) ?? c.fail(`${i ? 'transBatchB' : 'transBatchA'} needs an operand of rank 3 or more, input ${i} has rank ${c.rank(i)}`);
  return [like(c, 0, matmulShape(c, op(0), op(1)))];
};

/** A [..., K] times B quantized to `bits` in blocks along K: Y [..., N] (attributes K and N). */
const matmulNBits: Rule = (c) => {
  const a = c.shape(0);
  const k = needAttr(c, 'K'), n = needAttr(c, 'N');
  const last = a[a.length - 1];
  if (!a.length) c.fail('input A must not be a scalar');
  if (isNum(last) && last !== k) c.fail(`input A's last dim ${last} differs from K = ${k}`);
  return [like(c, 0, [...a.slice(0, -1), n])];
};

/** Normalized sum, mean and inv_std_var (training only: not modelled), input + skip + bias. */
const skipNorm: Rule = (c) => {
  const y = like(c, 0, c.maybeShape(0));
  return [y, {}, {}, y];
};

/** BERT's fused attention: input [B, S, D_in] with packed QKV weights [D_in, 3 D] (or
 * qkv_hidden_sizes) gives [B, S, D_v]; present (past + S) not modelled. */
const attention: Rule = (c) => {
  const x = c.shape(0);
  if (x.length !== 3) c.fail(`input must have rank 3 [batch, sequence, hidden], got rank ${x.length}`);
  const sizes = c.node.attrInts('qkv_hidden_sizes');
  let dv: Dim;
  if (sizes?.length === 3) dv = sizes[2];
  else {
    const w = c.shape(1);
    dv = div(c, w[w.length - 1], 3, 'weights hidden size');
  }
  return [like(c, 0, [x[0], x[1], dv])];
};

/** [B, S, D_v] from the query's batch and length and the value's hidden size, whatever the
 * layout of key and value ([B, L, D], BNSH [B, N, L, H], packed KV [B, L, N, 2, H]) or of a
 * packed QKV query [B, S, N, 3, H]. present_key/value not modelled. */
const multiHeadAttention: Rule = (c) => {
  const q = c.shape(0);
  let dv: Dim;
  if (q.length === 5) dv = mul(q[2], q[4]);
  else if (q.length !== 3) c.fail(`query must have rank 3 or 5, got rank ${q.length}`);
  else if (c.has(2)) {
    const v = c.shape(2);
    dv = v.length === 3 ? v[2] : v.length === 4 ? mul(v[1], v[3]) : c.fail(`value must have rank 3 or 4, got rank ${v.length}`);
  } else if (c.has(1) && c.rank(1) === 5) {
    const k = c.shape(1);
    dv = mul(k[2], k[4]);
  } else throw new Unknown(`node '${c.node.name}' (MultiHeadAttention): value hidden size unknown`);
  return [like(c, 0, [q[0], q[1], dv])];
};

/** [B, S, num_heads x H], H from the query's hidden size (packed QKV when key is absent:
 * (num_heads + 2 kv_num_heads) x H); present key/value [B, kv_num_heads, ?, H] (their length
 * depends on total_sequence_length, a run-time value). */
const groupQueryAttention: Rule = (c) => {
  const q = c.shape(0);
  if (q.length !== 3) c.fail(`query must have rank 3, got rank ${q.length}`);
  const heads = needAttr(c, 'num_heads'), kvHeads = needAttr(c, 'kv_num_heads');
  const h = div(c, q[2], c.has(1) ? heads : heads + 2 * kvHeads, 'query hidden size over heads');
  const present: Out = like(c, 0, [q[0], kvHeads, undefined, h]);
  return [like(c, 0, [q[0], q[1], mul(heads, h)]), present, present];
};

/** Embeddings of input_ids [B, S] summed and normalized: [B, S, H] (H from the word embedding),
 * the mask index [B] (int32) and the sum before normalization. */
const embedLayerNorm: Rule = (c) => {
  const ids = c.shape(0);
  if (ids.length !== 2) c.fail(`input_ids must have rank 2 [batch, sequence], got rank ${ids.length}`);
  const word = c.shape(2);
  const et = c.elem(2);
  const y = out(et, [ids[0], ids[1], word[word.length - 1]]);
  return [y, out(DataType.INT32, [ids[0]]), y];
};

/** Gather from a table quantized in blocks (LLM embeddings at 4 bits): indices' shape with the
 * gathered axis of data replaced, the quantized axis of packed uint8 data x 8 / bits; the
 * element type of the scales. */
const gatherBlockQuantized: Rule = (c) => {
  const data = c.shape(0), idx = c.shape(1);
  const r = data.length;
  const axis = c.node.attrInt('gather_axis', 0), qAxis = c.node.attrInt('quantize_axis', r - 1);
  const ga = axis < 0 ? axis + r : axis, qa = qAxis < 0 ? qAxis + r : qAxis;
  if (ga < 0 || ga >= r || qa < 0 || qa >= r) c.fail(`gather_axis ${axis} / quantize_axis ${qAxis} out of range for rank ${r}`);
  const bits = c.node.attrInt('bits', 4);
  const unpacked = data.map((d, i) => (i === qa && c.elem(0) === DataType.UINT8 ? mul(d, 8 / bits) : d));
  return [out(c.elem(2), [...unpacked.slice(0, ga), ...idx, ...unpacked.slice(ga + 1)])];
};

export const contribRules: Readonly<Record<string, Rule>> = {
  FusedConv: nnRules.Conv,
  FusedGemm: nnRules.Gemm,
  FusedMatMul: fusedMatmul,
  MatMulNBits: matmulNBits,
  GatherBlockQuantized: gatherBlockQuantized,
  Gelu: sameAsInput,
  FastGelu: sameAsInput,
  QuickGelu: sameAsInput,
  BiasGelu: elementwiseRules.Add,
  BiasAdd: sameAsInput,
  RotaryEmbedding: sameAsInput,
  SkipLayerNormalization: skipNorm,
  SkipSimplifiedLayerNormalization: skipNorm,
  Attention: attention,
  MultiHeadAttention: multiHeadAttention,
  GroupQueryAttention: groupQueryAttention,
  EmbedLayerNormalization: embedLayerNorm,
  ...qoperatorRules,
};
