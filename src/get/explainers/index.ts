/**
 * GET explainers and the shipped models they run on. `loadGetModels(scheme)` reads
 * models/get/<scheme>.{json,bin} once per (scheme, folder): the k-GNN validity predictor, the
 * PGExplainer edge MLP and the RG-Explainer policy.
 */
import type { FusionScheme } from '../../fusion/types.ts';
import { KGnn } from '../kgnn.ts';
import { loadWeights, namespace, shippedWeightsDir, type WeightsManifest } from '../weights.ts';
import { GnnExplainer, type GnnExplainerOptions } from './gnnexplainer.ts';
import { PgExplainer } from './pgexplainer.ts';
import { RgExplainer } from './rgexplainer.ts';
import { CutsExplainer } from './cuts.ts';
import type { Explainer, ExplainerKind } from './common.ts';

export type { Explainer, ExplainerKind, Explanation } from './common.ts';
export { EXPLAINER_KINDS } from './common.ts';
export { GnnExplainer, PgExplainer, RgExplainer, CutsExplainer };

export interface GetModels {
  scheme: FusionScheme;
  gnn: KGnn;
  pg: PgExplainer;
  rg: RgExplainer;
  manifest: WeightsManifest;
}

const cache = new Map<string, GetModels>();

export function loadGetModels(scheme: FusionScheme, dir = shippedWeightsDir()): GetModels {
  const key = `${scheme}@${dir}`;
  let m = cache.get(key);
  if (!m) {
    const w = loadWeights(scheme, dir);
    const gnn = new KGnn(namespace(w, 'kgnn'));
    m = { scheme, gnn, pg: new PgExplainer(gnn, namespace(w, 'pg')), rg: new RgExplainer(gnn, namespace(w, 'rg')), manifest: w.manifest };
    cache.set(key, m);
  }
  return m;
}

export function makeExplainer(kind: ExplainerKind, models: GetModels | undefined, o: { gnne?: GnnExplainerOptions } = {}): Explainer {
  if (kind === 'cuts') return new CutsExplainer();
  if (!models) throw new Error(`explainer '${kind}' needs trained GET models`);
  if (kind === 'gnne') return new GnnExplainer(models.gnn, o.gnne);
  if (kind === 'pg') return models.pg;
  return models.rg;
}
