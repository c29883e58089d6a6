/**
 * ONNX ModelProto bytes -> IR. Initializer bytes stay views into the input buffer (raw_data)
 * or lazy pointers into external-data files; everything the IR does not model is kept in the
 * objects' carry slots (see carry.ts) for a lossless write-back.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, normalize, relative, resolve, sep } from 'node:path';
import { Graph, Model, Node, type Attribute, type Dim, type TensorType, type ValueInfo } from '../ir/graph.ts';
import { Tensor, type TensorSource } from '../ir/tensor.ts';
import { DataType, dtypeBits, dtypeBytes, dtypeName, isKnownDtype } from '../ir/dtype.ts';
import { badInput, isDnnfuseError } from '../errors.ts';
import { AttrCarry, MsgCarry, NodeCarry, TensorCarry, has, msgOf, type DataField } from './carry.ts';
import { ModelProto, knownFieldNumbers, protobuf, type LongLike, type Msg } from './schema.ts';
import { FileRange, InflatedRange, LazyRawSource } from './lazy.ts';

// ---------------------------------------------------------------------------------------
// 64-bit integers: protobufjs returns `Long` objects (or plain numbers when small enough).

export function longToBigInt(x: LongLike | number | bigint | undefined | null): bigint {
  if (x == null) return 0n;
  if (typeof x === 'bigint') return x;
  if (typeof x === 'number') return BigInt(x);
  const lo = x.low | 0, hi = x.high | 0;
  if (hi === 0 && lo >= 0) return BigInt(lo);
  if (hi === -1 && lo < 0) return BigInt(lo);
  const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  return x.unsigned ? v : BigInt.asIntN(64, v);
}

/** A 64-bit integer as a JS number; throws (naming `what`) when it is not exactly representable. */
export function longToNumber(x: LongLike | number | undefined | null, what: string): number {
  if (x == null) return 0;
  if (typeof x === 'number') return x;
  const hi = x.high | 0, lo = x.low | 0;
  if (hi === 0 && lo >= 0) return lo;
  const b = longToBigInt(x);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) throw badInput(`${what}: integer ${b} is out of range`);
  return Number(b);
}

/** bigint -> the {low, high} form protobufjs's writer accepts. */
export function bigIntToLong(x: bigint): LongLike {
  const v = BigInt.asIntN(64, x);
  return { low: Number(BigInt.asIntN(32, v)), high: Number(BigInt.asIntN(32, v >> 32n)), unsigned: false };
}

// ---------------------------------------------------------------------------------------

export interface DecodeContext {
  /** Folder external data locations are relative to (absolute). */
  baseDir: string;
}

const MODEL_FIELDS = knownFieldNumbers('ModelProto');
const GRAPH_FIELDS = knownFieldNumbers('GraphProto');
const NODE_FIELDS = knownFieldNumbers('NodeProto');
const TENSOR_FIELDS = knownFieldNumbers('TensorProto');

/** Field number, wire type and header length of one raw field (an `$unknowns` entry). */
export function rawTag(raw: Uint8Array): { field: number; wire: number; header: number } {
  let tag = 0, shift = 0, i = 0;
  for (; i < raw.length && i < 5; i++) {
    tag += (raw[i] & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(raw[i] & 0x80)) break;
  }
  return { field: Math.floor(tag / 8), wire: tag % 8, header: i + 1 };
}

/** Unpacked float_data (field 4, fixed32) / double_data (field 10, fixed64) elements. */
export function isUnpackedFloat(r: { field: number; wire: number }): boolean {
  return (r.field === 4 && r.wire === 5) || (r.field === 10 && r.wire === 1);
}

/** A known field carried as unknown means it arrived with the wrong wire type: the bytes are
 * not what they claim to be (a corrupt file, or another protobuf message than a model). */
function checkWireTypes(m: Msg, known: Set<number>, what: string, tensor = false): void {
  const u = m.$unknowns;
  if (!u) return;
  for (const raw of u) {
    const r = rawTag(raw);
    if (tensor && isUnpackedFloat(r)) continue;
    if (known.has(r.field)) throw badInput(`${what}: field ${r.field} has the wrong protobuf wire type (corrupt file, or not an ONNX model)`);
  }
}

/** float_data / double_data as one aligned byte array: the packed runs (views) followed by
 * any unpacked elements. */
