/**
 * The `get` pass: re-runs the plan pass's search with GET's SPLIT as the rectifier of invalid
 * groups (src/get/: an explainer ranks the edges responsible for "invalid", the
 * cost model picks among the cuts) instead of the published random split, on the same op
 * graph, cost model, search method, budget and seed. Its annotations are a full fusion plan
 * (the same shape as the plan pass's, so it becomes the schedule's final plan) plus a `get`
 * section: explainer, rectifier statistics (invalid groups, rectified along explained edges,
 * random fallbacks, rectify rate) and the DRAM of the plan pass's plan for comparison.
 *
 * This file only wires GET into the pipeline (SPLIT, the rectifier and the explainers are in
 * src/get/). Options (ctx.options.get): explainer 'pg' (default: pre-trained, one pass per
 * group) | 'gnne' | 'rg' | 'cuts' (training-free control); topK; weightsDir.
 */
import type { Pass, PassContext } from './pass.ts';
import type { Model } from '../ir/graph.ts';
import { inferShapes, staticShape } from '../analysis/shapes.ts';
import { buildOpGraph } from '../fusion/op-graph.ts';
import { planFusion, type FusionPlanJson } from '../search/planner.ts';
import { makeRectifier, splitTreesFor, type GetKind } from '../get/rectifier.ts';
import { EXPLAINER_KINDS } from '../get/explainers/common.ts';
import { initTf } from '../get/tf.ts';
import { resolveAccelerator } from '../hardware/load.ts';
import { badInput } from '../errors.ts';
import type { SearchMethod } from '../search/common.ts';
import type { GetRectification } from './plan-fusion.ts';

export interface GetPassAnnotations extends FusionPlanJson {
  get: GetRectification & {
    /** DRAM of the plan pass's plan (random-split rectifier), when it ran earlier. */
    baselineDramBytes: number | null;
    /** 1 - dram / baseline. */
    improvement: number | null;
  };
}


export const getPlanPass: Pass<GetPassAnnotations> = {
  name: 'get',
  description: "GET: re-run the plan's search with explainer-guided SPLIT of invalid groups instead of the random split",
  reads: ['graph', 'shapes', 'hardware', 'annotations:plan'],
  writes: ['annotations:get'],
  async run(model: Model, ctx: PassContext) {
    const o = (ctx.options.get ?? {}) as { explainer?: string; topK?: number; weightsDir?: string };
    const kind = (o.explainer ?? 'pg') as GetKind;
    if (!(EXPLAINER_KINDS as readonly string[]).includes(kind)) throw badInput(`get: explainer '${String(o.explainer)}' is not one of ${EXPLAINER_KINDS.join(', ')}`);
    if (o.topK !== undefined && !(Number.isInteger(Number(o.topK)) && Number(o.topK) >= 1)) throw badInput(`get: topK must be a positive integer, got ${String(o.topK)}`);
    const base = ctx.annotations.plan as FusionPlanJson | undefined;
    const planOpts = (ctx.options.plan ?? {}) as Record<string, unknown>;
    const hardware = ctx.hardware ?? resolveAccelerator(undefined);
    await initTf();
    inferShapes(model);
    const graph = buildOpGraph(model, { shapeOf: (v) => staticShape(model, v) });
    const rectifier = makeRectifier(kind, { topK: o.topK !== undefined ? Number(o.topK) : undefined, weightsDir: o.weightsDir });
    const r = await planFusion(graph, {
      hardware,
      scheme: base?.scheme ?? ctx.scheme ?? 'lbdf',
      search: (base?.search.method ?? (planOpts.search as SearchMethod | undefined) ?? 'local') as SearchMethod,
      seed: ctx.seed,
      budget: base?.search.budget ?? (planOpts.budget as number | undefined),
      k: base?.search.k ?? (planOpts.k as number | undefined),
      warmStart: base?.search.warmStart ?? true,
      rectifier,
      rectifierName: `get-${kind}`,
      // The plan pass already solved the optimum of this cost model; GET's plan is compared to it.
      optimum: false,
    });
    const json = r.json;
    if (base?.optimum) {
      const opt = base.optimum.dramBytes;
      json.optimum = { ...base.optimum, gap: opt > 0 ? (json.totals.dramBytes - opt) / opt : 0, gapToBound: json.totals.dramBytes > 0 ? (json.totals.dramBytes - base.optimum.boundBytes) / json.totals.dramBytes : 0 };
    }
    const s = rectifier.stats;
    const baseline = base?.totals.dramBytes ?? null;
    const annotations: GetPassAnnotations = {
      ...json,
      get: {
        explainer: kind,
        invalidGroups: s.invalid,
        rectified: s.rectified,
        fallback: s.fallback,
        rectifyRate: rectifier.rectifyRate(),
        explanations: s.explanations,
        explainMs: s.explainMs,
        baselineDramBytes: baseline,
        improvement: baseline ? 1 - json.totals.dramBytes / baseline : null,
        splitTrees: splitTreesFor(rectifier, r.plan),
      },
    };
    ctx.log(`get (${kind}): ${json.totals.groups} groups, DRAM ${(json.totals.dramBytes / 1e6).toFixed(3)} MB${baseline ? ` (plan with random split: ${(baseline / 1e6).toFixed(3)} MB)` : ''}; ${s.invalid} invalid groups, ${s.rectified} split along explained edges`);
    return { changed: false, annotations };
  },
};
