/**
 * Shape inference: the element type and shape of every value of a model's main graph.
 *
 * Walks the nodes in topological order once and applies one rule per op type (the table in
 * `RULES`, built from src/analysis/shapes/{elementwise,nn,tensor}.ts). A rule reads its
 * inputs' types and, where a shape depends on values (Reshape targets, Slice starts, Resize
 * scales), their folded values: small int/float tensors coming from initializers, Constant,
 * Shape and the int arithmetic built on them (see shapes/tensor.ts). No rule scans the graph,
 * so the whole pass is linear in the number of nodes.
 *
 * Dims are numbers, symbols (dim_param strings that pass through unchanged) or undefined;
 * unknown or symbolic dims never turn into guessed numbers. Ops without a rule (other domains,
 * control flow, sequences) take the type the file declares in value_info; else their outputs
 * stay unknown, and only `staticShape` — called by a pass that needs the shape — fails,
 * naming the value, its producer and the reason, with a `--shape` suggestion when the cause is
 * a dynamic graph input.
 *
 * Results are cached on the graph (graph.analysis, dropped on any mutation), keyed by the
 * input overrides, and written into graph.valueInfo for intermediate values; graph outputs get
 * only what their declaration leaves open (missing type/rank/dims; not under overrides), graph
 * inputs keep theirs.
 * Under overrides, read shapes through the returned map or `staticShape` (graph inputs still
 * declare their original dims). The types a file declared in value_info are remembered
 * so a later run never mistakes an inferred entry for a declaration.
 */
import { CONTROL_FLOW_OPS, Graph, Model, type Dim, type Node, type TensorType, type ValueInfo } from '../ir/graph.ts';
import { DataType } from '../ir/dtype.ts';
import { badInput, internal, isDnnfuseError, unsupported } from '../errors.ts';
import { nonTensorKind } from '../onnx/decode.ts';
import { isNum, nodeError, Unknown, type Out, type Rule, type RuleCtx, type Val } from './shapes/context.ts';
import { elementwiseRules } from './shapes/elementwise.ts';
import { nnRules } from './shapes/nn.ts';
import { contribRules } from './shapes/contrib.ts';
import { tensorRules, tensorVal } from './shapes/tensor.ts';
import { controlFlowRule, type SubInfer, type SubResult } from './shapes/control-flow.ts';

export type { Dim, TensorType } from '../ir/graph.ts';
export type { Val, Rule, RuleCtx } from './shapes/context.ts';

/** op type (default ONNX domain) -> rule. Extend by adding entries to the per-family tables. */
export const RULES: Readonly<Record<string, Rule>> = { ...elementwiseRules, ...tensorRules, ...nnRules };

/** Options of shape inference: fixed dims for dynamic graph inputs. */
export interface InferOptions {
  /** Graph input name -> concrete dims (from `--shape name=1x3x224x224`). */
  overrides?: Record<string, number[]>;
}

/** Every value's inferred dtype and shape, and the values whose shape is not static (with why). */
export interface ShapeAnalysis {
  /** Every value with anything known about it (initializers, inputs, node outputs). */
  types: Map<string, TensorType>;
  /** Folded values of small tensors (shape arithmetic), by value name. */
  values: Map<string, Val>;
  /** For values whose shape is unknown or not fully static: why. */
  reasons: Map<string, string>;
  /** Nodes whose op has no rule (their outputs use declared value_info or stay unknown). */
  unsupported: Node[];
}

/** The default-domain opset we assume when a model imports none. */
const DEFAULT_OPSET = 18;

/** What the last inference of each subgraph (If branch, Loop/Scan body) found: its values'
 * types (inputs, outer-scope reads, initializers, node outputs) and why a shape is not static. */
const subgraphRuns = new WeakMap<Graph, { types: Map<string, TensorType>; reasons: Map<string, string> }>();

/** Types and not-static reasons of a subgraph's values as the last shape inference of its model
 * (`analyzeShapes` on the main graph) found them, or undefined when none reached it. A Loop body
 * is the fixed point's last run: shapes that hold at every iteration. */
export function subgraphShapes(sub: Graph): { types: ReadonlyMap<string, TensorType>; reasons: ReadonlyMap<string, string> } | undefined {
  return subgraphRuns.get(sub);
}

const subgraphFailures = new WeakMap<Graph, string>();
/** Why the last inference of a subgraph failed, when it did and the model's inference went on
 * (an If branch that cannot run on these shapes: see shapes/control-flow.ts). */
