/**
 * Element-wise ops: unary (same shape), binary/variadic with multidirectional broadcasting,
 * comparisons (bool output), Where, Cast/CastLike, and their folding on small known values.
 */
import { DataType } from '../../ir/dtype.ts';
import type { Dim } from '../../ir/graph.ts';
import { broadcast, foldElementwise, isIntType, isNum, like, out, type Out, type Rule, type RuleCtx, type Val } from './context.ts';

/** Same shape and type as input 0 (identity-like), value passed through for Identity. */
export const sameAsInput: Rule = (c) => [like(c, 0, c.maybeShape(0))];

const identity: Rule = (c) => [like(c, 0, c.maybeShape(0), c.value(0))];

/** Output 0 same as input 0 (other outputs unknown unless the op says otherwise). */
const unaryOps = [
  'Relu', 'Sigmoid', 'Tanh', 'Erf', 'Exp', 'Log', 'Abs', 'Neg', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round',
  'Sign', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh', 'Softplus',
  'Softsign', 'LeakyRelu', 'Elu', 'Selu', 'Celu', 'HardSigmoid', 'HardSwish', 'ThresholdedRelu', 'Shrink', 'Mish',
  'Gelu', 'Clip', 'Softmax', 'LogSoftmax', 'Hardmax', 'LRN', 'InstanceNormalization', 'MeanVarianceNormalization',
  'CumSum', 'Trilu', 'ReverseSequence', 'Scatter', 'ScatterElements', 'ScatterND', 'Not', 'BitwiseNot',
] as const;

type NumF = (a: number, b: number) => number;

/** Binary/variadic broadcasting op; `f` folds known values (ints only unless `floats`). */
function broadcastOp(kind: 'same' | 'bool', f?: NumF | ((xs: number[]) => number)): Rule {
  return (c) => {
    const idx = [...Array(c.nIn).keys()].filter((i) => c.has(i));
    if (!idx.length) c.fail('has no inputs');
    const shapes = idx.map((i) => c.maybeShape(i));
    const shape = shapes.every((s) => s) ? broadcast(c, shapes as Dim[][]) : undefined;
    const elemType = kind === 'bool' ? DataType.BOOL : c.type(idx[0])?.elemType ?? DataType.UNDEFINED;
    let value: Val | undefined;
    if (f && shape && idx.every((i) => c.isConst(i))) {
      const vals = idx.map((i) => c.value(i));
      if (vals.every((v) => v)) {
        const inType = c.type(idx[0])?.elemType ?? DataType.FLOAT;
        const intish = isIntType(inType);
        // float32 values are rounded to float32 after each op, as onnxruntime computes them: a
        // size computed in floats (torchvision's detection transform: Reciprocal, Mul, Min,
        // Floor) must come out as onnxruntime's, not as float64 arithmetic's. For +, -, *, /
        // and sqrt, float64 then float32 rounding is the correctly rounded float32 result.
        const f32 = inType === DataType.FLOAT;
        value = foldElementwise(c, vals as Val[], (xs) => {
          if (!xs.every(isNum)) return undefined;
          const r = f.length === 1 ? (f as (xs: number[]) => number)(xs as number[]) : (xs as number[]).reduce(f as NumF);
          return kind === 'bool' ? Number(r) : intish ? Math.trunc(r) : f32 ? Math.fround(r) : r;
        });
      }
    }
    return [out(elemType, shape, value)];
  };
}

const where: Rule = (c) => {
  const shapes = [0, 1, 2].map((i) => c.maybeShape(i));
  const shape = shapes.every((s) => s) ? broadcast(c, shapes as Dim[][]) : undefined;
  let value: Val | undefined;
  const vals = [0, 1, 2].every((i) => c.isConst(i)) ? [0, 1, 2].map((i) => c.value(i)) : [];
  if (shape && vals.length && vals.every((v) => v)) value = foldElementwise(c, vals as Val[], ([cond, a, b]) => (isNum(cond) ? (cond ? a : b) : undefined));
  return [like(c, 1, shape, value)];
};

function castValue(v: Val | undefined, to: number): Val | undefined {
  if (!v) return undefined;
  if (to === DataType.BOOL) return { dims: v.dims, data: v.data.map((x) => (isNum(x) ? Number(x !== 0) : undefined)) };
  if (isIntType(to)) return { dims: v.dims, data: v.data.map((x) => (isNum(x) ? Math.trunc(x) : x)) };
  return { dims: v.dims, data: v.data.map((x) => (isNum(x) ? x : undefined)) };
}

const cast: Rule = (c) => {
  const to = c.node.attrInt('to');
  if (to === undefined) return c.fail(`missing attribute 'to'`);
  return [out(to, c.maybeShape(0), castValue(c.value(0), to))];
};

