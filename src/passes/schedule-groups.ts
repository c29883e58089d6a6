/**
 * Reading the final fusion plan out of a schedule, whichever pass produced it: `plan` writes
 * one, `get` (GET splitting) may refine it, a third-party planner may write its own. The last
 * pass record tagged `kind: 'fusion-plan'` wins. Its annotations follow the fusion-plan shape
 * of schema/schedule.schema.json: `groups: [{ id?, nodes: string[], memoryBytes?, dramBytes?,
 * valid?, memory?: { items } }]`, optional `totals: { dramBytes, layerByLayerDramBytes }`,
 * `bufferBytes` and `sweep`; nothing else is guessed.
 */
import type { Schedule } from './manager.ts';

/** One group of a schedule's final fusion plan, read back generically (`finalPlan`). */
export interface ScheduledGroup {
  id: number;
  nodes: string[];
  memoryBytes?: number;
  dramBytes?: number;
  valid?: boolean;
  items?: { kind: string; tensor: string; bytes: number }[];
}

/** A schedule's final fusion plan as `finalPlan` reads it: the groups and the whole-plan figures,
 * from whichever pass wrote it last.
 */
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

/** The fields of a 'fusion-plan' annotation that finalPlan reads. */
interface FusionPlanAnnotation {
  groups: { id?: number; nodes: string[]; memoryBytes?: number; dramBytes?: number; valid?: boolean; memory?: { items?: { kind: string; tensor: string; bytes: number }[] } }[];
  totals?: { dramBytes?: number; layerByLayerDramBytes?: number };
  bufferBytes?: number;
  sweep?: { bufferBytes: number; dramBytes: number; layerByLayerDramBytes?: number; groups?: number }[];
}

const finite = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The final plan of a schedule, or undefined when no pass produced one. */
export function finalPlan(schedule: Pick<Schedule, 'passes'>): ScheduledPlan | undefined {
  for (let i = schedule.passes.length - 1; i >= 0; i--) {
    const p = schedule.passes[i];
    if (p.kind !== 'fusion-plan' || !p.annotations || typeof p.annotations !== 'object') continue;
    const a = p.annotations as FusionPlanAnnotation;
    if (!Array.isArray(a.groups)) continue;
    return {
      pass: p.name,
      groups: a.groups.map((g, k) => ({
        id: typeof g.id === 'number' ? g.id : k,
        nodes: g.nodes,
        memoryBytes: finite(g.memoryBytes),
        dramBytes: finite(g.dramBytes),
        valid: typeof g.valid === 'boolean' ? g.valid : undefined,
        items: g.memory?.items?.map((x) => ({ kind: String(x.kind), tensor: String(x.tensor), bytes: x.bytes })),
      })),
      dramBytes: finite(a.totals?.dramBytes),
      layerByLayerDramBytes: finite(a.totals?.layerByLayerDramBytes),
      bufferBytes: finite(a.bufferBytes),
      sweep: a.sweep?.filter((x) => Number.isFinite(x?.bufferBytes) && Number.isFinite(x?.dramBytes)).map((x) => ({ bufferBytes: x.bufferBytes, dramBytes: x.dramBytes, layerByLayerDramBytes: finite(x.layerByLayerDramBytes), groups: finite(x.groups) })),
      raw: a as unknown as Record<string, unknown>,
    };
  }
  return undefined;
}
