/**
 * Data-movement ops (Reshape, Flatten, Transpose, Concat, Split, Slice, Gather*, Pad, Resize,
 * Expand, Tile, Squeeze/Unsqueeze, ...), the ops that compute shapes (Shape, Size, Constant,
 * ConstantOfShape, Range) and reductions.
 *
 * Where a shape is computed from values (Reshape's target, Slice's starts, Resize's scales),
 * the rules read the folded value of that input (RuleCtx.value), and the ops that typically
 * build such values (Shape, Constant, Gather, Unsqueeze, Squeeze, Concat, Slice, Reshape,
 * ConstantOfShape, Range, ReduceProd/Sum) fold their small outputs in turn. Elements of a
 * Shape output may be symbolic (dim_param strings) and travel through that folding.
 */
import { DataType, type DataTypeCode } from '../../ir/dtype.ts';
import type { Dim } from '../../ir/graph.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { broadcast, dataDim, foldElementwise, isNum, like, MAX_FOLD, normAxis, out, prod, Unknown, valOf, type Out, type Rule, type RuleCtx, type Val } from './context.ts';

/** The value of a small tensor (undefined when large, non-numeric or unreadable). */
export function tensorVal(t: Tensor): Val | undefined {
  if (t.size > MAX_FOLD || t.dataType === DataType.STRING) return undefined;
  try {
    const isFloat = t.dataType === DataType.FLOAT || t.dataType === DataType.DOUBLE || t.dataType === DataType.FLOAT16;
    const data = isFloat ? Array.from(t.toFloat32()) : t.toIntegers();
    if (data.length !== t.size) return undefined;
    return { dims: [...t.dims], data };
  } catch {
    return undefined;
  }
}

/** Ranks beyond this are treated as unknown when only a shape tensor's length is known. */
const MAX_RANK = 64;

const numOrUndef = (d: Dim): number | undefined => (isNum(d) ? d : undefined);

// ---- Shape-computing ops ----

const shapeOp: Rule = (c) => {
  const xs = c.shape(0);
  const r = xs.length;
  let start = 0, end = r;
  if (c.opset >= 15) {
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    start = clamp(c.node.attrInt('start', 0));
    end = clamp(c.node.attrInt('end', r));
  }
  const dims = xs.slice(start, Math.max(start, end));
  return [out(DataType.INT64, [dims.length], { dims: [dims.length], data: dims })];
};

const sizeOp: Rule = (c) => {
  const xs = c.maybeShape(0);
  const n = xs ? prod(xs) : undefined;
  return [out(DataType.INT64, [], n !== undefined ? { dims: [], data: [n] } : undefined)];
};

const constant: Rule = (c) => {
  const n = c.node;
  const a = n.attributes.find((x) => x.name.startsWith('value') || x.name === 'sparse_value');
  if (!a) return c.fail('has no value attribute');
  switch (a.type) {
    case 'tensor': return [out(a.value.dataType, [...a.value.dims], tensorVal(a.value))];
    case 'float': return [out(DataType.FLOAT, [], { dims: [], data: [a.value] })];
    case 'floats': return [out(DataType.FLOAT, [a.value.length], valOf([a.value.length], a.value))];
    case 'int': return [out(DataType.INT64, [], { dims: [], data: [Number(a.value)] })];
    case 'ints': return [out(DataType.INT64, [a.value.length], valOf([a.value.length], a.value.map(Number)))];
    case 'string': return [out(DataType.STRING, [])];
    case 'strings': return [out(DataType.STRING, [a.value.length])];
    default: throw new Unknown(`Constant with a ${a.name} attribute is not folded`);
  }
};

