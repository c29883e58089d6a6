/**
 * Tensors with lazily materialized data. A tensor read from a file keeps a view into the
 * loaded bytes (`raw`) or a pointer into an external-data file (`external`); nothing is
 * copied until a pass asks for typed values or replaces the data.
 */
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { DataType, dtypeBytes, dtypeName, type DataTypeCode } from './dtype.ts';
import { badInput, unsupported } from '../errors.ts';

/** Where a Tensor's data lives: decoded values, raw bytes, or an external-data file range. */
export type TensorSource =
  /** Little-endian bytes, as in TensorProto.raw_data. May be a view into the model buffer. */
  | { kind: 'raw'; bytes: Uint8Array }
  /** Values held in typed fields (float_data, int64_data, ...) or produced by a pass. */
  | { kind: 'values'; values: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | string[] | number[] }
  /** External data: a byte range of a side file (path already resolved against the model). */
  | { kind: 'external'; path: string; offset: number; length: number | undefined };

/** An initializer or constant: name, data type, dims and where its bytes live (inline, raw,
 * external file, or decoded values).
 */
export class Tensor {
  name: string;
  dataType: DataTypeCode;
  dims: number[];
  source: TensorSource;
  /** Fields of the original TensorProto that the IR does not model (doc_string, segment,
   * unknown fields, external_data entries beyond location/offset/length). Writers carry them
   * through unchanged. Opaque to passes. */
  carry?: unknown;

  constructor(name: string, dataType: DataTypeCode, dims: number[], source: TensorSource, carry?: unknown) {
    this.name = name;
    this.dataType = dataType;
    this.dims = dims;
    this.source = source;
    this.carry = carry;
  }

  get size(): number {
    return this.dims.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    return dtypeBytes(this.dataType, this.size);
  }

  /** Raw little-endian bytes (reads external data from disk on demand, a slice only). */
  bytes(): Uint8Array {
    const s = this.source;
    if (s.kind === 'raw') return s.bytes;
    if (s.kind === 'external') return readExternal(this.name, s.path, s.offset, s.length ?? this.byteLength);
    return valuesToBytes(this.dataType, s.values, this.name);
  }

  /** Values as float32 (converts ints/doubles/halves). Always a fresh or owned array. */
  toFloat32(): Float32Array {
    const n = this.size;
    const s = this.source;
    if (s.kind === 'values' && !Array.isArray(s.values) && !(s.values instanceof BigInt64Array)) {
      return Float32Array.from(s.values as ArrayLike<number>);
    }
    if (s.kind === 'values') {
      const v = s.values as ArrayLike<number | bigint | string>;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(v[i]);
      return out;
    }
    const b = scanBytes(this);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const out = new Float32Array(n);
    switch (this.dataType) {
      case DataType.FLOAT: for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true); break;
      case DataType.DOUBLE: for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true); break;
      case DataType.FLOAT16: for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true)); break;
      case DataType.INT64: for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true)); break;
      case DataType.INT32: for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true); break;
      case DataType.INT8: for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); break;
      case DataType.UINT8: case DataType.BOOL: for (let i = 0; i < n; i++) out[i] = dv.getUint8(i); break;
      default: throw unsupported(`tensor '${this.name}': cannot convert ${dtypeName(this.dataType)} to float32`);
    }
    return out;
  }

  /** Integer values (INT64/INT32/...), as JS numbers; INT64 beyond 2^53 is clamped to +-MAX_SAFE. */
  toIntegers(): number[] {
    const s = this.source;
    if (s.kind === 'values') return Array.from(s.values as ArrayLike<number | bigint>, (x) => clampInt(x));
    const b = scanBytes(this);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const n = this.size;
    const out: number[] = new Array(n);
    switch (this.dataType) {
      case DataType.INT64: case DataType.UINT64: for (let i = 0; i < n; i++) out[i] = clampInt(dv.getBigInt64(i * 8, true)); break;
      case DataType.INT32: for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true); break;
      case DataType.UINT32: for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true); break;
      case DataType.INT16: for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true); break;
      case DataType.UINT16: for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true); break;
      case DataType.INT8: for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); break;
      case DataType.UINT8: case DataType.BOOL: for (let i = 0; i < n; i++) out[i] = dv.getUint8(i); break;
      default: return Array.from(this.toFloat32());
    }
    return out;
  }

  /** A new float32 tensor holding `values` (owned, no file backing). */
  static float32(name: string, dims: number[], values: Float32Array): Tensor {
    return new Tensor(name, DataType.FLOAT, dims, { kind: 'values', values });
  }

  static int64(name: string, dims: number[], values: ArrayLike<number>): Tensor {
    return new Tensor(name, DataType.INT64, dims, { kind: 'values', values: BigInt64Array.from(Array.from(values), (x) => BigInt(x)) });
  }
}

