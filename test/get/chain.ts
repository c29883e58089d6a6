/** Hand-made inputs shared by the SPLIT and guard tests: a chain of ops and an explainer that
 * ranks a group's edges by where they sit in it. */
import { OpGraphBuilder } from '../../src/get/synthetic.ts';
import { groupEdges } from '../../src/fusion/groups.ts';
import type { Explainer } from '../../src/get/explainers/index.ts';
import type { Group, OpGraph } from '../../src/fusion/types.ts';

/** A chain of ops with the given weight bytes (1-byte elements, tiny maps). */
export function chain(weights: number[]): OpGraph {
  const b = new OpGraphBuilder();
  let x = b.input([1, 1, 1, 1]);
  for (const w of weights) x = b.op('Conv', [x], [1, 1, 1, 1], { weights: w });
  return b.build();
}

/** An explainer ranking a group's edges by the distance of their midpoint to the group's middle:
 * nearest first ('middle'), or farthest first ('ends': on a chain SPLIT then peels one op off at
 * a time). Ties by the first op id. */
export function rankFromMiddle(first: 'middle' | 'ends'): Explainer {
  const sign = first === 'middle' ? 1 : -1;
  return {
    kind: 'cuts',
    explain(group: Group, cost) {
      const edges = groupEdges(cost.graph, group);
      const mid = (group[0] + group[group.length - 1]) / 2;
      const dist = (e: [number, number]) => Math.abs((e[0] + e[1]) / 2 - mid);
      edges.sort((a, b) => sign * (dist(a) - dist(b)) || a[0] - b[0]);
      return { method: 'cuts', edges, scores: edges.map((_, i) => -i), pInvalid: 1 };
    },
  };
}