const constantOfShape: Rule = (c) => {
  const v = c.value(0);
  const a = c.node.attr('value');
  const fill = a?.type === 'tensor' ? a.value : undefined;
  const elemType: DataTypeCode = fill?.dataType ?? DataType.FLOAT;
  if (!v) {
    const s = c.maybeShape(0);
    return [out(elemType, s && isNum(s[0]) && s[0] <= MAX_RANK ? new Array(s[0]).fill(undefined) : undefined)];
  }
  const dims = v.data.map(numOrUndef);
  if (dims.some((d) => d !== undefined && d < 0)) c.fail(`negative dimension in shape [${v.data.join(',')}]`);
  let value: Val | undefined;
  const n = prod(dims);
  if (n !== undefined && n <= MAX_FOLD) {
    const fv = fill ? tensorVal(fill)?.data[0] : 0;
    value = { dims: dims as number[], data: new Array(n).fill(fv ?? 0) };
  }
  return [out(elemType, dims, value)];
};

const range: Rule = (c) => {
  const [s, l, d] = [0, 1, 2].map((i) => c.value(i)?.data[0]);
  const et = c.type(0)?.elemType ?? DataType.INT64;
  if (!isNum(s) || !isNum(l) || !isNum(d)) return [out(et, [undefined])];
  if (d === 0) c.fail('delta is 0');
  const n = Math.max(Math.ceil((l - s) / d), 0);
  const data = n <= MAX_FOLD ? Array.from({ length: n }, (_, i) => s + i * d) : undefined;
  return [out(et, [n], data ? { dims: [n], data } : undefined)];
};

// ---- Reshaping ----

/** Resolves Reshape's target (0 = copy, -1 = infer) against the input shape. */
function reshapeDims(c: RuleCtx, xs: Dim[] | undefined, target: Dim[], allowZero: boolean): Dim[] {
  const res: Dim[] = target.map((t, i) => (t === 0 && !allowZero ? (xs ? xs[i] : undefined) : t === -1 ? -1 : t));
  const neg = res.indexOf(-1);
  if (res.filter((d) => d === -1).length > 1) c.fail(`shape has more than one -1: [${target.join(',')}]`);
  for (const d of res) if (isNum(d) && d < -1) c.fail(`invalid target dimension ${d}`);
  if (neg >= 0) {
    let inferred: Dim;
    if (xs) {
      // Cancel symbols present on both sides, then divide the known products.
      const left = [...xs];
      const right = res.filter((_, i) => i !== neg);
      const rest: Dim[] = [];
      for (const d of right) {
        const j = typeof d === 'string' ? left.indexOf(d) : -1;
        if (j >= 0) left.splice(j, 1);
        else rest.push(d);
      }
      const a = prod(left), b = prod(rest);
      if (a !== undefined && b !== undefined) {
        if (b === 0 || a % b !== 0) c.fail(`cannot reshape ${fmt(xs)} to [${target.join(',')}]`);
        inferred = a / b;
      }
    }
    res[neg] = inferred;
  } else if (xs) {
    const a = prod(xs), b = prod(res);
    if (a !== undefined && b !== undefined && a !== b) c.fail(`cannot reshape ${fmt(xs)} (${a} elements) to [${target.join(',')}] (${b} elements)`);
  }
  return res;
}

const fmt = (s: Dim[]) => `[${s.map((d) => d ?? '?').join(',')}]`;

const reshape: Rule = (c) => {
  const xs = c.maybeShape(0);
  let target: Dim[] | undefined;
  if (c.opset < 5) target = c.node.attrInts('shape');
  else {
    const v = c.value(1);
    if (v) target = v.data;
    else {
      const s = c.maybeShape(1);
      if (s && isNum(s[0]) && s[0] <= MAX_RANK) target = new Array(s[0]).fill(undefined);
    }
  }
  if (!target) return [like(c, 0, undefined)];
  const dims = reshapeDims(c, xs, target, c.opset >= 14 && c.node.attrInt('allowzero', 0) === 1);
  const xv = c.value(0);
  const value = xv && dims.every(isNum) ? { dims: dims as number[], data: xv.data } : undefined;
  return [like(c, 0, dims, value)];
};

function collapse(ds: Dim[]): Dim {
  if (ds.length === 1) return ds[0];
  return prod(ds);
}

