/**
 * IR -> ONNX ModelProto bytes, as a list of chunks.
 *
 * Lossless: every IR object that came from a file is written from its original message (kept
 * in its carry), with the fields the IR models taken from the IR. A field keeps its original
 * encoding (presence, Long value, typed-data field) while the IR value is unchanged.
 *
 * Fast: the message tree built here is written by wire.ts's two-pass writer (byte-identical to
 * protobufjs, see there why not protobufjs's Writer) straight into one buffer at its final size;
 * for a save, large raw_data stays out of that buffer and is handed back as its own part (a view
 * of the tensor's bytes, or the FileRange of a lazily loaded tensor), never copied until the
 * final write.
 */
import { relative, resolve, isAbsolute, sep } from 'node:path';
import type { Graph, Model, Node, Attribute, TensorType, ValueInfo, Dim } from '../ir/graph.ts';
import type { Tensor } from '../ir/tensor.ts';
import { DataType, dtypeBits } from '../ir/dtype.ts';
import { unsupported } from '../errors.ts';
import { AttrCarry, MsgCarry, NodeCarry, TensorCarry, copyMsg, has, msgOf } from './carry.ts';
import { AttrType, bigIntToLong, dimFromMsg, int32FieldIsBits, isUnpackedFloat, longToBigInt, longToNumber, rawTag, typeFromMsg } from './decode.ts';
import { ModelProto, type Msg } from './schema.ts';
import { pendingRange, type Part } from './lazy.ts';
import { encodeFlat, encodeParts } from './wire.ts';

/** Where tensor data moves to when it is written as external data. */
export interface ExternalSink {
  /** Location recorded in the model (relative to the output folder). */
  location: string;
  /** Appends bytes, returns their offset in the side file. */
  append(bytes: Uint8Array): number;
}

export interface EncodeContext {
  /** Folder the written model lives in (external locations are relative to it). */
  baseDir: string;
  /** Initializers of at least this many bytes go to `sink()`. */
  threshold?: number;
  /** The side file, created on first use. Without one, data that must move is inlined. */
  sink?: () => ExternalSink;
}

const DATA_FIELDS = ['float_data', 'int32_data', 'string_data', 'int64_data', 'raw_data', 'double_data', 'uint64_data', 'external_data', 'data_location'];
/** raw_data of at least this size is a part of its own in a save (written from where it is). */
const SPLICE_BYTES = 4096;

// ---------------------------------------------------------------------------------------
// Scalar fields with presence

/** Sets `out[field]` to `value`, reusing the original encoding when the value is unchanged
 * and leaving the field absent when it was absent and is still the default. */
const identity = (x: unknown) => x;

function put(out: Msg, orig: Msg | undefined, field: string, value: unknown, dflt: unknown, decode: (x: any) => unknown = identity): void {
  if (has(orig, field) && decode(orig![field]) === value) {
    out[field] = orig![field];
    return;
  }
  if (value === dflt && !has(orig, field)) {
    delete out[field];
    return;
  }
  out[field] = value;
}

const num = (what: string) => (x: any) => longToNumber(x, what);

// ---------------------------------------------------------------------------------------

/** The encoded model as parts: the structure, and raw_data of at least 4 KiB as views of the
 * tensors' bytes; a FileRange part is raw_data still on disk (a lazily loaded initializer,
 * lazy.ts), to be copied from its file by the consumer (concatParts / writeParts). */
export function encodeModelChunks(model: Model, ctx: EncodeContext, alloc?: (n: number) => Uint8Array | undefined): Part[] {
  return encodeParts(ModelProto, modelMsg(model, ctx), SPLICE_BYTES, alloc);
}

/** The encoded model in one new array (lazily loaded raw_data read into it). */
export function encodeModelBytes(model: Model, ctx: EncodeContext): Uint8Array {
  return encodeFlat(ModelProto, modelMsg(model, ctx));
}

