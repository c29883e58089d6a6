/**
 * Planning inside control flow: each static subgraph (If branch, Loop/Scan body, nested ones
 * included) of a control-flow node gets a fusion plan of its own, recorded under that node's
 * group when the main plan holds the node as an opaque op (`FusionGroupJson.subgraphs`), or
 * under its `unplanned` entry when the node's own outputs have data-dependent shapes (a
 * greedy-decode Loop whose output sequence grows with a run-time trip count: its body runs on
 * static shapes). Nothing is fused across the control-flow boundary: a subgraph's plan holds
 * only its own nodes; what it reads from the enclosing graph comes in as feature maps from DRAM
 * (or as weights, when it is a constant there) and its outputs go back to DRAM, as the node's
 * outputs do in the main plan.
 *
 * Shapes come from the main graph's shape inference (`subgraphShapes`: each subgraph inferred
 * with the types its node feeds it). A subgraph node whose feature maps are not static is left
 * out of its plan with the reason (`unplanned`), never a failure; a subgraph with nothing left
 * to plan, or one the planner cannot plan, records why instead of a plan.
 *
 * The search is the main plan's (method, seed, budget, k, warm start) with the random split as
 * rectifier and no exact optimum (a MILP per subgraph would multiply the time of the pass; the
 * gap is a figure of the main plan). Subgraph plans record no wall time (search.ms 0), so a
 * schedule stays byte-identical for the same seed.
 */
import { subgraphPath, type Graph, type Model } from '../ir/graph.ts';
import { isDnnfuseError } from '../errors.ts';
import { analyzeShapes, subgraphFailure, subgraphShapes } from '../analysis/shapes.ts';
import { buildOpGraph, graphConstants } from '../fusion/op-graph.ts';
import { planFusion, type FusionGroupJson, type FusionPlanJson, type PlanFusionOptions, type SubgraphPlanJson, type UnplannedNodeJson } from './planner.ts';

/** The part of a plan that subgraph plans hang under: its groups and the nodes it left out. */
type PlanLike = { groups: readonly FusionGroupJson[]; unplanned?: readonly UnplannedNodeJson[] };

type SubOptions = Omit<PlanFusionOptions, 'rectifier' | 'rectifierName' | 'optimum' | 'onProgress'>;

const isStatic = (s: readonly unknown[] | undefined) => !!s && s.every((d) => typeof d === 'number' && d >= 0);

