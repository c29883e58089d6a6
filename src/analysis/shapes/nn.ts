/**
 * Neural-network ops: convolutions, pools, Gemm/MatMul, normalizations, recurrent ops,
 * quantization, detection and loss ops.
 *
 * Convolution/pool output size per spatial axis (ONNX, matching onnxruntime):
 *   effective kernel  ke = (k - 1) * d + 1
 *   auto_pad NOTSET   out = floor_or_ceil((in + pad_begin + pad_end - ke) / s) + 1
 *                     (pools with ceil_mode=1: if (out - 1) * s >= in + pad_begin, out -= 1,
 *                      so that the last window starts inside the input or its left padding)
 *   auto_pad VALID    the same with zero pads
 *   auto_pad SAME_*   out = ceil(in / s)
 *   ConvTranspose     out = s * (in - 1) + output_padding + ke - pad_begin - pad_end,
 *                     SAME_*: out = min(in * s, s * (in - 1) + output_padding + ke) (the padding
 *                     onnxruntime derives is never negative), or output_shape when given.
 */
import { DataType } from '../../ir/dtype.ts';
import type { Dim } from '../../ir/graph.ts';
import { broadcast, dataDim, isNum, like, normAxis, out, Unknown, type Out, type Rule, type RuleCtx } from './context.ts';

function spatialAttrs(c: RuleCtx, nSpatial: number, kernel: number[]) {
  const strides = c.node.attrInts('strides', new Array(nSpatial).fill(1));
  const dil = c.node.attrInts('dilations', new Array(nSpatial).fill(1));
  const pads = c.node.attrInts('pads', new Array(2 * nSpatial).fill(0));
  const autoPad = c.node.attrString('auto_pad', 'NOTSET');
  if (kernel.length !== nSpatial) c.fail(`kernel has ${kernel.length} spatial dims, input has ${nSpatial}`);
  if (strides.length !== nSpatial || dil.length !== nSpatial) c.fail(`strides/dilations must have ${nSpatial} entries`);
  if (autoPad === 'NOTSET' && pads.length !== 2 * nSpatial) c.fail(`pads must have ${2 * nSpatial} entries, has ${pads.length}`);
  if (strides.some((s) => s <= 0) || dil.some((d) => d <= 0)) c.fail(`strides and dilations must be positive`);
  if (kernel.some((k) => k <= 0)) c.fail(`kernel dims must be positive`);
  if (autoPad === 'NOTSET' && pads.some((p) => p < 0)) c.fail(`pads must not be negative`);
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) c.fail(`unknown auto_pad '${autoPad}'`);
  return { strides, dil, pads, autoPad };
}

/** Output spatial dims of a conv or pool window. */
function windowOut(c: RuleCtx, inSp: Dim[], kernel: number[], ceilMode: boolean, isPool: boolean): Dim[] {
  const n = inSp.length;
  const { strides, dil, pads, autoPad } = spatialAttrs(c, n, kernel);
  return inSp.map((d, i) => {
    if (!isNum(d)) return undefined;
    const s = strides[i];
    const ke = (kernel[i] - 1) * dil[i] + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(d / s);
    const pb = autoPad === 'VALID' ? 0 : pads[i];
    const pe = autoPad === 'VALID' ? 0 : pads[i + n];
    const span = d + pb + pe - ke;
    // onnxruntime truncates toward zero, so a window 1..s-1 larger than the padded input
    // gives 0 outputs rather than an error; only a negative size is invalid.
    let o = (ceilMode ? Math.ceil(span / s) : Math.trunc(span / s)) + 1;
    if (isPool && ceilMode && (o - 1) * s >= d + pb) o -= 1;
    if (o < 0) c.fail(`kernel extent ${ke} exceeds padded input ${d + pb + pe} on spatial axis ${i}`);
    return o;
  });
}

function convLike(c: RuleCtx, x: number, w: number, elemType?: number): Out {
  const xs = c.shape(x);
  if (xs.length < 3) c.fail(`input must have rank >= 3, has ${xs.length}`);
  const ws = c.maybeShape(w);
  const kAttr = c.node.attrInts('kernel_shape');
  const kernel = kAttr ?? ws?.slice(2);
  if (!kernel || !kernel.every(isNum)) throw new Unknown('kernel shape unknown');
  const group = c.node.attrInt('group', 1);
  if (group <= 0) c.fail(`group must be positive, is ${group}`);
  if (ws && ws.length !== xs.length) c.fail(`weights have rank ${ws.length}, input has rank ${xs.length}`);
  if (ws && isNum(ws[1]) && isNum(xs[1]) && ws[1] * group !== xs[1]) c.fail(`input has ${xs[1]} channels but weights expect ${ws[1]} x group ${group}`);
  const m = ws?.[0];
  const sp = windowOut(c, xs.slice(2), kernel as number[], false, false);
  return out(elemType ?? c.elem(x), [xs[0], m, ...sp]);
}

