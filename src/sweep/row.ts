/**
 * A sweep point's row (one row of the store's `points` table), the task that computes it, and
 * its key. Apart from point.ts (which computes rows and loads the planner), so that the parent
 * of a sweep — which computes keys, reads stored rows and hands tasks to an executor — loads
 * no planner, no ONNX reader and no solver: re-running a finished sweep needs none of them.
 */
import { createHash } from 'node:crypto';
import { TOOL_VERSION } from '../util/version.ts';
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
