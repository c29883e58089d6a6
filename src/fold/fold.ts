/**
 * Constant folding (what onnx-simplifier is used for), on the main graph:
 *
 * 1. Constant nodes become initializers (value, value_float(s), value_int(s); sparse and string
 *    constants stay nodes).
 * 2. Shape and Size of a value whose shape is static (after `--shape` or in the model) become
 *    int64 initializers (Shape's start/end honoured).
 * 3. Every other default-domain node whose inputs are all constant is evaluated by onnxruntime
 *    (the ground truth for numerics): the whole constant subgraph of one round is cut out as one
 *    model with no inputs, run once, and its results replace the nodes. Random ops, nodes with
 *    subgraphs, nodes producing graph outputs and results larger than `maxBytes` (that are also
 *    larger than their inputs: Expand/Tile/ConstantOfShape would bloat the file) are kept, and
 *    so are (De)QuantizeLinear: a QDQ model's integer weights stay integer.
 *    Rounds repeat until nothing changes (a folded Reshape shape can make a Shape static).
 * 4. Identity, and Dropout that drops nothing (only output 0 read; inference, or ratio 0), are
 *    removed by rewiring.
 * 5. Identical initializers (same dtype, dims and bytes) are merged into the first one.
 *
 * onnxruntime rather than own kernels: shape subgraphs mix a dozen ops (Gather, Slice, Concat,
 * Unsqueeze, Cast, arithmetic, Range, ...) in every dtype; one session per round evaluates all of
 * them exactly as the runtime that will execute the model would. The graph's interface (inputs,
 * outputs, their names) never changes.
 */
import { createHash } from 'node:crypto';
import { Graph, Model, Node, type Attribute } from '../ir/graph.ts';
import { Tensor } from '../ir/tensor.ts';
import { DataType } from '../ir/dtype.ts';
import { inferShapes, typeOfValue } from '../analysis/shapes.ts';
import { ort, ortMessage, type TypedData } from '../analysis/ort.ts';
import { encodeModel } from '../onnx/io.ts';
import { LazyRawSource } from '../onnx/lazy.ts';

export interface FoldOptions {
  /** Largest folded result kept (bytes) when it is larger than the node's inputs (default 1 MiB). */
  maxBytes?: number;
  /** Graph input name -> dims, as given to shape inference. */
  overrides?: Record<string, number[]>;
}

export interface FoldResult {
  /** Constant nodes turned into initializers. */
  constants: number;
  /** Shape/Size nodes replaced by their static value. */
  shapes: number;
  /** Nodes evaluated by onnxruntime and replaced by initializers. */
  evaluated: number;
  /** Identity/Dropout nodes bypassed. */
  aliases: number;
  /** Initializers merged into an identical one. */
  deduplicated: number;
  /** Rounds of evaluation (onnxruntime sessions). */
  rounds: number;
  /** Nodes with all-constant inputs that were kept, with why (at most 50). */
  kept: { node: string; op: string; reason: string }[];
  nodesBefore: number;
  nodesAfter: number;
}

const isDefault = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';
const NONDETERMINISTIC = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);
/** Kept in QDQ models: folding DequantizeLinear(int8 weight) would turn the quantized weight
 * back into a float one, which later rewrites (fold-bn) would then change off the int8 grid. */
const QUANT = new Set(['DequantizeLinear', 'QuantizeLinear', 'DynamicQuantizeLinear']);

/** The tensor a Constant node holds, named `name`; undefined for sparse/string constants. */
export function constantNodeTensor(n: Node, name: string): Tensor | undefined {
  const a = n.attributes[0] as Attribute | undefined;
  if (!a || n.attributes.length !== 1) return undefined;
  switch (a.type) {
    case 'tensor':
      if (a.name !== 'value' || a.value.dataType === DataType.STRING) return undefined;
      return new Tensor(name, a.value.dataType, [...a.value.dims], a.value.source);
    case 'float': return Tensor.float32(name, [], Float32Array.of(a.value));
    case 'floats': return Tensor.float32(name, [a.value.length], Float32Array.from(a.value));
    case 'int': return Tensor.int64(name, [], [Number(a.value)]);
    case 'ints': return new Tensor(name, DataType.INT64, [a.value.length], { kind: 'values', values: BigInt64Array.from(a.value) });
    default: return undefined;
  }
}

