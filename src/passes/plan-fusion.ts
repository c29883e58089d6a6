/**
 * The `plan` pass: layer-fusion partitioning (Mills et al., "Applying Graph Explanation to Operator Fusion", arXiv 2501.00636), a thin adapter over the planner
 * (src/search/planner.ts). Reads static shapes and the accelerator from the context, builds
 * the OpGraph, runs the chosen search under the chosen cost model (LBDF/BRR), checks the plan,
 * and writes the schedule's fusion part (groups in execution order with members, memory
 * breakdown, DRAM, latency, totals, optimum + gap) as its annotations. The graph is not
 * modified.
 *
 * Options (ctx.options.plan, schema below): search ('lbl'|'greedy'|'random'|'local'|'nsga2'|
 * 'exact', default 'local'), budget (1000), k (10), warmStart (default true: local/NSGA-II start
 * from the greedy plan; false = the published setting, random initial plans), optimum (default
 * true: solve the exact optimum for the gap), emit ('best', default: the optimum's plan when
 * it beats the search's, as the schedule then says; 'search': the search's plan always; with a
 * GET rectifier the default is 'search', the explained plan being the point), timeLimit (seconds
 * for the exact solver, 30),
 * rectifier ('random' = the published random split, default; 'get-pg' | 'get-gnne' | 'get-rg' |
 * 'get-cuts' = GET's SPLIT along the edges that explainer blames), topK and weightsDir (GET's).
 * This is the one route to GET: `dnnfuse plan --get pg` and the `get` pass (a preset, get.ts)
 * both come here. With a GET rectifier the annotations gain a `get` section: explainer,
 * rectifier statistics, rectify rate and the SPLIT trees behind the final plan's groups.
 * Services: onProgress (search progress), rectifier (a custom Rectifier function).
 * The subgraphs of control-flow nodes (planned as opaque ops) are planned too, each on its own
 * (src/search/subgraph-plans.ts), under their node's group.
 */
import type { OptionsSchema, Pass, PassContext } from './pass.ts';
import { optionsSchema } from './pass.ts';
import type { Model } from '../ir/graph.ts';
import type { OpGraph, Rectifier } from '../fusion/types.ts';
import { planningGraph } from '../fusion/op-graph.ts';
import { emittedOptimum, fusionPlanJson, planFusion, SEARCH_METHODS, type FusionPlanJson, type PlanFusionOptions, type PlanFusionResult } from '../search/planner.ts';
import { checkPlan, type Plan } from '../fusion/plan.ts';
import { planSubgraphs, subgraphTotals } from '../search/subgraph-plans.ts';
import type { SearchMethod } from '../search/common.ts';
import { resolveAccelerator } from '../hardware/load.ts';
import { EXPLAINER_KINDS, type ExplainerKind } from '../get/explainers/kinds.ts';
import type { GetKind, GetRectifier, SplitTree } from '../get/rectifier.ts';
import type { Schedule, SchedulePlanning } from './manager.ts';
import { finalPlan } from './schedule-groups.ts';

/** The rectifiers the plan pass can name: the published random split, or GET with an explainer. */
export const PLAN_RECTIFIERS = ['random', ...EXPLAINER_KINDS.map((k) => `get-${k}` as const)] as const;
/** One of PLAN_RECTIFIERS. */
export type PlanRectifier = (typeof PLAN_RECTIFIERS)[number];

/** Options of the plan pass (`--option plan.key=value`): search, budget, k, warm start, exact
 * optimum, time limit, GET rectifier.
 */
export interface PlanPassOptions {
  search?: SearchMethod;
  budget?: number;
  k?: number;
  warmStart?: boolean;
  optimum?: boolean;
  /** 'best': emit the exact optimum's plan when it is cheaper than the search's; 'search': the
   * search's plan always. Default 'best', 'search' with a GET rectifier. */
  emit?: 'best' | 'search';
  timeLimit?: number;
  rectifier?: PlanRectifier;
  /** GET: explained edges tried as cuts per group (default 8). */
  topK?: number;
  /** GET: folder of the trained weights (default: the shipped models/get). */
  weightsDir?: string;
}

declare module './pass.ts' {
  interface PassOptionsMap {
    plan: PlanPassOptions;
  }
}

const posInt = { type: 'integer', minimum: 1 };
export const PLAN_OPTIONS: OptionsSchema = optionsSchema({
  search: { enum: SEARCH_METHODS },
  budget: posInt,
  k: posInt,
  warmStart: { type: 'boolean' },
  optimum: { type: 'boolean' },
  emit: { enum: ['best', 'search'] },
  timeLimit: { type: 'number', exclusiveMinimum: 0 },
  rectifier: { enum: PLAN_RECTIFIERS },
  topK: posInt,
  weightsDir: { type: 'string' },
});