function modelMsg(model: Model, ctx: EncodeContext): Msg {
  const orig = model.carry instanceof MsgCarry ? model.carry.msg : undefined;
  const m = copyMsg(orig);
  put(m, orig, 'ir_version', model.irVersion, undefined, num('ir_version'));
  m.opset_import = reuseList(orig?.opset_import, model.opsetImports, (o: Msg) => ({ domain: o.domain ?? '', version: longToNumber(o.version, 'opset') }),
    (x, o) => { const r = copyMsg(o); put(r, o, 'domain', x.domain, '', undefined); put(r, o, 'version', x.version, undefined, num('opset')); return r; },
    (a, b) => a.domain === b.domain && a.version === b.version);
  put(m, orig, 'producer_name', model.producerName, '');
  put(m, orig, 'producer_version', model.producerVersion, '');
  put(m, orig, 'domain', model.domain, '');
  put(m, orig, 'model_version', model.modelVersion, 0, num('model_version'));
  put(m, orig, 'doc_string', model.docString, '');
  m.metadata_props = reuseList(orig?.metadata_props, model.metadata, (e: Msg) => ({ key: e.key ?? '', value: e.value ?? '' }),
    (x, o) => { const r = copyMsg(o); r.key = x.key; r.value = x.value; return r; },
    (a, b) => a.key === b.key && a.value === b.value);
  m.functions = model.functions;
  m.graph = graphMsg(model.graph, ctx, true);
  return m;
}

/** Rebuilds a repeated field of small messages, reusing an original entry when its IR view is
 * unchanged (position-wise). */
function reuseList<T>(orig: Msg[] | undefined, items: T[], view: (m: Msg) => T, build: (x: T, o: Msg | undefined) => Msg, eq: (a: T, b: T) => boolean): Msg[] {
  return items.map((x, i) => {
    const o = orig?.[i];
    if (o && eq(view(o), x)) return o;
    return build(x, o);
  });
}

/** A GraphProto message; `main`: the model's graph, whose initializers may move to the
 * external data file (`ctx.threshold`). */
function graphMsg(graph: Graph, ctx: EncodeContext, main = false): Msg {
  const orig = graph.carry instanceof MsgCarry ? graph.carry.msg : undefined;
  const m = copyMsg(orig);
  m.node = graph.nodes.map((n) => nodeMsg(n, ctx));
  put(m, orig, 'name', graph.name, '');
  m.initializer = [...graph.initializers.values()].map((t) => tensorMsg(t, ctx, main));
  m.input = graph.inputs.map(valueInfoMsg);
  m.output = graph.outputs.map(valueInfoMsg);
  m.value_info = [...graph.valueInfo.values()].map(valueInfoMsg);
  return m;
}

/** An optional string field left as read: same value, or absent and still the default. */
function sameString(orig: Msg, field: string, value: string): boolean {
  return has(orig, field) ? orig[field] === value : value === '';
}

function sameStrings(a: readonly string[], b: readonly string[] | undefined): boolean {
  const n = b?.length ?? 0;
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b![i]) return false;
  return true;
}

function nodeMsg(n: Node, ctx: EncodeContext): Msg {
  const carry = n.carry instanceof NodeCarry ? n.carry : undefined;
  const orig = carry?.msg;
  const attrs: Msg[] = new Array(n.attributes.length);
  for (let i = 0; i < attrs.length; i++) attrs[i] = attributeMsg(n.attributes[i], ctx);
  if (orig) {
    // Unchanged: the message as read (no copy; wire.ts writes it as protobufjs would).
    const oa: Msg[] | undefined = orig.attribute;
    let same = sameStrings(n.inputs, orig.input) && sameStrings(n.outputs, orig.output) && (oa?.length ?? 0) === attrs.length &&
      (carry!.synthName !== undefined && n.name === carry!.synthName ? true : carry!.synthName === undefined && sameString(orig, 'name', n.name)) &&
      sameString(orig, 'op_type', n.opType) && sameString(orig, 'domain', n.domain);
    for (let i = 0; same && i < attrs.length; i++) same = attrs[i] === oa![i];
    if (same) return orig;
  }
  const m = copyMsg(orig);
  m.input = n.inputs;
  m.output = n.outputs;
  if (carry?.synthName !== undefined && n.name === carry.synthName) {
    if (has(orig, 'name')) m.name = orig!.name;
    else delete m.name;
  } else put(m, orig, 'name', n.name, '');
  put(m, orig, 'op_type', n.opType, '');
  put(m, orig, 'domain', n.domain, '');
  m.attribute = attrs;
  return m;
}

function valueEq(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => valueEq(x, b[i]));
  return false;
}

const VALUE_FIELDS = ['f', 'i', 's', 't', 'g', 'sparse_tensor', 'tp', 'floats', 'ints', 'strings', 'tensors', 'graphs', 'sparse_tensors', 'type_protos'];
const TYPE_CODE: Record<string, number> = {
  float: AttrType.FLOAT, int: AttrType.INT, string: AttrType.STRING, tensor: AttrType.TENSOR, graph: AttrType.GRAPH,
  floats: AttrType.FLOATS, ints: AttrType.INTS, strings: AttrType.STRINGS, tensors: AttrType.TENSORS, graphs: AttrType.GRAPHS,
};

