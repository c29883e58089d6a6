/**
 * The `get` pass: a preset of the plan pass (plan-fusion.ts, the one route to GET). It re-plans
 * with `rectifier: get-<explainer>` and the search settings the earlier `plan` pass recorded
 * (method, budget, k, warm start; same op graph, cost model and seed), reuses that plan's exact
 * optimum, and writes the plan pass's annotation shape; its `get` section compares the DRAM
 * with the plan pass's random-split plan (baselineDramBytes, improvement). Being the later
 * fusion plan of the run, it is the schedule's final plan: when GET's plan costs more than the
 * plan pass's plan and that one is an optimum's, the groups emitted are the optimum's
 * (`emitted: 'optimum'`, GET's own DRAM in `search.dramBytes`; plan option emit 'best').
 *
 * Options (ctx.options.get): explainer 'pg' (default: pre-trained, one pass per group) |
 * 'gnne' | 'rg' | 'cuts' (training-free control); topK; weightsDir. Equivalent without this
 * pass: `--option plan.rectifier=get-pg` (one plan, GET's).
 */
import type { Pass, PassContext } from './pass.ts';
import { optionsSchema } from './pass.ts';
import type { Model } from '../ir/graph.ts';
import type { FusionPlanJson } from '../search/planner.ts';
import { EXPLAINER_KINDS, type ExplainerKind } from '../get/explainers/kinds.ts';
import { runPlan, PLAN_TIMINGS, type PlanAnnotations, type PlanPassOptions } from './plan-fusion.ts';

/** Options of the get pass (`--option get.key=value`): the explainer, how many blamed edges to
 * cut, where the GET weights are. */
export interface GetPassOptions {
  explainer?: ExplainerKind;
  topK?: number;
  weightsDir?: string;
}

declare module './pass.ts' {
  interface PassOptionsMap {
    get: GetPassOptions;
  }
}

/** The get pass's annotations: the plan pass's shape, with its `get` section always present. */
export type GetPassAnnotations = PlanAnnotations & { get: NonNullable<PlanAnnotations['get']> };

/** The plan options the get preset runs with: the search settings `base` (the earlier plan
 * pass's plan) recorded, no optimum of its own (base's is reused), GET's rectifier. */
export function getPresetOptions(base: FusionPlanJson | undefined, o: GetPassOptions = {}): PlanPassOptions {
  return {
    search: base?.search.method ?? 'local',
    budget: base?.search.budget,
    k: base?.search.k,
    warmStart: base?.search.warmStart ?? true,
    optimum: false,
    // the final plan of the run: no worse than the plan pass's optimal plan (runPlanOn)
    emit: 'best',
    rectifier: `get-${o.explainer ?? 'pg'}`,
    topK: o.topK,
    weightsDir: o.weightsDir,
  };
}

export const getPlanPass: Pass<GetPassAnnotations> = {
  name: 'get',
  description: "GET: re-run the plan's search with explainer-guided SPLIT of invalid groups instead of the random split (a preset of plan)",
  reads: ['graph', 'shapes', 'hardware', 'annotations:plan'],
  writes: ['annotations:get'],
  kind: 'fusion-plan',
  timings: PLAN_TIMINGS,
  options: optionsSchema({ explainer: { enum: EXPLAINER_KINDS }, topK: { type: 'integer', minimum: 1 }, weightsDir: { type: 'string' } }),
  async run(model: Model, ctx: PassContext) {
    const o = ctx.options.get ?? {};
    const kind = o.explainer ?? 'pg';
    const base = ctx.annotations.plan as FusionPlanJson | undefined;
    const { annotations } = await runPlan(model, ctx, getPresetOptions(base, o), base);
    const a = annotations as GetPassAnnotations;
    const s = a.get;
    const baseline = s.baselineDramBytes;
    const own = a.emitted === 'optimum' ? `; the exact optimum's plan, as the plan pass's (GET's search: ${(a.search.dramBytes! / 1e6).toFixed(3)} MB)` : '';
    ctx.log(`get (${kind}): ${a.totals.groups} groups, DRAM ${(a.totals.dramBytes / 1e6).toFixed(3)} MB${baseline ? ` (plan with random split: ${(baseline / 1e6).toFixed(3)} MB)` : ''}${own}; ${s.invalidGroups} invalid groups, ${s.rectified} split along explained edges`);
    return { changed: false, annotations: a };
  },
};
