/**
 * Shared vocabulary of the shape rules: what a rule sees (RuleCtx), what it returns (Out),
 * known small tensor values (Val, for the constant folding that shape computations need), and
 * the dimension arithmetic every rule uses.
 *
 * Dimensions are `number | string | undefined` (known, symbolic dim_param, unknown). The rule
 * of the house: an unknown or symbolic input dimension becomes symbolic (when it passes
 * through unchanged) or undefined (when arithmetic touches it) — never a guessed number.
 */
import type { Dim, Node, TensorType } from '../../ir/graph.ts';
import { DataType, type DataTypeCode } from '../../ir/dtype.ts';
import { badInput } from '../../errors.ts';

/** A tensor whose values are known at compile time (small int/float tensors: shapes, axes,
 * scales, constants). Elements may be symbolic (a Shape of a dynamic input) or unknown. */
export interface Val {
  dims: number[];
  data: Dim[];
}

/** One output of a rule: its type and, when foldable, its value. `undefined` = nothing known. */
export interface Out {
  type?: TensorType;
  value?: Val;
  /** Why the shape is not fully static, when the rule knows better than its inputs' reasons. */
  why?: string;
}

/** Thrown by RuleCtx accessors when a rule needs something unknown (an input's shape, rank or
 * a value); the driver turns it into "output shape unknown", inheriting the input's reason. */
export class Unknown {
  constructor(readonly why: string, readonly from?: string) {}
}

export interface RuleCtx {
  node: Node;
  /** Opset version of the node's domain. */
  opset: number;
  /** Number of input slots (including trailing omitted ones). */
  nIn: number;
  /** Input i is present (not omitted with ''). */
  has(i: number): boolean;
  type(i: number): TensorType | undefined;
  /** Element type of input i (throws Unknown when not known). */
  elem(i: number): DataTypeCode;
  /** Shape of input i (throws Unknown when the rank is not known). */
  shape(i: number): Dim[];
  /** Shape or undefined (no throw). */
  maybeShape(i: number): Dim[] | undefined;
  rank(i: number): number;
  /** Input i has (or may have) a compile-time value: folded already, or an initializer.
   * Cheap (reads no data); rules check it before folding over several inputs. */
  isConst(i: number): boolean;
  /** Known value of input i (folded constant or small initializer), undefined if not known. */
  value(i: number): Val | undefined;
  /** Value of input i as numbers; throws Unknown if any element is not a known number.
   * Returns undefined when the input is absent. */
  ints(i: number): number[] | undefined;
  /** Like ints() but the input must be present. */
  needInts(i: number, what: string): number[];
  /** A bad-input error naming the node. */
  fail(msg: string): never;
}

export type Rule = (c: RuleCtx) => Out[];

// ---- construction helpers ----

export const out = (elemType: DataTypeCode, shape: Dim[] | undefined, value?: Val): Out => ({ type: { elemType, shape }, value });

/** Output with the element type of input `i` and the given shape. */
export const like = (c: RuleCtx, i: number, shape: Dim[] | undefined, value?: Val): Out => {
  const t = c.type(i);
  return { type: t ? { elemType: t.elemType, shape } : { elemType: DataType.UNDEFINED, shape }, value };
};

export const isNum = (d: Dim): d is number => typeof d === 'number';

/** A symbolic dim for a data-dependent size (NonZero, NonMaxSuppression, Unique, Compress):
 * named after the node so that every consumer sees the same symbol. */
export const dataDim = (c: RuleCtx, what: string): Dim => `${c.node.name || c.node.opType}.${what}`;

/** Product of dims; undefined unless every dim is a known number. */
export function prod(dims: Dim[]): number | undefined {
  let p = 1;
  for (const d of dims) {
    if (!isNum(d)) return undefined;
    p *= d;
  }
  return p;
}

/** Arithmetic on dims: any non-number operand gives undefined. */
export function dimOp(a: Dim, b: Dim, f: (x: number, y: number) => number): Dim {
  return isNum(a) && isNum(b) ? f(a, b) : undefined;
}

/** Normalizes an axis in [-rank, rank) to [0, rank); throws a bad-input error when out of range. */
export function normAxis(c: RuleCtx, axis: number, rank: number, what = 'axis'): number {
  if (axis < -rank || axis >= rank) c.fail(`${what} ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** Multidirectional (numpy) broadcasting of several shapes. */
export function broadcast(c: RuleCtx, shapes: Dim[][]): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const res: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let acc: Dim = 1;
    let first = true;
    for (const s of shapes) {
      const i = s.length - rank + k;
      if (i < 0) continue;
      const d = s[i];
      if (first) {
        acc = d;
        first = false;
        continue;
      }
      acc = bdim(c, acc, d);
    }
    res.push(acc);
  }
  return res;
}

function bdim(c: RuleCtx, a: Dim, b: Dim): Dim {
  if (a === 1) return b;
  if (b === 1) return a;
  if (isNum(a) && isNum(b)) {
    if (a !== b) c.fail(`cannot broadcast dimensions ${a} and ${b}`);
    return a;
  }
  if (a === b) return a; // same symbol
  // One known (not 1) and one symbolic/unknown: the result must be the known one if the
  // model is valid (the other is either equal or 1).
  if (isNum(a)) return a;
  if (isNum(b)) return b;
  return undefined;
}

export function isIntType(t: DataTypeCode): boolean {
  return t === DataType.INT64 || t === DataType.INT32 || t === DataType.INT16 || t === DataType.INT8 || t === DataType.UINT8
    || t === DataType.UINT16 || t === DataType.UINT32 || t === DataType.UINT64 || t === DataType.BOOL;
}

/** Largest folded tensor we keep a value for (shape arithmetic never needs more). */
export const MAX_FOLD = 4096;

export function valOf(dims: number[], data: Dim[]): Val | undefined {
  return data.length <= MAX_FOLD ? { dims, data } : undefined;
}

/** Evaluates an element-wise function over broadcast known values (undefined if too big). */
export function foldElementwise(c: RuleCtx, vals: Val[], f: (xs: Dim[]) => Dim): Val | undefined {
  const outDims = broadcast(c, vals.map((v) => v.dims)) as number[];
  const n = outDims.reduce((a, b) => a * b, 1);
  if (n > MAX_FOLD) return undefined;
  const strides = vals.map((v) => {
    const st: number[] = new Array(outDims.length).fill(0);
    let s = 1;
    for (let k = v.dims.length - 1; k >= 0; k--) {
      const ok = outDims.length - v.dims.length + k;
      st[ok] = v.dims[k] === 1 ? 0 : s;
      s *= v.dims[k];
    }
    return st;
  });
  const data: Dim[] = new Array(n);
  const idx = new Array(outDims.length).fill(0);
  for (let e = 0; e < n; e++) {
    const xs = vals.map((v, j) => {
      let off = 0;
      for (let k = 0; k < idx.length; k++) off += idx[k] * strides[j][k];
      return v.data[off];
    });
    data[e] = f(xs);
    for (let k = idx.length - 1; k >= 0; k--) {
      if (++idx[k] < outDims[k]) break;
      idx[k] = 0;
    }
  }
  return { dims: outDims, data };
}

/** Throws a bad-input error naming the node. */
export function nodeError(node: Node, msg: string): never {
  throw badInput(`node '${node.name}' (${node.opType}): ${msg}`);
}
