/**
 * The training-free control: try every single cut of the group with the ground-truth cost
 * model. Each in-group edge stands for its cut (groups.ts cutPartition, skip-edge rules); the
 * cut scores 2 when both parts are valid, 1 when one is, 0 when none is, plus a tie-break in
 * (0, 1) that follows SPLIT's own preference in that category: both valid -> low
 * F_D(part a) + F_D(part b); one valid -> more ops in the valid part; none -> low F_D. Edges whose cut has no connected two-way
 * partition score -1. Groups with more than `maxEdges` edges are scored on the first
 * `maxEdges` edges in topological order only (the rest get -1), so the control stays cheap.
 */
import type { CostModel, Group } from '../../fusion/types.ts';
import { GroupCutter, groupEdges } from '../../fusion/groups.ts';
import type { Explainer, Explanation } from './common.ts';

export class CutsExplainer implements Explainer {
  readonly kind = 'cuts' as const;
  constructor(private maxEdges = 256) {}

  explain(group: Group, cost: CostModel): Explanation {
    const edges = groupEdges(cost.graph, group);
    const whole = Math.max(1, cost.dram(group));
    const cutter = new GroupCutter(cost.graph, group);
    const scored = edges.map((e, k) => {
      if (k >= this.maxEdges) return { e, s: -1 };
      const cut = cutter.cut(e);
      if (!cut) return { e, s: -1 };
      const va = cost.valid(cut.a);
      const vb = cost.valid(cut.b);
      const cat = va && vb ? 2 : va || vb ? 1 : 0;
      const d = cost.dram(cut.a) + cost.dram(cut.b);
      const tie = cat === 1 ? (va ? cut.a : cut.b).length / (group.length + 1) : 1 / (1 + d / whole);
      return { e, s: cat + tie };
    });
    scored.sort((x, y) => y.s - x.s || x.e[0] - y.e[0] || x.e[1] - y.e[1]);
    return { method: 'cuts', edges: scored.map((x) => x.e), scores: scored.map((x) => x.s), pInvalid: cost.valid(group) ? 0 : 1 };
  }
}