export function subgraphFailure(sub: Graph): string | undefined {
  return subgraphFailures.get(sub);
}

/** Which graph each analysis was last run with (so staticShape(graph, name) can recompute). */
const lastRun = new WeakMap<Graph, { model: Model; opts: InferOptions }>();
/** ValueInfo entries written by inference -> the type the file declared before (if any). */
const inferredEntries = new WeakMap<ValueInfo, TensorType | undefined>();

function declaredType(vi: ValueInfo | undefined): TensorType | undefined {
  if (!vi) return undefined;
  return inferredEntries.has(vi) ? inferredEntries.get(vi) : vi.type;
}

/** The op types with a shape rule (default domain). */
export function supportedOps(): string[] {
  return [...Object.keys(RULES), ...CONTROL_FLOW_OPS].sort();
}

/** Rules of onnxruntime's contrib ops (domain com.microsoft): src/analysis/shapes/contrib.ts. */
export const MS_RULES: Readonly<Record<string, Rule>> = contribRules;

function ruleFor(node: Node): Rule | undefined {
  if (node.domain === '' || node.domain === 'ai.onnx') return Object.hasOwn(RULES, node.opType) ? RULES[node.opType] : undefined;
  if (node.domain === 'com.microsoft') return Object.hasOwn(MS_RULES, node.opType) ? MS_RULES[node.opType] : undefined;
  return undefined;
}

export function hasShapeRule(node: Node): boolean {
  return ruleFor(node) !== undefined || ((node.domain === '' || node.domain === 'ai.onnx') && CONTROL_FLOW_OPS.has(node.opType));
}

/** Fixes graph-input dims from `--shape` overrides (the written model keeps them fixed): the one
 * implementation, for compile, plan and the library; the rank and fixed dims must agree. */
export function applyShapeOverrides(model: Model, specs: string[]): void {
  if (!specs.length) return;
  const overrides = parseShapeOverrides(specs);
  for (const [name, dims] of Object.entries(overrides)) {
    const inp = model.graph.inputs.find((i) => i.name === name && !model.graph.initializers.has(name));
    if (!inp) throw badInput(`--shape ${name}=...: the model has no graph input named '${name}' (inputs: ${model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name)).map((i) => i.name).join(', ')})`);
    const kind = nonTensorKind(inp);
    if (kind) throw badInput(`--shape ${name}=...: input '${name}' is ${kind}, not a tensor`);
    const old = inp.type?.shape;
    if (old && old.length !== dims.length) throw badInput(`--shape ${name}: ${dims.length} dims given, the input has rank ${old.length}`);
    old?.forEach((d, k) => {
      if (typeof d === 'number' && d !== dims[k]) throw badInput(`--shape ${name}: dim ${k} is fixed to ${d} ${dimSetBy.get(model)?.has(`${name}:${k}`) ? 'by --dim' : 'in the model'}, not ${dims[k]}`);
    });
    inp.type = { elemType: inp.type?.elemType ?? DataType.FLOAT, shape: dims };
  }
  model.graph.invalidate();
}

/** The input dims each model had fixed by --dim (`input:axis`), for applyShapeOverrides' errors. */
const dimSetBy = new WeakMap<Model, Set<string>>();

/** Fixes named (symbolic) dims of the graph's inputs and outputs from `--dim name=N` specs, the
 * way onnxruntime's free-dimension overrides do: every dim spelled `name` (an ONNX dim_param)
 * becomes N, in every input at once. A transformer exported with a KV cache has a `past_key_values`
 * input per layer and direction, all `[batch, heads, past, head_dim]`: `--dim batch=1 --dim past=6`
 * fixes them together, where `--shape` would need one spec per input. Run before `--shape`
 * (applyShapeOverrides), which then checks its dims against these. A name no input uses is an
 * error naming the named dims the model has. */
