/**
 * `dnnfuse report`: schedule.json -> one self-contained HTML page.
 *
 * The schedule carries everything drawn: the graph (written by compile and plan), the final
 * plan's groups with F_beta/F_D, the accelerator, and — when the planning pass recorded one — a
 * DRAM-vs-buffer-size sweep. When the plan has no sweep, the report computes it (unless told
 * not to) by re-planning the op graph recorded in the schedule's `planning` section at buffer
 * sizes from beta/8 to 8 beta; the pass pipeline is never re-run and the source model never
 * read. A schedule without that section (before version 2.1) gets a line saying why instead of
 * the curve; one without a graph section (1.x) has its grouped ops drawn unconnected.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve, dirname } from 'node:path';
import type { Schedule } from '../passes/manager.ts';
import { finalPlan } from '../passes/schedule-groups.ts';
import { makeContext } from '../passes/pass.ts';
import type { PlanPassOptions } from '../passes/plan-fusion.ts';
import type { FusionPlanJson } from '../search/planner.ts';
import type { FusionScheme } from '../fusion/types.ts';
import { EXPLAINER_KINDS } from '../get/explainers/kinds.ts';
import type { ReportData, SweepPoint } from './data.ts';
import { layoutGraph } from './layout.ts';
import { renderHtml } from './html.ts';

export type { ReportData } from './data.ts';

/** Options of `generateReport`: title, the DRAM-vs-buffer sweep (on/off, factors), progress log. */
export interface ReportOptions {
  title?: string;
  /** Folder the schedule was read from. Ignored since schedule 2.1: the report reads nothing
   * but the schedule (`findModel` takes the folder itself). */
  scheduleDir?: string;
  /** Re-plan the recorded op graph for the sweep when the schedule has no sweep (default true). */
  sweep?: boolean;
  /** Buffer multipliers of the recomputed sweep (default 1/8 .. 8, powers of two). */
  sweepFactors?: number[];
  log?: (m: string) => void;
}

/** Builds the report data from a schedule (without any sweep recomputation). */
export function reportDataFromSchedule(s: Schedule, title?: string): ReportData {
  const plan = finalPlan(s);
  const notes: string[] = [];
  let nodes = s.graph?.nodes.map((n) => ({ id: n.name, op: n.op })) ?? [];
  const edges = s.graph?.edges.map((e) => ({ from: e.from, to: e.to, value: e.value })) ?? [];
  if (!s.graph && plan) {
    // Older or hand-made schedules without the graph section: draw the grouped ops unconnected.
    nodes = plan.groups.flatMap((g) => g.nodes.map((n) => ({ id: n, op: n })));
    notes.push('The schedule has no graph section (written by an older dnnfuse?): ops are drawn without edges.');
  }
  if (!plan) notes.push('No fusion plan in this schedule: run compile with the plan pass in the pipeline.');
  return {
    title: title ?? `dnnfuse schedule: ${s.model?.name ?? 'model'}`,
    model: { name: s.model?.name ?? 'model', path: s.model?.path, nodesBefore: s.model?.nodesBefore, nodesAfter: s.model?.nodesAfter },
    hardware: s.hardware ? { name: s.hardware.name, bufferBytes: s.hardware.bufferBytes, elementType: s.hardware.elementType } : null,
    scheme: s.scheme ?? null,
    seed: s.seed,
    graph: { nodes, edges },
    groups: plan?.groups.map((g) => ({ id: g.id, nodes: g.nodes, memoryBytes: g.memoryBytes, dramBytes: g.dramBytes, valid: g.valid, items: g.items })) ?? [],
    totals: { dramBytes: plan?.dramBytes, layerByLayerDramBytes: plan?.layerByLayerDramBytes },
    sweep: plan?.sweep ?? [],
    sweepSource: plan?.sweep?.length ? `recorded by the '${plan.pass}' pass` : undefined,
    passes: s.passes.map((p) => ({ name: p.name, changed: p.changed, ms: p.ms })),
    notes,
  };
}

/** The source model a schedule names, if it is there (the report does not read it; `dnnfuse
 * report` refuses to write its page over it). */
