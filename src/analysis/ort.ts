/**
 * onnxruntime helpers shared by every pass that checks numerics against the reference
 * runtime: run an IR model (encoded in memory) on given inputs, capture intermediate values
 * (added as extra graph outputs for the run, then removed), check two models against each other
 * with the project's one criterion (allclose, src/analysis/compare.ts: every element within
 * |a-b| <= atol + rtol |b|, Polygraphy's defaults), seeded random feeds, and onnxruntime's own
 * optimizer (saved model file).
 *
 * onnxruntime-node is imported lazily so that modules using these helpers load without it.
 * What takes or returns its types is `@internal`: the package's declarations (built with
 * stripInternal) never name onnxruntime-node, an optional peer dependency.
 */
import type * as OrtNs from 'onnxruntime-node';
import { Model } from '../ir/graph.ts';
import { DataType, dtypeName } from '../ir/dtype.ts';
import { halfToFloat } from '../ir/tensor.ts';
import { encodeModel } from '../onnx/io.ts';
import { nonTensorKind } from '../onnx/decode.ts';
import { Rng } from '../util/random.ts';
import { inputFill, type InputFill } from './input-ranges.ts';
import { badInput, unsupported, verificationFailed } from '../errors.ts';
import { allclose, type AllcloseOptions, type CheckResult } from './compare.ts';

/** @internal */
type Ort = typeof OrtNs;
let ortModule: Ort | undefined;
/** @internal onnxruntime-node, loaded on first use. It is an optional peer dependency of the npm package
 * (its install script downloads CUDA libraries on linux/x64), so a missing one
 * is a one-line error naming how to install it. Its telemetry is off unless the environment says
 * otherwise: onnxruntime 1.30's Linux and macOS builds start Microsoft's 1DS events SDK, which
 * leaves `.ses` and one `mat-debug-<pid>.log` per process in the temporary folder (3,201 of them
 * on this project's machine) and tries HTTPS uploads; `ORT_DISABLE_TELEMETRY=0` keeps it on. */
export async function ort(): Promise<Ort> {
  if (!ortModule) {
    process.env.ORT_DISABLE_TELEMETRY ??= '1'; // read when onnxruntime's environment is created
    try {
      ortModule = (await import('onnxruntime-node')) as Ort;
    } catch (e) {
      const err = e as { code?: string; message?: string };
      if (err.code === 'ERR_MODULE_NOT_FOUND' && /'onnxruntime-node'/.test(err.message ?? '')) throw ortMissing();
      throw e;
    }
  }
  return ortModule;
}

const ortMissing = () =>
  badInput("onnxruntime-node is not installed; it runs dnnfuse's numerical checks (compile's verification, assertSameOutputs, runModel): `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` (the variable skips its install script's NuGet download; see dnnfuse's README), or skip the check (--no-verify)");

/** @internal Throws ort()'s one-line error at once when onnxruntime-node cannot be found, without
 * loading it (its native library and memory stay out until the check runs): compile calls this
 * before its passes, so a missing runtime is said in milliseconds, not after minutes of passes
 * whose work the check would then throw away. */
export function assertOrtResolvable(): void {
  if (ortModule) return;
  try {
    import.meta.resolve('onnxruntime-node');
  } catch {
    throw ortMissing();
  }
}

/** Element types a HostTensor can hold (onnxruntime-node's names; bfloat16 has no typed array
 * and onnxruntime-node no tensor type for it). */
export type HostTensorType = 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'string';
/** The typed arrays a HostTensor holds: one per element type, except that a Uint8Array also holds
 * bools and a Uint16Array also holds float16 bit patterns (`HostTensor.type` tells them apart). */
export type TypedData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;
/** A tensor in host memory, as fed to and read from onnxruntime: row-major `data` of shape `dims`
 * (a string tensor's values are a `string[]`). */
