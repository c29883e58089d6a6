/**
 * fold-bn: folds inference-mode BatchNormalization into the adjacent Conv/ConvTranspose/Gemm/
 * MatMul. The pass over src/reparam/fold-bn.ts (the rewrites, their preconditions and
 * refusals are documented there): it repeats `foldBnSweep` to a fixed point, at most
 * FOLD_BN_MAX_SWEEPS sweeps, reporting the limit when reached, and records the rewrite log.
 */
import type { Model } from '../ir/graph.ts';
import type { Pass } from './pass.ts';
import { optionsSchema } from './pass.ts';
import { iterateToFixedPointSync, limitStatus } from './manager.ts';
import { foldBnSweep } from '../reparam/fold-bn.ts';
import { RewriteLog, type RewriteAnnotations } from '../reparam/graph-ops.ts';

/** Sweeps of fold-bn before it reports its limit (a chain of k BNs needs k sweeps). */
const FOLD_BN_MAX_SWEEPS = 10;

export const foldBnPass: Pass<RewriteAnnotations> = {
  name: 'fold-bn',
  description: 'Fold inference-mode BatchNormalization into adjacent Conv/ConvTranspose/Gemm/MatMul (BN before Conv only where exact)',
  reads: ['graph'],
  writes: ['graph', 'annotations:fold-bn'],
  kind: 'rewrite',
  options: optionsSchema(),
  run(model: Model) {
    const log = new RewriteLog();
    // Fixed point: a BN freed by one fold (e.g. BN -> BN -> Conv) folds on the next sweep.
    const run = iterateToFixedPointSync(() => foldBnSweep(model, log), FOLD_BN_MAX_SWEEPS);
    if (run.changed) model.graph.eliminateDeadCode();
    const annotations = run.limitReached ? { ...log.annotations(), fixedPointLimit: FOLD_BN_MAX_SWEEPS } : log.annotations();
    return { changed: run.changed, annotations, ...limitStatus('fold-bn sweep', run, FOLD_BN_MAX_SWEEPS) };
  },
};