const flatten: Rule = (c) => {
  const xs = c.shape(0);
  let axis = c.node.attrInt('axis', 1);
  if (axis < 0) axis += xs.length;
  if (axis < 0 || axis > xs.length) c.fail(`axis out of range for rank ${xs.length}`);
  return [like(c, 0, [collapse(xs.slice(0, axis)), collapse(xs.slice(axis))])];
};

const transpose: Rule = (c) => {
  const xs = c.shape(0);
  const perm = c.node.attrInts('perm') ?? xs.map((_, i) => xs.length - 1 - i);
  if (perm.length !== xs.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) c.fail(`perm [${perm.join(',')}] is not a permutation of rank ${xs.length}`);
  const dims = perm.map((p) => xs[p]);
  // Folded values of any rank (a pads matrix transposed in an exporter's shape arithmetic).
  const v = c.value(0);
  let value: Val | undefined;
  if (v && dims.every(isNum)) {
    const strides = stridesOf(v.dims);
    value = { dims: dims as number[], data: mapIndex(dims as number[], (idx) => v.data[idx.reduce((o, x, k) => o + x * strides[perm[k]], 0)]) };
  }
  return [like(c, 0, dims, value)];
};

function stridesOf(dims: number[]): number[] {
  const st = new Array(dims.length).fill(1);
  for (let k = dims.length - 2; k >= 0; k--) st[k] = st[k + 1] * dims[k + 1];
  return st;
}

/** Values of an output of `dims` (row-major), element at index vector idx = f(idx). */
function mapIndex(dims: number[], f: (idx: number[]) => Dim): Dim[] {
  const n = dims.reduce((a, b) => a * b, 1);
  const data: Dim[] = new Array(n);
  const idx = new Array(dims.length).fill(0);
  for (let e = 0; e < n; e++) {
    data[e] = f(idx);
    for (let k = idx.length - 1; k >= 0; k--) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
  return data;
}

function axesFrom(c: RuleCtx, attrBefore: number, input: number): number[] | undefined | 'dynamic' {
  if (c.opset < attrBefore) return c.node.attrInts('axes');
  if (!c.has(input)) return undefined;
  const v = c.value(input);
  if (!v) return 'dynamic';
  if (!v.data.every(isNum)) return 'dynamic';
  return v.data as number[];
}

const squeeze: Rule = (c) => {
  const axesR = axesFrom(c, 13, 1);
  if (axesR === 'dynamic') throw new Unknown('Squeeze axes are not constant');
  const xs = c.shape(0);
  let keep: number[];
  if (!axesR || axesR.length === 0) {
    if (xs.some((d) => !isNum(d))) throw new Unknown('Squeeze without axes on a shape with unknown dims');
    keep = xs.map((_, i) => i).filter((i) => xs[i] !== 1);
  } else {
    const ax = new Set(axesR.map((a) => normAxis(c, a, xs.length)));
    for (const a of ax) if (isNum(xs[a]) && xs[a] !== 1) c.fail(`cannot squeeze axis ${a} of size ${xs[a]}`);
    keep = xs.map((_, i) => i).filter((i) => !ax.has(i));
  }
  const dims = keep.map((i) => xs[i]);
  const v = c.value(0);
  return [like(c, 0, dims, v && dims.every(isNum) ? { dims: dims as number[], data: v.data } : undefined)];
};

const unsqueeze: Rule = (c) => {
  const axesR = axesFrom(c, 13, 1);
  if (axesR === 'dynamic' || !axesR) throw new Unknown('Unsqueeze axes are not constant');
  const xs = c.shape(0);
  const r = xs.length + axesR.length;
  const ax = new Set(axesR.map((a) => normAxis(c, a, r)));
  if (ax.size !== axesR.length) c.fail(`duplicate axes [${axesR.join(',')}]`);
  const dims: Dim[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) dims.push(ax.has(i) ? 1 : xs[k++]);
  const v = c.value(0);
  return [like(c, 0, dims, v && dims.every(isNum) ? { dims: dims as number[], data: v.data } : undefined)];
};

// ---- Joining and splitting ----

function concatVals(vals: Val[], axis: number): Val | undefined {
  const dims = [...vals[0].dims];
  dims[axis] = vals.reduce((a, v) => a + v.dims[axis], 0);
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > MAX_FOLD) return undefined;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const data: Dim[] = [];
  for (let o = 0; o < outer; o++) {
    for (const v of vals) {
      const chunk = v.dims.slice(axis).reduce((a, b) => a * b, 1);
      for (let k = 0; k < chunk; k++) data.push(v.data[o * chunk + k]);
    }
  }
  return { dims, data };
}

