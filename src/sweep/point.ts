/**
 * One sweep point: its key (what makes two points the same computation) and its row (what the
 * store keeps). `runPoint` is what every executor calls — in-process, a pool thread
 * (pool-worker.ts) or a cluster worker (queue.ts) — so a point's row is the same wherever it
 * runs, bar `time_ms`.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decodeModel } from '../onnx/io.ts';
import { isDnnfuseError } from '../errors.ts';
import { TOOL_VERSION } from '../passes/manager.ts';
import { opGraphOf, planPoint, type OpGraph } from './planner.ts';
import type { PointSpec } from './grid.ts';

/** A stored point: one row of the `points` table (store.ts), column for column. */
export interface PointRow {
  key: string;
  model: string;
  model_hash: string;
  base: string;
  hardware: string;
  buffer_bytes: number;
  dtype: string;
  bandwidth: number;
  macs: number;
  scheme: string;
  search: string;
  optimum: boolean;
  seed: number;
  budget: number;
  time_limit: number;
  tool_version: string;
  /** 'ok' (search only), 'optimal' / 'not-proven' (with the optimum), 'error'. */
  status: string;
  dram_bytes: number | null;
  dram_fusable_bytes: number | null;
  lbl_bytes: number | null;
  lbl_fusable_bytes: number | null;
  reduction: number | null;
  groups: number | null;
  max_memory_bytes: number | null;
  latency_us: number | null;
  seeded: boolean;
  optimum_bytes: number | null;
  bound_bytes: number | null;
  optimum_scope: string | null;
  optimum_groups: number | null;
  /** The best plan, JSON groups of node names (seeds the next buffer size). */
  plan: string | null;
  error: string | null;
  /** Wall time of the point, ms: the only field that differs between two runs. */
  time_ms: number;
}

/** The computation a task carries: a point and its seed (the previous size's best plan). */
export interface PointTask {
  spec: PointSpec;
  key: string;
  seed?: string[][];
}

/** The point key: sha256 over the model's hash, the hardware figures, the scheme, the search
 * options and the tool version (not the names of the model or the hardware, which are labels). */
export function pointKey(p: PointSpec): string {
  const o = p.options;
  const canon = {
    tool: TOOL_VERSION,
    model: p.model.hash,
    hw: [p.hardware.bufferBytes, p.hardware.elementType, p.hardware.dramBytesPerSecond, p.hardware.macsPerSecond],
    scheme: p.scheme,
    search: o.search,
    seed: o.seed,
    budget: o.search === 'local' ? o.budget : null,
    optimum: o.optimum ? { timeLimit: o.timeLimit } : false,
  };
  return createHash('sha256').update(JSON.stringify(canon)).digest('hex').slice(0, 32);
}

// A worker keeps the op graphs of the models it has seen (small: no weights), by file hash.
const graphs = new Map<string, OpGraph>();

function loadGraph(p: PointSpec): OpGraph {
  const hit = graphs.get(p.model.hash);
  if (hit) return hit;
  let bytes: Buffer = readFileSync(p.model.path);
  const hash = createHash('sha256').update(bytes).digest('hex');
  if (hash !== p.model.hash) throw new Error(`${p.model.path} changed since the sweep started (sha256 ${hash.slice(0, 12)}, expected ${p.model.hash.slice(0, 12)})`);
  if (p.model.path.endsWith('.gz')) bytes = gunzipSync(bytes);
  const g = opGraphOf(decodeModel(bytes, { baseDir: dirname(p.model.path) }));
  graphs.set(p.model.hash, g);
  return g;
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
    const r = await planPoint(loadGraph(p), hw, p.scheme, o, task.seed);
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

/** Fault injection for the resume and cluster tests (never set by users):
 * DNNFUSE_SWEEP_FAULT=<n>:<marker file> makes the n-th point a thread runs end that thread
 * (a pool thread dies); DNNFUSE_WORKER_FAULT the same for a `dnnfuse worker` process. Once: the
 * marker file records that it happened. */
const faultCounts = new Map<string, number>();
export function faultHook(variable: string): void {
  const f = process.env[variable];
  if (!f) return;
  const [n, marker] = [Number(f.split(':')[0]), f.slice(f.indexOf(':') + 1)];
  const count = (faultCounts.get(variable) ?? 0) + 1;
  faultCounts.set(variable, count);
  if (count !== n) return;
  try {
    // 'wx': exactly one process or thread wins the marker, even when several start together.
    writeFileSync(marker, String(process.pid), { flag: 'wx' });
  } catch {
    return;
  }
  process.exit(70); // in a worker thread this ends the thread only
}

