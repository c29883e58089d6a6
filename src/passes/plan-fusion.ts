/**
 * The `plan` pass: layer-fusion partitioning (SPEC section 1). Reads static shapes and the
 * accelerator from the context, builds the OpGraph, runs the chosen search under the chosen
 * cost model (LBDF/BRR), checks the plan, and writes the schedule's fusion part (groups in
 * execution order with members, memory breakdown, DRAM, latency, totals, optimum + gap) as its
 * annotations. The graph is not modified.
 *
 * Options (ctx.options.plan): search ('lbl'|'greedy'|'random'|'local'|'nsga2'|'exact', default
 * 'local'), budget (default 1000), k (10), warmStart (default true: local/NSGA-II start from the
 * greedy plan; false = the published setting, random initial plans), optimum (default true:
 * solve the exact optimum for the gap), timeLimit (seconds for the exact solver, default 30),
 * rectifier (a Rectifier function; default randomSplit) and rectifierName. When the rectifier is
 * a GET rectifier (src/get/rectifier.ts makeRectifier: `dnnfuse plan --get ...`), the
 * annotations gain a `get` section: explainer, rectifier statistics, rectify rate and the SPLIT
 * trees behind the final plan's groups.
 */
import type { Pass, PassContext } from './pass.ts';
import type { Model } from '../ir/graph.ts';
import type { Rectifier } from '../fusion/types.ts';
import { inferShapes, staticShape } from '../analysis/shapes.ts';
import { buildOpGraph } from '../fusion/op-graph.ts';
import { planFusion, SEARCH_METHODS, type FusionPlanJson, type PlanFusionOptions } from '../search/planner.ts';
import type { SearchMethod } from '../search/common.ts';
import { badInput } from '../errors.ts';
import { resolveAccelerator } from '../hardware/load.ts';
import type { GetRectifier, GetKind, SplitTree } from '../get/rectifier.ts';

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
  /** The SPLIT trees whose leaves are groups of the final plan (at most 200), op ids in the
   * fusion op graph's topological numbering. */
  splitTrees: SplitTree[];
}

function isGetRectifier(r: Rectifier | undefined): r is GetRectifier {
  return typeof r === 'function' && (r as Partial<GetRectifier>).trees instanceof Map && typeof (r as Partial<GetRectifier>).rectifyRate === 'function';
}

export interface PlanPassOptions {
  search?: SearchMethod;
  budget?: number;
  k?: number;
  warmStart?: boolean;
  optimum?: boolean;
  timeLimit?: number;
  rectifier?: Rectifier;
  rectifierName?: string;
  onProgress?: PlanFusionOptions['onProgress'];
}

/** Options of the plan pass from a context, validated (one-line errors naming the option). */
export function planOptions(ctx: PassContext): PlanPassOptions {
  const o = (ctx.options.plan ?? {}) as Record<string, unknown>;
  const search = (o.search ?? 'local') as SearchMethod;
  if (!SEARCH_METHODS.includes(search)) throw badInput(`plan: search '${String(o.search)}' is not one of ${SEARCH_METHODS.join(', ')}`);
  const posInt = (name: string, v: unknown, d: number) => {
    if (v === undefined) return d;
    const x = Number(v);
    if (!Number.isInteger(x) || x < 1) throw badInput(`plan: ${name} must be a positive integer, got ${String(v)}`);
    return x;
  };
  return {
    search,
    budget: posInt('budget', o.budget, 1000),
    k: posInt('k', o.k, 10),
    warmStart: o.warmStart === undefined ? true : Boolean(o.warmStart),
    optimum: o.optimum === undefined ? true : Boolean(o.optimum),
    timeLimit: o.timeLimit === undefined ? 30 : Number(o.timeLimit),
    rectifier: typeof o.rectifier === 'function' ? (o.rectifier as Rectifier) : undefined,
    rectifierName: typeof o.rectifierName === 'string' ? o.rectifierName : undefined,
    onProgress: typeof o.onProgress === 'function' ? (o.onProgress as PlanFusionOptions['onProgress']) : undefined,
  };
}

export const planPass: Pass<FusionPlanJson & { get?: GetRectification }> = {
  name: 'plan',
  description: 'Layer-fusion partitioning under LBDF/BRR: search a plan, report memory, DRAM, latency and the gap to the exact optimum',
  reads: ['graph', 'shapes', 'hardware'],
  writes: ['annotations:plan'],
  async run(model: Model, ctx: PassContext) {
    const o = planOptions(ctx);
    const hardware = ctx.hardware ?? resolveAccelerator(undefined);
    inferShapes(model);
    const graph = buildOpGraph(model, { shapeOf: (v) => staticShape(model, v) });
    const r = await planFusion(graph, {
      hardware,
      scheme: ctx.scheme ?? 'lbdf',
      search: o.search!,
      seed: ctx.seed,
      budget: o.budget,
      k: o.k,
      warmStart: o.warmStart,
      rectifier: o.rectifier,
      rectifierName: o.rectifierName,
      optimum: o.optimum ? { timeLimit: o.timeLimit } : false,
      onProgress: o.onProgress,
    });
    const t = r.json.totals;
    ctx.log(`plan: ${t.groups} groups, DRAM ${(t.dramBytes / 1e6).toFixed(3)} MB (layer-by-layer ${(t.layerByLayerDramBytes / 1e6).toFixed(3)} MB, -${(t.reduction * 100).toFixed(1)}%)`);
    if (isGetRectifier(o.rectifier)) {
      // Loaded lazily: get/rectifier.ts pulls in tfjs, which plain plans do not need.
      const { splitTreesFor } = await import('../get/rectifier.ts');
      const rect = o.rectifier;
      const s = rect.stats;
      const get: GetRectification = {
        explainer: rect.kind,
        invalidGroups: s.invalid,
        rectified: s.rectified,
        fallback: s.fallback,
        rectifyRate: rect.rectifyRate(),
        explanations: s.explanations,
        explainMs: s.explainMs,
        splitTrees: splitTreesFor(rect, r.plan),
      };
      return { changed: false, annotations: { ...r.json, get } };
    }
    return { changed: false, annotations: r.json };
  },
};
