/**
 * Shape rules of onnxruntime's quantized operators in QOperator form (domain com.microsoft):
 * what `quantize_static(..., quant_format=QuantFormat.QOperator)` and the ONNX Model Zoo's int8
 * models carry between QLinearConv nodes (QLinearAdd, QLinearMul, QLinearSigmoid,
 * QLinearLeakyRelu, QLinearSoftmax, QLinearAveragePool, QLinearGlobalAveragePool,
 * QLinearConcat, QLinearReduceMean, QLinearWhere, QGemm), what its dynamic quantizer and graph
 * optimizer write (DynamicQuantizeMatMul, MatMulIntegerToFloat), and its own QuantizeLinear /
 * DequantizeLinear. Each is the float op's rule applied to the inputs that carry data (the
 * scales and zero points around them change no shape), with the element type onnxruntime gives
 * the output (the quantized input's, or float where the op dequantizes). A pool or global pool
 * with channels_last = 1 reads NHWC: its rule runs on the NCHW view of the input.
 */
import { DataType, type DataTypeCode } from '../../ir/dtype.ts';
import type { Dim } from '../../ir/graph.ts';
import { Unknown, type Rule, type RuleCtx } from './context.ts';
import { elementwiseRules, sameAsInput } from './elementwise.ts';
import { nnRules } from './nn.ts';
import { tensorRules } from './tensor.ts';

/** `c` seen through input map `from` (input k of the view is input from[k] of the node), at
 * opset 13 of the default domain (the attributes the QLinear ops share with their float ops
 * have that opset's meaning), with input 0's shape transformed by `shape0`. */
function view(c: RuleCtx, from: number[], shape0 = (s: Dim[]) => s): RuleCtx {
  const at = (i: number) => {
    if (i >= from.length) throw new Unknown(`input ${i} of the float op`);
    return from[i];
  };
  const tr = (i: number, s: Dim[]) => (i === 0 ? shape0(s) : s);
  return {
    node: c.node,
    opset: 13,
    nIn: from.length,
    has: (i) => i < from.length && c.has(from[i]),
    type: (i) => {
      const t = c.type(at(i));
      return t && t.shape ? { ...t, shape: tr(i, t.shape) } : t;
    },
    elem: (i) => c.elem(at(i)),
    shape: (i) => tr(i, c.shape(at(i))),
    maybeShape: (i) => {
      const s = c.maybeShape(at(i));
      return s && tr(i, s);
    },
    rank: (i) => c.rank(at(i)),
    // quantized values are not the float op's: nothing is folded through these ops
    isConst: () => false,
    value: () => undefined,
    ints: (i) => c.ints(at(i)),
    needInts: (i, what) => c.needInts(at(i), what),
    fail: (msg) => c.fail(msg),
  };
}

/** The float op's rule on inputs `from`; the first output of element type `elem` (default: that
 * of input from[0], the quantized data). */
function onInputs(rule: Rule, from: number[] | ((c: RuleCtx) => number[]), elem?: (c: RuleCtx) => DataTypeCode): Rule {
  return (c) => {
    const ins = typeof from === 'function' ? from(c) : from;
    return [{ type: { elemType: elem ? elem(c) : c.elem(ins[0]), shape: rule(view(c, ins))[0].type?.shape } }];
  };
}

const NHWC_TO_NCHW = <D>(s: D[]): D[] => (s.length >= 3 ? [s[0], s[s.length - 1], ...s.slice(1, -1)] : s);
const NCHW_TO_NHWC = <D>(s: D[]): D[] => (s.length >= 3 ? [s[0], ...s.slice(2), s[1]] : s);

/** A pool of input 0 reading NCHW, or NHWC when channels_last = 1 (the rule runs on the NCHW
 * view of the input, its output is turned back). */
function pool(rule: Rule): Rule {
  return (c) => {
    const nhwc = c.node.attrInt('channels_last', 0) === 1;
    const shape = rule(view(c, [0], nhwc ? NHWC_TO_NCHW : undefined))[0].type?.shape;
    return [{ type: { elemType: c.elem(0), shape: shape && nhwc ? NCHW_TO_NHWC(shape) : shape } }];
  };
}

const FLOAT = () => DataType.FLOAT;

export const qoperatorRules: Readonly<Record<string, Rule>> = {
  // (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp): A (+) B broadcast
  QLinearAdd: onInputs(elementwiseRules.Add, [0, 3]),
  QLinearMul: onInputs(elementwiseRules.Mul, [0, 3]),
  // (X, X_scale, X_zp, Y_scale, Y_zp)
  QLinearSigmoid: onInputs(sameAsInput, [0]),
  QLinearLeakyRelu: onInputs(sameAsInput, [0]),
  QLinearSoftmax: onInputs(sameAsInput, [0]),
  QLinearAveragePool: pool(nnRules.AveragePool),
  QLinearGlobalAveragePool: pool(nnRules.GlobalAveragePool),
  QLinearReduceMean: onInputs(tensorRules.ReduceMean, [0]),
  // (Y_scale, Y_zp, X0, X0_scale, X0_zp, X1, ...)
  QLinearConcat: onInputs(tensorRules.Concat, (c) => Array.from({ length: Math.floor((c.nIn - 2) / 3) }, (_, k) => 2 + 3 * k)),
  // (condition, X, X_scale, X_zp, Y, Y_scale, Y_zp, Z_scale, Z_zp)
  QLinearWhere: onInputs(elementwiseRules.Where, [0, 1, 4], (c) => c.elem(1)),
  // (A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp): quantized output with y_scale
  // (y_zp's type, else A's), float without
  QGemm: onInputs(nnRules.Gemm, [0, 3, 6], (c) => (c.has(7) ? c.elem(c.has(8) ? 8 : 0) : DataType.FLOAT)),
  // (A float, B quantized, b_scale, b_zp, bias): float A x B
  DynamicQuantizeMatMul: onInputs(nnRules.MatMul, [0, 1], FLOAT),
  // (A, B, a_scale, b_scale, a_zp, b_zp, bias): integer A x B dequantized to a_scale's type
  MatMulIntegerToFloat: onInputs(nnRules.MatMul, [0, 1], (c) => c.elem(2)),
  QuantizeLinear: nnRules.QuantizeLinear,
  DequantizeLinear: nnRules.DequantizeLinear,
};

