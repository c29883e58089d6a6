/**
 * Output comparison as the tools people trust do it: numpy `allclose` / Polygraphy's default
 * check, elementwise `|a - b| <= atol + rtol * |b|` with b the reference, per output; plus the
 * figures a person reads to judge a miss (max and mean absolute error, cosine similarity, how
 * many elements fail and where the worst one is). NaN equals NaN at the same place (Polygraphy's
 * `equal_nan`); a shape or dtype mismatch fails.
 *
 * Defaults are Polygraphy's (rtol 1e-5, atol 1e-5): float32 rewrites that reassociate sums (BN
 * folding, branch collapsing, constant folding) move the corpus models' outputs by at most
 * 2e-6 (README corpus table), inside; a real mistake (a normalization epsilon off, one channel's
 * bias dropped) moves them by 5e-5 and more and is caught on the same models
 * (test/corpus/verify-broken.test.ts). An absolute atol cannot see errors on outputs whose
 * scale is far below it (the PP-OCR detector's sigmoid map is ~1e-3 on random inputs): numpy's
 * own default atol 1e-8 is too tight for float32 and 1e-4 would hide a 7% error there.
 */
import type { HostTensor } from './ort.ts';
import type { Model } from '../ir/graph.ts';
import { DataType } from '../ir/dtype.ts';

/** Default relative tolerance of the allclose check (Polygraphy's). */
export const DEFAULT_RTOL = 1e-5;
/** Default absolute tolerance of the allclose check (Polygraphy's). */
export const DEFAULT_ATOL = 1e-5;

/**
 * Default tolerances of the check for a model that computes in float16 or bfloat16 (float16's
 * epsilon, 2^-10 ~ 1e-3). onnxruntime's CPU runs most float16 ops in float32 between Casts it
 * inserts, and drops Cast pairs where nothing else reads the float16 value, so where a value is
 * rounded to float16 depends on the graph's structure: IMG.LY's float16 IS-Net differs from
 * itself by 2.9e-3 (2 M of 4 M elements beyond 1e-5) between onnxruntime's optimization levels
 * 'disabled' and 'all', and by 1.95e-3 after fold-constants removed its Shape nodes, which had
 * read float16 values. A float32 tolerance would fail every such model on rounding alone.
 */
export const HALF_RTOL = 1e-3;
/** Absolute tolerance paired with HALF_RTOL. */
export const HALF_ATOL = 1e-3;

/** Why a model counts as computing in half precision (its first float16/bfloat16 weight, Cast
 * or input, for the log), or undefined. */
export function halfPrecisionReason(model: Model): string | undefined {
  const half = (t: number | undefined) => t === DataType.FLOAT16 || t === DataType.BFLOAT16;
  const g = model.graph;
  for (const t of g.initializers.values()) if (half(t.dataType)) return `weight '${t.name}' is ${t.dataType === DataType.FLOAT16 ? 'float16' : 'bfloat16'}`;
  for (const i of g.inputs) if (half(i.type?.elemType)) return `input '${i.name}' is float16`;
  for (const n of g.nodes) {
    if (n.opType === 'Cast' && half(n.attrInt('to'))) return `node '${n.name}' casts to float16`;
    const v = n.opType === 'Constant' ? n.attr('value') : undefined;
    if (v?.type === 'tensor' && half(v.value.dataType)) return `constant '${n.outputs[0]}' is float16`;
  }
  return undefined;
}

/** Tolerances of the allclose check: every element within |a-b| <= atol + rtol |b|. */
export interface AllcloseOptions {
  /** Relative tolerance (default DEFAULT_RTOL, 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default DEFAULT_ATOL, 1e-5). */
  atol?: number;
}

/** The allclose check of one output, with the figures a person reads to judge a miss. */
export interface OutputCheck {
  /** The output's name. */
  output: string;
  /** Every element within the tolerances (and the shapes agree). */
  ok: boolean;
  /** Elements compared. */
  elements: number;
  /** Elements with |a - b| > atol + rtol |b|. */
  mismatched: number;
  /** Largest |a - b|. */
  maxAbs: number;
  /** Mean |a - b|. */
  meanAbs: number;
  /** Cosine similarity of the two outputs as vectors (1 when both are all zero). */
  cosine: number;
  /** Max abs error over the reference's max abs (the scale-relative figure). */
  relative: number;
  /** Flat index of the worst element (by |a-b| - rtol|b|), with both values. */
  worst?: { index: number; expected: number; got: number };
  /** Why it failed beyond values (shape mismatch, missing output). */
  reason?: string;
}