const conv: Rule = (c) => [convLike(c, 0, 1)];
const convInteger: Rule = (c) => [convLike(c, 0, 1, DataType.INT32)];
const qlinearConv: Rule = (c) => [convLike(c, 0, 3, c.type(7)?.elemType ?? c.elem(0))];

const convTranspose: Rule = (c) => {
  const xs = c.shape(0);
  const ws = c.shape(1);
  if (xs.length < 3 || ws.length !== xs.length) c.fail(`input rank ${xs.length} and weight rank ${ws.length} must be equal and >= 3`);
  const n = xs.length - 2;
  const kernel = c.node.attrInts('kernel_shape') ?? ws.slice(2);
  if (!kernel.every(isNum)) throw new Unknown('kernel shape unknown');
  const group = c.node.attrInt('group', 1);
  if (group <= 0) c.fail(`group must be positive, is ${group}`);
  if (isNum(ws[0]) && isNum(xs[1]) && ws[0] !== xs[1]) c.fail(`input has ${xs[1]} channels but weights expect ${ws[0]}`);
  const m = isNum(ws[1]) ? ws[1] * group : undefined;
  const { strides, dil, pads, autoPad } = spatialAttrs(c, n, kernel as number[]);
  const outPad = c.node.attrInts('output_padding', new Array(n).fill(0));
  const outputShape = c.node.attrInts('output_shape');
  const sp: Dim[] = xs.slice(2).map((d, i) => {
    if (outputShape) return outputShape[outputShape.length - n + i];
    if (!isNum(d)) return undefined;
    const full = strides[i] * (d - 1) + outPad[i] + ((kernel[i] as number) - 1) * dil[i] + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.min(d * strides[i], full);
    const pb = autoPad === 'VALID' ? 0 : pads[i];
    const pe = autoPad === 'VALID' ? 0 : pads[i + n];
    return strides[i] * (d - 1) + outPad[i] + ((kernel[i] as number) - 1) * dil[i] + 1 - pb - pe;
  });
  return [like(c, 0, [xs[0], m, ...sp])];
};

function pool(ceilAllowed: boolean): Rule {
  return (c) => {
    const xs = c.shape(0);
    if (xs.length < 3) c.fail(`input must have rank >= 3, has ${xs.length}`);
    const kernel = c.node.attrInts('kernel_shape');
    if (!kernel) return c.fail(`missing attribute 'kernel_shape'`);
    const ceilMode = ceilAllowed && c.node.attrInt('ceil_mode', 0) === 1;
    const sp = windowOut(c, xs.slice(2), kernel, ceilMode, true);
    const shape = [xs[0], xs[1], ...sp];
    return [like(c, 0, shape), out(DataType.INT64, shape)];
  };
}

const globalPool: Rule = (c) => {
  const xs = c.shape(0);
  if (xs.length < 2) c.fail(`input must have rank >= 2, has ${xs.length}`);
  return [like(c, 0, [xs[0], xs[1], ...xs.slice(2).map(() => 1)])];
};

const maxUnpool: Rule = (c) => {
  const xs = c.shape(0);
  if (xs.length < 3) c.fail(`input must have rank >= 3, has ${xs.length}`);
  if (c.has(2)) {
    const v = c.value(2);
    if (v) return [like(c, 0, v.data.map((d) => (isNum(d) ? d : undefined)))];
    throw new Unknown('output_shape input not constant');
  }
  const kernel = c.node.attrInts('kernel_shape');
  if (!kernel) return c.fail(`missing attribute 'kernel_shape'`);
  const n = xs.length - 2;
  const { strides, pads } = spatialAttrs(c, n, kernel);
  return [like(c, 0, [xs[0], xs[1], ...xs.slice(2).map((d, i) => (isNum(d) ? (d - 1) * strides[i] + kernel[i] - pads[i] - pads[i + n] : undefined))])];
};