const concat: Rule = (c) => {
  const idx = [...Array(c.nIn).keys()].filter((i) => c.has(i));
  const shapes = idx.map((i) => c.maybeShape(i));
  const known = shapes.filter((s): s is Dim[] => !!s);
  const axisAttr = c.node.attrInt('axis');
  if (axisAttr === undefined) return c.fail(`missing attribute 'axis'`);
  if (!known.length) return [like(c, idx[0], undefined)];
  const r = known[0].length;
  for (const s of known) if (s.length !== r) c.fail(`inputs have different ranks (${known.map((s) => s.length).join(', ')})`);
  const axis = normAxis(c, axisAttr, r);
  const dims: Dim[] = [];
  for (let k = 0; k < r; k++) {
    if (k === axis) {
      dims.push(shapes.every((s) => s && isNum(s[k])) ? shapes.reduce((a, s) => a + (s![k] as number), 0) : undefined);
      continue;
    }
    let d: Dim = undefined;
    for (const s of known) {
      const e = s[k];
      if (isNum(e)) {
        if (isNum(d) && d !== e) c.fail(`inputs differ on axis ${k}: ${d} vs ${e}`);
        d = e;
      } else if (d === undefined && typeof e === 'string' && known.every((t) => t[k] === e)) d = e;
    }
    dims.push(d);
  }
  const vals = idx.map((i) => c.value(i));
  const value = vals.every((v) => v) && known.length === shapes.length ? concatVals(vals as Val[], axis) : undefined;
  return [like(c, idx[0], dims, value)];
};

const split: Rule = (c) => {
  const xs = c.shape(0);
  const axis = normAxis(c, c.node.attrInt('axis', 0), xs.length);
  const n = c.node.outputs.length;
  let sizes: Dim[] | undefined;
  if (c.opset < 13) sizes = c.node.attrInts('split');
  else if (c.has(1)) {
    const v = c.value(1);
    sizes = v ? v.data : new Array(n).fill(undefined);
  }
  const d = xs[axis];
  if (!sizes) {
    if (!isNum(d)) sizes = new Array(n).fill(undefined);
    else if (c.opset >= 18 && c.node.attrInt('num_outputs') !== undefined) {
      const k = Math.ceil(d / n);
      sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(k, d - i * k)));
    } else {
      if (d % n !== 0) c.fail(`axis ${axis} of size ${d} cannot be split evenly into ${n} outputs`);
      sizes = new Array(n).fill(d / n);
    }
  }
  if (sizes.length !== n) c.fail(`split has ${sizes.length} entries for ${n} outputs`);
  if (isNum(d) && sizes.every(isNum) && (sizes as number[]).reduce((a, b) => a + b, 0) !== d) c.fail(`split sizes [${sizes.join(',')}] do not sum to ${d}`);
  const v = c.value(0);
  let off = 0;
  return sizes.map((s) => {
    const dims = xs.map((e, i) => (i === axis ? s : e));
    let value: Val | undefined;
    if (v && xs.length === 1 && isNum(s)) value = { dims: [s], data: v.data.slice(off, off + s) };
    if (isNum(s)) off += s;
    return like(c, 0, dims, value);
  });
};