function floatFieldBytes(t: Msg, field: 'float_data' | 'double_data'): Uint8Array {
  const width = field === 'float_data' ? 4 : 8;
  const runs: Uint8Array[] = t[field] ?? [];
  const loose: Uint8Array[] = [];
  for (const raw of (t.$unknowns ?? []) as Uint8Array[]) {
    const r = rawTag(raw);
    if (isUnpackedFloat(r) && (r.field === 4) === (field === 'float_data')) loose.push(raw.subarray(r.header, r.header + width));
  }
  let n = 0;
  for (const b of runs) {
    if (b.length % width) throw badInput(`tensor '${t.name ?? ''}': ${field} holds ${b.length} bytes, not a multiple of ${width}`);
    n += b.length;
  }
  const out = new Uint8Array(n + loose.length * width);
  let o = 0;
  for (const b of [...runs, ...loose]) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
/** Node's native latin1 decoder (a Buffer method that accepts any Uint8Array). */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** A Reader whose string fields must be valid UTF-8. protobufjs would replace invalid bytes
 * by U+FFFD, and the written model would silently differ from the input: refuse instead. */
class StrictReader extends protobuf.Reader {
  override string(): string {
    const len = this.size(), start = this.pos, end = start + len;
    if (end > this.len) throw new RangeError(`index out of range: ${start} + ${len} > ${this.len}`);
    this.pos = end;
    const buf = this.buf;
    let ascii = true;
    for (let i = start; i < end; i++) if (buf[i] & 0x80) { ascii = false; break; }
    if (ascii) return latin1Slice.call(buf, start, end); // ~3x faster than fromCharCode.apply on a subarray
    try {
      return strictUtf8.decode(buf.subarray(start, end));
    } catch {
      throw new Error(`a string field at byte ${start} is not valid UTF-8 (it could not be written back unchanged)`);
    }
  }

  /** An int64 field as a plain number when it is a safe integer, else a Long as protobufjs
   * returns. Why: dims, attribute ints and versions are small, and protobufjs (with `long`
   * installed) makes a LongBits and a Long object per value, ~8% of the JS allocated by a
   * MobileNetV2 load. Every reader of these fields (longToNumber, longToBigInt, the writer)
   * takes both forms and the bytes written back are the same (test/onnx/int64-reader.test.ts).
   * Values of 1 to 4 bytes (under 2^28) are read here; anything else, or a truncated buffer,
   * goes through protobufjs's reader (same errors). */
  override int64(): any {
    const buf = this.buf, len = this.len;
    let pos = this.pos, v = 0;
    for (let i = 0; i < 4 && pos < len; i++) {
      const b = buf[pos++];
      v |= (b & 127) << (7 * i);
      if (b < 128) {
        this.pos = pos;
        return v;
      }
    }
    const long = super.int64() as unknown as LongLike;
    const n = long.high * 4294967296 + (long.low >>> 0);
    return Number.isSafeInteger(n) ? n : long;
  }
}

/** Parses bytes as a ModelProto, keeping unknown fields. Any decoding failure is a
 * one-line bad-input error. */
export function parseModelProto(bytes: Uint8Array): Msg {
  if (!(bytes instanceof Uint8Array)) throw badInput('model bytes must be a Uint8Array');
  // A plain Uint8Array view: protobufjs then returns bytes fields as subarray views (no copy)
  // and the IR never holds Node Buffers.
  const u8 = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (u8.length === 0) throw badInput('not an ONNX model: the file is empty');
  const reader = new StrictReader(u8);
  reader.discardUnknown = false;
  let msg: Msg;
  try {
    msg = ModelProto.decode(reader) as unknown as Msg;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw badInput(`not a valid ONNX model: protobuf decoding failed (${why}); the file is truncated or corrupt`);
  }
  checkWireTypes(msg, MODEL_FIELDS, 'ModelProto');
  if (!has(msg, 'graph')) throw badInput('not an ONNX model: ModelProto has no graph (field 7); is it another protobuf message, e.g. a TensorProto?');
  if (!has(msg, 'ir_version')) throw badInput('not an ONNX model: ModelProto has no ir_version (field 1)');
  return msg;
}

export function modelFromMsg(msg: Msg, ctx: DecodeContext): Model {
  try {
    const graph = graphFromMsg(msg.graph, ctx, 'graph');
    const irVersion = longToNumber(msg.ir_version, 'ModelProto.ir_version');
    return new Model({
      irVersion,
      opsetImports: (msg.opset_import ?? []).map((o: Msg, i: number) => ({ domain: o.domain ?? '', version: longToNumber(o.version, `opset_import[${i}].version`) })),
      producerName: msg.producer_name ?? '',
      producerVersion: msg.producer_version ?? '',
      domain: msg.domain ?? '',
      modelVersion: longToNumber(msg.model_version, 'ModelProto.model_version'),
      docString: msg.doc_string ?? '',
      metadata: (msg.metadata_props ?? []).map((e: Msg) => ({ key: e.key ?? '', value: e.value ?? '' })),
      graph,
      functions: [...(msg.functions ?? [])],
      baseDir: ctx.baseDir,
      carry: new MsgCarry(msg),
    });
  } catch (e) {
    if (isDnnfuseError(e)) throw e;
    throw badInput(`malformed ONNX model: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function graphFromMsg(g: Msg, ctx: DecodeContext, what: string): Graph {
  checkWireTypes(g, GRAPH_FIELDS, `GraphProto '${g.name ?? ''}'`);
  const nodeMsgs: Msg[] = g.node ?? [];
  const named = new Map<string, number>();
  nodeMsgs.forEach((n, i) => {
    const name: string = n.name ?? '';
    if (!name) return;
    const prev = named.get(name);
    // ONNX IR.md: names within the node namespace MUST be unique within a graph.
    if (prev !== undefined) throw badInput(`${what}: duplicate node name '${name}' (nodes #${prev} and #${i}); ONNX requires unique node names`);
    named.set(name, i);
  });
  const nodes = nodeMsgs.map((n, i) => nodeFromMsg(n, i, named, ctx));

  const initializers: Tensor[] = [];
  const seen = new Set<string>();
  for (const t of (g.initializer ?? []) as Msg[]) {
    const tensor = tensorFromMsg(t, ctx, 'initializer');
    if (seen.has(tensor.name)) throw badInput(`${what}: duplicate initializer '${tensor.name}' (the value has two producers)`);
    seen.add(tensor.name);
    initializers.push(tensor);
  }
  const vi = (v: Msg) => valueInfoFromMsg(v);
  const valueInfo: ValueInfo[] = [];
  const viSeen = new Set<string>();
  for (const v of (g.value_info ?? []) as Msg[]) {
    const x = vi(v);
    if (viSeen.has(x.name)) throw badInput(`${what}: duplicate value_info entry for '${x.name}'`);
    viSeen.add(x.name);
    valueInfo.push(x);
  }
  return new Graph({
    name: g.name ?? '',
    nodes,
    inputs: (g.input ?? []).map(vi),
    outputs: (g.output ?? []).map(vi),
    initializers,
    valueInfo,
    carry: new MsgCarry(g),
  });
}

function nodeFromMsg(n: Msg, index: number, named: Map<string, number>, ctx: DecodeContext): Node {
  checkWireTypes(n, NODE_FIELDS, `node #${index} ('${n.name ?? ''}')`);
  let name: string = n.name ?? '';
  let synth: string | undefined;
  if (!name) {
    const base = `${n.op_type || 'node'}_${index}`;
    name = base;
    for (let k = 1; named.has(name); k++) name = `${base}_${k}`;
    named.set(name, index);
    synth = name;
  }
  const where = `node '${name}'`;
  return new Node({
    name,
    opType: n.op_type ?? '',
    domain: n.domain ?? '',
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attributes: (n.attribute ?? []).map((a: Msg) => attributeFromMsg(a, ctx, where)),
    carry: new NodeCarry(n, synth),
  });
}

export const AttrType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8,
  TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

/** IR v1 files have no `type`: infer it from the field present. */
function inferAttrType(a: Msg): number {
  if (has(a, 'f')) return AttrType.FLOAT;
  if (has(a, 'i')) return AttrType.INT;
  if (has(a, 's')) return AttrType.STRING;
  if (has(a, 't')) return AttrType.TENSOR;
  if (has(a, 'g')) return AttrType.GRAPH;
  if (a.floats?.length) return AttrType.FLOATS;
  if (a.ints?.length) return AttrType.INTS;
  if (a.strings?.length) return AttrType.STRINGS;
  if (a.tensors?.length) return AttrType.TENSORS;
  if (a.graphs?.length) return AttrType.GRAPHS;
  return AttrType.UNDEFINED;
}

/** How errors name an attribute (built only where used: this runs for every attribute). */
function attrWhere(where: string, name: string): string {
  return `${where} attribute '${name}'`;
}

function attributeFromMsg(a: Msg, ctx: DecodeContext, where: string): Attribute {
  const name: string = a.name ?? '';
  const type: number = has(a, 'type') ? a.type : inferAttrType(a);
  let attr: Attribute;
  if (a.ref_attr_name) attr = { name, type: 'opaque', value: a };
  else {
    switch (type) {
      case AttrType.FLOAT: attr = { name, type: 'float', value: a.f ?? 0 }; break;
      case AttrType.INT: attr = { name, type: 'int', value: longToBigInt(a.i) }; break;
      case AttrType.STRING: attr = { name, type: 'string', value: a.s ?? new Uint8Array(0) }; break;
      case AttrType.TENSOR:
        if (!has(a, 't')) throw badInput(`${attrWhere(where, name)}: type TENSOR but no tensor`);
        attr = { name, type: 'tensor', value: tensorFromMsg(a.t, ctx, attrWhere(where, name)) };
        break;
      case AttrType.GRAPH: attr = { name, type: 'graph', value: graphFromMsg(a.g ?? {}, ctx, `${attrWhere(where, name)} (subgraph)`) }; break;
      case AttrType.FLOATS: attr = { name, type: 'floats', value: [...(a.floats ?? [])] }; break;
      case AttrType.INTS: attr = { name, type: 'ints', value: (a.ints ?? []).map(longToBigInt) }; break;
      case AttrType.STRINGS: attr = { name, type: 'strings', value: [...(a.strings ?? [])] }; break;
      case AttrType.TENSORS: attr = { name, type: 'tensors', value: (a.tensors ?? []).map((t: Msg) => tensorFromMsg(t, ctx, attrWhere(where, name))) }; break;
      case AttrType.GRAPHS: attr = { name, type: 'graphs', value: (a.graphs ?? []).map((g: Msg, k: number) => graphFromMsg(g, ctx, `${attrWhere(where, name)} (subgraph ${k})`)) }; break;
      default: attr = { name, type: 'opaque', value: a };
    }
  }
  attr.carry = new AttrCarry(a, snapshotAttr(attr));
  return attr;
}

export function snapshotAttr(a: Attribute): Attribute {
  const v = a.value;
  // Built field by field: an object spread of the Attribute union was a tenth of a load.
  return { name: a.name, type: a.type, value: Array.isArray(v) ? v.slice() : v } as Attribute;
}

export function dimFromMsg(d: Msg): Dim {
  if (has(d, 'dim_value')) return longToNumber(d.dim_value, 'dim_value');
  if (has(d, 'dim_param')) return d.dim_param as string;
  return undefined;
}

/** The IR view of a TypeProto: tensor types only (others stay in the ValueInfo's carry). */
export function typeFromMsg(tp: Msg | undefined): TensorType | undefined {
  if (!tp || !has(tp, 'tensor_type')) return undefined;
  const tt = tp.tensor_type as Msg;
  return { elemType: tt.elem_type ?? 0, shape: has(tt, 'shape') ? (tt.shape.dim ?? []).map(dimFromMsg) : undefined };
}

/** What a value declared without a tensor type is ('a sequence', 'a map', 'an optional', 'a sparse
 * tensor'), read from the declaration the reader kept; undefined for tensors and for values
 * declared with no type at all (built in memory, or a TypeProto-less declaration: a tensor of
 * unknown shape, which --shape can type). For messages that name a value the user cannot give a
 * shape to. */
export function nonTensorKind(v: ValueInfo): string | undefined {
  if (v.type) return undefined;
  const tp = (msgOf(v.carry) as Msg | undefined)?.type as Msg | undefined;
  if (!tp) return undefined;
  if (has(tp, 'sequence_type')) return 'a sequence';
  if (has(tp, 'map_type')) return 'a map';
  if (has(tp, 'optional_type')) return 'an optional';
  if (has(tp, 'sparse_tensor_type')) return 'a sparse tensor';
  return 'a value of no tensor type';
}

function valueInfoFromMsg(v: Msg): ValueInfo {
  const type = typeFromMsg(v.type);
  const out: ValueInfo = { name: v.name ?? '', carry: new MsgCarry(v) };
  if (type) out.type = type;
  return out;
}

// ---------------------------------------------------------------------------------------
// Tensors

/** Element type -> which typed field holds its values (ONNX TensorProto comments). */
export function typedFieldFor(dtype: number): Exclude<DataField, 'raw_data' | 'external' | 'none'> | undefined {
  switch (dtype) {
    case DataType.FLOAT: case DataType.COMPLEX64: return 'float_data';
    case DataType.DOUBLE: case DataType.COMPLEX128: return 'double_data';
    case DataType.INT64: return 'int64_data';
    case DataType.UINT32: case DataType.UINT64: return 'uint64_data';
    case DataType.STRING: return 'string_data';
    case DataType.UNDEFINED: return undefined;
    default: return isKnownDtype(dtype) ? 'int32_data' : undefined;
  }
}

/** dtypes stored in int32_data as bit patterns (one element, or for 4-bit types one packed byte,
 * per int32): the IR holds them as raw little-endian bytes. */
export function int32FieldIsBits(dtype: number): boolean {
  return dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16 || (dtype >= 17 && dtype <= 23);
}

function bitsToBytes(vals: ArrayLike<number>, dtype: number): Uint8Array {
  const width = dtypeBits(dtype) === 16 ? 2 : 1;
  const out = new Uint8Array(vals.length * width);
  for (let i = 0; i < vals.length; i++) {
    out[i * width] = vals[i] & 0xff;
    if (width === 2) out[i * width + 1] = (vals[i] >> 8) & 0xff;
  }
  return out;
}

function parseExternal(t: Msg, name: string, ctx: DecodeContext, where: string): TensorSource {
  let location: string | undefined, offset = 0, length: number | undefined;
  for (const e of (t.external_data ?? []) as Msg[]) {
    const k = e.key ?? '', v: string = e.value ?? '';
    const int = () => {
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw badInput(`${where} '${name}': external_data ${k}='${v}' is not a non-negative integer`);
      return Number(v);
    };
    if (k === 'location') location = v;
    else if (k === 'offset') offset = int();
    else if (k === 'length') length = int();
  }
  if (!location) throw badInput(`${where} '${name}': data_location is EXTERNAL but external_data has no 'location'`);
  return { kind: 'external', path: resolveLocation(ctx.baseDir, location, `${where} '${name}'`), offset, length };
}

/** ONNX external data: "POSIX filesystem path relative to the directory where the ONNX
 * protobuf model was stored. Up-directory path components such as .. are disallowed". */
export function resolveLocation(baseDir: string, location: string, what: string): string {
  const norm = normalize(location.replace(/\\/g, '/'));
  if (isAbsolute(location) || norm === '..' || norm.startsWith(`..${sep}`) || norm.startsWith('../')) {
    throw badInput(`${what}: external data location '${location}' must be a relative path inside the model's folder`);
  }
  const path = resolve(baseDir, norm);
  // Resolved by real path too: a symbolic link (the file or a folder on the way) leading out of
  // the model's folder is refused, or its target would be read and copied into outputs.
  let real: string | undefined;
  try {
    real = realpathSync(path);
  } catch {
    /* absent: reported by checkExternalData */
  }
  if (real !== undefined) {
    let base = baseDir;
    try {
      base = realpathSync(baseDir);
    } catch {
      /* keep */
    }
    const rel = relative(base, real);
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw badInput(`${what}: external data location '${location}' is a symbolic link to ${real}, outside the model's folder ${base}; copy the data into the folder`);
    }
  }
  return path;
}

function tensorLabel(where: string, name: string, dtype: number, dims: number[]): string {
  return `${where} '${name}' (${dtypeName(dtype)} [${dims.join(',')}])`;
}

export function tensorFromMsg(t: Msg, ctx: DecodeContext, where: string): Tensor {
  checkWireTypes(t, TENSOR_FIELDS, `${where} tensor '${t.name ?? ''}'`, true);
  const name: string = t.name ?? '';
  const dtype: number = t.data_type ?? 0;
  // Plain loops and no closures: this runs once per tensor of every load (a closure context
  // and two callbacks per tensor were ~40% of what this function allocated).
  const md: (LongLike | number)[] = t.dims ?? [];
  const dims: number[] = new Array(md.length);
  let size = 1;
  for (let i = 0; i < md.length; i++) {
    const d = md[i];
    const x = typeof d === 'number' ? d : longToNumber(d, `${where} '${name}' dims`);
    if (x < 0) throw badInput(`${where} '${name}': negative dimension ${x} in dims`);
    dims[i] = x;
    size *= x;
  }
  const fixed = isKnownDtype(dtype) && dtype !== DataType.STRING && dtype !== DataType.UNDEFINED;
  const expectBytes = fixed ? dtypeBytes(dtype, size) : undefined;
  let source: TensorSource;
  let field: DataField;
  if (t.data_location === 1) {
    source = parseExternal(t, name, ctx, where);
    field = 'external';
    if (source.kind === 'external' && source.length !== undefined && expectBytes !== undefined && source.length !== expectBytes) {
      throw badInput(`${tensorLabel(where, name, dtype, dims)}: external data length ${source.length} bytes, the shape needs ${expectBytes}`);
    }
  } else if (has(t, 'raw_data')) {
    // A FileRange: raw_data left on disk by loadModel's scanner (lazy.ts), read on first use;
    // an InflatedRange: the same inside a gzip-compressed file (loadModelGz, lazy-gz.ts).
    source = t.raw_data instanceof FileRange || t.raw_data instanceof InflatedRange ? new LazyRawSource(t.raw_data, name) : { kind: 'raw', bytes: t.raw_data };
    field = 'raw_data';
    if (expectBytes !== undefined && t.raw_data.length !== expectBytes) {
      throw badInput(`${tensorLabel(where, name, dtype, dims)}: raw_data has ${t.raw_data.length} bytes, the shape needs ${expectBytes}`);
    }
  } else {
    const f = typedFieldFor(dtype);
    const floatBytes = f === 'float_data' || f === 'double_data' ? floatFieldBytes(t, f) : undefined;
    const vals: ArrayLike<any> = floatBytes ? (f === 'float_data' ? new Float32Array(floatBytes.buffer) : new Float64Array(floatBytes.buffer)) : f ? (t[f] ?? []) : [];
    field = f && vals.length ? f : 'none';
    const perElem = dtype === DataType.COMPLEX64 || dtype === DataType.COMPLEX128 ? 2 : 1;
    let expectCount = size * perElem;
    if (f === 'int32_data' && dtypeBits(dtype) === 4) expectCount = Math.ceil(size / 2);
    if (fixed || dtype === DataType.STRING) {
      // Any other data field set is a mismatch with data_type.
      const looseF = ((t.$unknowns ?? []) as Uint8Array[]).map(rawTag).filter(isUnpackedFloat);
      for (const other of ['float_data', 'int32_data', 'string_data', 'int64_data', 'double_data', 'uint64_data']) {
        const present = t[other]?.length || looseF.some((r) => (r.field === 4 ? 'float_data' : 'double_data') === other);
        if (other !== f && present) throw badInput(`${tensorLabel(where, name, dtype, dims)}: data stored in ${other}, which does not match the element type`);
      }
      if (vals.length !== expectCount) throw badInput(`${tensorLabel(where, name, dtype, dims)}: ${f} has ${vals.length} values, the shape needs ${expectCount}`);
    }
    switch (f) {
      case 'float_data': case 'double_data': source = { kind: 'values', values: vals as Float32Array | Float64Array }; break;
      case 'int64_data': case 'uint64_data': source = { kind: 'values', values: BigInt64Array.from(vals as ArrayLike<LongLike>, (x) => BigInt.asIntN(64, longToBigInt(x))) }; break;
      case 'string_data': {
        const dec = new TextDecoder();
        source = { kind: 'values', values: Array.from(vals as ArrayLike<Uint8Array>, (b) => dec.decode(b)) };
        break;
      }
      case 'int32_data':
        source = int32FieldIsBits(dtype) ? { kind: 'raw', bytes: bitsToBytes(vals, dtype) } : { kind: 'values', values: Int32Array.from(vals as ArrayLike<number>) };
        break;
      default: source = { kind: 'values', values: [] as number[] };
    }
  }
  return new Tensor(name, dtype, dims, source, new TensorCarry(t, source, dtype, field));
}
