/**
 * Shape rules of ONNX control flow (If, Loop, Scan), following onnx's own inference
 * (onnx/defs/controlflow: IfInferenceFunction, LoopInferenceFunction, ScanInferenceFunction):
 * each subgraph is inferred by the driver (`infer`, which also gives it the enclosing graph's
 * values it reads by name) with the input types the op feeds it, and the op's outputs are
 * built from the subgraphs' outputs.
 *
 * - If: both branches are inferred; when the condition is a compile-time constant the taken
 *   branch decides (types and folded values), else the outputs are the merge of the branches
 *   (a dim both agree on is kept, a differing dim becomes unknown, differing ranks give an
 *   unknown shape), as onnx's mergeShapesAndTypes. A branch whose inference fails on these
 *   shapes (exporters guard shape-specific code with an If on a shape test, e.g. Silero VAD v5's
 *   `if shape[2] == 1: squeeze(x, -1)`) cannot run on them: when the condition is constant and
 *   that branch is not taken, or the other branch infers, the other branch decides and the
 *   failure is only recorded (`subgraphFailure`); where onnx stops, onnxruntime runs the model.
 * - Loop: the body sees an int64 scalar iteration number, the condition and the loop-carried
 *   values. Where onnx drops the carried values' shapes, we keep those the body preserves: the
 *   body is inferred with the initial shapes, every dim that changes across one iteration is
 *   made unknown and the body inferred again, until the carried shapes are a fixed point (then
 *   they hold at every iteration, by induction). Scan outputs get a leading iteration dim: the
 *   trip count when it is a constant and there is no condition, else a symbol of the node.
 * - Scan (opset 9+): the body sees the states and one slice of each scan input (the scan axis
 *   removed); scan outputs get the sequence length inserted at their scan_output_axes. Opset 8
 *   (batched, with sequence_lens) likewise with the batch axis in front.
 */
import type { Dim, Graph, TensorType } from '../../ir/graph.ts';
import { DataType } from '../../ir/dtype.ts';
import { dataDim, isNum, normAxis, type Out, type RuleCtx, type Val } from './context.ts';
import { isDnnfuseError } from '../../errors.ts';

export interface SubResult {
  outputs: { type?: TensorType; value?: Val; reason?: string }[];
}
/** Infers a subgraph given its inputs' types (undefined: its own declaration). */
export type SubInfer = (sub: Graph, inputTypes: (TensorType | undefined)[]) => SubResult;

const fmt = (s: Dim[] | undefined) => (s ? `[${s.map((d) => (d === undefined ? '?' : d)).join(',')}]` : '[rank unknown]');

function graphAttr(c: RuleCtx, name: string): Graph {
  const a = c.node.attr(name);
  if (!a || a.type !== 'graph') return c.fail(`attribute '${name}' (a subgraph) is missing`);
  return a.value;
}

/** onnx's mergeShapesAndTypes for two alternatives of one value. */
function mergeTypes(a: TensorType | undefined, b: TensorType | undefined): TensorType | undefined {
  if (!a || !b) return undefined;
  const elemType = a.elemType === DataType.UNDEFINED ? b.elemType : a.elemType;
  if (!a.shape || !b.shape || a.shape.length !== b.shape.length) return { elemType, shape: undefined };
  return { elemType, shape: a.shape.map((d, i) => (d === b.shape![i] ? d : undefined)) };
}

const sameShape = (a: TensorType | undefined, b: TensorType | undefined) =>
  (a?.shape === undefined && b?.shape === undefined) || (!!a?.shape && !!b?.shape && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape![i]));

function checkCount(c: RuleCtx, sub: Graph, what: string, want: number, got: number): void {
  if (want !== got) c.fail(`${what} '${sub.name}' has ${got} outputs, the node needs ${want}`);
}