/** One sliced axis: output length and the start index (for value folding). */
function sliceAxis(d: number, start: number, end: number, step: number): { len: number; from: number } {
  const norm = (v: number) => (v < 0 ? v + d : v);
  if (step > 0) {
    const s = Math.min(Math.max(norm(start), 0), d);
    const e = Math.min(Math.max(norm(end), 0), d);
    return { len: Math.max(0, Math.ceil((e - s) / step)), from: s };
  }
  const s = Math.min(Math.max(norm(start), 0), d - 1);
  const e = Math.min(Math.max(norm(end), -1), d - 1);
  return { len: Math.max(0, Math.ceil((s - e) / -step)), from: s };
}

const slice: Rule = (c) => {
  const xs = c.shape(0);
  const r = xs.length;
  let starts: number[] | undefined, ends: number[] | undefined, axes: number[] | undefined, steps: number[] | undefined;
  let unknownValues = false;
  if (c.opset < 10) {
    starts = c.node.attrInts('starts');
    ends = c.node.attrInts('ends');
    axes = c.node.attrInts('axes');
  } else {
    const get = (i: number) => {
      if (!c.has(i)) return undefined;
      const v = c.value(i);
      if (!v || !v.data.every(isNum)) {
        unknownValues = true;
        return undefined;
      }
      return v.data as number[];
    };
    starts = get(1);
    ends = get(2);
    const axesKnown = !c.has(3) || (c.value(3)?.data.every(isNum) ?? false);
    axes = get(3);
    steps = get(4);
    if (!axesKnown) return [like(c, 0, xs.map(() => undefined))];
  }
  if (unknownValues || !starts || !ends) {
    if (!unknownValues && (!starts || !ends)) c.fail('missing starts or ends');
    const ax = new Set((axes ?? xs.map((_, i) => i)).map((a) => normAxis(c, a, r)));
    return [like(c, 0, xs.map((d, i) => (ax.has(i) ? undefined : d)))];
  }
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) c.fail('starts, ends, axes and steps differ in length');
  const dims = [...xs];
  const from: number[] = xs.map(() => 0);
  const stepOf: number[] = xs.map(() => 1);
  axes.forEach((a0, k) => {
    const a = normAxis(c, a0, r);
    if (steps![k] === 0) c.fail('step is 0');
    const d = xs[a];
    if (!isNum(d)) {
      dims[a] = undefined;
      return;
    }
    const { len, from: f } = sliceAxis(d, starts![k], ends![k], steps![k]);
    dims[a] = len;
    from[a] = f;
    stepOf[a] = steps![k];
  });
  const v = c.value(0);
  let value: Val | undefined;
  if (v && dims.every(isNum)) {
    const strides = stridesOf(v.dims);
    value = { dims: dims as number[], data: mapIndex(dims as number[], (idx) => v.data[idx.reduce((o, x, k) => o + (from[k] + x * stepOf[k]) * strides[k], 0)]) };
  }
  return [like(c, 0, dims, value)];
};

// ---- Gathering ----

const gather: Rule = (c) => {
  const ds = c.shape(0);
  const is = c.maybeShape(1);
  const axis = normAxis(c, c.node.attrInt('axis', 0), ds.length);
  if (!is) return [like(c, 0, undefined)];
  const dims = [...ds.slice(0, axis), ...is, ...ds.slice(axis + 1)];
  const dv = c.value(0), iv = c.value(1);
  let value: Val | undefined;
  if (dv && iv && iv.data.every(isNum) && dims.every(isNum)) {
    const n = (dims as number[]).reduce((a, b) => a * b, 1);
    if (n <= MAX_FOLD) {
      const outer = dv.dims.slice(0, axis).reduce((a, b) => a * b, 1);
      const inner = dv.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      const len = dv.dims[axis];
      const data: Dim[] = [];
      for (let o = 0; o < outer; o++) {
        for (const i0 of iv.data as number[]) {
          const i = i0 < 0 ? i0 + len : i0;
          if (i < 0 || i >= len) c.fail(`index ${i0} out of range for axis of size ${len}`);
          for (let k = 0; k < inner; k++) data.push(dv.data[(o * len + i) * inner + k]);
        }
      }
      value = { dims: dims as number[], data };
    }
  }
  return [like(c, 0, dims, value)];
};