function attributeMsg(a: Attribute, ctx: EncodeContext): Msg {
  const carry = a.carry instanceof AttrCarry ? a.carry : undefined;
  if (a.type === 'opaque') {
    const m = copyMsg(a.value as Msg);
    put(m, a.value as Msg, 'name', a.name, '');
    return m;
  }
  const orig = carry?.msg;
  const unchanged = carry && carry.snapshot.type === a.type && valueEq(carry.snapshot.value, a.value);
  const rebuilt = a.type === 'tensor' || a.type === 'tensors' || a.type === 'graph' || a.type === 'graphs';
  if (unchanged && !rebuilt) {
    if (a.name === (orig!.name ?? '')) return orig!;
    const m = copyMsg(orig);
    m.name = a.name;
    return m;
  }
  const m = copyMsg(orig);
  put(m, orig, 'name', a.name, '');
  if (unchanged) {
    // Tensor and graph attributes: rebuilt through tensorMsg / graphMsg (the tensor or
    // subgraph may have changed inside, or external data may need relocating); unchanged
    // parts are re-emitted from their original messages.
    if (a.type === 'tensor') m.t = tensorMsg(a.value, ctx);
    else if (a.type === 'tensors') m.tensors = a.value.map((t) => tensorMsg(t, ctx));
    else if (a.type === 'graph') m.g = graphMsg(a.value, ctx);
    else if (a.type === 'graphs') m.graphs = a.value.map((g) => graphMsg(g, ctx));
    return m;
  }
  for (const f of VALUE_FIELDS) delete m[f];
  put(m, orig, 'type', TYPE_CODE[a.type], undefined);
  switch (a.type) {
    case 'float': m.f = a.value; break;
    case 'int': m.i = bigIntToLong(a.value); break;
    case 'string': m.s = a.value; break;
    case 'tensor': m.t = tensorMsg(a.value, ctx); break;
    case 'graph': m.g = graphMsg(a.value, ctx); break;
    case 'floats': m.floats = a.value; break;
    case 'ints': m.ints = a.value.map(bigIntToLong); break;
    case 'strings': m.strings = a.value; break;
    case 'tensors': m.tensors = a.value.map((t) => tensorMsg(t, ctx)); break;
    case 'graphs': m.graphs = a.value.map((g) => graphMsg(g, ctx)); break;
  }
  return m;
}

function dimEq(a: Dim, b: Dim): boolean {
  return a === b;
}

function typeEq(a: TensorType | undefined, b: TensorType | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.elemType !== b.elemType) return false;
  if (!a.shape || !b.shape) return a.shape === b.shape;
  return a.shape.length === b.shape.length && a.shape.every((d, i) => dimEq(d, b.shape![i]));
}

function valueInfoMsg(v: ValueInfo): Msg {
  const orig = v.carry instanceof MsgCarry ? v.carry.msg : undefined;
  const origType = typeFromMsg(orig?.type);
  const typeSame = !!orig && typeEq(origType, v.type);
  if (typeSame && sameString(orig!, 'name', v.name)) return orig!; // unchanged: as read
  const m = copyMsg(orig);
  put(m, orig, 'name', v.name, '');
  if (typeSame) {
    // unchanged (including non-tensor types, which the IR leaves undefined)
    if (has(orig, 'type')) m.type = orig!.type;
    return m;
  }
  if (!v.type) {
    delete m.type;
    return m;
  }
  const tp = copyMsg(orig?.type);
  const tt = copyMsg(orig?.type?.tensor_type);
  tt.elem_type = v.type.elemType;
  if (v.type.shape) {
    const oldDims: Msg[] = orig?.type?.tensor_type?.shape?.dim ?? [];
    const shape = copyMsg(orig?.type?.tensor_type?.shape);
    shape.dim = v.type.shape.map((d, i) => {
      const od = oldDims[i];
      if (od && dimEq(dimFromMsg(od), d)) return od;
      return typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {};
    });
    tt.shape = shape;
  } else delete tt.shape;
  tp.tensor_type = tt;
  m.type = tp;
  return m;
}

// ---------------------------------------------------------------------------------------
// Tensors