/** A value is constant when it is an initializer that is not also a graph input. */
const isConst = (g: Graph, v: string) => v === '' || (g.initializers.has(v) && !g.isGraphInput(v));

function constantsToInitializers(g: Graph): number {
  const dead: Node[] = [];
  for (const n of g.nodes) {
    if (n.opType !== 'Constant' || !isDefault(n) || !n.outputs[0] || g.isGraphOutput(n.outputs[0])) continue;
    const t = constantNodeTensor(n, n.outputs[0]);
    if (!t) continue;
    g.initializers.set(t.name, t);
    dead.push(n);
  }
  if (dead.length) g.removeNodes(dead);
  return dead.length;
}

/** The scalar value of constant `v` (an initializer that is not a graph input), else undefined. */
function constScalar(g: Graph, v: string | undefined): number | undefined {
  if (!v || !isConst(g, v)) return undefined;
  const t = g.initializers.get(v)!;
  return t.size === 1 ? t.toIntegers()[0] : undefined;
}

/** Dropout's output 0 is its input when the mask (output 1) is unread and the op does not drop:
 * training_mode absent (opset >= 12 input 2; earlier versions have no training input) or a
 * constant false, or the ratio (input 1) a constant 0 — torch exports `F.dropout(p=0.0)` in eval
 * models as training_mode true with ratio 0 (torchvision's Swin attention). */
function dropoutIsIdentity(g: Graph, n: Node): boolean {
  const mask = n.outputs[1];
  if (mask && (g.consumers(mask).length || g.isGraphOutput(mask))) return false;
  return !n.inputs[2] || constScalar(g, n.inputs[2]) === 0 || constScalar(g, n.inputs[1]) === 0;
}

function removeAliases(g: Graph): number {
  let count = 0;
  for (const n of [...g.nodes]) {
    if (!isDefault(n)) continue;
    const identity = n.opType === 'Identity';
    const dropout = n.opType === 'Dropout' && dropoutIsIdentity(g, n);
    if (!identity && !dropout) continue;
    const [src, out] = [n.inputs[0], n.outputs[0]];
    if (!src || !out || g.isGraphOutput(out) || g.isGraphInput(out)) continue;
    g.removeNodes([n]);
    g.rewireConsumers(out, src);
    g.valueInfo.delete(out);
    count++;
  }
  return count;
}

function foldShapes(model: Model, overrides: Record<string, number[]> | undefined): number {
  const g = model.graph;
  inferShapes(model, { overrides });
  const dead: Node[] = [];
  for (const n of g.nodes) {
    if (!isDefault(n) || (n.opType !== 'Shape' && n.opType !== 'Size')) continue;
    const out = n.outputs[0];
    if (!out || g.isGraphOutput(out)) continue;
    const s = typeOfValue(model, n.inputs[0])?.shape;
    if (!s || !s.every((d): d is number => typeof d === 'number' && d >= 0)) continue;
    let vals: number[];
    if (n.opType === 'Size') vals = [s.reduce((a, b) => a * b, 1)];
    else {
      const r = s.length;
      const clamp = (x: number) => Math.min(r, Math.max(0, x < 0 ? x + r : x));
      vals = s.slice(clamp(n.attrInt('start', 0)!), clamp(n.attrInt('end', r)!));
    }
    g.initializers.set(out, Tensor.int64(out, n.opType === 'Size' ? [] : [vals.length], vals));
    g.valueInfo.delete(out);
    dead.push(n);
  }
  if (dead.length) g.removeNodes(dead);
  return dead.length;
}

const ORT_DTYPE: Record<string, number> = {
  float32: DataType.FLOAT, float64: DataType.DOUBLE, float16: DataType.FLOAT16, int8: DataType.INT8, uint8: DataType.UINT8,
  int16: DataType.INT16, uint16: DataType.UINT16, int32: DataType.INT32, uint32: DataType.UINT32, int64: DataType.INT64,
  uint64: DataType.UINT64, bool: DataType.BOOL,
};