const gatherElements: Rule = (c) => [like(c, 0, c.maybeShape(1))];

const gatherND: Rule = (c) => {
  const ds = c.shape(0), is = c.shape(1);
  const b = c.node.attrInt('batch_dims', 0);
  const last = is[is.length - 1];
  if (!isNum(last)) throw new Unknown('GatherND index depth unknown');
  return [like(c, 0, [...is.slice(0, -1), ...ds.slice(b + last)])];
};

// ---- Broadcasting-by-value, tiling, padding, resizing ----

const expand: Rule = (c) => {
  const xs = c.maybeShape(0);
  const v = c.value(1);
  let target: Dim[] | undefined = v?.data;
  if (!target) {
    const s = c.maybeShape(1);
    if (s && isNum(s[0]) && s[0] <= MAX_RANK) target = new Array(s[0]).fill(undefined);
  }
  if (!xs || !target) return [like(c, 0, undefined)];
  const dims = broadcast(c, [xs, target]);
  const xv = c.value(0);
  let value: Val | undefined;
  const n = prod(dims);
  if (xv && n !== undefined && n <= MAX_FOLD) value = foldElementwise(c, [xv, { dims: dims as number[], data: new Array(n).fill(0) }], (e) => e[0]);
  return [like(c, 0, dims, value && value.data.length === prod(dims) ? value : undefined)];
};

const tile: Rule = (c) => {
  const xs = c.shape(0);
  const v = c.value(1);
  if (!v) return [like(c, 0, xs.map(() => undefined))];
  if (v.data.length !== xs.length) c.fail(`repeats has ${v.data.length} entries for rank ${xs.length}`);
  return [like(c, 0, xs.map((d, i) => {
    const r = v.data[i];
    return r === 1 ? d : isNum(d) && isNum(r) ? d * r : undefined;
  }))];
};

const pad: Rule = (c) => {
  const xs = c.shape(0);
  const r = xs.length;
  let pads: Dim[] | undefined;
  let axes: number[] = xs.map((_, i) => i);
  if (c.opset < 11) pads = c.node.attrInts('pads') ?? c.node.attrInts('paddings');
  else {
    pads = c.value(1)?.data;
    if (c.has(3)) {
      const av = c.value(3);
      if (!av || !av.data.every(isNum)) return [like(c, 0, xs.map(() => undefined))];
      axes = (av.data as number[]).map((a) => normAxis(c, a, r));
    }
  }
  if (!pads) return [like(c, 0, xs.map(() => undefined))];
  const n = axes.length;
  if (pads.length !== 2 * n) c.fail(`pads has ${pads.length} entries, expected ${2 * n}`);
  const dims = [...xs];
  axes.forEach((a, k) => {
    const [b, e] = [pads![k], pads![k + n]];
    dims[a] = b === 0 && e === 0 ? xs[a] : isNum(xs[a]) && isNum(b) && isNum(e) ? (xs[a] as number) + b + e : undefined;
  });
  return [like(c, 0, dims)];
};

/** floor(in * scale) computed in float32, as onnxruntime does. */
const scaleDim = (d: Dim, s: number): Dim => (isNum(d) ? (s === 1 ? d : Math.floor(Math.fround(Math.fround(d) * Math.fround(s)))) : undefined);