function tensorMsg(t: Tensor, ctx: EncodeContext, isInitializer = false): Msg {
  return tensorParts(t, ctx, isInitializer).msg;
}

function externalEntries(orig: Msg | undefined, location: string, offset: number, length: number): Msg[] {
  const out: Msg[] = [];
  const set: Record<string, string> = { location, offset: String(offset), length: String(length) };
  const done = new Set<string>();
  for (const e of (orig?.external_data ?? []) as Msg[]) {
    const k = e.key ?? '';
    if (k in set) {
      if (!done.has(k)) out.push({ key: k, value: set[k] });
      done.add(k);
    } else if (k !== 'checksum') out.push(e); // the checksum no longer applies to a new file
  }
  for (const k of ['location', 'offset', 'length']) if (!done.has(k)) out.push({ key: k, value: set[k] });
  return out;
}

function toExternal(m: Msg, orig: Msg | undefined, ctx: EncodeContext, bytes: Uint8Array): { msg: Msg } {
  const sink = ctx.sink!();
  const offset = sink.append(bytes);
  for (const f of DATA_FIELDS) delete m[f];
  m.external_data = externalEntries(orig, sink.location, offset, bytes.length);
  m.data_location = 1;
  return { msg: m };
}

function toRaw(m: Msg, bytes: Part): { msg: Msg } {
  for (const f of DATA_FIELDS) delete m[f];
  m.raw_data = bytes;
  return { msg: m };
}

const hasOwn = Object.prototype.hasOwnProperty;

/** A raw_data tensor exactly as read (name, dims, data type, data and no other data field):
 * its message is written as it is, with no copy (the common case of every initializer of an
 * unchanged model). */
function unchangedRaw(t: Tensor, carry: TensorCarry, ctx: EncodeContext, isInitializer: boolean): boolean {
  const orig = carry.msg, s = t.source;
  if (carry.field !== 'raw_data' || s !== carry.source || s.kind !== 'raw' || t.dataType !== carry.dataType) return false;
  if (isInitializer && ctx.threshold !== undefined && ctx.sink && t.byteLength >= ctx.threshold) return false;
  if ((pendingRange(s) ?? s.bytes) !== orig.raw_data) return false; // a lazy tensor read since: write the bytes read
  if (!(has(orig, 'name') ? orig.name === t.name : t.name === '')) return false;
  if (!(has(orig, 'data_type') ? orig.data_type === t.dataType : t.dataType === 0)) return false;
  const od: any[] = orig.dims ?? [];
  if (od.length !== t.dims.length) return false;
  for (let i = 0; i < od.length; i++) if ((typeof od[i] === 'number' ? od[i] : longToNumber(od[i], 'dims')) !== t.dims[i]) return false;
  for (const f of DATA_FIELDS) {
    if (f === 'raw_data') continue;
    const v = orig[f];
    if (v != null && hasOwn.call(orig, f) && !(typeof v === 'object' && v.length === 0)) return false;
  }
  return true;
}

