/**
 * The sweep's one door into the planner: builds a model's OpGraph, and plans one point (search,
 * then optionally the exact optimum) seeded by the plan of the previous, smaller buffer size of
 * its series. Every planner import of src/sweep/ is here, so that moving the planner
 * (now src/search/planner.ts) touches this file only.
 *
 * Monotonicity across buffer sizes: a group valid at buffer b is valid at every b' > b (both cost
 * models check F_beta <= beta, and F_beta does not grow with beta), and a plan's DRAM does not
 * grow with beta (BRR re-fetches less when more weights fit). So the previous point's best plan
 * is a valid plan here, at most as costly: the search's plan is the better of the two, and the
 * exact solver gets it as its incumbent (it never returns worse, and proves a plan optimal
 * without a solve when it meets the component bounds). The optimum is thus non-increasing along a
 * series by construction; a proven lower bound at a larger size is also one at every smaller
 * size (opt(b) >= opt(b') >= bound(b')), which the store's `points_monotone` view applies.
 */
import type { Model } from '../ir/graph.ts';
import type { Accelerator } from '../hardware/accelerator.ts';
import type { FusionScheme, OpGraph } from '../fusion/types.ts';
import { planningGraph } from '../fusion/op-graph.ts';
import { checkPlan, canonicalPlan, planDram, type Plan } from '../fusion/plan.ts';
import { planFusion, fusionPlanJson, type PlanFusionOptions } from '../search/planner.ts';
import { solveExact } from '../search/exact.ts';
import type { SweepOptions } from './grid.ts';

export type { OpGraph, Plan };

/** The fusion op graph of a model, as `dnnfuse plan` builds it (planningGraph: ops with
 * data-dependent shapes, a detector's post-processing, are left out with their reason). */
export function opGraphOf(model: Model): OpGraph {
  return planningGraph(model);
}

export interface PointPlan {
  /** The search's plan (or the seed, when the seed is cheaper): DRAM total and of fusable ops. */
  dramBytes: number;
  dramFusableBytes: number;
  lblBytes: number;
  lblFusableBytes: number;
  reduction: number;
  groups: number;
  maxMemoryBytes: number;
  latencyUs: number;
  /** True when the previous size's plan beat the search's plan here. */
  seeded: boolean;
  optimum: null | { dramBytes: number; boundBytes: number; status: 'optimal' | 'not-proven'; scope: 'all' | 'bounded'; groups: number };
  /** The best plan (the optimum's when computed), as groups of node names: the next point's seed. */
  plan: string[][];
}

/** Plans one point. `seed`: the previous point's best plan (node names), or undefined. */
export async function planPoint(graph: OpGraph, hardware: Accelerator, scheme: FusionScheme, o: SweepOptions, seed?: string[][]): Promise<PointPlan> {
  const popts: PlanFusionOptions = { hardware, scheme, search: o.search, seed: o.seed, budget: o.budget, optimum: false, warmStart: true };
  const r = await planFusion(graph, popts);
  let plan = r.plan;
  let json = r.json;
  let seeded = false;
  const seedPlan = seed ? planFromNames(graph, seed) : undefined;
  if (seedPlan && checkPlan(graph, seedPlan, r.cost).ok && planDram(r.cost, seedPlan) < planDram(r.cost, plan)) {
    plan = seedPlan;
    json = fusionPlanJson(r.cost, plan, popts, r.search);
    seeded = true;
  }
  let optimum: PointPlan['optimum'] = null;
  let best = plan;
  if (o.optimum) {
    const ex = await solveExact(r.cost, { timeLimit: o.timeLimit, incumbent: plan });
    best = ex.plan;
    optimum = { dramBytes: ex.dram, boundBytes: ex.bound, status: ex.status, scope: ex.scope, groups: ex.plan.length };
  }
  const t = json.totals;
  return {
    dramBytes: t.dramBytes,
    dramFusableBytes: t.dramBytesFusable,
    lblBytes: t.layerByLayerDramBytes,
    lblFusableBytes: t.layerByLayerDramBytesFusable,
    reduction: t.reduction,
    groups: t.groups,
    maxMemoryBytes: t.maxMemoryBytes,
    latencyUs: t.latencyUs,
    seeded,
    optimum,
    plan: canonicalPlan(best).map((g) => g.map((v) => graph.ops[v].node)),
  };
}

/** A plan given by node names, in this graph's op ids; undefined when a name is unknown. */
function planFromNames(graph: OpGraph, groups: string[][]): Plan | undefined {
  const id = new Map(graph.ops.map((op) => [op.node, op.id]));
  const out: Plan = [];
  for (const g of groups) {
    const ids = g.map((n) => id.get(n));
    if (ids.some((x) => x === undefined)) return undefined;
    out.push(ids as number[]);
  }
  return canonicalPlan(out);
}