const resize: Rule = (c) => {
  const xs = c.shape(0);
  const r = xs.length;
  let axes = xs.map((_, i) => i);
  const axesAttr = c.opset >= 18 ? c.node.attrInts('axes') : undefined;
  if (axesAttr) axes = axesAttr.map((a) => normAxis(c, a, r));
  const [scalesIdx, sizesIdx] = c.opset < 11 ? [1, -1] : [2, 3];
  const nonEmpty = (i: number) => i >= 0 && c.has(i) && !(c.maybeShape(i)?.[0] === 0);
  const dims = [...xs];
  if (nonEmpty(sizesIdx)) {
    const v = c.value(sizesIdx);
    if (!v) {
      for (const a of axes) dims[a] = undefined;
      return [like(c, 0, dims)];
    }
    if (v.data.length !== axes.length) c.fail(`sizes has ${v.data.length} entries for ${axes.length} axes`);
    const policy = c.opset >= 18 ? c.node.attrString('keep_aspect_ratio_policy', 'stretch') : 'stretch';
    if (policy === 'stretch') axes.forEach((a, k) => (dims[a] = v.data[k]));
    else {
      const ratios = axes.map((a, k) => (isNum(v.data[k]) && isNum(xs[a]) ? (v.data[k] as number) / (xs[a] as number) : NaN));
      const s = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
      axes.forEach((a) => (dims[a] = Number.isNaN(s) || !isNum(xs[a]) ? undefined : Math.round(s * (xs[a] as number))));
    }
    return [like(c, 0, dims)];
  }
  if (!nonEmpty(scalesIdx)) c.fail('needs scales or sizes');
  const v = c.value(scalesIdx);
  if (!v) {
    for (const a of axes) dims[a] = undefined;
    return [like(c, 0, dims)];
  }
  if (v.data.length !== axes.length) c.fail(`scales has ${v.data.length} entries for ${axes.length} axes`);
  let roi: Dim[] | undefined;
  if (c.opset >= 11 && c.node.attrString('coordinate_transformation_mode', 'half_pixel') === 'tf_crop_and_resize') roi = c.value(1)?.data;
  axes.forEach((a, k) => {
    const s = v.data[k];
    if (!isNum(s)) return (dims[a] = undefined);
    if (roi) {
      const [b, e] = [roi[k], roi[k + axes.length]];
      dims[a] = isNum(b) && isNum(e) && isNum(xs[a]) ? Math.floor(Math.fround((xs[a] as number) * (e - b) * s)) : undefined;
    } else dims[a] = scaleDim(xs[a], s);
  });
  return [like(c, 0, dims)];
};

const upsample: Rule = (c) => {
  const xs = c.shape(0);
  const scales = c.opset < 9 ? c.node.attrFloats('scales') : c.value(1)?.data;
  if (!scales) return [like(c, 0, xs.map(() => undefined))];
  if (scales.length !== xs.length) c.fail(`scales has ${scales.length} entries for rank ${xs.length}`);
  return [like(c, 0, xs.map((d, i) => (isNum(scales[i]) ? scaleDim(d, scales[i] as number) : undefined)))];
};

const centerCropPad: Rule = (c) => {
  const xs = c.shape(0);
  const v = c.value(1);
  const axes = (c.node.attrInts('axes') ?? xs.map((_, i) => i)).map((a) => normAxis(c, a, xs.length));
  const dims = [...xs];
  axes.forEach((a, k) => (dims[a] = v ? v.data[k] : undefined));
  return [like(c, 0, dims)];
};

const compress: Rule = (c) => {
  const axis = c.node.attrInt('axis');
  const xs = c.maybeShape(0);
  const a = axis !== undefined && xs ? normAxis(c, axis, xs.length) : undefined;
  // Output length: the true conditions within the compressed extent (conditions beyond it are
  // ignored); data-dependent unless the condition is a constant.
  let count: Dim = dataDim(c, 'selected');
  const cv = c.value(1);
  const extent = axis === undefined ? (xs ? prod(xs) : undefined) : a !== undefined ? xs![a] : undefined;
  if (cv && cv.data.every(isNum) && isNum(extent)) count = cv.data.slice(0, extent).filter((x) => x !== 0).length;
  if (axis === undefined) return [like(c, 0, [count])];
  if (!xs || a === undefined) return [like(c, 0, undefined)];
  return [like(c, 0, xs.map((d, i) => (i === a ? count : d)))];
};

