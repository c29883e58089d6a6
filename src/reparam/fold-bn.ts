/**
 * Folding BatchNormalization (the fold-bn pass's method): inference-mode BatchNormalization
 * folded into the adjacent linear op (Detkov et al., "Reparameterization through Spatial
 * Gradient Scaling", arXiv 2303.02733).
 *
 * Rewrites (each checks its preconditions; a refusal leaves the graph unchanged and is logged
 * with the reason and the nodes):
 * - Conv -> BN: W'[m] = s[m] W[m], b' = s (b - mean) + beta, s = gamma / sqrt(var + eps). Any
 *   rank and group count (dim 0 is the output channel). ConvTranspose: weights are
 *   [C_in, M/g, k...], so output channel m = q (M/g) + j scales W[c, j] for c in group q.
 *   The conv output must have the BN as its only consumer and not be a graph output.
 * - BN -> Conv: W'[m, c] = W[m, c] s[cin], b' = b + sum W[m, c, ...] t[cin] with t = beta -
 *   mean s. Exact only when the conv has zero pads or t = 0 (otherwise zero padding sees a
 *   shifted map); refused otherwise. The BN output must feed only this conv.
 * - Gemm -> BN (2-D): B scaled per output feature, C' = s (beta_g C) + t.
 * - MatMul (+ Add of a constant) -> BN on a rank-2 output: the same with the Add as the bias.
 * Weights shared with other nodes are copied (fresh initializer names), never changed in place.
 *
 * One call of `foldBnSweep` visits every BatchNormalization once; the fold-bn pass
 * (src/passes/fold-bn.ts) repeats it to a fixed point (a BN freed by one fold, e.g.
 * BN -> BN -> Conv, folds on the next sweep).
 */
import { attr, Node, type Graph, type Model } from '../ir/graph.ts';
import { Tensor } from '../ir/tensor.ts';
import { bnParams, constFloatTensor, isOp, Refusal, valueShape, type RewriteLog } from './graph-ops.ts';
import { constTensor } from '../ir/constant.ts';

/** Replaces node input `slot` by a fresh float32 initializer holding `values` (a Float32Array is
 * taken as it is: the callers pass one they own, a weight rescaled in place). */
function setConst(graph: Graph, node: Node, slot: number, base: string, dims: number[], values: Float64Array | Float32Array): void {
  const name = graph.freshName(base);
  graph.setInitializer(Tensor.float32(name, dims, values instanceof Float32Array ? values : Float32Array.from(values)));
  while (node.inputs.length <= slot) node.inputs.push('');
  node.inputs[slot] = name;
  graph.invalidate();
}

/** The producer now writes the BN's output value (so graph outputs keep their names) and the
 * BN goes; the producer's old output had the BN as its only reader. */
function bypassBn(graph: Graph, producer: Node, bn: Node): void {
  producer.outputs[0] = bn.outputs[0];
  graph.removeNodes([bn]);
}

function singleConsumer(graph: Graph, value: string, who: Node): string | undefined {
  const cons = graph.consumers(value);
  if (graph.isGraphOutput(value)) return `'${value}' is a graph output`;
  if (cons.length !== 1 || cons[0] !== who) return `'${value}' has ${cons.length} consumers (${cons.map((c) => c.name).join(', ')})`;
  return undefined;
}

function foldConvBn(model: Model, conv: Node, bn: Node): string {
  const g = model.graph;
  const { s, t } = bnParams(model, bn);
  const { t: wT, v: W } = constFloatTensor(g, conv.inputs[1], 'weight', conv);
  const group = conv.attrInt('group', 1);
  const transpose = conv.opType === 'ConvTranspose';
  const M = transpose ? wT.dims[1] * group : wT.dims[0];
  if (s.length !== M) throw new Refusal(`BN '${bn.name}' has ${s.length} channels, conv '${conv.name}' outputs ${M}`);
  const b = conv.inputs[2] ? constFloatTensor(g, conv.inputs[2], 'bias', conv).v : new Float32Array(M);
  // W (a fresh array of toFloat32) is rescaled in place: each product is rounded to float32 on
  // store, as Float32Array.from of a float64 copy rounded it, with no copy of the weight (the
  // float64 one was twice its size, and every such transient left the heap fragmented:
  // ResNet-50, bench:memory).
  const W2 = W;
  if (!transpose) {
    const per = W.length / M;
    for (let m = 0; m < M; m++) for (let j = 0; j < per; j++) W2[m * per + j] = W[m * per + j] * s[m];
  } else {
    const [cin, mg] = wT.dims;
    const per = W.length / (cin * mg), cinG = cin / group;
    for (let c = 0; c < cin; c++) {
      const q = Math.floor(c / cinG);
      for (let j = 0; j < mg; j++) for (let k = 0; k < per; k++) W2[(c * mg + j) * per + k] = W[(c * mg + j) * per + k] * s[q * mg + j];
    }
  }
  const b2 = new Float64Array(M);
  for (let m = 0; m < M; m++) b2[m] = s[m] * b[m] + t[m];
  setConst(g, conv, 1, `${conv.name}.weight_bn`, wT.dims, W2);
  setConst(g, conv, 2, `${conv.name}.bias_bn`, [M], b2);
  bypassBn(g, conv, bn);
  return `${conv.opType} '${conv.name}' now computes BN '${bn.name}'`;
}