export interface HostTensor {
  dims: number[];
  data: TypedData | string[];
  /** The element type, where `data`'s class leaves it open: 'bool' for a Uint8Array of bools
   * (uint8 without it) and 'uint16' for a Uint16Array of integers (float16 bit patterns without
   * it). Given for another class, it must name that class's type. */
  type?: HostTensorType;
  /** Set for bool tensors (held as Uint8Array, which otherwise means uint8).
   * @deprecated Use `type: 'bool'`. */
  bool?: boolean;
}

/** The element types onnxruntime-node feeds from a typed array. */
export type FeedType = Exclude<HostTensorType, 'string'>;
type TypedClass = { new (n: number): TypedData; new (buffer: ArrayBuffer, offset: number, length: number): TypedData; readonly BYTES_PER_ELEMENT: number };
/** The typed array class holding each host tensor type. */
export const FEED_CLASS: Record<FeedType, TypedClass> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array,
};
/** The type a class holds when no `type` says otherwise: FEED_CLASS's first type of each class
 * (a Uint16Array float16 bits, a Uint8Array uint8). */
const DEFAULT_TYPE = new Map<TypedClass, FeedType>();
for (const [type, C] of Object.entries(FEED_CLASS) as [FeedType, TypedClass][]) if (!DEFAULT_TYPE.has(C)) DEFAULT_TYPE.set(C, type);

/** The element type of a host tensor (its `type`, else the one its data's class holds); a
 * one-line error when `type` does not fit the data (`what` names the tensor). */
export function hostTensorType(t: HostTensor, what = 'tensor'): HostTensorType {
  if (Array.isArray(t.data)) return 'string';
  const C = [...DEFAULT_TYPE.keys()].find((K) => t.data instanceof K);
  if (!C) throw badInput(`${what}: data is a ${(t.data as object)?.constructor?.name ?? typeof t.data}, not a typed array dnnfuse feeds`);
  const given = t.type ?? (t.bool ? 'bool' : undefined);
  if (!given) return DEFAULT_TYPE.get(C)!;
  if (given !== 'string' && FEED_CLASS[given] === C) return given;
  throw badInput(`${what}: type '${given}' does not fit its data, a ${t.data.constructor.name} (${DEFAULT_TYPE.get(C)})`);
}

/** The HostTensor of `data` with element type `type`, tagged only where its class holds another
 * type by default; a bool one also with the deprecated `bool` flag, which readers of earlier
 * versions check. */
export function hostTensor(dims: number[], data: TypedData | string[], type: HostTensorType): HostTensor {
  if (type === 'string' || DEFAULT_TYPE.get(FEED_CLASS[type]) === type) return { dims, data };
  return type === 'bool' ? { dims, data, type, bool: true } : { dims, data, type };
}

/** A host tensor of `type` holding a copy of `bytes`, its elements in the platform's (little-endian)
 * order: the copy owns an aligned buffer of its own, whatever the offset of `bytes` in a file. */
export function hostTensorFromBytes(dims: number[], bytes: Uint8Array, type: FeedType): HostTensor {
  const C = FEED_CLASS[type];
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return hostTensor(dims, new C(copy.buffer, 0, bytes.byteLength / C.BYTES_PER_ELEMENT), type);
}

/** Model inputs by graph-input name. */
export type Feeds = Record<string, HostTensor>;