/** One round: every foldable node whose inputs are constant now or become constant within the
 * round, evaluated in one onnxruntime session. */
async function evaluateRound(model: Model, maxBytes: number, kept: Map<Node, string>): Promise<number> {
  const g = model.graph;
  const constant = new Set<string>();
  const picked: Node[] = [];
  for (const n of g.topoOrder()) {
    if (!isDefault(n) || kept.has(n) || n.opType === 'Constant') continue;
    const ins = n.inputs.filter((i) => i);
    if (!ins.length || !ins.every((i) => isConst(g, i) || constant.has(i))) continue;
    const why = NONDETERMINISTIC.has(n.opType) ? 'random op' : QUANT.has(n.opType) ? 'quantized weight: a QDQ runtime reads the integer weight and its scale' : n.subgraphs().length ? 'has a subgraph' : n.outputs.some((o) => g.isGraphOutput(o)) ? 'produces a graph output' : undefined;
    if (why) {
      kept.set(n, why);
      continue;
    }
    picked.push(n);
    for (const o of n.outputs) if (o) constant.add(o);
  }
  if (!picked.length) return 0;
  // Which results leave the constant subgraph (read by a kept node).
  const pickedSet = new Set(picked);
  const wanted = new Set<string>();
  for (const n of g.nodes) {
    if (pickedSet.has(n)) continue;
    // A subgraph (If/Loop/Scan body) reads outer values by name: its implicit inputs count.
    for (const i of n.inputs) if (constant.has(i)) wanted.add(i);
    for (const i of n.implicitInputs()) if (constant.has(i)) wanted.add(i);
  }
  if (!wanted.size) {
    g.removeNodes(picked); // nothing reads them
    return picked.length;
  }
  const inits = new Set<string>();
  for (const n of picked) for (const i of n.inputs) if (i && g.initializers.has(i)) inits.add(i);
  const sub = new Model({
    irVersion: model.irVersion,
    opsetImports: model.opsetImports,
    graph: new Graph({
      name: 'fold',
      nodes: picked.map((n) => new Node({ name: n.name, opType: n.opType, domain: n.domain, inputs: n.inputs, outputs: n.outputs, attributes: n.attributes, carry: n.carry })),
      initializers: [...inits].map((k) => g.initializers.get(k)!),
      outputs: [...wanted].map((name) => ({ name })),
    }),
    baseDir: model.baseDir,
  });
  let res: Awaited<ReturnType<typeof runFold>>;
  try {
    res = await runFold(sub);
  } catch (e) {
    // onnxruntime refused the subgraph as a whole: keep these nodes (named), fold nothing more.
    const msg = ortMessage(e).slice(0, 160);
    for (const n of picked) kept.set(n, `onnxruntime could not evaluate it: ${msg}`);
    return 0;
  }
  const inBytes = (n: Node) => n.inputs.reduce((a, i) => a + (i && g.initializers.has(i) ? g.initializers.get(i)!.byteLength : 0), 0);
  // A result too large is not materialized; its producer (and what it needs) stays.
  const keepValues = new Set<string>();
  for (const v of wanted) {
    const r = res[v];
    const dt = r?.type ? ORT_DTYPE[r.type] : undefined;
    if (!r || dt === undefined) { keepValues.add(v); continue; }
    const bytes = r.data.byteLength;
    const p = g.producer(v)!;
    if (bytes > maxBytes && bytes > inBytes(p)) keepValues.add(v);
  }
  // Nodes needed to compute a kept value stay (their inputs then stay constant-subgraph values).
  const stay = new Set<Node>();
  const need = [...keepValues];
  while (need.length) {
    const v = need.pop()!;
    const p = g.producer(v);
    if (!p || !pickedSet.has(p) || stay.has(p)) continue;
    stay.add(p);
    kept.set(p, keepValues.has(v) ? `result larger than ${maxBytes} B` : 'feeds a kept result');
    for (const i of p.inputs) if (i) need.push(i);
  }
  for (const v of wanted) {
    if (keepValues.has(v) || stay.has(g.producer(v)!)) continue;
    const r = res[v];
    const bytes = new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength).slice();
    g.initializers.set(v, new Tensor(v, ORT_DTYPE[r.type], [...r.dims], { kind: 'raw', bytes }));
    g.valueInfo.delete(v);
  }
  // Values read by staying nodes but computed by removed nodes must be materialized as well.
  const removed = picked.filter((n) => !stay.has(n));
  g.removeNodes(removed);
  for (const n of stay) for (const i of n.inputs) if (i && !isConst(g, i) && !g.producer(i)) throw new Error(`constant folding lost value '${i}' read by '${n.name}'`);
  return removed.length;
}

