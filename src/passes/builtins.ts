/**
 * The built-in passes, in one list the registry loads. The rewrites and analyses live one per
 * file (fold-bn.ts, collapse-branches.ts, plan-fusion.ts, ...); this file only gathers them,
 * plus the two housekeeping passes the pass manager itself provides (dce, verify).
 */
import type { Pass } from './pass.ts';
import { irViolation } from './manager.ts';
import { verificationFailed } from '../errors.ts';

/** Dead-code elimination: drops nodes no graph output depends on and unused initializers. */
export const dcePass: Pass<{ removedNodes: number }> = {
  name: 'dce',
  description: 'Remove nodes that no graph output depends on, and initializers nobody reads',
  reads: ['graph'],
  writes: ['graph', 'annotations:dce'],
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
  run(model) {
    const bad = irViolation(model);
    if (bad) throw verificationFailed(`verify: ${bad}`);
    return { changed: false, annotations: { ok: true, nodes: model.graph.nodes.length } };
  },
};

export const builtinPasses: Pass[] = [dcePass, verifyPass];