function foldBnConv(model: Model, bn: Node, conv: Node): string {
  const g = model.graph;
  if (conv.inputs[0] !== bn.outputs[0]) throw new Refusal(`BN '${bn.name}' feeds the weight of conv '${conv.name}'`);
  const { s, t } = bnParams(model, bn);
  const { t: wT, v: W } = constFloatTensor(g, conv.inputs[1], 'weight', conv);
  const group = conv.attrInt('group', 1);
  const [M, cg] = wT.dims;
  const C = cg * group;
  if (s.length !== C) throw new Refusal(`BN '${bn.name}' has ${s.length} channels, conv '${conv.name}' reads ${C}`);
  const autoPad = conv.attrString('auto_pad', 'NOTSET');
  const kernel = wT.dims.slice(2);
  const padded = autoPad === 'NOTSET' ? conv.attrInts('pads', []).some((p) => p !== 0) : autoPad !== 'VALID' && kernel.some((k) => k > 1);
  const shift = t.some((v) => Math.abs(v) > 0);
  if (padded && shift) {
    throw new Refusal(`conv '${conv.name}' zero-pads and BN '${bn.name}' has a non-zero shift (beta - mean*s): the folded conv would differ at the borders`);
  }
  const per = W.length / (M * cg);
  const mg = M / group;
  const b = conv.inputs[2] ? constFloatTensor(g, conv.inputs[2], 'bias', conv).v : new Float32Array(M);
  const W2 = W, b2 = new Float64Array(M); // rescaled in place (see foldConvBn); w is read first
  for (let m = 0; m < M; m++) {
    const q = Math.floor(m / mg);
    let acc = b[m];
    for (let c = 0; c < cg; c++) {
      const ci = q * cg + c;
      for (let k = 0; k < per; k++) {
        const w = W[(m * cg + c) * per + k];
        W2[(m * cg + c) * per + k] = w * s[ci];
        acc += w * t[ci];
      }
    }
    b2[m] = acc;
  }
  setConst(g, conv, 1, `${conv.name}.weight_bn`, wT.dims, W2);
  setConst(g, conv, 2, `${conv.name}.bias_bn`, [M], b2);
  conv.inputs[0] = bn.inputs[0];
  g.removeNodes([bn]);
  return `conv '${conv.name}' now reads '${bn.inputs[0]}' with BN '${bn.name}' folded in`;
}

const rank = (model: Model, value: string): number | undefined => valueShape(model, value)?.length;

function foldGemmBn(model: Model, gemm: Node, bn: Node): string {
  const g = model.graph;
  const { s, t } = bnParams(model, bn);
  const { t: bT, v: B } = constFloatTensor(g, gemm.inputs[1], 'B', gemm);
  if (bT.dims.length !== 2) throw new Refusal(`Gemm '${gemm.name}': B is not 2-D`);
  const transB = gemm.attrInt('transB', 0) === 1;
  const [K, F] = transB ? [bT.dims[1], bT.dims[0]] : bT.dims;
  if (s.length !== F) throw new Refusal(`BN '${bn.name}' has ${s.length} channels, Gemm '${gemm.name}' outputs ${F}`);
  const B2 = new Float64Array(B.length);
  for (let k = 0; k < K; k++) for (let f = 0; f < F; f++) {
    const i = transB ? f * K + k : k * F + f;
    B2[i] = B[i] * s[f];
  }
  const beta = gemm.attrFloat('beta', 1);
  const C2 = new Float64Array(F);
  if (gemm.inputs[2]) {
    const { t: cT, v: C } = constFloatTensor(g, gemm.inputs[2], 'C', gemm);
    if (C.length === 1) C2.fill(C[0]);
    else if (C.length === F && (cT.dims.length === 1 || cT.dims[0] === 1)) C2.set(C);
    else throw new Refusal(`Gemm '${gemm.name}': C of shape [${cT.dims}] is not a per-feature bias`);
  }
  for (let f = 0; f < F; f++) C2[f] = s[f] * beta * C2[f] + t[f];
  setConst(g, gemm, 1, `${gemm.name}.B_bn`, bT.dims, B2);
  setConst(g, gemm, 2, `${gemm.name}.C_bn`, [F], C2);
  gemm.setAttr(attr.float('beta', 1));
  bypassBn(g, gemm, bn);
  return `Gemm '${gemm.name}' now computes BN '${bn.name}'`;
}

