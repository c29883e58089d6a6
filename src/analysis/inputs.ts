/**
 * User-given inputs for the onnxruntime check: `.npy` files (numpy's format, version 1-3,
 * C order) and ONNX `TensorProto` `.pb` files (the format of ONNX's own test data,
 * `test_data_set_N/input_K.pb`). A spec is `name=path` or a bare path: a `.pb` file names its
 * input itself (TensorProto.name) when it has a name; other bare paths take the graph inputs in
 * order; a folder stands for its `input_*.pb` files in numeric order.
 *
 * Hand-written: the .npy header is a few lines of Python-literal text (no maintained npm reader
 * handles every dtype and stays dependency-free), and the .pb path reuses the project's own
 * TensorProto decoder (external data, typed fields, raw data) instead of a second one.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import type { Model } from '../ir/graph.ts';
import { DataType, dtypeName } from '../ir/dtype.ts';
import { badInput } from '../errors.ts';
import { TensorProtoType, type Msg } from '../onnx/schema.ts';
import { tensorFromMsg } from '../onnx/decode.ts';
import { nonTensorInputReason, type Feeds, type HostTensor, type TypedData } from './ort.ts';

const NPY_DTYPES: Record<string, { make: (buf: ArrayBuffer, off: number, n: number) => TypedData; size: number }> = {
  f4: { make: (b, o, n) => new Float32Array(b, o, n), size: 4 },
  f8: { make: (b, o, n) => new Float64Array(b, o, n), size: 8 },
  i4: { make: (b, o, n) => new Int32Array(b, o, n), size: 4 },
  i8: { make: (b, o, n) => new BigInt64Array(b, o, n), size: 8 },
  u1: { make: (b, o, n) => new Uint8Array(b, o, n), size: 1 },
  i1: { make: (b, o, n) => new Int8Array(b, o, n), size: 1 },
  b1: { make: (b, o, n) => new Uint8Array(b, o, n), size: 1 },
  f2: { make: (b, o, n) => new Uint16Array(b, o, n), size: 2 }, // float16 bits, as HostTensor holds them
};

/** Parses a .npy file into a host tensor (little-endian, C order). */
export function readNpy(path: string): HostTensor {
  const buf = readFileSync(path);
  const magic = buf.subarray(0, 6).toString('latin1');
  if (magic !== '\x93NUMPY') throw badInput(`${path}: not a .npy file (no \\x93NUMPY magic)`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.subarray(hstart, hstart + hlen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw badInput(`${path}: unreadable .npy header '${header.trim()}'`);
  if (fortran === 'True') throw badInput(`${path}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const endian = descr[0];
  const code = descr.slice(1);
  const t = NPY_DTYPES[code];
  if (!t || endian === '>') throw badInput(`${path}: dtype '${descr}' is not supported (little-endian f2, f4, f8, i4, i8, u1, i1, b1)`);
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  if (buf.length - off < n * t.size) throw badInput(`${path}: truncated: ${n} elements of ${descr} need ${n * t.size} bytes, ${buf.length - off} present`);
  const copy = new Uint8Array(n * t.size);
  copy.set(buf.subarray(off, off + n * t.size));
  return { dims, data: t.make(copy.buffer, 0, n), ...(code === 'b1' ? { bool: true } : {}) };
}

/** Parses a TensorProto .pb file; returns its name (may be '') and the tensor. */
export function readTensorPb(path: string): { name: string; tensor: HostTensor } {
  const bytes = new Uint8Array(readFileSync(path));
  let msg: Msg;
  try {
    msg = TensorProtoType.decode(bytes) as unknown as Msg;
  } catch (e) {
    throw badInput(`${path}: not a TensorProto (${e instanceof Error ? e.message : String(e)})`);
  }
  const t = tensorFromMsg(msg, { baseDir: resolve(dirname(path)) }, path);
  if (t.dataType === DataType.STRING) {
    const s = t.source;
    return { name: t.name, tensor: { dims: [...t.dims], data: s.kind === 'values' ? (s.values as unknown[]).map(String) : [] } };
  }
  const n = t.size;
  const raw = t.bytes();
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  let data: TypedData;
  switch (t.dataType) {
    case DataType.FLOAT: data = new Float32Array(copy.buffer, 0, n); break;
    case DataType.DOUBLE: data = new Float64Array(copy.buffer, 0, n); break;
    case DataType.INT32: data = new Int32Array(copy.buffer, 0, n); break;
    case DataType.INT64: data = new BigInt64Array(copy.buffer, 0, n); break;
    case DataType.INT8: data = new Int8Array(copy.buffer, 0, n); break;
    case DataType.UINT8: case DataType.BOOL: data = copy; break;
    case DataType.FLOAT16: data = new Uint16Array(copy.buffer, 0, n); break;
    default: throw badInput(`${path}: tensor '${t.name}' has dtype ${dtypeName(t.dataType)}, which --inputs does not feed (float, float16, double, int32, int64, int8, uint8, bool, string)`);
  }
  return { name: t.name, tensor: { dims: [...t.dims], data, ...(t.dataType === DataType.BOOL ? { bool: true } : {}) } };
}

function expand(spec: string): string[] {
  let st;
  try {
    st = statSync(spec);
  } catch {
    throw badInput(`--inputs: no file or folder '${spec}'`);
  }
  if (!st.isDirectory()) return [spec];
  const files = readdirSync(spec).filter((f) => /^input_\d+\.pb$/.test(f)).sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
  if (!files.length) throw badInput(`--inputs: folder '${spec}' holds no input_<k>.pb file`);
  return files.map((f) => join(spec, f));
}

/** Feeds for `model` from `--inputs` specs. Every non-initializer graph input must be given. */
export function loadInputs(model: Model, specs: string[]): Feeds {
  const g = model.graph;
  const inputs = g.inputs.filter((i) => !g.initializers.has(i.name));
  const nonTensor = nonTensorInputReason(model);
  if (nonTensor) throw badInput(`--inputs: ${nonTensor}`);
  const feeds: Feeds = {};
  let next = 0;
  const place = (name: string | undefined, t: HostTensor, path: string) => {
    let target = name;
    if (!target) {
      while (next < inputs.length && feeds[inputs[next].name]) next++;
      if (next >= inputs.length) throw badInput(`--inputs ${path}: more inputs given than the model has (${inputs.map((i) => i.name).join(', ')})`);
      target = inputs[next].name;
    }
    const decl = inputs.find((i) => i.name === target);
    if (!decl) throw badInput(`--inputs ${path}: the model has no graph input named '${target}' (inputs: ${inputs.map((i) => i.name).join(', ')})`);
    if (feeds[target]) throw badInput(`--inputs ${path}: input '${target}' is given twice`);
    const shape = decl.type?.shape;
    if (shape && (shape.length !== t.dims.length || shape.some((d, k) => typeof d === 'number' && d !== t.dims[k]))) {
      throw badInput(`--inputs ${path}: '${target}' has shape [${t.dims.join(',')}], the model declares [${shape.map((d) => d ?? '?').join(',')}]`);
    }
    // A bool input given as uint8 bytes (a .npy of u1) is fed as bool, which onnxruntime requires.
    feeds[target] = decl.type?.elemType === DataType.BOOL && t.data instanceof Uint8Array ? { ...t, bool: true } : t;
  };
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const named = eq > 0 && !spec.slice(0, eq).includes('/') ? spec.slice(0, eq) : undefined;
    const path = named ? spec.slice(eq + 1) : spec;
    for (const file of expand(path)) {
      if (file.endsWith('.npy')) place(named, readNpy(file), file);
      else if (file.endsWith('.pb')) {
        const { name, tensor } = readTensorPb(file);
        place(named ?? (name && inputs.some((i) => i.name === name) ? name : undefined), tensor, file);
      } else throw badInput(`--inputs ${file}: expected a .npy or a TensorProto .pb file (or a folder of input_<k>.pb)`);
    }
  }
  const missing = inputs.filter((i) => !feeds[i.name]).map((i) => i.name);
  if (missing.length) throw badInput(`--inputs: no value given for graph input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}`);
  return feeds;
}
