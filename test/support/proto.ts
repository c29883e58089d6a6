/** ONNX models written as ModelProto messages in tests (what an exporter would write), decoded
 * into the IR: a value_info of a tensor type, and a model of nodes, inputs and outputs. */
import { decodeModel } from '../../src/onnx/io.ts';
import { ModelProto, type Msg } from '../../src/onnx/schema.ts';
import type { Model } from '../../src/ir/graph.ts';

/** A tensor value_info: element type and dims (numbers, or names for dim_params). */
export function valueInfo(name: string, elemType: number, dims: (number | string)[]): Msg {
  return { name, type: { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } } };
}

/** The IR of a model with one graph of these nodes, inputs and outputs (opset 17 by default). */
export function modelOf(graph: { node: Msg[]; input: Msg[]; output: Msg[] }, opset = 17): Model {
  const msg = { ir_version: 8, opset_import: [{ domain: '', version: opset }], graph: { name: 'g', ...graph } };
  return decodeModel(ModelProto.encode(ModelProto.fromObject(msg)).finish());
}
