/**
 * Coverage of a fusion plan over the graph it was planned on: every node of the main graph is
 * either in exactly one fusion group or listed with the reason the planner does not treat it
 * as an op (the op graph's rules, src/fusion/op-graph.ts: constants, shape queries, aliases).
 * A runtime executing the schedule must run the listed nodes itself; nothing is left out
 * silently.
 */
import type { Model, Node } from '../ir/graph.ts';

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

function reasonOf(model: Model, n: Node, isConst: (v: string) => boolean): string {
  const g = model.graph;
  if (n.opType === 'Constant') return 'constant: its value is a weight or parameter of the ops that read it';
  if (n.opType === 'Shape' || n.opType === 'Size') return `shape query: a parameter of the ops that read it (not folded: the shape of '${n.inputs[0]}' is not static)`;
  if (n.opType === 'Identity' || n.opType === 'Dropout') return g.isGraphOutput(n.outputs[0]) ? 'alias of its input (kept: it names a graph output)' : 'alias of its input (no computation)';
  if (n.opType === 'DequantizeLinear' && n.inputs.filter((i) => i).every(isConst)) return 'dequantizes a constant integer weight: a weight of the ops that read it';
  if (n.inputs.filter((i) => i).every(isConst)) return 'all inputs constant: a parameter computed once, not a layer';
  if (n.attributes.some((a) => a.type === 'graph' || a.type === 'graphs')) return 'control flow: planned as no group';
  return 'not placed in any group by the planner';
}

/** Coverage of `groups` (node names per group) over `model`'s main graph. */
export function planCoverage(model: Model, groups: { nodes: string[] }[]): Coverage {
  const g = model.graph;
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
    else uncovered.push({ node: n.name, op: n.opType, reason: reasonOf(model, n, isConst) });
  }
  return {
    nodes: g.nodes.length,
    covered,
    uncovered,
    duplicated: [...count.entries()].filter(([, c]) => c > 1).map(([k]) => k),
    unknown: [...count.keys()].filter((k) => !names.has(k)),
  };
}
