/**
 * fold-constants: constant folding (src/fold/fold.ts): Constant nodes -> initializers, static
 * Shape/Size -> values, all-constant nodes evaluated by onnxruntime, Identity/Dropout bypassed,
 * identical initializers merged. Shapes fixed by `--shape` are applied to the graph inputs
 * before the pipeline runs, so shape subgraphs fold once the dims are static.
 * Option: fold-constants.maxBytes (largest result materialized when it outgrows its inputs).
 */
import type { Pass } from './pass.ts';
import { optionsSchema } from './pass.ts';
import { foldConstants, type FoldResult } from '../fold/fold.ts';

declare module './pass.ts' {
  interface PassOptionsMap {
    'fold-constants': FoldConstantsOptions;
  }
}

export interface FoldConstantsOptions {
  /** Largest folded result kept (bytes) when it is larger than the node's inputs (default 1 MiB). */
  maxBytes?: number;
}

export const foldConstantsPass: Pass<FoldResult> = {
  name: 'fold-constants',
  description: 'Constant folding: Constant nodes to initializers, static shape subgraphs and all-constant nodes evaluated (onnxruntime), Identity removed, duplicate initializers merged',
  reads: ['graph'],
  writes: ['graph', 'annotations:fold-constants'],
  kind: 'rewrite',
  options: optionsSchema({ maxBytes: { type: 'integer', minimum: 0 } }),
  async run(model, ctx) {
    const o = ctx.options['fold-constants'] ?? {};
    const r = await foldConstants(model, { maxBytes: o.maxBytes });
    const changed = r.nodesAfter !== r.nodesBefore || r.deduplicated > 0;
    ctx.log(`fold-constants: ${r.constants} Constant nodes, ${r.shapes} Shape/Size, ${r.evaluated} evaluated, ${r.aliases} Identity/Dropout, ${r.deduplicated} duplicate initializers merged (${r.nodesBefore} -> ${r.nodesAfter} nodes)`);
    return { changed, annotations: r };
  },
};
