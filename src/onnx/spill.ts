/**
 * Spilling a model's new weights to the file it was just written to (issue 15, item 5): the
 * initializers a pass made in memory (fold-bn's rescaled weights: all of ResNet-50's, 98 MiB)
 * are pointed at their raw_data in that file, as lazily loaded ones are at the model file
 * (lazy.ts), and their arrays become garbage. `dnnfuse compile` writes the rewritten model for
 * its onnxruntime check anyway; spilled to that file, the IR no longer holds the weights while
 * the check's sessions run, and the final save copies them from it.
 *
 * Only tensors without a carry (made by a pass, not read from the model file) move: a tensor
 * read from the file keeps the encoding it was read with, which a spilled one could change.
 * A spilled tensor is encoded as raw_data again from the same bytes, so saving the model gives
 * the same file. The file must stay in place while the model is used (its reads check it).
 */
import type { Model } from '../ir/graph.ts';
import { loadModel } from './io.ts';
import { LazyRawSource, LAZY_MIN_TENSOR } from './lazy.ts';

/** Points the main graph's pass-made initializers of at least LAZY_MIN_TENSOR bytes at their
 * raw_data in `path`, a file `model` was just written to; returns how many bytes were moved. */
export function spillInitializers(model: Model, path: string): number {
  const candidates = [...model.graph.initializers.values()].filter((t) => t.carry === undefined && !(t.source instanceof LazyRawSource) && t.source.kind !== 'external' && t.byteLength >= LAZY_MIN_TENSOR);
  if (!candidates.length) return 0;
  const written = loadModel(path).graph.initializers;
  let moved = 0;
  for (const t of candidates) {
    const w = written.get(t.name);
    if (!w || !(w.source instanceof LazyRawSource) || !w.source.pending || w.dataType !== t.dataType) continue;
    if (w.dims.length !== t.dims.length || w.dims.some((d, i) => d !== t.dims[i]) || w.source.range.length !== t.byteLength) continue;
    t.source = w.source;
    moved += t.byteLength;
  }
  return moved;
}
