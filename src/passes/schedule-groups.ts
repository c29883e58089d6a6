/**
 * Reading the final fusion plan out of a schedule, whichever pass produced it: `plan` writes
 * one, `get` (GET splitting) may refine it, a third-party planner may write its own. The last
 * pass in the run whose annotations carry `groups: [{ nodes: string[] , ... }]` wins. The
 * figures a group may carry (F_beta, F_D, validity, memory breakdown) are read when present.
 */
import type { Schedule } from './manager.ts';

export interface ScheduledGroup {
  id: number;
  nodes: string[];
  memoryBytes?: number;
  dramBytes?: number;
  valid?: boolean;
  items?: { kind: string; tensor: string; bytes: number }[];
}

export interface ScheduledPlan {
  /** Name of the pass that produced it. */
  pass: string;
  groups: ScheduledGroup[];
  /** Whole-plan figures when the pass reports them. */
  dramBytes?: number;
  layerByLayerDramBytes?: number;
  bufferBytes?: number;
  sweep?: { bufferBytes: number; dramBytes: number; layerByLayerDramBytes?: number; groups?: number }[];
  /** The raw annotations. */
  raw: Record<string, unknown>;
}

const num = (o: Record<string, unknown>, ...keys: string[]): number | undefined => {
  for (const k of keys) {
    const v = o[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
};

function groupsOf(a: unknown): ScheduledGroup[] | undefined {
  if (!a || typeof a !== 'object') return undefined;
  const gs = (a as Record<string, unknown>).groups;
  if (!Array.isArray(gs) || !gs.length) return Array.isArray(gs) ? [] : undefined;
  const out: ScheduledGroup[] = [];
  for (const [i, g] of gs.entries()) {
    if (Array.isArray(g) && g.every((x) => typeof x === 'string')) {
      out.push({ id: i, nodes: g as string[] });
      continue;
    }
    if (!g || typeof g !== 'object') return undefined;
    const o = g as Record<string, unknown>;
    const nodes = o.nodes ?? o.ops;
    if (!Array.isArray(nodes)) return undefined;
    const names = nodes.map((n) => (typeof n === 'string' ? n : n && typeof n === 'object' && typeof (n as { node?: unknown }).node === 'string' ? (n as { node: string }).node : typeof n === 'object' && n && typeof (n as { name?: unknown }).name === 'string' ? (n as { name: string }).name : undefined));
    if (names.some((n) => n === undefined)) return undefined;
    const mem = o.memory && typeof o.memory === 'object' ? (o.memory as Record<string, unknown>) : undefined;
    const itemsRaw = Array.isArray(o.items) ? o.items : Array.isArray(mem?.items) ? (mem!.items as unknown[]) : undefined;
    out.push({
      id: typeof o.id === 'number' ? o.id : i,
      nodes: names as string[],
      memoryBytes: num(o, 'memoryBytes', 'bufferBytes', 'fBeta', 'onChipBytes') ?? (mem ? num(mem, 'bytes') : undefined),
      dramBytes: num(o, 'dramBytes', 'fD', 'dram'),
      valid: typeof o.valid === 'boolean' ? o.valid : undefined,
      items: itemsRaw?.filter((x): x is { kind: string; tensor: string; bytes: number } => !!x && typeof x === 'object' && typeof (x as { bytes?: unknown }).bytes === 'number').map((x) => ({ kind: String(x.kind), tensor: String(x.tensor), bytes: x.bytes })),
    });
  }
  return out;
}

/** The final plan of a schedule, or undefined when no pass produced one. */
export function finalPlan(schedule: Pick<Schedule, 'passes'>): ScheduledPlan | undefined {
  for (let i = schedule.passes.length - 1; i >= 0; i--) {
    const p = schedule.passes[i];
    const a = p.annotations as Record<string, unknown> | null;
    if (!a) continue;
    // A planner may nest its plan one level down (e.g. { plan: { groups } }).
    const cand = groupsOf(a) !== undefined ? a : a.plan && groupsOf(a.plan) !== undefined ? (a.plan as Record<string, unknown>) : undefined;
    if (!cand) continue;
    const groups = groupsOf(cand)!;
    const sweepRaw = Array.isArray(cand.sweep) ? cand.sweep : Array.isArray(a.sweep) ? a.sweep : undefined;
    const totals = cand.totals && typeof cand.totals === 'object' ? (cand.totals as Record<string, unknown>) : cand;
    return {
      pass: p.name,
      groups,
      dramBytes: num(totals, 'dramBytes', 'totalDramBytes', 'dram'),
      layerByLayerDramBytes: num(totals, 'layerByLayerDramBytes', 'baselineDramBytes', 'layerByLayer'),
      bufferBytes: num(cand, 'bufferBytes'),
      sweep: sweepRaw
        ?.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object')
        .map((x) => ({ bufferBytes: num(x, 'bufferBytes') ?? NaN, dramBytes: num(x, 'dramBytes', 'dram') ?? NaN, layerByLayerDramBytes: num(x, 'layerByLayerDramBytes'), groups: num(x, 'groups') }))
        .filter((x) => Number.isFinite(x.bufferBytes) && Number.isFinite(x.dramBytes)),
      raw: cand,
    };
  }
  return undefined;
}
