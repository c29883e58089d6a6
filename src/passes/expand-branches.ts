/**
 * expand-branches: rewrites KxK convs into equivalent training-time multi-branch blocks
 * (RepVGG, ACNet or DBB form), the reverse of collapse-branches. The pass over
 * src/reparam/expand.ts (forms, modes and refusals are documented there): it takes the
 * options and the pipeline's seed and records the rewrite log.
 */
import type { Model } from '../ir/graph.ts';
import type { Pass, PassContext } from './pass.ts';
import { optionsSchema } from './pass.ts';
import { expandBranches, type ExpandOptions } from '../reparam/expand.ts';
import type { RewriteAnnotations } from '../reparam/graph-ops.ts';

export type { ExpandForm, ExpandOptions } from '../reparam/expand.ts';

declare module './pass.ts' {
  interface PassOptionsMap {
    'expand-branches': ExpandOptions;
  }
}

export const expandBranchesPass: Pass<RewriteAnnotations> = {
  name: 'expand-branches',
  description: 'Expand KxK convs into an equivalent training-time multi-branch block (RepVGG, ACNet or DBB form)',
  reads: ['graph'],
  writes: ['graph', 'annotations:expand-branches'],
  kind: 'rewrite',
  options: optionsSchema({ form: { enum: ['repvgg', 'acnet', 'dbb'] }, mode: { enum: ['subtract', 'zero-gamma'] }, nodes: { type: 'array', items: { type: 'string' } }, scale: { type: 'number' } }),
  run(model: Model, ctx: PassContext) {
    const a = expandBranches(model, ctx.options['expand-branches'] ?? {}, ctx.seed);
    return { changed: a.applied > 0, annotations: a };
  },
};
