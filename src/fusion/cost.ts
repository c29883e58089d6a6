/** Cost-model factory: one entry point for every caller (searches, GET, CLI). */
import type { FusionScheme, OpGraph } from './types.ts';
import { FusionCostModel } from './cost-base.ts';
import { LbdfCostModel } from './lbdf.ts';
import { BrrCostModel } from './brr.ts';
import { elementBytes, type Accelerator } from '../hardware/accelerator.ts';

export { FusionCostModel, LbdfCostModel, BrrCostModel };

/** The cost model of `scheme` for `graph` on `hw` (beta = hw.bufferBytes, bytes per element
 * from hw.elementType). Evaluations are memoized per group inside the returned object. */
export function createCostModel(scheme: FusionScheme, graph: OpGraph, hw: Pick<Accelerator, 'bufferBytes' | 'elementType'>): FusionCostModel {
  const b = elementBytes(hw.elementType);
  return scheme === 'lbdf' ? new LbdfCostModel(graph, hw.bufferBytes, b) : new BrrCostModel(graph, hw.bufferBytes, b);
}
