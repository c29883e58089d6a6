/**
 * The built-in passes, in one list the registry loads. The rewrites and analyses live one per
 * file (fold-bn.ts, collapse-branches.ts, plan-fusion.ts, ...); this file only gathers them,
 * plus the two housekeeping passes the pass manager itself provides (dce, verify).
 */
import type { Pass } from './pass.ts';
import { optionsSchema } from './pass.ts';
import { irViolation } from './manager.ts';
import { verificationFailed } from '../errors.ts';
import { analyzeShapes } from '../analysis/shapes.ts';
import { foldBnPass } from './fold-bn.ts';
import { collapseBranchesPass } from './collapse-branches.ts';
import { expandBranchesPass } from './expand-branches.ts';
import { sgsPass } from './sgs.ts';
import { learnabilityPass } from './learnability.ts';
import { planPass } from './plan-fusion.ts';
import { getPlanPass } from './get.ts';
import { foldConstantsPass } from './fold-constants.ts';
import { onEveryGraph } from './subgraphs.ts';

/** Dead-code elimination: drops nodes no graph output depends on and unused initializers. */
export const dcePass: Pass<{ removedNodes: number }> = {
  name: 'dce',
  description: 'Remove nodes that no graph output depends on, and initializers nobody reads',
  reads: ['graph'],
  writes: ['graph', 'annotations:dce'],
  kind: 'rewrite',
  options: optionsSchema(),
  run(model) {
    const inits = model.graph.initializers.size;
    const removedNodes = model.graph.eliminateDeadCode();
    return { changed: removedNodes > 0 || model.graph.initializers.size !== inits, annotations: { removedNodes } };
  },
};

/** Checks the IR invariants (every input defined, single producers, acyclic, outputs produced). */
export const verifyPass: Pass<{ ok: true; nodes: number }> = {
  name: 'verify',
  description: 'Check the graph is well formed (defined inputs, single producers, acyclic, outputs produced)',
  reads: ['graph'],
  writes: ['annotations:verify'],
  kind: 'check',
  options: optionsSchema(),
  run(model) {
    const bad = irViolation(model);
    if (bad) throw verificationFailed(`verify: ${bad}`);
    return { changed: false, annotations: { ok: true, nodes: model.graph.nodes.length } };
  },
};

/** Shape inference as a pipeline step: fills value_info so that later passes and the written
 * model carry every intermediate shape; annotates how many values are fully static. */
export const shapesPass: Pass<{ values: number; static: number; notStatic: { value: string; reason: string }[] }> = {
  name: 'shapes',
  description: 'Infer the dtype and shape of every value (fills value_info)',
  reads: ['graph'],
  writes: ['annotations:shapes'],
  kind: 'analysis',
  options: optionsSchema(),
  run(model) {
    const a = analyzeShapes(model);
    let stat = 0;
    for (const t of a.types.values()) if (t.shape && t.shape.every((d) => typeof d === 'number')) stat++;
    const notStatic = [...a.reasons.entries()].slice(0, 20).map(([value, reason]) => ({ value, reason }));
    // value_info is written by inference; the graph structure is unchanged.
    return { changed: false, annotations: { values: a.types.size, static: stat, notStatic } };
  },
};

// Graph rewrites run in every graph, If/Loop/Scan subgraphs included (subgraphs.ts); constant
// folding runs on the main graph only (it leaves a graph holding subgraphs as it is).
export const builtinPasses: Pass[] = [onEveryGraph(dcePass) as Pass, verifyPass, shapesPass, foldConstantsPass as Pass, onEveryGraph(foldBnPass) as Pass, onEveryGraph(collapseBranchesPass) as Pass, expandBranchesPass as Pass, sgsPass as Pass, planPass as Pass, getPlanPass as Pass, learnabilityPass as Pass];
