/**
 * Calibration inputs for data-driven passes (SGS): `random` (seeded normal inputs) or a folder.
 *
 * Folder layouts (documented in `dnnfuse sgs --help`):
 * 1. ONNX test-data layout: `test_data_set_0/input_0.pb`, `test_data_set_0/input_1.pb`, ...
 *    Each `test_data_set_*` folder is one batch; `input_<i>.pb` is a serialized TensorProto
 *    for the i-th graph input (or for the input its `name` field names).
 * 2. Flat files `*.pb` (TensorProto) or `*.npy` (NumPy, float32/float64, C order), sorted by
 *    name, each one batch of the model's single graph input.
 * Shapes must match the declared input shape (symbolic dims accept any size).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readInputFile } from '../util/input.ts';
import { join, resolve } from 'node:path';
import type { Model } from '../ir/graph.ts';
import { DataType } from '../ir/dtype.ts';
import { badInput } from '../errors.ts';
import { protobuf, TensorProtoType, type Msg } from '../onnx/schema.ts';
import { tensorFromMsg } from '../onnx/decode.ts';
import { randomFeeds, type Feeds, type HostTensor } from '../analysis/ort.ts';

/** Reads a serialized TensorProto file as a host tensor (float32 for float types). */
export function readTensorPb(path: string): { name: string; tensor: HostTensor } {
  const bytes = new Uint8Array(readInputFile(path, 'calibration file'));
  let msg: Msg;
  try {
    const r = new protobuf.Reader(bytes);
    msg = TensorProtoType.decode(r) as unknown as Msg;
  } catch (e) {
    throw badInput(`${path}: not a TensorProto (${e instanceof Error ? e.message : String(e)})`);
  }
  const t = tensorFromMsg(msg, { baseDir: resolve(path, '..') }, path);
  let data: HostTensor['data'];
  if (t.dataType === DataType.FLOAT || t.dataType === DataType.DOUBLE || t.dataType === DataType.FLOAT16) data = t.toFloat32();
  else if (t.dataType === DataType.INT64) data = BigInt64Array.from(t.toIntegers(), (v) => BigInt(v));
  else if (t.dataType === DataType.INT32) data = Int32Array.from(t.toIntegers());
  else throw badInput(`${path}: tensor type ${t.dataType} is not supported for calibration`);
  return { name: t.name, tensor: { dims: [...t.dims], data } };
}

/** Reads a .npy file (little-endian float32/float64, C order) as float32. */
export function readNpy(path: string): HostTensor {
  const b = readInputFile(path, 'calibration file');
  if (b.length < 10 || b[0] !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') throw badInput(`${path}: not a .npy file`);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = b.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) throw badInput(`${path}: unreadable .npy header`);
  if (fortran) throw badInput(`${path}: Fortran-ordered arrays are not supported; save with C order`);
  const dims = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const n = dims.reduce((a, c) => a * c, 1);
  const off = hstart + hlen;
  const data = new Float32Array(n);
  const dv = new DataView(b.buffer, b.byteOffset + off, b.length - off);
  if (descr === '<f4') { if (dv.byteLength < 4 * n) throw badInput(`${path}: truncated`); for (let i = 0; i < n; i++) data[i] = dv.getFloat32(4 * i, true); }
  else if (descr === '<f8') { if (dv.byteLength < 8 * n) throw badInput(`${path}: truncated`); for (let i = 0; i < n; i++) data[i] = dv.getFloat64(8 * i, true); }
  else throw badInput(`${path}: dtype ${descr} is not supported (use float32 '<f4' or float64 '<f8')`);
  return { dims, data };
}

function checkShape(model: Model, input: string, t: HostTensor, file: string): void {
  const decl = model.graph.inputs.find((i) => i.name === input)?.type?.shape;
  if (!decl) return;
  const ok = decl.length === t.dims.length && decl.every((d, i) => typeof d !== 'number' || d === t.dims[i]);
  if (!ok) throw badInput(`${file}: shape [${t.dims.join(',')}] does not match input '${input}' [${decl.map((d) => d ?? '?').join(',')}]`);
}

/** A calibration set read lazily: one batch in memory at a time (passes may stream it twice). */
export interface CalibrationSet {
  length: number;
  source: string;
  get(i: number): Feeds;
}

/** Calibration batches (all read now): `random` or a folder (see the file comment). */
export function loadCalibration(model: Model, spec: string, opts: { batches?: number; seed?: number } = {}): Feeds[] {
  const set = calibrationSet(model, spec, opts);
  return Array.from({ length: set.length }, (_, i) => set.get(i));
}

/** The same, lazily: the folder is listed and checked now, tensors are read on `get`. */
export function calibrationSet(model: Model, spec: string, opts: { batches?: number; seed?: number } = {}): CalibrationSet {
  const inputs = model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name)).map((i) => i.name);
  const limit = (n: number) => (opts.batches !== undefined ? Math.min(n, opts.batches) : n);
  if (spec === 'random') {
    const n = opts.batches ?? 2;
    return { length: n, source: 'random', get: (k) => randomFeeds(model, (opts.seed ?? 0) + k) };
  }
  if (!existsSync(spec) || !statSync(spec).isDirectory()) throw badInput(`--calib ${spec}: not a folder (give a folder of calibration tensors, or 'random')`);
  const entries = readdirSync(spec).sort();
  const sets = entries.filter((e) => e.startsWith('test_data_set_') && statSync(join(spec, e)).isDirectory());
  if (sets.length) {
    const listed = sets.map((s) => ({ dir: join(spec, s), files: readdirSync(join(spec, s)).filter((f) => /^input_\d+\.pb$/.test(f)).sort((a, b) => Number(a.slice(6, -3)) - Number(b.slice(6, -3))) }));
    return {
      length: limit(listed.length), source: spec,
      get(k) {
        const { dir, files } = listed[k];
        const feeds: Feeds = {};
        for (const f of files) {
          const path = join(dir, f);
          const { name, tensor } = readTensorPb(path);
          const input = inputs.includes(name) ? name : inputs[Number(f.slice(6, -3))];
          if (!input) throw badInput(`${path}: the model has no input #${f.slice(6, -3)}`);
          checkShape(model, input, tensor, path);
          feeds[input] = tensor;
        }
        const missing = inputs.filter((i) => !(i in feeds));
        if (missing.length) throw badInput(`${dir}: no tensor for input(s) ${missing.join(', ')}`);
        return feeds;
      },
    };
  }
  const files = entries.filter((e) => e.endsWith('.pb') || e.endsWith('.npy'));
  if (!files.length) throw badInput(`--calib ${spec}: no test_data_set_* folders and no .pb/.npy files`);
  if (inputs.length !== 1) throw badInput(`--calib ${spec}: flat files need a single-input model (this one has ${inputs.length}); use test_data_set_*/input_<i>.pb folders`);
  return {
    length: limit(files.length), source: spec,
    get(k) {
      const path = join(spec, files[k]);
      const tensor = files[k].endsWith('.npy') ? readNpy(path) : readTensorPb(path).tensor;
      checkShape(model, inputs[0], tensor, path);
      return { [inputs[0]]: tensor };
    },
  };
}