const unique: Rule = (c) => {
  const axis = c.node.attrInt('axis');
  const xs = c.maybeShape(0);
  let u = dataDim(c, 'unique');
  let y: Dim[] | undefined = [u];
  let inv: Dim[] = [xs ? prod(xs) : undefined];
  const v = c.value(0);
  const known = v && v.data.every(isNum) ? v : undefined;
  if (axis === undefined && known) u = y[0] = new Set(known.data).size;
  if (axis !== undefined && xs) {
    const a = normAxis(c, axis, xs.length);
    if (known) {
      // Count distinct slices along the axis (element order within a slice as stored).
      const outer = known.dims.slice(0, a).reduce((p, q) => p * q, 1), len = known.dims[a];
      const inner = known.dims.slice(a + 1).reduce((p, q) => p * q, 1);
      const keys = new Set<string>();
      for (let i = 0; i < len; i++) {
        const slice: Dim[] = [];
        for (let o = 0; o < outer; o++) for (let k = 0; k < inner; k++) slice.push(known.data[(o * len + i) * inner + k]);
        keys.add(slice.join(','));
      }
      u = keys.size;
    }
    y = xs.map((d, i) => (i === a ? u : d));
    inv = [xs[a]];
  }
  return [like(c, 0, y), out(DataType.INT64, [u]), out(DataType.INT64, inv), out(DataType.INT64, [u])];
};

// ---- Reductions ----

function reduce(kind: 'value' | 'index', fold?: (xs: number[]) => number): Rule {
  return (c) => {
    const keep = c.node.attrInt('keepdims', 1) === 1;
    let axes: number[] | undefined;
    let noop = false;
    if (kind === 'index') axes = [c.node.attrInt('axis', 0)];
    else {
      const inputForm = (c.node.opType === 'ReduceSum' && c.opset >= 13) || c.opset >= 18;
      if (inputForm) {
        if (c.has(1)) {
          const v = c.value(1);
          if (!v || !v.data.every(isNum)) {
            const xs = c.maybeShape(0);
            if (!keep || !xs) throw new Unknown('reduction axes are not constant');
            return [like(c, 0, xs.map(() => undefined))];
          }
          axes = v.data as number[];
        }
        noop = c.node.attrInt('noop_with_empty_axes', 0) === 1;
      } else axes = c.node.attrInts('axes');
    }
    const et = kind === 'index' ? DataType.INT64 : (c.type(0)?.elemType ?? DataType.UNDEFINED);
    const xs = c.maybeShape(0);
    if (!xs) return [out(et, undefined)];
    if ((!axes || axes.length === 0) && noop) return [out(et, xs, c.value(0))];
    const ax = new Set((axes && axes.length ? axes : xs.map((_, i) => i)).map((a) => normAxis(c, a, xs.length)));
    const dims: Dim[] = [];
    xs.forEach((d, i) => {
      if (!ax.has(i)) dims.push(d);
      else if (keep) dims.push(1);
    });
    let value: Val | undefined;
    const v = c.value(0);
    if (fold && v && v.dims.length === 1 && ax.has(0) && v.data.every(isNum)) {
      value = { dims: keep ? [1] : [], data: [fold(v.data as number[])] };
    }
    return [out(et, dims, value)];
  };
}

export const tensorRules: Record<string, Rule> = {
  Shape: shapeOp,
  Size: sizeOp,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Range: range,
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  GatherElements: gatherElements,
  GatherND: gatherND,
  Expand: expand,
  Tile: tile,
  Pad: pad,
  Resize: resize,
  Upsample: upsample,
  CenterCropPad: centerCropPad,
  Compress: compress,
  Unique: unique,
  ReduceMean: reduce('value'),
  ReduceSum: reduce('value', (xs) => xs.reduce((a, b) => a + b, 0)),
  ReduceProd: reduce('value', (xs) => xs.reduce((a, b) => a * b, 1)),
  ReduceMax: reduce('value', (xs) => Math.max(...xs)),
  ReduceMin: reduce('value', (xs) => Math.min(...xs)),
  ReduceL1: reduce('value'),
  ReduceL2: reduce('value'),
  ReduceLogSum: reduce('value'),
  ReduceLogSumExp: reduce('value'),
  ReduceSumSquare: reduce('value'),
  ArgMax: reduce('index'),
  ArgMin: reduce('index'),
};

export type { Out };
