/**
 * `dnnfuse report`: schedule.json -> one self-contained HTML page.
 *
 * The schedule carries everything drawn: the graph (written by compile), the final plan's
 * groups with F_beta/F_D, the accelerator, and — when the planning pass recorded one — a
 * DRAM-vs-buffer-size sweep. When the plan has no sweep, the report recomputes it (unless
 * told not to) by re-running the schedule's own pipeline up to its planning pass at buffer
 * sizes from beta/8 to 8 beta on the source model named in the schedule; if that model is not
 * reachable, the page says so instead of drawing the curve.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve, dirname } from 'node:path';
import type { Schedule } from '../passes/manager.ts';
import { runPasses, scheduleGraph } from '../passes/manager.ts';
import { finalPlan } from '../passes/schedule-groups.ts';
import { getPass, hasPass } from '../passes/registry.ts';
import { loadModel, encodeModel, decodeModel } from '../onnx/io.ts';
import type { FusionScheme } from '../fusion/types.ts';
import type { ReportData, SweepPoint } from './data.ts';
import { layoutGraph } from './layout.ts';
import { renderHtml } from './html.ts';

export type { ReportData } from './data.ts';

/** Options of `generateReport`: title, where the schedule's model path is relative to, the
 * DRAM-vs-buffer sweep (on/off, factors), progress log. */
export interface ReportOptions {
  title?: string;
  /** Folder the schedule was read from (relative model paths resolve against it and cwd). */
  scheduleDir?: string;
  /** Recompute the sweep when the schedule has none (default true). */
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

/** The source model a schedule names, found as the report finds it (an input of `report`). */
export function findModel(s: Schedule, scheduleDir?: string): string | undefined {
  const p = s.model?.path;
  if (!p) return undefined;
  const cands = isAbsolute(p) ? [p] : [resolve(p), ...(scheduleDir ? [resolve(scheduleDir, p), resolve(dirname(scheduleDir), p)] : [])];
  return cands.find((c) => existsSync(c));
}

/** Re-plans the source model at several buffer sizes with the schedule's own pipeline prefix. */
export async function recomputeSweep(s: Schedule, opts: ReportOptions = {}): Promise<{ points: SweepPoint[]; reason?: string }> {
  const plan = finalPlan(s);
  if (!plan) return { points: [], reason: 'no plan to sweep' };
  if (!s.hardware) return { points: [], reason: 'the schedule records no accelerator' };
  const idx = s.passes.map((p) => p.name).lastIndexOf(plan.pass);
  const names = s.passes.slice(0, idx + 1).map((p) => p.name);
  const missing = names.filter((n) => !hasPass(n));
  if (missing.length) return { points: [], reason: `pass${missing.length > 1 ? 'es' : ''} ${missing.join(', ')} not available to re-plan` };
  const path = findModel(s, opts.scheduleDir);
  if (!path) return { points: [], reason: `source model ${s.model?.path ?? '(unnamed)'} not found, cannot re-plan at other buffer sizes` };
  const factors = opts.sweepFactors ?? [1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8];
  // Passes before the first one that reads the accelerator run once; the rest per size.
  const split = Math.max(0, names.findIndex((n) => getPass(n).reads.includes('hardware')));
  const base = loadModel(path);
  for (const i of base.graph.inputs) {
    const fixed = s.model.inputs.find((x) => x.name === i.name)?.shape;
    if (fixed && fixed.every((d) => typeof d === 'number') && i.type) i.type = { ...i.type, shape: fixed as number[] };
  }
  base.graph.invalidate();
  const scheme = (s.scheme ?? 'lbdf') as FusionScheme;
  await runPasses(base, names.slice(0, split).map(getPass), { hardware: s.hardware, scheme, seed: s.seed }, { verifyAfterChange: false });
  const bytes = encodeModel(base);
  // The same search as the schedule's plan, without the exact optimum (a figure per point is
  // what the curve needs; the optimum's solver time would multiply by the number of points).
  const planRaw = plan.raw as { search?: { method?: string; budget?: number; k?: number; warmStart?: boolean } };
  const planOpts: Record<string, unknown> = { optimum: false };
  if (planRaw.search?.method) planOpts.search = planRaw.search.method;
  if (planRaw.search?.budget) planOpts.budget = planRaw.search.budget;
  if (planRaw.search?.k) planOpts.k = planRaw.search.k;
  if (planRaw.search?.warmStart !== undefined) planOpts.warmStart = planRaw.search.warmStart;
  const points: SweepPoint[] = [];
  for (const f of factors) {
    const bufferBytes = Math.max(1024, Math.round(s.hardware.bufferBytes * f));
    const model = decodeModel(bytes);
    opts.log?.(`re-planning at buffer ${bufferBytes} B`);
    const r = await runPasses(model, names.slice(split).map(getPass), { hardware: { ...s.hardware, bufferBytes }, scheme, seed: s.seed, options: { plan: planOpts } }, { verifyAfterChange: false });
    const p = finalPlan(r.schedule);
    if (p?.dramBytes !== undefined) points.push({ bufferBytes, dramBytes: p.dramBytes, layerByLayerDramBytes: p.layerByLayerDramBytes, groups: p.groups.length });
  }
  return points.length >= 2 ? { points } : { points: [], reason: 'the planning pass reports no total DRAM figure' };
}

/** The graph section for a schedule written without one (e.g. by `dnnfuse plan`): the source
 * model, with the schedule's graph-changing passes before the plan re-run on it, so that node
 * names match the plan. Undefined when the model is not reachable or names do not match. */
export async function reconstructGraph(s: Schedule, scheduleDir?: string): Promise<Schedule['graph']> {
  const path = findModel(s, scheduleDir);
  const plan = finalPlan(s);
  if (!path || !plan) return undefined;
  const idx = s.passes.map((p) => p.name).lastIndexOf(plan.pass);
  const rewrites = s.passes.slice(0, idx).filter((p) => p.changed).map((p) => p.name);
  if (rewrites.some((n) => !hasPass(n))) return undefined;
  const model = loadModel(path);
  if (rewrites.length) await runPasses(model, rewrites.map(getPass), { hardware: s.hardware ?? undefined, scheme: (s.scheme ?? undefined) as FusionScheme | undefined, seed: s.seed });
  const g = scheduleGraph(model);
  const names = new Set(g.nodes.map((n) => n.name));
  return plan.groups.every((gr) => gr.nodes.every((n) => names.has(n))) ? g : undefined;
}

/** schedule -> HTML text. */
export async function generateReport(s: Schedule, opts: ReportOptions = {}): Promise<string> {
  if (!s.graph) {
    const g = await reconstructGraph(s, opts.scheduleDir).catch(() => undefined);
    if (g) {
      s = { ...s, graph: g };
      opts.log?.('the schedule has no graph section: drawn from the source model');
    }
  }
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
