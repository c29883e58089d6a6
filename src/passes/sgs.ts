/**
 * sgs: spatial gradient scaling matrices per conv (Detkov et al., "Reparameterization through
 * Spatial Gradient Scaling", arXiv 2303.02733). The pass over src/reparam/sgs.ts (estimation,
 * options, embedding and the training graph are documented there): calibration feeds come from
 * ctx.services.calibrationFeeds (not JSON, so not an option), the seed from the pipeline.
 */
import type { Model } from '../ir/graph.ts';
import type { Pass, PassContext } from './pass.ts';
import { optionsSchema } from './pass.ts';
import { applySgs, computeSgs, type SgsAnnotations, type SgsPassOptions } from '../reparam/sgs.ts';

export type { SgsAnnotations, SgsConvRecord, SgsPassOptions } from '../reparam/sgs.ts';

declare module './pass.ts' {
  interface PassOptionsMap {
    sgs: Omit<SgsPassOptions, 'feeds'>;
  }
}

export const sgsPass: Pass<SgsAnnotations> = {
  name: 'sgs',
  description: 'Spatial gradient scaling: one mean-1 kxk scaling matrix per conv from calibration feature-map mutual information',
  reads: ['graph'],
  writes: ['annotations:sgs', 'graph (with embed / trainingGraph)'],
  kind: 'sgs-scales',
  options: optionsSchema({ calib: { type: 'string' }, batches: { type: 'integer', minimum: 1 }, seed: { type: 'integer' }, embed: { type: 'boolean' }, trainingGraph: { type: 'boolean' }, k: { type: 'number' }, floor: { type: 'number' } }),
  async run(model: Model, ctx: PassContext) {
    const o: SgsPassOptions = { seed: ctx.seed, ...(ctx.options.sgs ?? {}), ...(ctx.services.calibrationFeeds ? { feeds: ctx.services.calibrationFeeds } : {}) };
    const a = await computeSgs(model, o, ctx.log);
    const changed = applySgs(model, a, o);
    return { changed, annotations: a };
  },
};