/** The allclose check of every output of a model against the reference (`ok` when all pass). */
export interface CheckResult {
  /** Every output passes. */
  ok: boolean;
  /** The relative tolerance used. */
  rtol: number;
  /** The absolute tolerance used. */
  atol: number;
  /** One check per reference output. */
  outputs: OutputCheck[];
}

/** Compares every reference output with the candidate's output of the same name. */
export function allclose(reference: Record<string, HostTensor>, candidate: Record<string, HostTensor>, opts: AllcloseOptions = {}): CheckResult {
  const rtol = opts.rtol ?? DEFAULT_RTOL;
  const atol = opts.atol ?? DEFAULT_ATOL;
  const outputs: OutputCheck[] = [];
  for (const [name, ref] of Object.entries(reference)) {
    const got = candidate[name];
    const n = ref.data.length;
    const bad = (reason: string): OutputCheck => ({ output: name, ok: false, elements: n, mismatched: n, maxAbs: Infinity, meanAbs: Infinity, cosine: 0, relative: Infinity, reason });
    if (!got) { outputs.push(bad('missing in the rewritten model')); continue; }
    if (got.dims.join('x') !== ref.dims.join('x') || got.data.length !== n) { outputs.push(bad(`shape [${got.dims.join(',')}], expected [${ref.dims.join(',')}]`)); continue; }
    if (Array.isArray(ref.data) || Array.isArray(got.data)) {
      // Strings: equal or not (read as numbers, '1e-3' and '0.001' would be equal).
      let mismatched = 0, first = -1;
      for (let i = 0; i < n; i++) if (ref.data[i] !== got.data[i] && (mismatched++, first < 0)) first = i;
      if (mismatched) outputs.push({ ...bad(`${mismatched} of ${n} strings differ; first at index ${first}: ${JSON.stringify(String(got.data[first])).slice(0, 60)} vs ${JSON.stringify(String(ref.data[first])).slice(0, 60)}`), mismatched });
      else outputs.push({ output: name, ok: true, elements: n, mismatched: 0, maxAbs: 0, meanAbs: 0, cosine: 1, relative: 0 });
      continue;
    }
    let mismatched = 0, maxAbs = 0, sumAbs = 0, dot = 0, na = 0, nb = 0, scale = 0, worstExcess = -Infinity, worst = -1;
    for (let i = 0; i < n; i++) {
      const b = Number(ref.data[i]), a = Number(got.data[i]);
      if (Number.isNaN(a) || Number.isNaN(b)) {
        if (!(Number.isNaN(a) && Number.isNaN(b))) { mismatched++; maxAbs = Infinity; worst = i; worstExcess = Infinity; }
        continue;
      }
      const d = a === b ? 0 : Math.abs(a - b); // equal infinities are equal
      const excess = d - rtol * Math.abs(b);
      if (!(d <= atol + rtol * Math.abs(b))) mismatched++;
      if (excess > worstExcess) { worstExcess = excess; worst = i; }
      if (d > maxAbs) maxAbs = d;
      sumAbs += d;
      if (!Number.isFinite(a) || !Number.isFinite(b)) continue; // equal infinities: no cosine term (Inf/Inf)
      dot += a * b; na += a * a; nb += b * b;
      scale = Math.max(scale, Math.abs(b));
    }
    const cosine = na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
    outputs.push({
      output: name,
      ok: mismatched === 0,
      elements: n,
      mismatched,
      maxAbs,
      meanAbs: n ? sumAbs / n : 0,
      cosine,
      relative: maxAbs / Math.max(scale, 1e-30),
      ...(worst >= 0 ? { worst: { index: worst, expected: Number(ref.data[worst]), got: Number(got.data[worst]) } } : {}),
    });
  }
  return { ok: outputs.every((o) => o.ok), rtol, atol, outputs };
}

/** The figures of a failed output, one line (compile prints it after the output's name). */
export function describeMiss(o: OutputCheck, rtol: number, atol: number): string {
  if (o.reason) return o.reason;
  const w = o.worst ? `; worst at index ${o.worst.index}: ${o.worst.got.toPrecision(6)} vs ${o.worst.expected.toPrecision(6)}` : '';
  return `${o.mismatched} of ${o.elements} elements outside |a-b| <= ${atol} + ${rtol}|b| (max abs error ${o.maxAbs.toExponential(3)}, mean ${o.meanAbs.toExponential(3)}, cosine ${o.cosine.toFixed(6)}${w})`;
}