function ifRule(c: RuleCtx, infer: SubInfer): Out[] {
  const thenG = graphAttr(c, 'then_branch');
  const elseG = graphAttr(c, 'else_branch');
  const n = c.node.outputs.length;
  const cond = c.value(0);
  const taken = cond && cond.data.length === 1 && isNum(cond.data[0]) ? (cond.data[0] !== 0 ? thenG : elseG) : undefined;
  // Both branches are inferred (each gets its value_info), even when one is known taken.
  const tryInfer = (g: Graph): SubResult | { error: unknown } => {
    try {
      return infer(g, []);
    } catch (e) {
      if (isDnnfuseError(e)) return { error: e };
      throw e;
    }
  };
  const ra = tryInfer(thenG);
  const rb = tryInfer(elseG);
  const decide = (g: Graph, r: SubResult): Out[] => {
    checkCount(c, g, 'branch', n, r.outputs.length);
    return r.outputs.map((o) => ({ type: o.type, value: o.value, why: o.reason }));
  };
  if (taken) {
    const r = taken === thenG ? ra : rb;
    if ('error' in r) throw r.error;
    return decide(taken, r);
  }
  if ('error' in ra && 'error' in rb) throw ra.error;
  if ('error' in ra) return decide(elseG, rb as SubResult);
  if ('error' in rb) return decide(thenG, ra);
  const a = ra, b = rb;
  checkCount(c, thenG, 'then_branch', n, a.outputs.length);
  checkCount(c, elseG, 'else_branch', n, b.outputs.length);
  return a.outputs.map((x, k) => {
    const y = b.outputs[k];
    if (x.type && y.type && x.type.elemType !== y.type.elemType && x.type.elemType !== DataType.UNDEFINED && y.type.elemType !== DataType.UNDEFINED) {
      c.fail(`branches give output ${k} different element types (${x.type.elemType} and ${y.type.elemType})`);
    }
    const type = mergeTypes(x.type, y.type);
    const differ = !sameShape(x.type, y.type) && x.type?.shape && y.type?.shape;
    const why = differ
      ? `the branches of node '${c.node.name}' (If) give output ${k} different shapes: then ${fmt(x.type?.shape)}, else ${fmt(y.type?.shape)}`
      : x.reason ?? y.reason;
    return { type, why };
  });
}

/** Infers a body whose first `fixed` inputs have fixed types and whose next `carried.length`
 * inputs are loop-carried (body output 1+k or k feeds input `fixed+k` at the next iteration),
 * until the carried shapes are a fixed point. */
function fixedPoint(body: Graph, infer: SubInfer, fixed: (TensorType | undefined)[], carried: (TensorType | undefined)[], rest: (TensorType | undefined)[], outOffset: number, shapeOfOut: (t: TensorType | undefined) => TensorType | undefined = (t) => t): { result: SubResult; carried: (TensorType | undefined)[] } {
  let cur = carried;
  for (let round = 0; ; round++) {
    const result = infer(body, [...fixed, ...cur, ...rest]);
    const next = cur.map((t, k) => {
      const o = shapeOfOut(result.outputs[outOffset + k]?.type);
      if (!t) return o ? { elemType: o.elemType, shape: undefined } : undefined;
      return mergeTypes(t, o ?? { elemType: t.elemType, shape: undefined });
    });
    if (next.every((t, k) => sameShape(t, cur[k]))) return { result, carried: cur };
    // Each round turns at least one dim (or rank) unknown, so this ends; bound it anyway.
    cur = round < 8 ? next : next.map((t) => (t ? { elemType: t.elemType, shape: undefined } : t));
  }
}

