/**
 * collapse-branches: merges parallel conv branches summed by Add/Sum (RepVGG, ACNet, DBB and
 * their grouped and depthwise variants) into one conv. The pass over src/reparam/collapse.ts
 * (matching, exactness and refusals are documented there): it repeats `collapseSweep` to a
 * fixed point, at most `maxSweeps` sweeps (reporting the limit when reached), removes dead
 * code and records the rewrite log.
 */
import type { Model } from '../ir/graph.ts';
import type { Pass, PassContext } from './pass.ts';
import { optionsSchema } from './pass.ts';
import { iterateToFixedPointSync, limitStatus, type FixedPointRun } from './manager.ts';
import { collapseSweep } from '../reparam/collapse.ts';
import { RewriteLog, type RewriteAnnotations } from '../reparam/graph-ops.ts';

declare module './pass.ts' {
  interface PassOptionsMap {
    'collapse-branches': CollapseOptions;
  }
}

/** Options of the collapse-branches pass. */
export interface CollapseOptions {
  /** Add exact border-correction bias maps (default true); false refuses such merges. */
  borderCorrection?: boolean;
  /** Allow merges whose conv has more weights than the branches together (default false). */
  allowGrowth?: boolean;
  maxSweeps?: number;
}

/** The pass's work on a model without a pipeline context (tests, benches): sweeps to a fixed
 * point, removes dead code, returns the rewrite log with the sweep count. */
export function collapseBranches(model: Model, opts: CollapseOptions = {}): RewriteAnnotations & { sweeps: number; fixedPointLimit?: number } {
  return collapseRun(model, opts).annotations;
}

function collapseRun(model: Model, opts: CollapseOptions): { annotations: RewriteAnnotations & { sweeps: number; fixedPointLimit?: number }; run: FixedPointRun; max: number } {
  const log = new RewriteLog();
  const max = opts.maxSweeps ?? 10_000;
  // the manager's fixed-point loop; the sweep stays simple
  const run = iterateToFixedPointSync(() => collapseSweep(model, log, opts), max);
  if (run.changed) model.graph.eliminateDeadCode();
  return { annotations: { ...log.annotations(), sweeps: run.iterations, ...(run.limitReached ? { fixedPointLimit: max } : {}) }, run, max };
}

export const collapseBranchesPass: Pass<RewriteAnnotations> = {
  name: 'collapse-branches',
  description: 'Merge parallel conv branches summed by Add/Sum (RepVGG, ACNet, DBB; BN, identity, avgpool, sequential 1x1-KxK) into one conv',
  reads: ['graph'],
  writes: ['graph', 'annotations:collapse-branches'],
  kind: 'rewrite',
  options: optionsSchema({ borderCorrection: { type: 'boolean' }, allowGrowth: { type: 'boolean' }, maxSweeps: { type: 'integer', minimum: 1 } }),
  run(model: Model, ctx: PassContext) {
    const opts = ctx.options['collapse-branches'] ?? {};
    const { annotations: a, run, max } = collapseRun(model, opts);
    return { changed: a.applied > 0, annotations: a, ...limitStatus('collapse-branches sweep', run, max) };
  },
};