/** The raw bytes of `t` for one immediate read (a conversion): a source that can give them
 * without keeping them (a lazily loaded initializer, `transientBytes` in onnx/lazy.ts) does, so
 * converting a weight does not leave a second copy of it in memory. Valid until the next call. */
function scanBytes(t: Tensor): Uint8Array {
  const s = t.source as { transientBytes?: () => Uint8Array };
  return typeof s.transientBytes === 'function' ? s.transientBytes() : t.bytes();
}

function clampInt(x: number | bigint): number {
  if (typeof x === 'number') return x;
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (x < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(x);
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
/** Per data type, whether a values array is already that type's raw layout (on little-endian). */
const SAME_LAYOUT: Partial<Record<number, (v: unknown) => boolean>> = {
  [DataType.FLOAT]: (v) => v instanceof Float32Array,
  [DataType.DOUBLE]: (v) => v instanceof Float64Array,
  [DataType.INT32]: (v) => v instanceof Int32Array,
  [DataType.INT64]: (v) => v instanceof BigInt64Array,
  [DataType.UINT8]: (v) => v instanceof Uint8Array,
};

function valuesToBytes(dataType: DataTypeCode, values: TensorSource & { kind: 'values' } extends { values: infer V } ? V : never, name: string): Uint8Array {
  const n = (values as ArrayLike<unknown>).length;
  // Values already in their little-endian layout are their bytes: a view, not a copy (encoding a
  // model whose passes made new weights, e.g. fold-bn's, held a second copy of all of them:
  // ResNet-50, 93 MiB, bench:memory). Readers of bytes() do not write to them.
  const view = LITTLE_ENDIAN && SAME_LAYOUT[dataType]?.(values);
  if (view) {
    const a = values as unknown as Uint8Array;
    return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  }
  const out = new Uint8Array(dtypeBytes(dataType, n));
  const dv = new DataView(out.buffer);
  const v = values as ArrayLike<number | bigint>;
  switch (dataType) {
    case DataType.FLOAT: for (let i = 0; i < n; i++) dv.setFloat32(i * 4, Number(v[i]), true); break;
    case DataType.DOUBLE: for (let i = 0; i < n; i++) dv.setFloat64(i * 8, Number(v[i]), true); break;
    case DataType.INT64: case DataType.UINT64: for (let i = 0; i < n; i++) dv.setBigInt64(i * 8, BigInt(v[i]), true); break;
    case DataType.INT32: for (let i = 0; i < n; i++) dv.setInt32(i * 4, Number(v[i]), true); break;
    case DataType.UINT32: for (let i = 0; i < n; i++) dv.setUint32(i * 4, Number(v[i]), true); break;
    case DataType.INT16: case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16:
      for (let i = 0; i < n; i++) dv.setUint16(i * 2, Number(v[i]) & 0xffff, true); break;
    case DataType.INT8: case DataType.UINT8: case DataType.BOOL: for (let i = 0; i < n; i++) dv.setUint8(i, Number(v[i]) & 0xff); break;
    default: throw unsupported(`tensor '${name}': cannot serialize ${dtypeName(dataType)} values as raw bytes`);
  }
  return out;
}

/** Reads one byte range of an external-data file: only that slice, never the whole file. */
export function readExternal(name: string, path: string, offset: number, length: number): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    throw badInput(`tensor '${name}': external data file not found: ${path}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (offset + length > size) throw badInput(`tensor '${name}': external data ${path} has ${size} bytes, needs ${offset + length}`);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw badInput(`tensor '${name}': external data ${path} ended early`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