const gemm: Rule = (c) => {
  const a = c.shape(0), b = c.shape(1);
  if (a.length !== 2 || b.length !== 2) c.fail(`A and B must be 2-D, have ranks ${a.length} and ${b.length}`);
  const [m, ka] = c.node.attrInt('transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
  const [kb, n] = c.node.attrInt('transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
  if (isNum(ka) && isNum(kb) && ka !== kb) c.fail(`inner dimensions differ: ${ka} vs ${kb}`);
  return [like(c, 0, [m, n])];
};

export function matmulShape(c: RuleCtx, a0: Dim[], b0: Dim[]): Dim[] {
  if (a0.length === 0 || b0.length === 0) c.fail(`MatMul inputs must not be scalars`);
  const a = a0.length === 1 ? [1, a0[0]] : a0;
  const b = b0.length === 1 ? [b0[0], 1] : b0;
  const ka = a[a.length - 1], kb = b[b.length - 2];
  if (isNum(ka) && isNum(kb) && ka !== kb) c.fail(`inner dimensions differ: ${ka} vs ${kb}`);
  const batch = broadcast(c, [a.slice(0, -2), b.slice(0, -2)]);
  const res: Dim[] = [...batch];
  if (a0.length !== 1) res.push(a[a.length - 2]);
  if (b0.length !== 1) res.push(b[b.length - 1]);
  return res;
}

const matmul: Rule = (c) => [like(c, 0, matmulShape(c, c.shape(0), c.shape(1)))];
const matmulInteger: Rule = (c) => [out(DataType.INT32, matmulShape(c, c.shape(0), c.shape(1)))];
const qlinearMatmul: Rule = (c) => [out(c.type(7)?.elemType ?? c.elem(0), matmulShape(c, c.shape(0), c.shape(3)))];

const batchNorm: Rule = (c) => {
  const xs = c.maybeShape(0);
  const ch = c.maybeShape(1);
  const outs: Out[] = [like(c, 0, xs)];
  for (let i = 1; i < c.node.outputs.length; i++) outs.push(like(c, 1, ch));
  return outs;
};

/** LayerNormalization / statistics outputs: dims from `axis` on become 1. */
const layerNorm: Rule = (c) => {
  const xs = c.maybeShape(0);
  const outs: Out[] = [like(c, 0, xs)];
  if (c.node.outputs.length > 1) {
    let stat: Dim[] | undefined;
    if (xs) {
      const axis = normAxis(c, c.node.attrInt('axis', -1), xs.length);
      stat = xs.map((d, i) => (i < axis ? d : 1));
    }
    const st = c.node.attrInt('stash_type', 1);
    for (let i = 1; i < c.node.outputs.length; i++) outs.push(out(st, stat));
  }
  return outs;
};

const rnn: Rule = (c) => {
  const xs = c.shape(0);
  if (xs.length !== 3) c.fail(`input X must have rank 3, got [${xs.join(',')}]`);
  // hidden_size attribute, else from R [num_directions, k * hidden, hidden].
  const hs: Dim = c.node.attrInt('hidden_size') ?? c.maybeShape(2)?.[2];
  const nd = c.node.attrString('direction', 'forward') === 'bidirectional' ? 2 : 1;
  const layout = c.node.attrInt('layout', 0);
  const [seq, batch] = layout ? [xs[1], xs[0]] : [xs[0], xs[1]];
  const y = layout ? [batch, seq, nd, hs] : [seq, nd, batch, hs];
  const yh = layout ? [batch, nd, hs] : [nd, batch, hs];
  return [like(c, 0, y), like(c, 0, yh), like(c, 0, yh)];
};

const depthToSpace: Rule = (c) => {
  const [n, ch, hh, ww] = c.shape(0);
  const b = c.node.attrInt('blocksize');
  if (!b) return c.fail(`missing attribute 'blocksize'`);
  if (isNum(ch) && ch % (b * b) !== 0) c.fail(`channels ${ch} not divisible by blocksize^2 = ${b * b}`);
  return [like(c, 0, [n, isNum(ch) ? ch / (b * b) : undefined, isNum(hh) ? hh * b : undefined, isNum(ww) ? ww * b : undefined])];
};

const spaceToDepth: Rule = (c) => {
  const [n, ch, hh, ww] = c.shape(0);
  const b = c.node.attrInt('blocksize');
  if (!b) return c.fail(`missing attribute 'blocksize'`);
  return [like(c, 0, [n, isNum(ch) ? ch * b * b : undefined, isNum(hh) ? Math.floor(hh / b) : undefined, isNum(ww) ? Math.floor(ww / b) : undefined])];
};

const topK: Rule = (c) => {
  const xs = c.shape(0);
  const axis = normAxis(c, c.node.attrInt('axis', -1), xs.length);
  let k: Dim;
  if (c.opset >= 10) {
    const v = c.value(1);
    k = v && isNum(v.data[0]) ? v.data[0] : undefined;
  } else k = c.node.attrInt('k');
  const shape = xs.map((d, i) => (i === axis ? k : d));
  return [like(c, 0, shape), out(DataType.INT64, shape)];
};

const nms: Rule = (c) => [out(DataType.INT64, [dataDim(c, 'selected'), 3])];
const nonZero: Rule = (c) => {
  const v = c.value(0);
  const n = v && v.data.every(isNum) ? v.data.filter((x) => x !== 0).length : dataDim(c, 'nonzero');
  return [out(DataType.INT64, [c.rank(0), n])];
};

const roiAlign: Rule = (c) => {
  const xs = c.shape(0), rs = c.maybeShape(1);
  return [like(c, 0, [rs?.[0], xs[1], c.node.attrInt('output_height', 1), c.node.attrInt('output_width', 1)])];
};

const maxRoiPool: Rule = (c) => {
  const xs = c.shape(0), rs = c.maybeShape(1);
  const ps = c.node.attrInts('pooled_shape');
  if (!ps) return c.fail(`missing attribute 'pooled_shape'`);
  return [like(c, 0, [rs?.[0], xs[1], ...ps])];
};

const gridSample: Rule = (c) => {
  const xs = c.shape(0), gs = c.shape(1);
  return [like(c, 0, [xs[0], xs[1], ...gs.slice(1, -1)])];
};

const quantize: Rule = (c) => {
  const dt = c.has(2) ? c.type(2)?.elemType : c.node.attrInt('output_dtype') || DataType.UINT8;
  return [out(dt ?? DataType.UINT8, c.maybeShape(0))];
};
const dequantize: Rule = (c) => [out(c.type(1)?.elemType ?? DataType.FLOAT, c.maybeShape(0))];
const dynQuantize: Rule = (c) => [out(DataType.UINT8, c.maybeShape(0)), out(DataType.FLOAT, []), out(DataType.UINT8, [])];

function lossShape(c: RuleCtx, target: number): Dim[] | undefined {
  return c.node.attrString('reduction', 'mean') === 'none' ? c.maybeShape(target) : [];
}
const nllLoss: Rule = (c) => [like(c, 0, lossShape(c, 1))];
const sceLoss: Rule = (c) => [like(c, 0, lossShape(c, 1)), like(c, 0, c.maybeShape(0))];

const det: Rule = (c) => [like(c, 0, c.shape(0).slice(0, -2))];

const oneHot: Rule = (c) => {
  const is = c.shape(0);
  const v = c.value(1);
  const depth = v && isNum(v.data[0]) ? Math.trunc(v.data[0]) : undefined;
  const r = is.length + 1;
  const axis = normAxis(c, c.node.attrInt('axis', -1), r);
  const shape = [...is.slice(0, axis), depth, ...is.slice(axis)];
  return [out(c.type(2)?.elemType ?? DataType.FLOAT, shape)];
};

const windowFn: Rule = (c) => {
  const v = c.value(0);
  const n = v && isNum(v.data[0]) ? v.data[0] : undefined;
  return [out(c.node.attrInt('output_datatype', DataType.FLOAT), [n])];
};

const melWeight: Rule = (c) => {
  const nb = c.value(0)?.data[0];
  const dft = c.value(1)?.data[0];
  return [out(c.node.attrInt('output_datatype', DataType.FLOAT), [isNum(dft) ? Math.floor(dft / 2) + 1 : undefined, isNum(nb) ? nb : undefined])];
};

const dft: Rule = (c) => {
  const xs = c.shape(0);
  const axis = normAxis(c, c.node.attrInt('axis', 1), xs.length);
  const lenV = c.has(1) ? c.value(1)?.data[0] : xs[axis];
  if (c.has(1) && lenV === undefined) throw new Unknown('dft_length not constant');
  const onesided = c.node.attrInt('onesided', 0) === 1;
  const n: Dim = isNum(lenV) ? (onesided ? Math.floor(lenV / 2) + 1 : lenV) : onesided ? undefined : lenV;
  const shape = xs.map((d, i) => (i === axis ? n : d));
  shape[shape.length - 1] = 2;
  return [like(c, 0, shape)];
};

const stft: Rule = (c) => {
  const xs = c.shape(0);
  const step = c.value(1)?.data[0];
  let frameLen: Dim = c.has(3) ? c.value(3)?.data[0] : undefined;
  if (frameLen === undefined && c.has(2)) frameLen = c.maybeShape(2)?.[0];
  const onesided = c.node.attrInt('onesided', 1) === 1;
  const frames = isNum(xs[1]) && isNum(frameLen) && isNum(step) ? Math.floor((xs[1] - frameLen) / step) + 1 : undefined;
  const bins = isNum(frameLen) ? (onesided ? Math.floor(frameLen / 2) + 1 : frameLen) : undefined;
  return [like(c, 0, [xs[0], frames, bins, 2])];
};

/** Einsum: explicit (`->`) and implicit forms, with ellipsis broadcasting. */
const einsum: Rule = (c) => {
  const eq = c.node.attrString('equation');
  if (!eq) return c.fail(`missing attribute 'equation'`);
  const [lhs, rhs] = eq.replace(/\s+/g, '').split('->');
  const terms = lhs.split(',');
  const sizes = new Map<string, Dim>();
  const counts = new Map<string, number>();
  let ell: Dim[] = [];
  terms.forEach((t, i) => {
    const s = c.shape(i);
    const nLetters = t.replace('...', '').length;
    const ellRank = t.includes('...') ? s.length - nLetters : 0;
    if (ellRank < 0 || (!t.includes('...') && s.length !== nLetters)) c.fail(`term '${t}' does not match input rank ${s.length}`);
    let k = 0;
    for (let p = 0; p < t.length; p++) {
      if (t.startsWith('...', p)) {
        ell = broadcast(c, [ell, s.slice(k, k + ellRank)]);
        k += ellRank;
        p += 2;
        continue;
      }
      const ch = t[p];
      const d = s[k++];
      const prev = sizes.get(ch);
      sizes.set(ch, prev === undefined || prev === 1 ? d : d === 1 ? prev : prev);
      counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
  });
  let outTerm = rhs;
  if (outTerm === undefined) {
    const singles = [...counts.entries()].filter(([, n]) => n === 1).map(([ch]) => ch).sort();
    outTerm = (lhs.includes('...') ? '...' : '') + singles.join('');
  }
  const shape: Dim[] = [];
  for (let p = 0; p < outTerm.length; p++) {
    if (outTerm.startsWith('...', p)) {
      shape.push(...ell);
      p += 2;
    } else shape.push(sizes.get(outTerm[p]));
  }
  return [like(c, 0, shape)];
};

export const nnRules: Record<string, Rule> = {
  Conv: conv,
  ConvInteger: convInteger,
  QLinearConv: qlinearConv,
  ConvTranspose: convTranspose,
  MaxPool: pool(true),
  AveragePool: pool(true),
  LpPool: pool(true),
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  MaxUnpool: maxUnpool,
  Gemm: gemm,
  MatMul: matmul,
  MatMulInteger: matmulInteger,
  QLinearMatMul: qlinearMatmul,
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  // onnxruntime's RMS norm, registered in the default domain (ONNX's own is RMSNormalization)
  SimplifiedLayerNormalization: layerNorm,
  GroupNormalization: (c) => [like(c, 0, c.maybeShape(0))],
  RNN: rnn,
  GRU: rnn,
  LSTM: rnn,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
  TopK: topK,
  NonMaxSuppression: nms,
  NonZero: nonZero,
  RoiAlign: roiAlign,
  MaxRoiPool: maxRoiPool,
  GridSample: gridSample,
  QuantizeLinear: quantize,
  DequantizeLinear: dequantize,
  DynamicQuantizeLinear: dynQuantize,
  NegativeLogLikelihoodLoss: nllLoss,
  SoftmaxCrossEntropyLoss: sceLoss,
  Det: det,
  OneHot: oneHot,
  HannWindow: windowFn,
  HammingWindow: windowFn,
  BlackmanWindow: windowFn,
  MelWeightMatrix: melWeight,
  DFT: dft,
  STFT: stft,
  Einsum: einsum,
};