/** Plans one subgraph; never throws for the subgraph's own reasons (they become `reason`). */
async function planSubgraph(sub: Graph, path: string, attribute: string, outer: ReadonlyMap<string, number>, opts: SubOptions): Promise<SubgraphPlanJson> {
  const base = { attribute, path, graph: sub.name, nodes: sub.nodes.length };
  const shapes = subgraphShapes(sub);
  if (!shapes) {
    const failure = subgraphFailure(sub);
    return { ...base, plan: null, reason: failure ? `it cannot run at these input shapes: ${failure}` : 'shape inference did not reach this subgraph' };
  }
  const constants = graphConstants(sub, outer);
  let og;
  try {
    og = buildOpGraph(sub, {
      outerConstants: outer,
      shapeOf: (v) => {
        const s = shapes.types.get(v)?.shape;
        if (!isStatic(s)) throw new Error(`'${v}' is not static`);
        return s as number[];
      },
      dataDependent: (v) => (isStatic(shapes.types.get(v)?.shape) ? undefined : shapes.reasons.get(v) ?? 'not static'),
    });
  } catch (e) {
    return { ...base, plan: null, reason: `not planned: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
  if (!og.ops.length) {
    const why = og.unplanned?.length ? `no op has a static feature map (e.g. '${og.unplanned[0].node}': ${og.unplanned[0].reason})` : 'no op to plan (constants, shape arithmetic and aliases only)';
    return { ...base, plan: null, reason: why, ...(og.unplanned?.length ? { unplanned: og.unplanned } : {}) };
  }
  let json: FusionPlanJson;
  try {
    json = (await planFusion(og, { ...opts, optimum: false })).json;
  } catch (e) {
    if (!isDnnfuseError(e)) throw e;
    return { ...base, plan: null, reason: `not planned: ${e.message}` };
  }
  json.search.ms = 0;
  await attachSubgraphPlans(sub, json, path, constants, opts);
  return { ...base, plan: json };
}

/** Adds `subgraphs` (one plan per subgraph) to every opaque group of `plan` (planned on `graph`)
 * and to every control-flow node the plan left out, in graph order. */
async function attachSubgraphPlans(graph: Graph, plan: { groups: FusionGroupJson[]; unplanned?: UnplannedNodeJson[] }, prefix: string, constants: ReadonlyMap<string, number>, opts: SubOptions): Promise<void> {
  const holders = new Map<string, { subgraphs?: SubgraphPlanJson[] }>();
  for (const g of plan.groups) if (g.opaque && g.nodes.length === 1) holders.set(g.nodes[0], g);
  for (const u of plan.unplanned ?? []) holders.set(u.node, u);
  for (const n of graph.nodes) {
    const holder = holders.get(n.name);
    if (!holder) continue;
    const subs: SubgraphPlanJson[] = [];
    for (const { attribute, graph: sub } of n.namedSubgraphs()) {
      subs.push(await planSubgraph(sub, subgraphPath(prefix, n, attribute), attribute, constants, opts));
    }
    if (subs.length) holder.subgraphs = subs;
  }
}

/** Plans the subgraphs of the control-flow nodes of `plan` (the main graph's plan of `model`),
 * in place: each opaque group, and each control-flow node the plan left out, gets `subgraphs`. */
export async function planSubgraphs(model: Model, plan: FusionPlanJson, opts: SubOptions): Promise<void> {
  if (!model.graph.nodes.some((n) => n.subgraphs().length)) return;
  // Re-run on the whole model: a rewrite pass run on a subgraph alone (runOnEveryGraph) infers
  // its nested subgraphs without the enclosing graph's types, and may have been the last to.
  model.graph.invalidate();
  analyzeShapes(model);
  await attachSubgraphPlans(model.graph, plan, '', graphConstants(model.graph), opts);
}

/** Calls `f` on every subgraph plan under `plan` (its groups' and its left-out nodes'), nested
 * ones included, outer before inner. */
function forEachSubgraphPlan(plan: PlanLike, f: (s: SubgraphPlanJson) => void): void {
  for (const holder of [...plan.groups, ...(plan.unplanned ?? [])]) {
    for (const s of holder.subgraphs ?? []) {
      f(s);
      if (s.plan) forEachSubgraphPlan(s.plan, f);
    }
  }
}

/** What the plans inside control flow hold, nested ones included: subgraphs, those with a plan,
 * their groups and DRAM (a log line's figures; the schedule has the plans themselves). */
export function subgraphTotals(plan: PlanLike): { subgraphs: number; planned: number; groups: number; dramBytes: number } {
  const t = { subgraphs: 0, planned: 0, groups: 0, dramBytes: 0 };
  forEachSubgraphPlan(plan, (s) => {
    t.subgraphs++;
    if (!s.plan) return;
    t.planned++;
    t.groups += s.plan.groups.length;
    t.dramBytes += s.plan.totals.dramBytes;
  });
  return t;
}

/** The groups of every subgraph plan under `plan` (nested ones included), by subgraph path:
 * what `compile` embeds inside control flow (onnx/functions.ts `EmbedOptions.subgraphs`). */
export function subgraphGroups(plan: PlanLike): { path: string; groups: { id: number; nodes: string[] }[] }[] {
  const out: { path: string; groups: { id: number; nodes: string[] }[] }[] = [];
  forEachSubgraphPlan(plan, (s) => {
    if (s.plan) out.push({ path: s.path, groups: s.plan.groups.map((x) => ({ id: x.id, nodes: x.nodes })) });
  });
  return out;
}