/** onnxruntime's graph optimization level ('disabled' runs the graph as written). */
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** Options of an onnxruntime session created by dnnfuse (`runModel`, `checkEquivalence`). */
export interface SessionOptions {
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** Where onnxruntime writes its optimized model (the ORT baseline of the benches). */
  optimizedModelFilePath?: string;
  intraOpNumThreads?: number;
  /** onnxruntime log level: 0 verbose .. 4 fatal (default 4: its warnings about unused
   * initializers, e.g. embedded annotations, are noise to our users, and an error it logs is
   * also the message of the exception dnnfuse reports in one line). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Extra values (intermediate tensors) to return besides the graph outputs. */
  capture?: string[];
  /** onnxruntime's CPU memory arena (default true). It rounds its regions up to powers of two
   * and keeps them; without it every tensor is a malloc of its own. compile's check decides per
   * model (checkArena in src/compile.ts). */
  cpuMemArena?: boolean;
  /** onnxruntime's memory pattern (default true): it plans the intermediate tensors of a run
   * into blocks reused by the next runs. For a model run once without the arena it only adds
   * memory (PP-OCRv4 det at 640x640: one session peaks at 181 MiB with it, 153 MiB without;
   * compile's check turns it off). Outputs are the same either way. */
  memPattern?: boolean;
}

/** Encodes `model` with `extra` values appended as graph outputs (the model is left as it was). */
export function encodeWithOutputs(model: Model, extra: string[] = []): Uint8Array {
  const g = model.graph;
  const added = extra.filter((v) => !g.isGraphOutput(v));
  if (!added.length) return encodeModel(model);
  const saved = g.outputs;
  g.outputs = [...saved, ...added.map((name) => ({ name, type: { elemType: g.typeOf(name)?.elemType ?? DataType.FLOAT } }))];
  try {
    return encodeModel(model);
  } finally {
    g.outputs = saved;
  }
}

/** The first line of an onnxruntime error without the C++ source location and failed assertion
 * that precede its own words ("/onnxruntime_src/...gru.h:56 onnxruntime::DeepCpuGruOp::
 * DeepCpuGruOp(const onnxruntime::OpKernelInfo&) layout_ == 0 was false. Batchwise recurrent
 * operations (layout == 1) are not supported." keeps the last sentence). */
export function ortMessage(e: unknown): string {
  const line = String((e as Error)?.message ?? e).split('\n')[0];
  return line.replace(/\/onnxruntime_src\/\S+:\d+ [^(]*\([^)]*\)(?: \[[^\]]*\])?\s*(?:.*? was false\.\s*)?/, '').trim();
}

/** @internal An onnxruntime session for a model (IR, encoded bytes or a file path). */
export async function createSession(model: Model | Uint8Array | string, opts: SessionOptions = {}): Promise<OrtNs.InferenceSession> {
  const o = await ort();
  const so: OrtNs.InferenceSession.SessionOptions = {
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
    ...(opts.optimizedModelFilePath ? { optimizedModelFilePath: opts.optimizedModelFilePath } : {}),
    ...(opts.intraOpNumThreads ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
    logSeverityLevel: opts.logSeverityLevel ?? 4,
    ...(opts.cpuMemArena === false ? { enableCpuMemArena: false } : {}),
    ...(opts.memPattern === false ? { enableMemPattern: false } : {}),
  };
  try {
    if (typeof model === 'string') return await o.InferenceSession.create(model, so);
    const bytes = model instanceof Model ? encodeWithOutputs(model, opts.capture) : model;
    return await o.InferenceSession.create(bytes, so);
  } catch (e) {
    throw badInput(`onnxruntime cannot load the model: ${ortMessage(e)}`);
  }
}

function toOrtFeeds(o: Ort, feeds: Feeds): Record<string, OrtNs.Tensor> {
  const res: Record<string, OrtNs.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) res[k] = new o.Tensor(hostTensorType(v, `input '${k}'`) as 'float32', v.data as Float32Array, v.dims);
  return res;
}

