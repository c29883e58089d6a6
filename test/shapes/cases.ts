/**
 * Single-node shape cases shared by the rule tests: build the IR model for a case, infer it,
 * and (for the python oracle) run python onnx's shape inference on the same case.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Graph, Model, Node, type Attribute, type Dim } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { inferShapes } from '../../src/analysis/shapes.ts';

export interface InputSpec {
  shape: Dim[];
  dtype?: number;
  value?: number[];
}

export type AttrSpec =
  | { type: 'int'; value: number }
  | { type: 'ints'; value: number[] }
  | { type: 'float'; value: number }
  | { type: 'floats'; value: number[] }
  | { type: 'string'; value: string }
  | { type: 'tensor'; dtype: number; dims: number[]; value: number[] };

export interface Case {
  op: string;
  opset?: number;
  inputs: (InputSpec | null)[];
  attrs?: Record<string, AttrSpec>;
  outputs?: number;
}

export const I = (...shape: Dim[]): InputSpec => ({ shape, dtype: DataType.FLOAT });
export const ints = (value: number[], shape: number[] = [value.length]): InputSpec => ({ shape, dtype: DataType.INT64, value });
export const floats = (value: number[], shape: number[] = [value.length]): InputSpec => ({ shape, dtype: DataType.FLOAT, value });
export const a = {
  int: (value: number): AttrSpec => ({ type: 'int', value }),
  ints: (...value: number[]): AttrSpec => ({ type: 'ints', value }),
  float: (value: number): AttrSpec => ({ type: 'float', value }),
  floats: (...value: number[]): AttrSpec => ({ type: 'floats', value }),
  string: (value: string): AttrSpec => ({ type: 'string', value }),
  tensor: (dtype: number, dims: number[], value: number[]): AttrSpec => ({ type: 'tensor', dtype, dims, value }),
};

function toAttr(name: string, s: AttrSpec): Attribute {
  switch (s.type) {
    case 'int': return { name, type: 'int', value: BigInt(s.value) };
    case 'ints': return { name, type: 'ints', value: s.value.map((v) => BigInt(v)) };
    case 'float': return { name, type: 'float', value: s.value };
    case 'floats': return { name, type: 'floats', value: s.value };
    case 'string': return { name, type: 'string', value: new TextEncoder().encode(s.value) };
    case 'tensor': return { name, type: 'tensor', value: s.dtype === DataType.INT64 ? Tensor.int64('', s.dims, s.value) : Tensor.float32('', s.dims, Float32Array.from(s.value)) };
  }
}

/** INT64_MAX/MIN written as JS numbers round past the int64 range: clamp them. */
const clampBig = (v: number): bigint => (v >= 2 ** 63 ? 2n ** 63n - 1n : v <= -(2 ** 63) ? -(2n ** 63n) : BigInt(v));

export function caseModel(c: Case): Model {
  const inits: Tensor[] = [];
  const inputs: { name: string; type: { elemType: number; shape: Dim[] } }[] = [];
  const names = c.inputs.map((spec, i) => {
    if (!spec) return '';
    const name = `in${i}`;
    const dt = spec.dtype ?? DataType.FLOAT;
    if (spec.value) {
      const dims = spec.shape as number[];
      inits.push(dt === DataType.INT64 ? new Tensor(name, dt, dims, { kind: 'values', values: BigInt64Array.from(spec.value, clampBig) }) : Tensor.float32(name, dims, Float32Array.from(spec.value)));
    } else inputs.push({ name, type: { elemType: dt, shape: spec.shape } });
    return name;
  });
  const outs = Array.from({ length: c.outputs ?? 1 }, (_, k) => `out${k}`);
  const node = new Node({ name: 'n', opType: c.op, inputs: names, outputs: outs, attributes: Object.entries(c.attrs ?? {}).map(([k, v]) => toAttr(k, v)) });
  const graph = new Graph({ name: 'g', nodes: [node], inputs, outputs: outs.map((name) => ({ name })), initializers: inits });
  return new Model({ graph, opsetImports: [{ domain: '', version: c.opset ?? 13 }] });
}

/** Inferred output shapes of a case (undefined for an unknown output, null dims for unknown dims). */
export function inferCase(c: Case): (Dim[] | undefined)[] {
  const m = caseModel(c);
  const types = inferShapes(m);
  return m.graph.nodes[0].outputs.map((o) => types.get(o)?.shape);
}

export const PYTHON = '/usr/bin/python3';
const ORACLE = fileURLToPath(new URL('./oracle.py', import.meta.url));

export function pythonOnnxMissing(): string | false {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (Debian python3-onnx is the second shape oracle)`;
  try {
    execFileSync(PYTHON, ['-c', 'import onnx, numpy'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'python onnx/numpy not importable from /usr/bin/python3';
  }
}

/** Runs python onnx shape inference on a batch of cases (one process for all). */
export function pythonShapes(cases: Case[]): ({ shapes: (number | null)[][] } | { error: string })[] {
  const payload = cases.map((c) => ({
    ...c,
    opset: c.opset ?? 13,
    outputs: c.outputs ?? 1,
    inputs: c.inputs.map((s) => (s ? { ...s, dtype: s.dtype ?? DataType.FLOAT } : null)),
  }));
  const out = execFileSync(PYTHON, [ORACLE], { input: JSON.stringify(payload), maxBuffer: 64 << 20 });
  return JSON.parse(out.toString());
}