export function findModel(s: Schedule, scheduleDir?: string): string | undefined {
  const p = s.model?.path;
  if (!p) return undefined;
  const cands = isAbsolute(p) ? [p] : [resolve(p), ...(scheduleDir ? [resolve(scheduleDir, p), resolve(dirname(scheduleDir), p)] : [])];
  return cands.find((c) => existsSync(c));
}

/** Re-plans the op graph the schedule records (its `planning` section, schedule 2.1) at several
 * buffer sizes with the final plan's own search settings, seed and cost model: the plan pass's
 * search (no exact optimum: a figure per point is what the curve needs), then, for a final plan
 * of the get pass, GET on top of it as that pass does. Neither the source model nor the pass
 * pipeline is needed. A schedule without the section (2.0 and 1.x, or a rewrite after the plan)
 * gets no curve, and the reason is what the page shows instead. */
export async function recomputeSweep(s: Schedule, opts: ReportOptions = {}): Promise<{ points: SweepPoint[]; reason?: string }> {
  const plan = finalPlan(s);
  if (!plan) return { points: [], reason: 'no plan to sweep' };
  if (!s.hardware) return { points: [], reason: 'the schedule records no accelerator' };
  if (!s.planning?.opGraph || s.planning.pass !== plan.pass) {
    return { points: [], reason: `the schedule records no op graph to re-plan at other buffer sizes (schedules before version 2.1 have none; compile again to draw the curve)` };
  }
  const factors = opts.sweepFactors ?? [1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8];
  const { runPlanOn, PLAN_RECTIFIERS } = await import('../passes/plan-fusion.ts');
  const { getPresetOptions } = await import('../passes/get.ts');
  const raw = plan.raw as Partial<FusionPlanJson> & { get?: { explainer?: string } };
  const scheme = (s.scheme ?? 'lbdf') as FusionScheme;
  const rectifier = PLAN_RECTIFIERS.find((r) => r === raw.search?.rectifier);
  const planOpts: PlanPassOptions = { optimum: false };
  if (raw.search?.method) planOpts.search = raw.search.method;
  if (raw.search?.budget) planOpts.budget = raw.search.budget;
  if (raw.search?.k) planOpts.k = raw.search.k;
  if (raw.search?.warmStart !== undefined) planOpts.warmStart = raw.search.warmStart;
  if (plan.pass === 'plan' && rectifier) planOpts.rectifier = rectifier;
  const explainer = EXPLAINER_KINDS.find((k) => k === raw.get?.explainer);
  const points: SweepPoint[] = [];
  for (const f of factors) {
    const bufferBytes = Math.max(1024, Math.round(s.hardware.bufferBytes * f));
    opts.log?.(`re-planning at buffer ${bufferBytes} B`);
    const ctx = makeContext({ hardware: { ...s.hardware, bufferBytes }, scheme, seed: s.seed });
    let { annotations: a } = await runPlanOn(s.planning.opGraph, ctx, planOpts);
    if (plan.pass === 'get') a = (await runPlanOn(s.planning.opGraph, ctx, getPresetOptions(a, { explainer }), a)).annotations;
    const t = a.totals;
    if (Number.isFinite(t?.dramBytes)) points.push({ bufferBytes, dramBytes: t.dramBytes, layerByLayerDramBytes: Number.isFinite(t.layerByLayerDramBytes) ? t.layerByLayerDramBytes : undefined, groups: a.groups.length });
  }
  return points.length >= 2 ? { points } : { points: [], reason: 'the planning pass reports no total DRAM figure' };
}

/** schedule -> HTML text. */
export async function generateReport(s: Schedule, opts: ReportOptions = {}): Promise<string> {
  const data = reportDataFromSchedule(s, opts.title);
  if (!data.sweep.length && data.groups.length && opts.sweep !== false) {
    const { points, reason } = await recomputeSweep(s, opts);
    if (points.length) {
      data.sweep = points;
      data.sweepSource = 'recomputed by dnnfuse report (re-planned at each buffer size)';
    } else data.sweepSource = reason;
  }
  return renderReportData(data);
}

/** ReportData -> HTML text (layout by elkjs). */
export async function renderReportData(data: ReportData): Promise<string> {
  const layout = await layoutGraph(data);
  return renderHtml(data, layout);
}