/** What a GET rectifier did during the plan's search (schema: $defs.getRectification). */
export interface GetRectification {
  explainer: GetKind;
  /** Invalid groups handed to the rectifier, split along explained edges, fell back to random. */
  invalidGroups: number;
  rectified: number;
  fallback: number;
  /** rectified / invalidGroups (0 when no group was invalid). */
  rectifyRate: number;
  explanations: number;
  explainMs: number;
  /** DRAM of an earlier plan of the same pipeline made with the random split (the `get`
   * preset after `plan`), and 1 - dram / that; null without one. */
  baselineDramBytes: number | null;
  improvement: number | null;
  /** The SPLIT trees whose leaves are groups of the final plan (at most 200), op ids in the
   * fusion op graph's topological numbering. */
  splitTrees: SplitTree[];
}

/** The plan pass's annotations: the fusion plan, with a `get` section when GET rectified it. */
export type PlanAnnotations = FusionPlanJson & { get?: GetRectification };

/** The wall-clock fields of a fusion plan's annotations (zeroed by a reproducible run). */
export const PLAN_TIMINGS = ['search.ms', 'optimum.ms', 'get.explainMs'];

/** Plan options with their defaults. */
export function resolvePlanOptions(o: PlanPassOptions = {}): Required<Omit<PlanPassOptions, 'weightsDir' | 'topK'>> & Pick<PlanPassOptions, 'weightsDir' | 'topK'> {
  return {
    search: o.search ?? 'local',
    budget: o.budget ?? 1000,
    k: o.k ?? 10,
    warmStart: o.warmStart ?? true,
    optimum: o.optimum ?? true,
    emit: o.emit ?? (o.rectifier === undefined || o.rectifier === 'random' ? 'best' : 'search'),
    timeLimit: o.timeLimit ?? 30,
    rectifier: o.rectifier ?? 'random',
    topK: o.topK,
    weightsDir: o.weightsDir,
  };
}

/** The schedule's `planning` section: the op graph the final plan was planned on, when the
 * final plan is the plan or get pass's and no pass rewrote the graph after it (then `model`, as
 * the pipeline left it, is still the model planned); undefined otherwise. */
export function planningSection(model: Model, schedule: Pick<Schedule, 'passes'>): SchedulePlanning | undefined {
  const plan = finalPlan(schedule);
  if (!plan || (plan.pass !== 'plan' && plan.pass !== 'get')) return undefined;
  const at = schedule.passes.map((p) => p.name).lastIndexOf(plan.pass);
  if (schedule.passes.slice(at + 1).some((p) => p.changed)) return undefined;
  return { pass: plan.pass, opGraph: planningGraph(model) };
}

/**
 * Plans `model` with resolved plan options: what the plan pass and the get preset both run.
 * `baseline` is an earlier plan of the same run (random split) to compare a GET plan with: its
 * optimum is reused instead of being solved again.
 */
export async function runPlan(model: Model, ctx: PassContext, options: PlanPassOptions, baseline?: FusionPlanJson): Promise<{ annotations: PlanAnnotations; result: PlanFusionResult }> {
  const r = await runPlanOn(planningGraph(model), ctx, options, baseline);
  // The subgraphs of control-flow nodes (opaque here, or left out for data-dependent outputs) get
  // plans of their own, under their node's group or `unplanned` entry (in place: the groups are shared with the returned annotations); the exact solver's
  // search is replaced by local search there (no MILP per subgraph).
  const o = resolvePlanOptions(options);
  const json = r.annotations;
  await planSubgraphs(model, json, { hardware: ctx.hardware ?? resolveAccelerator(undefined), scheme: json.scheme, search: o.search === 'exact' ? 'local' : o.search, seed: ctx.seed, budget: o.budget, k: o.k, warmStart: o.warmStart });
  return r;
}

/** runPlan on an op graph already built (planningGraph), e.g. the one a schedule records in
 * its `planning` section: the report re-plans it at other buffer sizes with this. */
