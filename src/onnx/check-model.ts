/**
 * Value checks run before any pass, on models read from files (validateModel) and on models built
 * in memory (the pass manager calls it too): every dim, every tensor's data length against its
 * dims and dtype, the opset, and the inputs of the ops the cost models and rewrites read (Conv:
 * a floating-point input, a weight of rank >= 3, a bias of one value per output channel). Each
 * failure is a one-line bad-input error naming the value, node or field: a -1 batch dim once gave
 * negative MACs and DRAM, a 10-value tensor declared [8,3,3,3] passed every pass and was saved.
 */
import type { Model, Dim, ValueInfo } from '../ir/graph.ts';
import type { Tensor } from '../ir/tensor.ts';
import { DataType, dtypeBytes, dtypeName, isKnownDtype } from '../ir/dtype.ts';
import { badInput } from '../errors.ts';
import { unreadLength } from './lazy.ts';

/** Highest default-domain opset accepted (onnxruntime-node 1.30 implements up to 23; a model
 * declaring more is from a newer toolchain and its ops may mean something else). */
export const MAX_OPSET = 23;

const FLOATS = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

function checkDims(dims: readonly Dim[] | undefined, what: string): void {
  if (!dims) return;
  let elems = 1;
  dims.forEach((d, i) => {
    if (typeof d !== 'number') return; // symbolic / unknown
    if (!Number.isSafeInteger(d)) throw badInput(`${what}: dim #${i} is ${d}, not an integer that fits in 53 bits`);
    if (d < 0) throw badInput(`${what}: dim #${i} is ${d}; dims must be >= 0 (use a symbolic dim or --shape for a dynamic one)`);
    elems *= d;
  });
  if (!Number.isSafeInteger(elems)) throw badInput(`${what}: dims [${dims.join(',')}] hold more than 2^53 elements`);
}

function checkTensor(t: Tensor, what: string): void {
  if (!Array.isArray(t.dims)) throw badInput(`${what}: dims missing`);
  checkDims(t.dims, what);
  if (t.dataType === DataType.UNDEFINED) return; // no data_type: nothing to measure (kept as read)
  if (!isKnownDtype(t.dataType)) throw badInput(`${what}: unknown data type ${t.dataType}`);
  const n = t.size;
  const s = t.source;
  if (s.kind === 'raw') {
    const want = dtypeBytes(t.dataType, n);
    // A lazily loaded tensor is measured by its file range, without reading it.
    const got = unreadLength(s) ?? s.bytes.length;
    if (got !== want) throw badInput(`${what}: ${got} bytes of data for dims [${t.dims.join(',')}] of ${dtypeName(t.dataType)} (${want} bytes expected)`);
  } else if (s.kind === 'values') {
    const len = s.values.length;
    if (len !== n) throw badInput(`${what}: ${len} values for dims [${t.dims.join(',')}] (${n} expected)`);
  } else if (s.kind === 'external') {
    const want = dtypeBytes(t.dataType, n);
    if (s.length !== undefined && s.length !== want) throw badInput(`${what}: external data length ${s.length} for dims [${t.dims.join(',')}] of ${dtypeName(t.dataType)} (${want} bytes expected)`);
    if (!Number.isSafeInteger(s.offset) || s.offset < 0) throw badInput(`${what}: external data offset ${s.offset} is not a byte offset`);
  }
}

/** Throws a one-line bad-input error on the first bad dim, tensor length, dtype or opset. An
 * empty graph input (a 0 dim) is valid: an LLM's key/value cache before the first token, a
 * batch of none; the passes plan it like any other (its tensors hold no bytes). */
export function checkModelValues(model: Model): void {
  const g = model.graph;
  const opset = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (opset && (!Number.isInteger(opset.version) || opset.version < 1 || opset.version > MAX_OPSET)) {
    throw badInput(`opset_import: default-domain opset ${opset.version} is not supported (1..${MAX_OPSET})`);
  }
  const typeOf = new Map<string, ValueInfo>();
  for (const v of g.inputs) {
    if (g.initializers.has(v.name)) continue;
    checkDims(v.type?.shape, `graph input '${v.name}'`);
    if (v.type && v.type.elemType !== DataType.UNDEFINED && !isKnownDtype(v.type.elemType)) throw badInput(`graph input '${v.name}': unknown data type ${v.type.elemType}`);
    typeOf.set(v.name, v);
  }
  for (const v of g.outputs) checkDims(v.type?.shape, `graph output '${v.name}'`);
  for (const v of g.valueInfo.values()) {
    checkDims(v.type?.shape, `value_info '${v.name}'`);
    typeOf.set(v.name, v);
  }
  for (const [name, t] of g.initializers) checkTensor(t, `initializer '${name}'`);
  for (const n of g.nodes) {
    for (const a of n.attributes) {
      if (a.type === 'tensor') checkTensor(a.value, `node '${n.name}' attribute '${a.name}'`);
      else if (a.type === 'tensors') a.value.forEach((t, i) => checkTensor(t, `node '${n.name}' attribute '${a.name}'[${i}]`));
    }
    if (n.opType === 'Conv' && (n.domain === '' || n.domain === 'ai.onnx')) checkConv(model, n, typeOf);
  }
}

function checkConv(model: Model, n: Model['graph']['nodes'][number], typeOf: Map<string, ValueInfo>): void {
  const g = model.graph;
  const [x, w, b] = n.inputs;
  const elemOf = (v: string | undefined) => (v ? (g.initializers.get(v)?.dataType ?? typeOf.get(v)?.type?.elemType) : undefined);
  for (const [k, v] of [['X', x], ['W', w], ['B', b]] as const) {
    const e = elemOf(v);
    if (e !== undefined && e !== DataType.UNDEFINED && !FLOATS.has(e)) throw badInput(`node '${n.name}' (Conv) input ${k} '${v}' is ${dtypeName(e)}; Conv takes float, float16, double or bfloat16`);
  }
  const W = w ? g.initializers.get(w) : undefined;
  if (W && W.dims.length < 3) throw badInput(`node '${n.name}' (Conv) weight '${w}' has dims [${W.dims.join(',')}]; expected [M, C/group, k...] (rank >= 3)`);
  const B = b ? g.initializers.get(b) : undefined;
  if (W && B) {
    const m = W.dims[0];
    if (B.dims.length !== 1 || B.dims[0] !== m) throw badInput(`node '${n.name}' (Conv) bias '${b}' has dims [${B.dims.join(',')}] for ${m} output channels; expected [${m}]`);
  }
  const X = x ? typeOf.get(x)?.type?.shape : undefined;
  if (W && X && X.length === W.dims.length) {
    const groupAttr = n.attributes.find((a) => a.name === 'group');
    const group = groupAttr && groupAttr.type === 'int' ? Number(groupAttr.value) : 1;
    const c = X[1];
    if (typeof c === 'number' && W.dims[1] * group !== c) throw badInput(`node '${n.name}' (Conv) input '${x}' has ${c} channels, weight '${w}' expects ${W.dims[1] * group} (${W.dims[1]} x group ${group})`);
  }
  const empty = X ? X.findIndex((d, k) => k >= 2 && d === 0) : -1;
  if (empty >= 0) throw badInput(`node '${n.name}' (Conv) input X '${x}' has dims [${X!.join(',')}]: spatial dim #${empty} is 0 (onnxruntime runs no Conv on an empty image)`);
}