/** A tensor's message (raw_data may be a FileRange: wire.ts reads or splices it). */
function tensorParts(t: Tensor, ctx: EncodeContext, isInitializer: boolean): { msg: Msg } {
  const carry = t.carry instanceof TensorCarry ? t.carry : undefined;
  const orig = carry?.msg;
  if (orig && unchangedRaw(t, carry!, ctx, isInitializer)) return { msg: orig };
  const m = copyMsg(orig);
  put(m, orig, 'name', t.name, '');
  const od: any[] = orig?.dims ?? [];
  m.dims = od.length === t.dims.length && od.every((d, i) => longToNumber(d, 'dims') === t.dims[i]) ? od : t.dims;
  put(m, orig, 'data_type', t.dataType, orig ? 0 : undefined);
  const s = t.source;
  const unchanged = !!carry && s === carry.source && t.dataType === carry.dataType;
  const toSink = isInitializer && ctx.threshold !== undefined && !!ctx.sink && t.byteLength >= ctx.threshold;

  const writeExternal = (bytes: Uint8Array) => toExternal(m, orig, ctx, bytes);
  const writeRaw = (bytes: Part) => toRaw(m, bytes);

  if (s.kind === 'external') {
    const loc = relative(ctx.baseDir, s.path);
    const reachable = !!loc && !isAbsolute(loc) && loc !== '..' && !loc.startsWith(`..${sep}`);
    if (unchanged && carry!.field === 'external') {
      const origLoc = ((orig!.external_data ?? []) as Msg[]).find((e) => e.key === 'location')?.value as string | undefined;
      // Same file as seen from the output folder: keep the entries verbatim.
      if (origLoc !== undefined && resolve(ctx.baseDir, origLoc) === s.path) return { msg: m };
    }
    if (ctx.sink) return writeExternal(t.bytes());
    if (reachable) {
      for (const f of DATA_FIELDS) delete m[f];
      m.external_data = externalEntries(orig, loc.split(sep).join('/'), s.offset, s.length ?? t.byteLength);
      m.data_location = 1;
      return { msg: m };
    }
    throw unsupported(`tensor '${t.name}': its external data ${s.path} is outside the output folder ${ctx.baseDir}; save with an external data file`);
  }
  if (toSink) return writeExternal(t.bytes());
  if (s.kind === 'raw') {
    if (unchanged && carry!.field === 'int32_data' && int32FieldIsBits(t.dataType)) {
      // Bit patterns that came from int32_data go back there.
      for (const f of DATA_FIELDS) delete m[f];
      const b = s.bytes;
      const wide = dtypeBits(t.dataType) === 16;
      const n = wide ? b.length >> 1 : b.length;
      const v = new Int32Array(n);
      for (let i = 0; i < n; i++) v[i] = wide ? b[2 * i] | (b[2 * i + 1] << 8) : b[i];
      m.int32_data = v;
      return { msg: m };
    }
    return writeRaw(pendingRange(s) ?? s.bytes);
  }
  // values
  const field = unchanged && carry!.field !== 'raw_data' && carry!.field !== 'external' ? carry!.field : undefined;
  if (field === 'none') return { msg: m }; // no data, as read
  const typed = field ?? (t.dataType === DataType.STRING ? 'string_data' : undefined);
  if (typed) {
    for (const f of DATA_FIELDS) delete m[f];
    const v = s.values;
    switch (typed) {
      case 'float_data': case 'double_data': {
        // Bytes of the IR values (bit-exact); the original runs when the bits are unchanged.
        const a = v as Float32Array | Float64Array;
        const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
        const o = unchanged ? floatRuns(orig!, typed) : undefined;
        if (o && bytesEqual(o.all, bytes)) {
          if (orig![typed]?.length) m[typed] = orig![typed];
        } else {
          m[typed] = [bytes];
          if (m.$unknowns) m.$unknowns = (m.$unknowns as Uint8Array[]).filter((r) => !isUnpackedFloat(rawTag(r)));
        }
        break;
      }
      case 'int32_data': m[typed] = v; break;
      case 'int64_data': case 'uint64_data':
        m[typed] = Array.from(v as ArrayLike<number | bigint>, (x) => bigIntToLong(typeof x === 'bigint' ? x : BigInt(x)));
        break;
      case 'string_data': {
        // Tensor strings may be arbitrary bytes: an element still equal to its decoded original
        // is written from the original bytes (invalid UTF-8 survives).
        const te = new TextEncoder();
        const td = new TextDecoder();
        const origBytes: Uint8Array[] = (unchanged && orig?.string_data) || [];
        m.string_data = Array.from(v as ArrayLike<unknown>, (x, i) => {
          if (x instanceof Uint8Array) return x;
          const o = origBytes[i];
          if (o && td.decode(o) === String(x)) return o;
          return te.encode(String(x));
        });
        break;
      }
    }
    return { msg: m };
  }
  return writeRaw(t.bytes());
}

/** The original float_data/double_data bytes (packed runs, then unpacked elements). */
function floatRuns(orig: Msg, field: 'float_data' | 'double_data'): { all: Uint8Array } {
  const width = field === 'float_data' ? 4 : 8;
  const parts: Uint8Array[] = [...((orig[field] ?? []) as Uint8Array[])];
  for (const raw of (orig.$unknowns ?? []) as Uint8Array[]) {
    const r = rawTag(raw);
    if (isUnpackedFloat(r) && (r.field === 4) === (field === 'float_data')) parts.push(raw.subarray(r.header, r.header + width));
  }
  const n = parts.reduce((a, p) => a + p.length, 0);
  const all = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return { all };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** The total byte size of initializer data the model would hold inline. */
export function inlineBytes(model: Model): number {
  let n = 0;
  for (const t of model.graph.initializers.values()) if (t.source.kind !== 'external') n += t.byteLength;
  return n;
}

export { longToBigInt, msgOf };
