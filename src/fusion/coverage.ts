/**
 * Coverage of a fusion plan over the graph it was planned on: every node of the main graph is
 * either in exactly one fusion group or listed with the reason the planner does not treat it
 * as an op (the op graph's rules, src/fusion/op-graph.ts: constants, shape queries, aliases).
 * A runtime executing the schedule must run the listed nodes itself; nothing is left out
 * silently.
 */
import { subgraphPath, type Graph, type Model, type Node } from '../ir/graph.ts';
import { graphConstants } from './op-graph.ts';

export interface Coverage {
  nodes: number;
  /** Nodes in exactly one group. */
  covered: number;
  /** Nodes in no group, with why (in graph order). */
  uncovered: { node: string; op: string; reason: string }[];
  /** Nodes named by more than one group (must be empty), and group members not in the graph. */
  duplicated: string[];
  unknown: string[];
}

function reasonOf(g: Graph, n: Node, isConst: (v: string) => boolean): string {
  if (n.opType === 'Constant') return 'constant: its value is a weight or parameter of the ops that read it';
  if (n.opType === 'Shape' || n.opType === 'Size') return `shape query: a parameter of the ops that read it (not folded: the shape of '${n.inputs[0]}' is not static)`;
  if (n.opType === 'Identity' || n.opType === 'Dropout') return g.isGraphOutput(n.outputs[0]) ? 'alias of its input (kept: it names a graph output)' : 'alias of its input (no computation)';
  if (n.opType === 'DequantizeLinear' && n.inputs.filter((i) => i).every(isConst)) return 'dequantizes a constant integer weight: a weight of the ops that read it';
  if (n.inputs.filter((i) => i).every(isConst)) return 'all inputs constant: a parameter computed once, not a layer';
  if (n.subgraphs().length) return 'control flow: planned as no group';
  return 'not placed in any group by the planner';
}

/** Coverage of `groups` (node names per group) over `model`'s main graph; `unplanned` are the
 * nodes the planner left out with their reason (data-dependent shapes), reported as such. */
export function planCoverage(model: Model, groups: { nodes: string[] }[], unplanned: { node: string; reason: string }[] = []): Coverage {
  const g = model.graph;
  const leftOut = new Map(unplanned.map((u) => [u.node, u.reason]));
  const count = new Map<string, number>();
  for (const gr of groups) for (const name of gr.nodes) count.set(name, (count.get(name) ?? 0) + 1);
  const names = new Set(g.nodes.map((n) => n.name));
  // Constness as the op graph sees it: initializers, Constant/Shape/Size outputs, and outputs of
  // nodes whose inputs are all constant.
  const constant = new Set<string>([...g.initializers.keys()].filter((k) => !g.isGraphInput(k)));
  const isConst = (v: string) => !v || constant.has(v);
  for (const n of g.topoOrder()) {
    if (n.opType === 'Constant' || n.opType === 'Shape' || n.opType === 'Size' || n.inputs.filter((i) => i).every(isConst)) for (const o of n.outputs) if (o) constant.add(o);
  }
  const uncovered: Coverage['uncovered'] = [];
  let covered = 0;
  for (const n of g.nodes) {
    const c = count.get(n.name) ?? 0;
    if (c >= 1) covered++;
    else uncovered.push({ node: n.name, op: n.opType, reason: leftOut.has(n.name) ? `not planned: ${leftOut.get(n.name)}` : reasonOf(g, n, isConst) });
  }
  return {
    nodes: g.nodes.length,
    covered,
    uncovered,
    duplicated: [...count.entries()].filter(([, c]) => c > 1).map(([k]) => k),
    unknown: [...count.keys()].filter((k) => !names.has(k)),
  };
}

/** Coverage of one subgraph (If branch, Loop/Scan body) by its own plan. */
export interface SubgraphCoverage extends Coverage {
  /** `If_25.else_branch`, nested `If_25.else_branch/If_651.then_branch`. */
  path: string;
}

/** The subgraph plans of a plan, as the plan pass records them (search/planner.ts): under the
 * groups of control-flow nodes and under the control-flow nodes it left out. */
interface SubgraphPlanRecord { path: string; plan: PlanWithSubgraphs | null; reason?: string; unplanned?: { node: string; reason: string }[] }
interface PlanWithSubgraphs {
  groups: { nodes: string[]; subgraphs?: SubgraphPlanRecord[] }[];
  unplanned?: { node: string; reason: string; subgraphs?: SubgraphPlanRecord[] }[];
}

/** Coverage of every subgraph of `model` (nested ones included) by the subgraph plans recorded
 * in `plan` (the main plan): each subgraph node is in exactly one group of its subgraph's plan
 * or listed with why (as in the main graph; a subgraph without a plan, or of a control-flow node
 * that is not planned, gives that reason for its every node). */
export function subgraphCoverage(model: Model, plan: PlanWithSubgraphs): SubgraphCoverage[] {
  const out: SubgraphCoverage[] = [];
  const walk = (g: Graph, p: PlanWithSubgraphs | undefined, prefix: string, outer: ReadonlyMap<string, number>, why: string | undefined): void => {
    const constants = graphConstants(g, outer);
    const records = new Map<string, SubgraphPlanRecord[] | undefined>();
    for (const gr of p?.groups ?? []) for (const n of gr.nodes) records.set(n, gr.subgraphs);
    for (const u of p?.unplanned ?? []) records.set(u.node, u.subgraphs);
    for (const n of g.nodes) {
      for (const { attribute, graph: sub } of n.namedSubgraphs()) {
        const path = subgraphPath(prefix, n, attribute);
        const rec = records.get(n.name)?.find((x) => x.path === path);
        const reason = why ?? (rec ? (rec.plan ? undefined : `subgraph not planned: ${rec.reason ?? 'no plan'}`) : `its control-flow node '${n.name}' is in no group of the plan`);
        const sgroups = rec?.plan?.groups ?? [];
        const unplanned = rec?.plan?.unplanned ?? rec?.unplanned ?? [];
        const subConst = graphConstants(sub, constants);
        const count = new Map<string, number>();
        for (const gr of sgroups) for (const name of gr.nodes) count.set(name, (count.get(name) ?? 0) + 1);
        const leftOut = new Map(unplanned.map((u) => [u.node, u.reason]));
        const names = new Set(sub.nodes.map((x) => x.name));
        const uncovered: Coverage['uncovered'] = [];
        let covered = 0;
        for (const m of sub.nodes) {
          if ((count.get(m.name) ?? 0) >= 1) covered++;
          else uncovered.push({ node: m.name, op: m.opType, reason: leftOut.has(m.name) ? `not planned: ${leftOut.get(m.name)}` : reason && !subConst.has(m.outputs[0] ?? '') ? reason : reasonOf(sub, m, (v) => !v || subConst.has(v)) });
        }
        out.push({ path, nodes: sub.nodes.length, covered, uncovered, duplicated: [...count.entries()].filter(([, c]) => c > 1).map(([k]) => k), unknown: [...count.keys()].filter((k) => !names.has(k)) });
        walk(sub, rec?.plan ?? undefined, path, constants, reason);
      }
    }
  };
  walk(model.graph, plan, '', new Map(), undefined);
  return out;
}