/** @internal Runs a session; returns every requested output (default: all) as host tensors. */
export async function runSession(session: OrtNs.InferenceSession, feeds: Feeds, outputs?: string[]): Promise<Record<string, HostTensor>> {
  const o = await ort();
  const fetch = outputs ?? session.outputNames;
  // onnxruntime-node 1.30 crashes the process (SIGSEGV) fetching a sequence, map or optional
  // output (ONNX's test_if_opt): refused here, with the output's name.
  const nonTensor = session.outputMetadata.find((m) => !m.isTensor && fetch.includes(m.name));
  if (nonTensor) throw unsupported(`graph output '${nonTensor.name}' is not a tensor (a sequence, map or optional): onnxruntime-node cannot return it`);
  let res: OrtNs.InferenceSession.OnnxValueMapType;
  try {
    res = await session.run(toOrtFeeds(o, feeds), fetch);
  } catch (e) {
    throw verificationFailed(`onnxruntime failed to run the model: ${ortMessage(e)}`);
  }
  const out: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(res)) {
    // float16 outputs are compared as the float32 values they hold.
    if (t.type === 'float16') out[k] = { dims: [...t.dims], data: Float32Array.from(t.data as Uint16Array, halfToFloat) };
    else out[k] = hostTensor([...t.dims], t.type === 'string' ? [...(t.data as string[])] : (t.data as TypedData), t.type as HostTensorType);
  }
  return out;
}

/** Runs a model once on `feeds` (plus `capture`d intermediate values). */
export async function runModel(model: Model | Uint8Array | string, feeds: Feeds, opts: SessionOptions = {}): Promise<Record<string, HostTensor>> {
  const s = await createSession(model, opts);
  try {
    return await runSession(s, feeds);
  } finally {
    await s.release();
  }
}

/** Values of intermediate tensors on given inputs (e.g. every conv's input for calibration). */
export async function captureValues(model: Model, values: string[], feeds: Feeds, opts: SessionOptions = {}): Promise<Record<string, HostTensor>> {
  const s = await createSession(model, { ...opts, capture: values });
  try {
    return await runSession(s, feeds, values);
  } finally {
    await s.release();
  }
}

/** Why onnxruntime-node cannot run `model` on host tensors: its first graph input that is a
 * sequence, map or optional; undefined when every input is a tensor (random feeds and --inputs). */
export function nonTensorInputReason(model: Model): string | undefined {
  for (const i of model.graph.inputs) {
    const kind = model.graph.initializers.has(i.name) ? undefined : nonTensorKind(i);
    if (kind) return `graph input '${i.name}' is ${kind}: onnxruntime-node feeds tensors only`;
  }
  return undefined;
}

/** The host tensor type of each ONNX element type onnxruntime-node feeds. */
export const FEED_TYPES = new Map<number, FeedType>([
  [DataType.FLOAT, 'float32'], [DataType.DOUBLE, 'float64'], [DataType.FLOAT16, 'float16'], [DataType.INT8, 'int8'], [DataType.UINT8, 'uint8'],
  [DataType.INT16, 'int16'], [DataType.UINT16, 'uint16'], [DataType.INT32, 'int32'], [DataType.UINT32, 'uint32'], [DataType.INT64, 'int64'],
  [DataType.UINT64, 'uint64'], [DataType.BOOL, 'bool'],
]);

/** Seeded random inputs for every graph input: floats standard normal; integer and bool
 * inputs a value or range fitting the dtype and what the model does with them (see
 * input-ranges.ts: e.g. Silero's int64 `sr` gets the 16000 it is compared with). Symbolic or
 * unknown dims take `overrides` or 1; `values` fixes an input's every element (`--input-value`);
 * `fills` gives fills decided earlier (inputFills on the model before rewrites). */
