/**
 * Computes one sweep point's row (what the store keeps; the row, the task and the key — what
 * makes two points the same computation — are defined in row.ts). `runPoint` is what every
 * executor calls — in-process, a pool thread (util/pool.ts) or a cluster worker (queue.ts) —
 * so a point's row is the same wherever it runs, bar `time_ms`.
 */
import { deserialize, serialize } from 'node:v8';
import { isGzipFile, loadModel, loadModelGz } from '../onnx/io.ts';
import { applyDimOverrides, applyShapeOverrides, inputDimNames, shapeSpecName } from '../analysis/shapes.ts';
import { isDnnfuseError } from '../errors.ts';
import { TOOL_VERSION } from '../util/version.ts';
import { opGraphOf, planPoint, type OpGraph } from './planner.ts';
import { fileStamp, hashFile, type PointSpec } from './grid.ts';
import { faultHook } from './fault.ts';
import { sameShapes } from '../util/same-shapes.ts';
import type { PointRow, PointTask } from './row.ts';

// The row, the task and the key live in row.ts (no planner import: a re-run of a finished sweep
// computes keys and reads rows only); re-exported here, where they were first defined.
export { pointKey, type PointRow, type PointTask } from './row.ts';
export { faultHook } from './fault.ts';

// A worker keeps the op graphs of the models it has seen (small: no weights), by file hash.
const graphs = new Map<string, OpGraph>();

async function loadGraph(p: PointSpec): Promise<OpGraph> {
  const hit = graphs.get(p.model.hash);
  if (hit) return hit;
  const path = p.model.path;
  // Hashed in chunks, then read for its structure only (no weights: an op graph needs shapes):
  // a .onnx lazily (onnx/lazy.ts), a .onnx.gz inflated as a stream (onnx/lazy-gz.ts). The
  // stamp taken before the hash must hold after the read: both then saw the same bytes.
  const stamp = fileStamp(path);
  const hash = hashFile(path);
  const expected = p.model.fileHash ?? p.model.hash;
  const changed = (why: string) => new Error(`${path} changed since the sweep started (${why})`);
  if (hash !== expected) throw changed(`sha256 ${hash.slice(0, 12)}, expected ${expected.slice(0, 12)}`);
  // gzip told by the file's content, as loadModel does (a gzip file is read as a stream here)
  const model = isGzipFile(path) ? await loadModelGz(path) : loadModel(path);
  if (fileStamp(path) !== stamp) throw changed('written while it was read');
  // --dim specs fix the named dims this model's inputs have, then --shape specs the inputs of
  // that name it has (others are another model's)
  const named = inputDimNames(model);
  applyDimOverrides(model, (p.model.dims ?? []).filter((s) => named.has(shapeSpecName(s))));
  const inputs = new Set(model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name)).map((i) => i.name));
  applyShapeOverrides(model, (p.model.shapes ?? []).filter((s) => inputs.has(shapeSpecName(s))));
  // Copied through sameShapes as a graph from another thread is (runPointShared): both kinds
  // then have the same hidden classes and the planner's optimized code sees one map per object.
  const g = sameShapes(opGraphOf(model));
  graphs.set(p.model.hash, g);
  return g;
}

/** What a pool thread returns: the row, and the model's op graph serialized when this thread
 * read and decoded the model for this point (the parent hands it to the other threads). */
export interface SharedPointResult {
  row: PointRow;
  graph?: Uint8Array;
}

/**
 * runPoint in a pool thread that shares op graphs with the others. Reading a model is most of a
 * thread's fixed cost (inflating vgg16.onnx.gz alone allocates 528 MB of weights, several
 * seconds of CPU, page faults and GC, for an op graph of 14 KiB), so each model is read once per
 * sweep, not once per thread: `graph` is the op graph another thread built, serialized with
 * node:v8 (the structured-clone format: the same object tree, no JSON rounding), used instead of
 * the file; a thread that had to read the file returns its serialization. A graph is trusted as
 * the file's: the thread that built it checked the file's hash.
 */
export async function runPointShared(task: PointTask, graph?: Uint8Array): Promise<SharedPointResult> {
  const hash = task.spec.model.hash;
  if (graph && !graphs.has(hash)) graphs.set(hash, sameShapes(deserialize(graph) as OpGraph));
  const read = !graphs.has(hash);
  const row = await runPoint(task);
  const g = read ? graphs.get(hash) : undefined;
  return g ? { row, graph: serialize(g) } : { row };
}

/** The op graph this thread holds for a model hash (tests). */
export function heldGraph(hash: string): OpGraph | undefined {
  return graphs.get(hash);
}

/** Forgets the op graphs this thread has built (tests: a thread that has read no model). */
export function forgetGraphs(): void {
  graphs.clear();
}

/** Computes a point. Errors of the input (a model that cannot be planned) become an `error` row;
 * anything else (a crash) propagates, and the executor retries the task. */
export async function runPoint(task: PointTask): Promise<PointRow> {
  const { spec: p } = task;
  const t0 = performance.now();
  const hw = p.hardware;
  const o = p.options;
  const row: PointRow = {
    key: task.key,
    model: p.model.name,
    model_hash: p.model.hash,
    base: p.base,
    hardware: hw.name,
    buffer_bytes: hw.bufferBytes,
    dtype: hw.elementType,
    bandwidth: hw.dramBytesPerSecond,
    macs: hw.macsPerSecond,
    scheme: p.scheme,
    search: o.search,
    optimum: o.optimum,
    seed: o.seed,
    budget: o.budget,
    time_limit: o.timeLimit,
    tool_version: TOOL_VERSION,
    status: 'error',
    dram_bytes: null,
    dram_fusable_bytes: null,
    lbl_bytes: null,
    lbl_fusable_bytes: null,
    reduction: null,
    groups: null,
    max_memory_bytes: null,
    latency_us: null,
    seeded: false,
    optimum_bytes: null,
    bound_bytes: null,
    optimum_scope: null,
    optimum_groups: null,
    plan: null,
    error: null,
    time_ms: 0,
  };
  faultHook('DNNFUSE_SWEEP_FAULT');
  try {
    const r = await planPoint(await loadGraph(p), hw, p.scheme, o, task.seed);
    Object.assign(row, {
      status: r.optimum ? r.optimum.status : 'ok',
      dram_bytes: r.dramBytes,
      dram_fusable_bytes: r.dramFusableBytes,
      lbl_bytes: r.lblBytes,
      lbl_fusable_bytes: r.lblFusableBytes,
      reduction: r.reduction,
      groups: r.groups,
      max_memory_bytes: r.maxMemoryBytes,
      latency_us: r.latencyUs,
      seeded: r.seeded,
      optimum_bytes: r.optimum?.dramBytes ?? null,
      bound_bytes: r.optimum?.boundBytes ?? null,
      optimum_scope: r.optimum?.scope ?? null,
      optimum_groups: r.optimum?.groups ?? null,
      plan: JSON.stringify(r.plan),
    });
  } catch (e) {
    if (!isDnnfuseError(e)) throw e;
    row.error = e.message;
  }
  row.time_ms = Math.round((performance.now() - t0) * 1000) / 1000;
  return row;
}
