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
import { FEED_CLASS, FEED_TYPES, hostTensor, hostTensorFromBytes, hostTensorType, nonTensorInputReason, type Feeds, type FeedType, type HostTensor } from './ort.ts';

/** .npy dtype codes (after the byte-order character) and the host tensor type each holds. */
const NPY_DTYPES: Record<string, FeedType> = {
  f2: 'float16', f4: 'float32', f8: 'float64', i1: 'int8', u1: 'uint8', i2: 'int16', u2: 'uint16',
  i4: 'int32', u4: 'uint32', i8: 'int64', u8: 'uint64', b1: 'bool',
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
  const type = NPY_DTYPES[code];
  if (!type || endian === '>') throw badInput(`${path}: dtype '${descr}' is not supported (little-endian ${Object.keys(NPY_DTYPES).join(', ')})`);
  const size = FEED_CLASS[type].BYTES_PER_ELEMENT;
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  if (buf.length - off < n * size) throw badInput(`${path}: truncated: ${n} elements of ${descr} need ${n * size} bytes, ${buf.length - off} present`);
  return hostTensorFromBytes(dims, buf.subarray(off, off + n * size), type);
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
  const type = FEED_TYPES.get(t.dataType);
  if (!type) throw badInput(`${path}: tensor '${t.name}' has dtype ${dtypeName(t.dataType)}, which onnxruntime-node cannot feed (${[...FEED_TYPES.keys()].map(dtypeName).join(', ')}, string)`);
  return { name: t.name, tensor: hostTensorFromBytes([...t.dims], t.bytes(), type) };
}

/** The files of an --inputs spec: itself, or a folder's input_<k>.pb in order (none is an error
 * unless the model has no inputs: ONNX's test_constant has an empty test_data_set_0). */
function expand(spec: string, modelHasInputs: boolean): string[] {
  let st;
  try {
    st = statSync(spec);
  } catch {
    throw badInput(`--inputs: no file or folder '${spec}'`);
  }
  if (!st.isDirectory()) return [spec];
  const files = readdirSync(spec).filter((f) => /^input_\d+\.pb$/.test(f)).sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
  if (!files.length && modelHasInputs) throw badInput(`--inputs: folder '${spec}' holds no input_<k>.pb file`);
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
    // A bool input given as uint8 bytes (a .npy of u1) is fed as bool, which onnxruntime requires;
    // likewise a uint16 input given as a Uint16Array read as float16 bits is fed as uint16.
    const declared = decl.type?.elemType ? FEED_TYPES.get(decl.type.elemType) : undefined;
    let type = hostTensorType(t, `--inputs ${path}`);
    // Untagged data of the declared type's class is read as that type.
    if (declared && !t.type && !t.bool && !Array.isArray(t.data) && t.data instanceof FEED_CLASS[declared]) type = declared;
    if (declared && type !== declared) throw badInput(`--inputs ${path}: '${target}' holds ${type}, the model declares ${declared}`);
    feeds[target] = hostTensor(t.dims, t.data, type);
  };
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const named = eq > 0 && !spec.slice(0, eq).includes('/') ? spec.slice(0, eq) : undefined;
    const path = named ? spec.slice(eq + 1) : spec;
    for (const file of expand(path, inputs.length > 0)) {
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