export function applyDimOverrides(model: Model, specs: readonly string[]): void {
  if (!specs.length) return;
  const dims = parseDimOverrides(specs);
  const inputs = model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
  const named = inputDimNames(model);
  for (const name of dims.keys()) {
    if (!named.has(name)) {
      const have = [...named];
      throw badInput(`--dim ${name}=...: no graph input has a dim named '${name}' (${have.length ? `named dims: ${have.join(', ')}` : 'the inputs have no named dims; use --shape'})`);
    }
  }
  const set = dimSetBy.get(model) ?? new Set<string>();
  dimSetBy.set(model, set);
  for (const v of [...inputs, ...model.graph.outputs]) {
    const shape = v.type?.shape;
    if (!shape?.some((d) => typeof d === 'string' && dims.has(d))) continue;
    shape.forEach((d, k) => typeof d === 'string' && dims.has(d) && set.add(`${v.name}:${k}`));
    v.type = { ...v.type!, shape: shape.map((d) => (typeof d === 'string' ? dims.get(d) ?? d : d)) };
  }
  model.graph.invalidate();
}

/** The named dims (ONNX dim_params) of the graph's inputs, initializers aside. */
export function inputDimNames(model: Model): Set<string> {
  const g = model.graph;
  return new Set(g.inputs.filter((i) => !g.initializers.has(i.name)).flatMap((i) => (i.type?.shape ?? []).filter((d): d is string => typeof d === 'string')));
}

/** Parses `name=N` specs of `--dim` (N a non-negative integer at most 2^31 - 1). */
export function parseDimOverrides(specs: readonly string[]): Map<string, number> {
  const res = new Map<string, number>();
  for (const spec of specs) {
    const eq = spec.lastIndexOf('=');
    const name = spec.slice(0, eq);
    const text = spec.slice(eq + 1).trim();
    if (eq <= 0 || !/^[0-9]{1,10}$/.test(text) || Number(text) > MAX_DIM) {
      throw badInput(`--dim '${spec}': expected NAME=N with N a non-negative integer up to ${MAX_DIM}, e.g. batch=1`);
    }
    const n = Number(text);
    if (res.has(name) && res.get(name) !== n) throw badInput(`--dim ${name}: given twice, as ${res.get(name)} and ${n}`);
    res.set(name, n);
  }
  return res;
}

/** Parses `name=1x3x224x224` specs (dims separated by x or ,). */
/** Largest dim accepted from the command line (2^31 - 1). */
export const MAX_DIM = 2 ** 31 - 1;

/** The graph input a `--shape` spec names: what precedes its last `=` (input names may hold `=`). */
export const shapeSpecName = (spec: string): string => spec.slice(0, spec.lastIndexOf('='));

export function parseShapeOverrides(specs: readonly string[] | undefined): Record<string, number[]> {
  const res: Record<string, number[]> = {};
  for (const spec of specs ?? []) {
    const eq = spec.lastIndexOf('=');
    const name = shapeSpecName(spec);
    const dimsText = spec.slice(eq + 1);
    const parts = dimsText.split(/[x,]/).map((d) => d.trim());
    const dims = parts.map((d) => (/^[0-9]+$/.test(d) ? Number(d) : NaN));
    if (eq <= 0 || !dimsText || dims.some((d) => !Number.isInteger(d) || d < 0)) {
      throw badInput(`--shape '${spec}': expected NAME=DIMS with non-negative integer dims, e.g. input=1x3x224x224`);
    }
    // Digits past 2^31 - 1 would wrap when written to the model's int64 dims or overflow the
    // element counts the cost models multiply: refused, naming the dim.
    const big = parts.findIndex((d, i) => dims[i] > MAX_DIM || d.length > 10);
    if (big >= 0) throw badInput(`--shape '${spec}': dim #${big} (${parts[big]}) is larger than ${MAX_DIM}`);
    const elems = dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elems)) throw badInput(`--shape '${spec}': ${dims.join('x')} holds more than 2^53 elements`);
    // Defined, not assigned: an input named __proto__ must not set the object's prototype.
    Object.defineProperty(res, name, { value: dims, enumerable: true, writable: true, configurable: true });
  }
  return res;
}

const fmtDims = (s: Dim[] | undefined) => (s ? `[${s.map((d) => (d === undefined ? '?' : d)).join(',')}]` : '[rank unknown]');