function loopRule(c: RuleCtx, infer: SubInfer): Out[] {
  const body = graphAttr(c, 'body');
  const nCarried = c.nIn - 2;
  if (nCarried < 0) c.fail('needs inputs M and cond (either may be empty)');
  const nScan = c.node.outputs.length - nCarried;
  checkCount(c, body, 'body', 1 + nCarried + nScan, body.outputs.length);
  const initial = Array.from({ length: nCarried }, (_, k) => c.type(2 + k));
  const iterT: TensorType = { elemType: DataType.INT64, shape: [] };
  const condT: TensorType = c.type(1) ?? { elemType: DataType.BOOL, shape: [] };
  const { result, carried } = fixedPoint(body, infer, [iterT, condT], initial, [], 1);
  const m = c.has(0) ? c.value(0) : undefined;
  const trips: Dim = !c.has(1) && m && m.data.length === 1 && isNum(m.data[0]) ? m.data[0] : dataDim(c, 'iterations');
  const outs: Out[] = carried.map((t, k) => ({ type: t ?? result.outputs[1 + k]?.type, why: result.outputs[1 + k]?.reason ?? (t?.shape?.every(isNum) ? undefined : `loop-carried value ${k} of node '${c.node.name}' (Loop) changes shape across iterations: ${fmt(initial[k]?.shape)} -> ${fmt(result.outputs[1 + k]?.type?.shape)}`) }));
  for (let k = 0; k < nScan; k++) {
    const o = result.outputs[1 + nCarried + k];
    outs.push({ type: o?.type ? { elemType: o.type.elemType, shape: o.type.shape ? [trips, ...o.type.shape] : undefined } : undefined, why: isNum(trips) ? o?.reason : `the number of iterations of node '${c.node.name}' (Loop) is data-dependent` });
  }
  return outs;
}

function scanRule(c: RuleCtx, infer: SubInfer): Out[] {
  const body = graphAttr(c, 'body');
  const m = c.node.attrInt('num_scan_inputs');
  if (m === undefined) c.fail("attribute 'num_scan_inputs' is missing");
  const batched = c.opset < 9;
  const first = batched ? 1 : 0; // opset 8: input 0 is sequence_lens
  const nState = c.nIn - first - m;
  if (nState < 0) c.fail(`has ${c.nIn} inputs, fewer than num_scan_inputs ${m}`);
  const nScanOut = c.node.outputs.length - nState;
  checkCount(c, body, 'body', nState + nScanOut, body.outputs.length);
  const inAxes = batched ? Array(m).fill(1) : c.node.attrInts('scan_input_axes', Array(m).fill(0));
  const outAxes = batched ? Array(nScanOut).fill(1) : c.node.attrInts('scan_output_axes', Array(nScanOut).fill(0));
  let seq: Dim;
  let batch: Dim;
  const slices = Array.from({ length: m }, (_, j) => {
    const t = c.type(first + nState + j);
    if (!t?.shape) return t ? { elemType: t.elemType, shape: undefined } : undefined;
    const ax = normAxis(c, inAxes[j], t.shape.length, 'scan_input_axes');
    if (j === 0) seq = t.shape[ax];
    if (batched && j === 0) batch = t.shape[0];
    return { elemType: t.elemType, shape: t.shape.filter((_, i) => i !== ax && !(batched && i === 0)) };
  });
  const unbatch = (t: TensorType | undefined) => (batched && t?.shape ? { elemType: t.elemType, shape: t.shape.slice(1) } : t);
  const rebatch = (t: TensorType | undefined) => (batched && t ? { elemType: t.elemType, shape: t.shape ? [batch, ...t.shape] : undefined } : t);
  const initial = Array.from({ length: nState }, (_, k) => unbatch(c.type(first + k)));
  const { result, carried } = fixedPoint(body, infer, [], initial, slices, 0);
  const outs: Out[] = carried.map((t, k) => ({ type: rebatch(t ?? result.outputs[k]?.type), why: result.outputs[k]?.reason }));
  for (let k = 0; k < nScanOut; k++) {
    const o = result.outputs[nState + k];
    if (!o?.type?.shape) {
      outs.push({ type: o?.type ? { elemType: o.type.elemType, shape: undefined } : undefined, why: o?.reason });
      continue;
    }
    const r = o.type.shape.length + 1;
    const ax = batched ? 0 : normAxis(c, outAxes[k], r, 'scan_output_axes');
    const shape = [...o.type.shape];
    shape.splice(ax, 0, seq);
    outs.push({ type: rebatch({ elemType: o.type.elemType, shape }), why: o.reason });
  }
  return outs;
}

/** The shape rule of a control-flow node; `infer` runs the driver on a subgraph. */
export function controlFlowRule(c: RuleCtx, infer: SubInfer): Out[] {
  switch (c.node.opType) {
    case 'If': return ifRule(c, infer);
    case 'Loop': return loopRule(c, infer);
    case 'Scan': return scanRule(c, infer);
    default: return c.fail('is not a control-flow op');
  }
}
