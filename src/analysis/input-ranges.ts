/**
 * What values a seeded random verification input should take, per graph input, so that a
 * model runs the way its users run it: floats are standard normal; integer and bool inputs
 * get a value or a range read from the model itself or, failing that, from how people name
 * such inputs. Integers drawn blindly (zeros, or the dtype's full range) send models down the
 * wrong branch or out of bounds: Silero VAD compares its int64 scalar `sr` with 16000 and runs
 * a different network for any other value; an embedding lookup fails on an index past its
 * table. In order, for an integer or bool input:
 *
 * 1. a value the user gave (`--input-value name=v`);
 * 2. compared for equality (Equal) with a constant: that constant (the branch the exporter
 *    traced);
 * 3. used as Gather/GatherElements indices into a constant table (or a graph input whose dim
 *    there is fixed): uniform over that axis;
 * 4. its name: a sample rate (`sr`, `sample_rate`, `sampling_rate`, `fs`) 16000 Hz, an
 *    attention/padding mask all ones (bool: true), token type / segment ids zeros;
 * 5. else uniform over a range fitting the dtype: int8 [-128, 127], uint8 [0, 255], bool
 *    {0, 1}, wider integers [0, 7] (small non-negative: sizes, counts and indices stay valid).
 *
 * Written by hand: no library knows ONNX graphs' conventions for inputs.
 */
import type { Graph, Model, Node } from '../ir/graph.ts';
import { DataType } from '../ir/dtype.ts';
import { constTensor } from '../ir/constant.ts';
import { badInput } from '../errors.ts';

export type InputFill =
  | { kind: 'normal' }
  | { kind: 'const'; value: number; why: string }
  | { kind: 'uniform'; lo: number; hi: number; why: string };

const SAMPLE_RATE = /^(.*[_.])?(sr|fs|sample_?rate|sampling_?rate|samplerate)$/i;
const MASK = /mask/i;
const ZERO_IDS = /token_?type|segment/i;
/** Ops that pass index values through unchanged (their consumers see the same numbers). */
const PASS = new Set(['Cast', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Identity', 'Expand']);

/** Consumers of `value` (following value-preserving ops), with the input slot they read it at. */
function uses(g: Graph, value: string, depth = 0): { node: Node; slot: number }[] {
  const res: { node: Node; slot: number }[] = [];
  for (const n of g.consumers(value)) {
    n.inputs.forEach((x, slot) => {
      if (x !== value) return;
      if (PASS.has(n.opType) && slot === 0 && depth < 4 && n.outputs[0]) res.push(...uses(g, n.outputs[0], depth + 1));
      else res.push({ node: n, slot });
    });
  }
  return res;
}

/** A scalar constant (see constTensor) as a number, if it is one. */
function constNumber(g: Graph, value: string): number | undefined {
  const t = constTensor(g, value);
  return t?.size === 1 ? t.toIntegers()[0] : undefined;
}

/** Size of a table's axis, when `value` is a constant of known dims or a graph input whose dim
 * there is fixed. */
function tableDim(g: Graph, value: string, axis: number): number | undefined {
  const dims: readonly (number | string | undefined)[] | undefined = constTensor(g, value)?.dims ?? g.inputs.find((i) => i.name === value)?.type?.shape;
  if (!dims || !dims.length) return undefined;
  const d = dims[axis < 0 ? axis + dims.length : axis];
  return typeof d === 'number' ? d : undefined;
}

export function inputFill(model: Model, name: string, elemType: number, given?: number): InputFill {
  const isFloat = elemType === DataType.FLOAT || elemType === DataType.DOUBLE || elemType === DataType.FLOAT16 || elemType === DataType.BFLOAT16;
  if (given !== undefined) return { kind: 'const', value: given, why: 'given with --input-value' };
  if (isFloat) return { kind: 'normal' };
  const g = model.graph;
  const used = uses(g, name);
  for (const { node, slot } of used) {
    if (node.opType === 'Equal') {
      const other = constNumber(g, node.inputs[1 - slot] ?? '');
      if (other !== undefined) return { kind: 'const', value: other, why: `compared with the constant ${other} by node '${node.name}'` };
    }
  }
  for (const { node, slot } of used) {
    if ((node.opType === 'Gather' || node.opType === 'GatherElements') && slot === 1) {
      const n = tableDim(g, node.inputs[0], node.attrInt('axis', 0));
      if (n && n > 0) return { kind: 'uniform', lo: 0, hi: n - 1, why: `indices into '${node.inputs[0]}' (axis size ${n}) of node '${node.name}'` };
    }
  }
  if (SAMPLE_RATE.test(name)) return { kind: 'const', value: 16000, why: 'named like a sample rate' };
  if (MASK.test(name)) return { kind: 'const', value: 1, why: 'named like a mask' };
  if (ZERO_IDS.test(name)) return { kind: 'const', value: 0, why: 'named like token type / segment ids' };
  if (elemType === DataType.BOOL) return { kind: 'uniform', lo: 0, hi: 1, why: 'bool' };
  if (elemType === DataType.INT8) return { kind: 'uniform', lo: -128, hi: 127, why: 'int8 range' };
  if (elemType === DataType.UINT8) return { kind: 'uniform', lo: 0, hi: 255, why: 'uint8 range' };
  return { kind: 'uniform', lo: 0, hi: 7, why: 'small non-negative integers' };
}

/** Parses `--input-value name=v` specs (a number; `true`/`false` for bools). */
export function parseInputValues(specs: readonly string[] | undefined): Record<string, number> {
  const res: Record<string, number> = {};
  for (const spec of specs ?? []) {
    const eq = spec.lastIndexOf('=');
    const name = spec.slice(0, eq).trim();
    const text = spec.slice(eq + 1).trim();
    const v = text === 'true' ? 1 : text === 'false' ? 0 : Number(text);
    if (eq <= 0 || !text || !Number.isFinite(v)) throw badInput(`--input-value '${spec}': expected NAME=NUMBER, e.g. sr=16000`);
    res[name] = v;
  }
  return res;
}

/** What every graph input of `model` gets (read it before rewrites move nodes into functions). */
export function inputFills(model: Model, values: Record<string, number> = {}): Record<string, InputFill> {
  const res: Record<string, InputFill> = {};
  for (const i of model.graph.inputs) {
    if (model.graph.initializers.has(i.name) || i.type?.elemType === DataType.STRING) continue; // no random strings
    res[i.name] = inputFill(model, i.name, i.type?.elemType ?? DataType.FLOAT, values[i.name]);
  }
  return res;
}

/** One line per non-float graph input: what the verification feeds it and why. */
export function describeFills(fills: Record<string, InputFill>): string[] {
  const res: string[] = [];
  for (const [name, f] of Object.entries(fills)) {
    if (f.kind === 'const') res.push(`${name} = ${f.value} (${f.why})`);
    else if (f.kind === 'uniform') res.push(`${name} in [${f.lo}, ${f.hi}] (${f.why})`);
  }
  return res;
}