const castLike: Rule = (c) => {
  const to = c.elem(1);
  return [out(to, c.maybeShape(0), castValue(c.value(0), to))];
};

/** `<op>(x) -> bool` with x's shape. */
const boolUnary: Rule = (c) => [out(DataType.BOOL, c.maybeShape(0))];

/** Dropout: output like input; mask bool (opset >= 10), same type as input before. */
const dropout: Rule = (c) => [like(c, 0, c.maybeShape(0), c.value(0)), c.opset >= 10 ? out(DataType.BOOL, c.maybeShape(0)) : like(c, 0, c.maybeShape(0))];

/** Random*Like / EyeLike / Bernoulli: shape of input 0, dtype attr or input's. */
const likeWithDtype: Rule = (c) => {
  const dt = c.node.attrInt('dtype');
  return [dt !== undefined ? out(dt, c.maybeShape(0)) : like(c, 0, c.maybeShape(0))];
};

const div: NumF = (a, b) => a / b;

export const elementwiseRules: Record<string, Rule> = {
  ...Object.fromEntries(unaryOps.map((op) => [op, sameAsInput])),
  Identity: identity,
  Neg: broadcastOp('same', (xs: number[]) => -xs[0]),
  Abs: broadcastOp('same', (xs: number[]) => Math.abs(xs[0])),
  Relu: broadcastOp('same', (xs: number[]) => Math.max(0, xs[0])),
  Floor: broadcastOp('same', (xs: number[]) => Math.floor(xs[0])),
  Ceil: broadcastOp('same', (xs: number[]) => Math.ceil(xs[0])),
  Sqrt: broadcastOp('same', (xs: number[]) => Math.sqrt(xs[0])),
  Reciprocal: broadcastOp('same', (xs: number[]) => 1 / xs[0]),
  Sign: broadcastOp('same', (xs: number[]) => Math.sign(xs[0])),
  // Halves to even (ONNX Round), not JavaScript's Math.round (halves up).
  Round: broadcastOp('same', (xs: number[]) => {
    const r = Math.round(xs[0]);
    return r - xs[0] === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }),
  Add: broadcastOp('same', (a: number, b: number) => a + b),
  Sub: broadcastOp('same', (a: number, b: number) => a - b),
  Mul: broadcastOp('same', (a: number, b: number) => a * b),
  Div: broadcastOp('same', div),
  Pow: broadcastOp('same', (a: number, b: number) => a ** b),
  Mod: broadcastOp('same', (a: number, b: number) => a % b),
  Max: broadcastOp('same', (a: number, b: number) => Math.max(a, b)),
  Min: broadcastOp('same', (a: number, b: number) => Math.min(a, b)),
  Sum: broadcastOp('same', (a: number, b: number) => a + b),
  Mean: broadcastOp('same', (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length),
  BitShift: broadcastOp('same'),
  BitwiseAnd: broadcastOp('same'),
  BitwiseOr: broadcastOp('same'),
  BitwiseXor: broadcastOp('same'),
  // Unidirectional: the slope broadcasts to X (opset < 7 also allowed a [C] slope on axis 1).
  PRelu: sameAsInput,
  And: broadcastOp('bool', (a: number, b: number) => Number(a && b)),
  Or: broadcastOp('bool', (a: number, b: number) => Number(a || b)),
  Xor: broadcastOp('bool', (a: number, b: number) => Number(!!a !== !!b)),
  Equal: broadcastOp('bool', (xs: number[]) => Number(xs[0] === xs[1])),
  Less: broadcastOp('bool', (xs: number[]) => Number(xs[0] < xs[1])),
  Greater: broadcastOp('bool', (xs: number[]) => Number(xs[0] > xs[1])),
  LessOrEqual: broadcastOp('bool', (xs: number[]) => Number(xs[0] <= xs[1])),
  GreaterOrEqual: broadcastOp('bool', (xs: number[]) => Number(xs[0] >= xs[1])),
  Not: broadcastOp('bool', (xs: number[]) => Number(!xs[0])),
  Where: where,
  Cast: cast,
  CastLike: castLike,
  IsNaN: boolUnary,
  IsInf: boolUnary,
  Dropout: dropout,
  RandomUniformLike: likeWithDtype,
  RandomNormalLike: likeWithDtype,
  EyeLike: likeWithDtype,
  Bernoulli: likeWithDtype,
};

/** Used by rules outside this file that need the plain broadcast of two inputs. */
export function broadcastOut(c: RuleCtx, a: number, b: number): Out {
  const sa = c.maybeShape(a), sb = c.maybeShape(b);
  return like(c, a, sa && sb ? broadcast(c, [sa, sb]) : undefined);
}