function foldMatMulBn(model: Model, mm: Node, add: Node | undefined, bn: Node): string {
  const g = model.graph;
  const { s, t } = bnParams(model, bn);
  const { t: bT, v: B } = constFloatTensor(g, mm.inputs[1], 'B', mm);
  if (bT.dims.length !== 2) throw new Refusal(`MatMul '${mm.name}': B is not 2-D`);
  const r = rank(model, mm.inputs[0]);
  if (r !== 2) throw new Refusal(`MatMul '${mm.name}': input rank is ${r ?? 'unknown'}; BN normalizes dim 1, which is the feature axis only for rank-2 outputs`);
  const [K, F] = bT.dims;
  if (s.length !== F) throw new Refusal(`BN '${bn.name}' has ${s.length} channels, MatMul '${mm.name}' outputs ${F}`);
  const c = new Float64Array(F);
  if (add) {
    const other = add.inputs[0] === mm.outputs[0] ? add.inputs[1] : add.inputs[0];
    const { v } = constFloatTensor(g, other, 'bias', add);
    if (v.length === 1) c.fill(v[0]);
    else if (v.length === F) c.set(v);
    else throw new Refusal(`Add '${add.name}' is not a per-feature bias`);
  }
  const B2 = new Float64Array(B.length);
  for (let k = 0; k < K; k++) for (let f = 0; f < F; f++) B2[k * F + f] = B[k * F + f] * s[f];
  for (let f = 0; f < F; f++) c[f] = s[f] * c[f] + t[f];
  // MatMul + Add(bias) -> Gemm-free form: keep MatMul, one Add with the folded bias.
  setConst(g, mm, 1, `${mm.name}.B_bn`, bT.dims, B2);
  const biasName = g.freshName(`${mm.name}.bias_bn`);
  g.setInitializer(Tensor.float32(biasName, [F], Float32Array.from(c)));
  if (add) {
    add.inputs = [mm.outputs[0], biasName];
    bypassBn(g, add, bn);
  } else {
    const newAdd = new Node({ name: g.freshName(`${mm.name}/bn_bias`), opType: 'Add', inputs: [mm.outputs[0], biasName], outputs: [bn.outputs[0]] });
    g.replaceNode(bn, [newAdd]);
  }
  return `MatMul '${mm.name}'${add ? ` + Add '${add.name}'` : ''} now computes BN '${bn.name}'`;
}

/** One sweep over the graph: tries to fold every BatchNormalization once, logging each fold and
 * each refusal; returns whether anything was folded. */
export function foldBnSweep(model: Model, log: RewriteLog): boolean {
  const g = model.graph;
  let changed = false;
  for (const bn of [...g.topoOrder()]) {
    if (!isOp(bn, 'BatchNormalization') || !g.nodes.includes(bn)) continue;
    const x = bn.inputs[0];
    const p = g.producer(x);
    // Fold into the producer.
    let triedProducer = false;
    if (p && (isOp(p, 'Conv') || isOp(p, 'ConvTranspose') || isOp(p, 'Gemm') || isOp(p, 'MatMul') || isOp(p, 'Add'))) {
      const why = singleConsumer(g, x, bn);
      let mm: Node | undefined, add: Node | undefined;
      if (isOp(p, 'Add')) {
        const a = g.producer(p.inputs[0]), b = g.producer(p.inputs[1]);
        if (isOp(a, 'MatMul') && constTensor(g, p.inputs[1])) { mm = a; add = p; }
        else if (isOp(b, 'MatMul') && constTensor(g, p.inputs[0])) { mm = b; add = p; }
      } else if (isOp(p, 'MatMul')) mm = p;
      const rw = isOp(p, 'Gemm') ? 'gemm-bn' : mm ? 'matmul-bn' : isOp(p, 'Add') ? '' : 'conv-bn';
      if (rw) {
        triedProducer = true;
        const w2 = mm && add ? singleConsumer(g, mm.outputs[0], add) : undefined;
        if (why || w2) {
          log.refused(rw, [mm ?? p, ...(add ? [add] : []), bn], why ? `${p.opType} output ${why}; folding would change the other readers` : `MatMul output ${w2}`);
        } else {
          try {
            const msg = isOp(p, 'Gemm') ? foldGemmBn(model, p, bn) : mm ? foldMatMulBn(model, mm, add, bn) : foldConvBn(model, p, bn);
            log.applied(rw, [mm ?? p, ...(add ? [add] : []), bn], msg);
            changed = true;
            continue;
          } catch (e) {
            if (!(e instanceof Refusal)) throw e;
            log.refused(rw, [p, bn], e.message);
          }
        }
      }
    }
    // Else fold into the consumer.
    const cons = g.consumers(bn.outputs[0]);
    if (cons.length === 1 && isOp(cons[0], 'Conv') && !g.isGraphOutput(bn.outputs[0]) && bn.outputs.filter((o) => o).length === 1) {
      try {
        const msg = foldBnConv(model, bn, cons[0]);
        log.applied('bn-conv', [bn, cons[0]], msg);
        changed = true;
      } catch (e) {
        if (!(e instanceof Refusal)) throw e;
        log.refused('bn-conv', [bn, cons[0]], e.message);
      }
      continue;
    }
    if (!triedProducer) {
      const c = cons.map((n) => `${n.opType} '${n.name}'`).join(', ');
      log.refused('bn', [bn], `no foldable neighbour: input from ${p ? `${p.opType} '${p.name}'` : 'a graph input'}, output read by ${c || 'nothing'}${cons.length > 1 ? ' (several readers)' : ''}`);
    }
  }
  return changed;
}