function overrideKey(o: Record<string, number[]> | undefined): string {
  return 'shapes:' + JSON.stringify(Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Full analysis (types, folded values, reasons), cached on the graph per override set. */
export function analyzeShapes(model: Model, opts: InferOptions = {}): ShapeAnalysis {
  const g = model.graph;
  lastRun.set(g, { model, opts });
  return g.analysis(overrideKey(opts.overrides), () => run(model, opts));
}

/** Infers dtype and shape of every value; fills graph.valueInfo; cached. */
export function inferShapes(model: Model, opts: InferOptions = {}): Map<string, TensorType> {
  return analyzeShapes(model, opts).types;
}

/** The type inferred for one value (runs inference with the graph's last options if needed). */
export function typeOfValue(graphOrModel: Graph | Model, name: string): TensorType | undefined {
  return current(graphOrModel).types.get(name);
}

function current(graphOrModel: Graph | Model): ShapeAnalysis {
  if (graphOrModel instanceof Model) {
    const prev = lastRun.get(graphOrModel.graph);
    return analyzeShapes(graphOrModel, prev?.model === graphOrModel ? prev.opts : {});
  }
  const prev = lastRun.get(graphOrModel);
  // A bare graph never analysed: its opset (which decides e.g. whether Reduce/Split axes are
  // attributes or inputs) is unknown, so guessing could give wrong shapes. Refuse.
  if (!prev) throw internal(`shape query on graph '${graphOrModel.name}' before inferShapes(model) ran on it; pass the Model instead`);
  return analyzeShapes(prev.model, prev.opts);
}

/** The static shape of a value, or a one-line DnnfuseError naming it, its producer and why. */
export function staticShape(graphOrModel: Graph | Model, name: string): number[] {
  const a = current(graphOrModel);
  const g = graphOrModel instanceof Model ? graphOrModel.graph : graphOrModel;
  const t = a.types.get(name);
  if (t?.shape && t.shape.every(isNum)) return t.shape as number[];
  const p = g.producer(name);
  const what = `value '${name}'${p ? ` (output of node '${p.name}' (${p.opType}))` : ''}`;
  const known = new Set([...g.nodes.flatMap((n) => [...n.inputs, ...n.outputs]), ...g.initializers.keys(), ...g.inputs.map((i) => i.name)]);
  if (!known.has(name)) throw badInput(`no value named '${name}' in graph '${g.name}'`);
  const reason = a.reasons.get(name) ?? 'no shape information';
  const state = t?.shape ? `is not static ${fmtDims(t.shape)}` : 'is unknown';
  throw unsupported(`shape of ${what} ${state}: ${reason}${suggestion(g, a)}`);
}

/** `; pass --shape in=1x3x224x224` for the first graph input with non-static dims. */
function suggestion(g: Graph, a: ShapeAnalysis): string {
  for (const i of g.inputs) {
    if (g.initializers.has(i.name) || nonTensorKind(i)) continue;
    const s = a.types.get(i.name)?.shape;
    if (s && s.every(isNum)) continue;
    // An example only: 224 for the spatial dims of an image-like rank-4 input, 1 elsewhere
    // (a batch, or a recurrent state's [2, ?, 128]).
    const dims = s ?? [1, 3, 224, 224];
    const eg = dims.map((d, k) => (isNum(d) ? d : dims.length === 4 && k >= 2 ? 224 : 1)).join('x');
    // Named dims shared by several inputs (a KV cache's batch and past length): one --dim each.
    const named = [...new Set(g.inputs.filter((j) => !g.initializers.has(j.name)).flatMap((j) => (a.types.get(j.name)?.shape ?? []).filter((d): d is string => typeof d === 'string')))];
    const byName = named.length ? ` or every input's named dims at once with --dim (e.g. ${named.map((d) => `--dim ${d}=1`).join(' ')})` : '';
    return `; pass --shape ${i.name}=DIMS (e.g. --shape ${i.name}=${eg})${byName}`;
  }
  return '';
}

// ---- the driver ----

function run(model: Model, opts: InferOptions): ShapeAnalysis {
  const g = model.graph;
  const types = new Map<string, TensorType>();
  const values = new Map<string, Val>();
  const reasons = new Map<string, string>();
  const unsupportedNodes: Node[] = [];
  const overrides = opts.overrides ?? {};
  const hasOverrides = Object.keys(overrides).length > 0;

  // Graph inputs (overrides replace their dims), then initializers.
  const inputNames = new Set(g.inputs.map((i) => i.name));
  for (const name of Object.keys(overrides)) {
    if (!inputNames.has(name) || g.initializers.has(name)) {
      const real = g.inputs.filter((i) => !g.initializers.has(i.name)).map((i) => i.name);
      throw badInput(`--shape ${name}: the model has no graph input '${name}' (inputs: ${real.join(', ') || 'none'})`);
    }
  }
  for (const inp of g.inputs) {
    if (g.initializers.has(inp.name)) continue;
    const decl = inp.type;
    const ov = overrides[inp.name];
    const kind = nonTensorKind(inp);
    if (kind) {
      // A sequence, map or optional input: no tensor shape to give; its consumers are not planned.
      if (ov) throw badInput(`--shape ${inp.name}=...: input '${inp.name}' is ${kind}, not a tensor`);
      reasons.set(inp.name, `graph input '${inp.name}' is ${kind}, not a tensor`);
      continue;
    }
    if (ov) {
      if (decl?.shape && decl.shape.length !== ov.length) throw badInput(`--shape ${inp.name}=${ov.join('x')}: input '${inp.name}' has rank ${decl.shape.length} ${fmtDims(decl.shape)}, got ${ov.length} dims`);
      // Fixed dims may be overridden too (e.g. another resolution); only the rank must agree.
      types.set(inp.name, { elemType: decl?.elemType ?? DataType.FLOAT, shape: [...ov] });
      continue;
    }
    if (decl) types.set(inp.name, { elemType: decl.elemType, shape: decl.shape ? [...decl.shape] : undefined });
    if (!decl?.shape || !decl.shape.every(isNum)) reasons.set(inp.name, `graph input '${inp.name}' has dynamic dims ${fmtDims(decl?.shape)}`);
  }
  for (const [name, t] of g.initializers) types.set(name, { elemType: t.dataType, shape: [...t.dims] });

  const state = newState(g, types, reasons, values);
  runGraph(model, g, state, hasOverrides, unsupportedNodes);
  return { types, values, reasons, unsupported: unsupportedNodes };
}

/** Runs the rules over one graph's nodes (the main graph or a subgraph whose inputs and
 * outer-scope values are already in `state`) and records the results in its value_info. */
function runGraph(model: Model, g: Graph, state: RunState, hasOverrides: boolean, unsupported: Node[]): void {
  const outputDecl = new Map(g.outputs.map((o) => [o.name, o.type]));
  const declared = (name: string) => declaredType(g.valueInfo.get(name)) ?? outputDecl.get(name);
  const { types, values, reasons } = state;
  const inputNames = new Set(g.inputs.map((i) => i.name));
  const subInfer: SubInfer = (sub, inputTypes) => inferSubgraph(model, sub, inputTypes, state, hasOverrides);
  const opsetOf = (domain: string) => model.opset(domain) ?? (domain === '' || domain === 'ai.onnx' ? DEFAULT_OPSET : 1);

  for (const node of g.topoOrder()) {
    const ctx = new NodeCtx(node, opsetOf(node.domain), state);
    const cf = (node.domain === '' || node.domain === 'ai.onnx') && CONTROL_FLOW_OPS.has(node.opType);
    const rule: Rule | undefined = cf ? (c) => controlFlowRule(c, subInfer) : ruleFor(node);
    let outs: Out[] | undefined;
    let why: string | undefined;
    if (rule) {
      try {
        outs = rule(ctx);
      } catch (e) {
        if (e instanceof Unknown) why = e.why;
        else if (isDnnfuseError(e)) throw e;
        else throw internal(`shape rule for node '${node.name}' (${node.opType}) failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    } else {
      unsupported.push(node);
      why = `node '${node.name}' (${node.domain ? node.domain + '.' : ''}${node.opType}) has no shape rule and the model declares no shape for its output`;
    }

    node.outputs.forEach((o, k) => {
      if (!o) return;
      const res = outs?.[k];
      const decl = declared(o);
      let t = res?.type;
      if (!rule) t = decl ? { elemType: decl.elemType, shape: decl.shape ? [...decl.shape] : undefined } : undefined;
      else if (!hasOverrides && decl?.shape) t = mergeDeclared(t, decl);
      if (t && t.elemType === DataType.UNDEFINED && decl) t = { ...t, elemType: decl.elemType };
      if (t && t.elemType === DataType.UNDEFINED && !t.shape) t = undefined; // nothing known
      if (t) types.set(o, t);
      if (res?.value && t?.shape && res.value.dims.length === t.shape.length) values.set(o, res.value);
      if (!t?.shape || !t.shape.every(isNum)) {
        const inherited = node.inputs.map((i) => (i ? reasons.get(i) : undefined)).find((r) => r);
        reasons.set(o, res?.why ?? why ?? inherited ?? `node '${node.name}' (${node.opType}) produces a data-dependent shape`);
      }
    });
  }

  // Record results as value_info for intermediate values (not graph inputs/outputs).
  const graphIO = new Set([...g.inputs.map((i) => i.name), ...g.outputs.map((o) => o.name)]);
  for (const node of g.nodes) {
    for (const o of node.outputs) {
      const t = types.get(o);
      // A shape whose element type is unknown (a rule's input came from an op without a rule)
      // stays in the analysis: a TypeProto with elem_type 0 is invalid, onnxruntime rejects it.
      if (!o || !t || graphIO.has(o) || t.elemType === DataType.UNDEFINED) continue;
      const old = g.valueInfo.get(o);
      const vi: ValueInfo = { name: o, type: { elemType: t.elemType, shape: t.shape ? [...t.shape] : undefined }, carry: old?.carry };
      inferredEntries.set(vi, declaredType(old));
      g.valueInfo.set(o, vi);
    }
  }
  // Graph outputs: fill what their declaration leaves open (missing type, rank or unknown
  // dims), as onnx's infer_shapes does; declared numbers and symbols are never replaced.
  // Not under overrides: the model's interface must not take override-specific numbers.
  for (const o of hasOverrides ? [] : g.outputs) {
    const t = types.get(o.name);
    if (!t || g.initializers.has(o.name) || inputNames.has(o.name)) continue;
    // A typeless declaration may be a sequence/optional kept in `carry`: never turn it into a tensor.
    if (!o.type) continue;
    if (!o.type.shape) o.type = { ...o.type, shape: t.shape ? [...t.shape] : undefined };
    else if (t.shape && o.type.shape.length === t.shape.length && o.type.shape.some((d, i) => d === undefined && t.shape![i] !== undefined)) {
      o.type = { ...o.type, shape: o.type.shape.map((d, i) => (d === undefined ? t.shape![i] : d)) };
    }
  }
}

function newState(g: Graph, types: Map<string, TensorType>, reasons: Map<string, string>, values = new Map<string, Val>()): RunState {
  const noValue = new Set<string>();
  const valueOf = (name: string): Val | undefined => {
    const v = values.get(name);
    if (v || noValue.has(name)) return v;
    const t = g.initializers.get(name);
    const tv = t ? tensorVal(t) : undefined;
    if (tv) values.set(name, tv);
    else noValue.add(name);
    return tv;
  };
  return { types, values, reasons, noValue, initializers: g.initializers, valueOf };
}

/** Infers a subgraph (If branch, Loop/Scan body) given the types of its inputs (undefined:
 * take its declaration) and the enclosing graph's state for the values it reads from outer
 * scope. Returns what is known of its outputs. */
function inferSubgraph(model: Model, sub: Graph, inputTypes: (TensorType | undefined)[], outer: RunState, hasOverrides: boolean): SubResult {
  const types = new Map<string, TensorType>();
  const reasons = new Map<string, string>();
  const values = new Map<string, Val>();
  for (const v of sub.outerReads()) {
    const t = outer.types.get(v);
    if (t) types.set(v, t);
    const val = outer.valueOf(v);
    if (val) values.set(v, val);
    const r = outer.reasons.get(v);
    if (r) reasons.set(v, r);
  }
  sub.inputs.forEach((inp, k) => {
    if (sub.initializers.has(inp.name)) return;
    const given = inputTypes[k];
    const decl = inp.type;
    let t: TensorType | undefined;
    if (given && decl?.shape && given.shape && given.shape.length === decl.shape.length) {
      // A declared number wins over an unknown; otherwise what flows in is what we know.
      t = { elemType: given.elemType, shape: given.shape.map((d, i) => (d === undefined ? decl.shape![i] : d)) };
    } else t = given?.shape ? given : given ? { elemType: given.elemType, shape: decl?.shape ? [...decl.shape] : undefined } : decl ? { elemType: decl.elemType, shape: decl.shape ? [...decl.shape] : undefined } : undefined;
    if (t) types.set(inp.name, t);
    if (!t?.shape || !t.shape.every(isNum)) reasons.set(inp.name, `input '${inp.name}' of subgraph '${sub.name}' has dims ${fmtDims(t?.shape)}`);
  });
  for (const [name, t] of sub.initializers) types.set(name, { elemType: t.dataType, shape: [...t.dims] });
  const state = newState(sub, types, reasons, values);
  try {
    runGraph(model, sub, state, hasOverrides, []);
  } catch (e) {
    // The If rule may survive this (a branch not taken for these shapes): remember why.
    subgraphRuns.delete(sub);
    if (isDnnfuseError(e)) subgraphFailures.set(sub, e.message);
    forgetInferred(sub);
    throw e;
  }
  subgraphFailures.delete(sub);
  subgraphRuns.set(sub, { types, reasons });
  return {
    outputs: sub.outputs.map((o) => {
      const t = types.get(o.name) ?? (o.type ? { elemType: o.type.elemType, shape: o.type.shape ? [...o.type.shape] : undefined } : undefined);
      return { type: t, value: values.get(o.name), reason: reasons.get(o.name) };
    }),
  };
}

/** Puts back what the file declared for the value_info entries inference wrote in `g` and its
 * nested subgraphs: a subgraph that cannot run on these shapes keeps no shape-specific entries
 * (onnxruntime checks every branch on load and would refuse the model for them). */
function forgetInferred(g: Graph): void {
  for (const [name, vi] of [...g.valueInfo]) {
    if (!inferredEntries.has(vi)) continue;
    const declared = inferredEntries.get(vi);
    if (declared) g.valueInfo.set(name, { name, type: declared, carry: vi.carry });
    else g.valueInfo.delete(name);
  }
  for (const n of g.nodes) for (const sub of n.subgraphs()) forgetInferred(sub);
}

interface RunState {
  types: Map<string, TensorType>;
  values: Map<string, Val>;
  reasons: Map<string, string>;
  noValue: Set<string>;
  initializers: Map<string, unknown>;
  valueOf: (name: string) => Val | undefined;
}

/** What a rule sees of one node. A class, not per-node closures: creating a dozen closures
 * per node was the main cost of inference on graphs of many small nodes. */
class NodeCtx implements RuleCtx {
  readonly nIn: number;
  constructor(readonly node: Node, readonly opset: number, private readonly s: RunState) {
    this.nIn = node.inputs.length;
  }
  private name(i: number): string {
    return this.node.inputs[i] ?? '';
  }
  private unknownInput(i: number, what: string): never {
    const n = this.name(i);
    throw new Unknown(this.s.reasons.get(n) ?? `${what} of input '${n}' is unknown`, n);
  }
  has(i: number): boolean {
    return this.name(i) !== '';
  }
  type(i: number): TensorType | undefined {
    const n = this.name(i);
    return n ? this.s.types.get(n) : undefined;
  }
  elem(i: number) {
    return this.type(i)?.elemType ?? this.unknownInput(i, 'element type');
  }
  shape(i: number): Dim[] {
    return this.type(i)?.shape ?? this.unknownInput(i, 'shape');
  }
  maybeShape(i: number): Dim[] | undefined {
    return this.type(i)?.shape;
  }
  rank(i: number): number {
    return this.shape(i).length;
  }
  isConst(i: number): boolean {
    const n = this.name(i);
    return !!n && (this.s.values.has(n) || (this.s.initializers.has(n) && !this.s.noValue.has(n)));
  }
  value(i: number): Val | undefined {
    const n = this.name(i);
    return n ? this.s.valueOf(n) : undefined;
  }
  ints(i: number): number[] | undefined {
    const n = this.name(i);
    if (!n) return undefined;
    const v = this.s.valueOf(n);
    if (!v || !v.data.every(isNum)) throw new Unknown(`input '${n}' is not a compile-time constant`, n);
    return v.data as number[];
  }
  needInts(i: number, what: string): number[] {
    if (!this.name(i)) nodeError(this.node, `missing input ${what}`);
    return this.ints(i)!;
  }
  fail(msg: string): never {
    return nodeError(this.node, msg);
  }
}

/** Fills dims the rule left unknown from the file's declaration (never overrides a number). */
function mergeDeclared(t: TensorType | undefined, decl: TensorType): TensorType {
  if (!t) return { elemType: decl.elemType, shape: decl.shape ? [...decl.shape] : undefined };
  if (!t.shape) return { elemType: t.elemType, shape: decl.shape ? [...decl.shape] : undefined };
  if (!decl.shape || decl.shape.length !== t.shape.length) return t;
  return { elemType: t.elemType, shape: t.shape.map((d, i) => (d === undefined ? decl.shape![i] : d)) };
}