export async function runPlanOn(graph: OpGraph, ctx: PassContext, options: PlanPassOptions, baseline?: FusionPlanJson): Promise<{ annotations: PlanAnnotations; result: PlanFusionResult }> {
  const o = resolvePlanOptions(options);
  const hardware = ctx.hardware ?? resolveAccelerator(undefined);
  if (graph.unplanned?.length) ctx.log(`plan: ${graph.unplanned.length} nodes not planned (no static shape), e.g. '${graph.unplanned[0].node}' (${graph.unplanned[0].opType}): ${graph.unplanned[0].reason}`);
  let rectifier: Rectifier | undefined;
  let rectifierName: string | undefined;
  let get: GetRectifier | undefined;
  if (ctx.services.rectifier) {
    rectifier = ctx.services.rectifier.rectify;
    rectifierName = ctx.services.rectifier.name;
  } else if (o.rectifier !== 'random') {
    // Loaded lazily: get/rectifier.ts pulls in tfjs, which plain plans do not need.
    const { makeRectifier, prepareGet } = await import('../get/rectifier.ts');
    const kind = o.rectifier.slice('get-'.length) as ExplainerKind;
    // The learned explainers run on tfjs (WASM backend); the cuts control needs no tfjs.
    if (kind !== 'cuts') await prepareGet();
    rectifier = get = makeRectifier(kind, { topK: o.topK, weightsDir: o.weightsDir });
    rectifierName = o.rectifier;
  }
  const popts: PlanFusionOptions = {
    hardware,
    scheme: baseline?.scheme ?? ctx.scheme ?? 'lbdf',
    search: o.search,
    seed: ctx.seed,
    budget: o.budget,
    k: o.k,
    warmStart: o.warmStart,
    rectifier,
    rectifierName,
    // With a baseline plan the optimum of this cost model is already solved; it is reused below.
    optimum: baseline ? false : o.optimum ? { timeLimit: o.timeLimit } : false,
    emit: o.emit,
    onProgress: ctx.services.onProgress,
  };
  let result = await planFusion(graph, popts);
  let json = result.json;
  // With a baseline whose groups are an optimum's plan (the plan pass emitted it, or its search
  // found one) cheaper than this search's, emit 'best' emits those groups (the get preset: the
  // schedule's final plan is then no worse than the plan pass's).
  const better = o.emit === 'best' && baseline?.optimum && baseline.totals.dramBytes <= baseline.optimum.dramBytes && baseline.totals.dramBytes < json.totals.dramBytes ? planOfGroups(graph, baseline) : undefined;
  if (better && checkPlan(graph, better, result.cost).ok) {
    json = emittedOptimum(fusionPlanJson(result.cost, better, popts, result.search), json.totals.dramBytes);
    result = { ...result, plan: better, json };
  }
  if (baseline?.optimum) {
    const opt = baseline.optimum.dramBytes;
    json.optimum = { ...baseline.optimum, gap: opt > 0 ? (json.totals.dramBytes - opt) / opt : 0, gapToBound: json.totals.dramBytes > 0 ? (json.totals.dramBytes - baseline.optimum.boundBytes) / json.totals.dramBytes : 0 };
  }
  if (!get) return { annotations: json, result };
  const { splitTreesFor } = await import('../get/rectifier.ts');
  const s = get.stats;
  // The baseline search's own plan (its schedule may carry the optimum's instead: emit 'best').
  const base = baseline ? (baseline.search.dramBytes ?? baseline.totals.dramBytes) : null;
  const getSection: GetRectification = {
    explainer: get.kind,
    invalidGroups: s.invalid,
    rectified: s.rectified,
    fallback: s.fallback,
    rectifyRate: get.rectifyRate(),
    explanations: s.explanations,
    explainMs: s.explainMs,
    baselineDramBytes: base,
    // GET's own plan against the random-split search's (either may have given way to the optimum's)
    improvement: base ? 1 - (json.search.dramBytes ?? json.totals.dramBytes) / base : null,
    splitTrees: splitTreesFor(get, result.plan),
  };
  return { annotations: { ...json, get: getSection }, result };
}

/** A plan record's groups as op ids of `graph`, or undefined when a node is not one of its ops
 * (the graph changed since). */
function planOfGroups(graph: OpGraph, plan: FusionPlanJson): Plan | undefined {
  const ids = new Map(graph.ops.map((op) => [op.node, op.id]));
  const out: Plan = [];
  for (const g of plan.groups) {
    const group: number[] = [];
    for (const n of g.nodes) {
      const id = ids.get(n);
      if (id === undefined) return undefined;
      group.push(id);
    }
    out.push(group);
  }
  return out;
}

export const planPass: Pass<PlanAnnotations> = {
  name: 'plan',
  description: 'Layer-fusion partitioning under LBDF/BRR: search a plan, report memory, DRAM, latency and the gap to the exact optimum',
  reads: ['graph', 'shapes', 'hardware'],
  writes: ['annotations:plan'],
  kind: 'fusion-plan',
  timings: PLAN_TIMINGS,
  options: PLAN_OPTIONS,
  async run(model: Model, ctx: PassContext) {
    const { annotations: a } = await runPlan(model, ctx, ctx.options.plan ?? {});
    const t = a.totals;
    const sub = subgraphTotals(a);
    // A model whose work sits inside If/Loop bodies would otherwise log only its few top-level groups.
    const inside = sub.subgraphs ? `; inside control flow: ${sub.planned} of ${sub.subgraphs} subgraphs planned, ${sub.groups} groups, DRAM ${(sub.dramBytes / 1e6).toFixed(3)} MB summed over the bodies, one run each` : '';
    const emitted = a.emitted === 'optimum' ? `; the exact optimum's plan (the ${a.search.method} search's: ${(a.search.dramBytes! / 1e6).toFixed(3)} MB)` : '';
    ctx.log(`plan: ${t.groups} groups, DRAM ${(t.dramBytes / 1e6).toFixed(3)} MB (layer-by-layer ${(t.layerByLayerDramBytes / 1e6).toFixed(3)} MB, -${(t.reduction * 100).toFixed(1)}%)${emitted}${inside}`);
    return { changed: false, annotations: a };
  },
};