export function randomFeeds(model: Model, seed = 0, overrides: Record<string, number[]> = {}, values: Record<string, number> = {}, fills: Record<string, InputFill> = {}): Feeds {
  const rng = new Rng(seed);
  const feeds: Feeds = {};
  for (const name of Object.keys(values)) {
    if (!model.graph.inputs.some((i) => i.name === name && !model.graph.initializers.has(name))) {
      throw badInput(`--input-value ${name}: the model has no graph input '${name}' (inputs: ${model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name)).map((i) => i.name).join(', ') || 'none'})`);
    }
  }
  const nonTensor = nonTensorInputReason(model);
  if (nonTensor) throw badInput(nonTensor);
  for (const i of model.graph.inputs) {
    if (model.graph.initializers.has(i.name)) continue;
    const dims = overrides[i.name] ?? (i.type?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    const et = i.type?.elemType ?? DataType.FLOAT;
    const fill = values[i.name] === undefined && fills[i.name] ? fills[i.name] : inputFill(model, i.name, et, values[i.name]);
    const draw = (): number => (fill.kind === 'const' ? fill.value : fill.kind === 'uniform' ? rng.int(fill.lo, fill.hi) : rng.normal());
    const type = FEED_TYPES.get(et);
    if (et === DataType.STRING) throw badInput(`graph input '${i.name}' is a string tensor: random inputs cannot be drawn for it; give them with --inputs`);
    if (!type) throw badInput(`graph input '${i.name}' is ${dtypeName(et)}, which onnxruntime-node cannot feed (no such tensor type in its JavaScript API)`);
    const data = new (FEED_CLASS[type])(n);
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) for (let k = 0; k < n; k++) data[k] = BigInt(Math.trunc(draw()));
    else if (type === 'bool') for (let k = 0; k < n; k++) data[k] = draw() ? 1 : 0;
    else if (type === 'float16') for (let k = 0; k < n; k++) data[k] = floatToHalf(draw());
    else for (let k = 0; k < n; k++) data[k] = draw();
    feeds[i.name] = hostTensor(dims, data, type);
  }
  return feeds;
}

/** float -> IEEE half bits (round to nearest even; enough for random inputs). */
function floatToHalf(x: number): number {
  const f = new Float32Array([x]);
  const b = new Uint32Array(f.buffer)[0];
  const sign = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 127 + 15;
  let m = b & 0x7fffff;
  if (e <= 0) return sign; // tiny values flush to zero
  if (e >= 31) return sign | 0x7c00;
  const round = m & 0x1fff;
  m >>>= 13;
  let h = sign | (e << 10) | m;
  if (round > 0x1000 || (round === 0x1000 && (m & 1))) h++;
  return h;
}

/** How one output of a candidate model differs from the reference: max abs error, the reference's
 * scale (max abs) and their ratio.
 * @deprecated The scale-relative figure of `compareOutputs`; the project's criterion is
 * `allclose` (`OutputCheck`).
 */
export interface OutputComparison {
  name: string;
  maxAbsError: number;
  /** Max abs of the reference output (the scale errors are measured against; >= tiny). */
  scale: number;
  /** maxAbsError / scale. */
  relative: number;
  ok: boolean;
}

/** The comparison of every output of two runs by `compareOutputs`: `ok` when all are within the
 * tolerance.
 * @deprecated See `compareOutputs`.
 */
export interface Comparison {
  ok: boolean;
  tolerance: number;
  outputs: OutputComparison[];
  /** Largest relative error over all outputs. */
  worst: number;
}

/** Compares outputs by name: max abs error <= tol x max abs of the reference.
 * @deprecated A scale-relative check passes errors on elements far below an output's largest
 * one and fails float rounding on outputs of tiny scale; use `allclose` (elementwise
 * |a-b| <= atol + rtol |b|, what `compile`, `rewrite --verify`, `checkEquivalence` and
 * `assertSameOutputs` use).
 */
export function compareOutputs(reference: Record<string, HostTensor>, candidate: Record<string, HostTensor>, tol = 1e-4): Comparison {
  const outputs: OutputComparison[] = [];
  for (const [name, ref] of Object.entries(reference)) {
    const got = candidate[name];
    if (!got || got.data.length !== ref.data.length || got.dims.join() !== ref.dims.join()) {
      outputs.push({ name, maxAbsError: Infinity, scale: 0, relative: Infinity, ok: false });
      continue;
    }
    let err = 0, scale = 0;
    for (let i = 0; i < ref.data.length; i++) {
      const a = Number(ref.data[i]), b = Number(got.data[i]);
      scale = Math.max(scale, Math.abs(a));
      const d = Math.abs(a - b);
      if (!(d <= err)) err = Number.isNaN(d) ? (Number.isNaN(a) && Number.isNaN(b) ? err : Infinity) : d;
    }
    const s = Math.max(scale, 1e-30);
    outputs.push({ name, maxAbsError: err, scale, relative: err / s, ok: err <= tol * s });
  }
  const worst = Math.max(0, ...outputs.map((o) => o.relative));
  return { ok: outputs.every((o) => o.ok), tolerance: tol, outputs, worst };
}