/** Runs a model with no inputs in onnxruntime; results keep onnxruntime's dtype name. */
async function runFold(sub: Model): Promise<Record<string, { dims: number[]; data: TypedData; type: string }>> {
  const o = await ort();
  const s = await o.InferenceSession.create(encodeModel(sub), { graphOptimizationLevel: 'disabled', logSeverityLevel: 4, intraOpNumThreads: 1 });
  try {
    const out = await s.run({});
    const res: Record<string, { dims: number[]; data: TypedData; type: string }> = {};
    // A string result is not folded (no initializer of it is made): left out, its producer stays.
    for (const [k, t] of Object.entries(out)) if (t.type !== 'string') res[k] = { dims: [...t.dims], data: t.data as TypedData, type: t.type };
    return res;
  } finally {
    await s.release();
  }
}

/** Merges initializers with equal dtype, dims and bytes into the first one (graph inputs and
 * outputs keep their names). */
export function deduplicateInitializers(g: Graph): number {
  const seen = new Map<string, string>();
  let merged = 0;
  for (const [name, t] of [...g.initializers]) {
    if (g.isGraphOutput(name) || g.inputs.some((i) => i.name === name)) continue;
    let bytes: Uint8Array;
    try {
      // Hashed, not kept: a lazily loaded initializer is read into scratch (onnx/lazy.ts).
      bytes = t.source instanceof LazyRawSource ? t.source.transientBytes() : t.bytes();
    } catch {
      continue; // strings and exotic encodings: not merged
    }
    const key = createHash('sha1').update(`${t.dataType}:${t.dims.join('x')}:`).update(bytes).digest('hex');
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, name);
      continue;
    }
    g.rewireConsumers(name, first); // subgraphs' outer reads included
    g.initializers.delete(name);
    merged++;
  }
  return merged;
}

/** Folds the main graph in place (see the file comment). */
export async function foldConstants(model: Model, opts: FoldOptions = {}): Promise<FoldResult> {
  const g = model.graph;
  const maxBytes = opts.maxBytes ?? 1 << 20;
  const nodesBefore = g.nodes.length;
  const r: FoldResult = { constants: 0, shapes: 0, evaluated: 0, aliases: 0, deduplicated: 0, rounds: 0, kept: [], nodesBefore, nodesAfter: 0 };
  const kept = new Map<Node, string>();
  // Subgraph bodies read outer values by name; renaming (rewireConsumers) and dead-code
  // elimination follow those reads (Node.implicitInputs), so aliases and duplicates go there too.
  r.constants = constantsToInitializers(g);
  r.aliases = removeAliases(g);
  for (let round = 0; round < 50; round++) {
    const s = foldShapes(model, opts.overrides);
    const e = await evaluateRound(model, maxBytes, kept);
    if (e) r.rounds++;
    r.shapes += s;
    r.evaluated += e;
    if (!s && !e) break;
  }
  r.aliases += removeAliases(g);
  r.deduplicated = deduplicateInitializers(g);
  g.eliminateDeadCode();
  r.kept = [...kept.entries()].filter(([n]) => g.nodes.includes(n)).slice(0, 50).map(([n, reason]) => ({ node: n.name, op: n.opType, reason }));
  r.nodesAfter = g.nodes.length;
  return r;
}
