/**
 * Reading a value's constant: the one place that knows where ONNX keeps a constant (an
 * initializer, a Constant node's value attribute, either behind Identity nodes). Passes and
 * analyses that need a constant's values (BatchNorm folding, Slice steps, a table's size) read
 * it here.
 */
import type { Graph } from './graph.ts';
import { Tensor } from './tensor.ts';

/** The constant tensor behind `value` (initializer, Constant node, or Identity of one), or
 * undefined when it is absent or computed. An initializer counts even when a graph input of the
 * same name could override it (IR version 3 files declare every initializer so): the passes
 * plan and rewrite the model as given, with its defaults. */
export function constTensor(graph: Graph, value: string | undefined): Tensor | undefined {
  for (let depth = 0; depth < 8 && value; depth++) {
    const t = graph.initializers.get(value);
    if (t) return t;
    const p = graph.producer(value);
    if (!p) return undefined;
    if (p.opType === 'Constant' && p.domain === '') {
      const a = p.attr('value');
      if (a?.type === 'tensor') return a.value;
      const f = p.attr('value_float'), fs = p.attr('value_floats'), i = p.attr('value_int'), is = p.attr('value_ints');
      if (f?.type === 'float') return Tensor.float32(value, [], Float32Array.of(f.value));
      if (fs?.type === 'floats') return Tensor.float32(value, [fs.value.length], Float32Array.from(fs.value));
      if (i?.type === 'int') return Tensor.int64(value, [], [Number(i.value)]);
      if (is?.type === 'ints') return Tensor.int64(value, [is.value.length], is.value.map(Number));
      return undefined;
    }
    if (p.opType === 'Identity' && p.domain === '') { value = p.inputs[0]; continue; }
    return undefined;
  }
  return undefined;
}

/** The values of an integer constant (see constTensor), or undefined. */
export function constInts(graph: Graph, value: string | undefined): number[] | undefined {
  return constTensor(graph, value)?.toIntegers();
}