/** Options of `checkEquivalence`: the allclose tolerances, the seeded random inputs (draws, seed,
 * the model they are drawn from, fixed dims). */
export interface EquivalenceOptions extends AllcloseOptions {
  /** Seed of the first draw (default 0); draw r uses seed + r. */
  seed?: number;
  /** Random input draws (default 1). */
  runs?: number;
  /** The IR model inputs are drawn from (default: whichever of the two is an IR model). */
  feedsFrom?: Model;
  /** Dims of dynamic graph inputs (default: 1 for every unknown dim). */
  overrides?: Record<string, number[]>;
}

/** The one-line error for the removed scale-relative tolerance option (`tol` / `tolerance`). */
export function toleranceReplaced(where: string): Error {
  return badInput(`${where}: the scale-relative tolerance (max error x output scale) was replaced by allclose's rtol and atol (every element within |a-b| <= atol + rtol |b|; defaults 1e-5, 1e-5)`);
}

/** Runs two models on the same seeded random inputs (`runs` draws) and compares every output with
 * `allclose` (rtol, atol; defaults Polygraphy's 1e-5, 1e-5). Returns the check of the first
 * failing draw, else of the draw with the largest max abs error. */
export async function checkEquivalence(reference: Model | Uint8Array | string, candidate: Model | Uint8Array | string, opts: EquivalenceOptions = {}): Promise<CheckResult> {
  if ((opts as { tol?: unknown }).tol !== undefined) throw toleranceReplaced('checkEquivalence option `tol`');
  const feedModel = opts.feedsFrom ?? (reference instanceof Model ? reference : candidate instanceof Model ? candidate : undefined);
  if (!feedModel) throw badInput('checkEquivalence: give an IR model (or feedsFrom) to draw inputs from');
  const so = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 } as const;
  const [sa, sb] = [await createSession(reference, so), await createSession(candidate, so)];
  const maxAbs = (c: CheckResult) => Math.max(0, ...c.outputs.map((o) => o.maxAbs));
  try {
    let all: CheckResult | undefined;
    for (let r = 0; r < (opts.runs ?? 1); r++) {
      const feeds = randomFeeds(feedModel, (opts.seed ?? 0) + r, opts.overrides);
      const c = allclose(await runSession(sa, feeds), await runSession(sb, feeds), opts);
      if (!c.ok) return c;
      if (!all || maxAbs(c) > maxAbs(all)) all = c;
    }
    return all!;
  } finally {
    await sa.release();
    await sb.release();
  }
}

/** Has onnxruntime optimize a model at `level` and save the result to `path` (returns path). */
export async function ortOptimize(model: Model | Uint8Array | string, path: string, level: GraphOptimizationLevel = 'basic'): Promise<string> {
  const s = await createSession(model, { graphOptimizationLevel: level, optimizedModelFilePath: path });
  await s.release();
  return path;
}

/** @internal Median wall time (ms) of `reps` runs of a session on fixed feeds, after `warmup` runs. */
export async function medianLatency(session: OrtNs.InferenceSession, feeds: Feeds, reps = 50, warmup = 5): Promise<number> {
  const o = await ort();
  const f = toOrtFeeds(o, feeds);
  for (let i = 0; i < warmup; i++) await session.run(f);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(f);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times.length % 2 ? times[(times.length - 1) / 2] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
}
