/** Test helpers: hand-built ONNX protobuf messages (with fields unknown to any schema) and
 * small models written by the IR builder. */
import { ModelProto, TensorProtoType, type Msg } from '../../src/onnx/schema.ts';
import { ModelBuilder } from '../../src/models/builder.ts';
import type { Model } from '../../src/ir/graph.ts';
import { bytesOf } from '../support/bytes.ts';

/** Raw bytes of one protobuf field (for `$unknowns`): varint / length-delimited / fixed32. */
export function rawField(field: number, value: number | Uint8Array | string, wire?: 0 | 2 | 5): Uint8Array {
  const out: number[] = [];
  const varint = (n: number) => {
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
  };
  if (typeof value === 'number' && wire === 5) {
    varint(field * 8 + 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    out.push(...b);
  } else if (typeof value === 'number') {
    varint(field * 8);
    varint(value);
  } else {
    const b = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    varint(field * 8 + 2);
    varint(b.length);
    out.push(...b);
  }
  return Uint8Array.from(out);
}

export const encodeMsg = (m: Msg): Uint8Array => ModelProto.encode(m).finish();
export const encodeTensorMsg = (m: Msg): Uint8Array => TensorProtoType.encode(m).finish();

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
const vi = (name: string, elem: number, dims: (number | string)[], extra: Msg = {}): Msg => ({
  name,
  type: { tensor_type: { elem_type: elem, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
  ...extra,
});

/**
 * A ModelProto exercising fields ONNX 1.10 (onnx-proto) does not know and raw field numbers no
 * schema knows, at every level: IR-10 metadata_props on nodes/graphs/values/tensors,
 * FunctionProto overload/attribute_proto/value_info, float8 / int4 / bfloat16 dtypes,
 * sequence/optional/map types, sparse initializers, training_info, device configurations.
 */
export function exoticModelMsg(): Msg {
  const meta = (k: string, v: string) => ({ key: k, value: v });
  const subgraph: Msg = {
    name: 'then_body',
    node: [{ input: ['x'], output: ['y_then'], op_type: 'Identity', $unknowns: [rawField(300, 'nested-unknown')] }],
    output: [vi('y_then', 1, [2])],
    metadata_props: [meta('sub', 'graph')],
  };
  return {
    ir_version: 10,
    opset_import: [{ domain: '', version: 21 }, { domain: 'custom', version: 1, $unknowns: [rawField(9, 1)] }],
    producer_name: 'hand-built',
    producer_version: '1.0',
    doc_string: 'model with fields from the future',
    metadata_props: [meta('author', 'dnnfuse-test'), meta('license', 'MIT')],
    graph: {
      name: 'g',
      node: [
        {
          input: ['x', 'w'], output: ['a'], name: 'mul', op_type: 'Mul', doc_string: 'node doc',
          metadata_props: [meta('source', 'layer1')],
          device_configurations: [{ configuration_id: 'cfg', pipeline_stage: 1 }],
          $unknowns: [rawField(99, 'node-unknown'), rawField(98, 7)],
        },
        {
          input: ['a'], output: ['b'], name: 'fn_call', op_type: 'MyFn', domain: 'custom', overload: 'v2',
          attribute: [
            { name: 'alpha', type: 1, f: 0.5, $unknowns: [rawField(77, 3)] },
            { name: 'axes', type: 7, ints: [-1, 2, 3000000000] },
            { name: 'mode', type: 3, s: new TextEncoder().encode('nearest') },
            { name: 'tp', type: 13, tp: { sequence_type: { elem_type: { tensor_type: { elem_type: 1 } } } } },
            { name: 'fut', type: 99, $unknowns: [rawField(40, 'attr type from the future')] },
          ],
        },
        {
          input: ['cond'], output: ['c'], name: 'if', op_type: 'If',
          attribute: [{ name: 'then_branch', type: 5, g: subgraph }, { name: 'else_branch', type: 5, g: subgraph }],
        },
        { input: ['seq_in'], output: ['opt'], op_type: 'Optional' },
      ],
      initializer: [
        { name: 'w', data_type: 1, dims: [2], raw_data: f32([1.5, -2]), metadata_props: [meta('q', 'none')], $unknowns: [rawField(50, 'tensor-unknown')] },
        { name: 'f8', data_type: 17, dims: [4], raw_data: Uint8Array.from([1, 2, 3, 4]) },
        { name: 'i4', data_type: 22, dims: [3], raw_data: Uint8Array.from([0x21, 0x03]) },
        { name: 'bf', data_type: 16, dims: [2], int32_data: [0x3f80, 0xc000] },
        { name: 'i64', data_type: 7, dims: [3], int64_data: [1, -2, 5000000000] },
        { name: 'd', data_type: 11, dims: [2], double_data: [new Uint8Array(Float64Array.from([0.25, -1e300]).buffer)], segment: { begin: 0, end: 2 } },
        { name: 'str', data_type: 8, dims: [2], string_data: [new TextEncoder().encode('a'), new TextEncoder().encode('bc')] },
        { name: 'u64', data_type: 13, dims: [1], uint64_data: [42] },
      ],
      sparse_initializer: [{ values: { name: 'sp', data_type: 1, dims: [1], float_data: [f32([3])] }, indices: { name: 'sp_idx', data_type: 7, dims: [1], int64_data: [0] }, dims: [4] }],
      input: [vi('x', 1, ['N']), vi('cond', 9, []), { name: 'seq_in', type: { sequence_type: { elem_type: { tensor_type: { elem_type: 1 } } } } }],
      output: [vi('b', 1, ['N'], { metadata_props: [meta('o', '1')] }), vi('c', 1, [2]), { name: 'opt', type: { optional_type: { elem_type: { tensor_type: { elem_type: 7 } } } } }],
      value_info: [{ name: 'a', doc_string: 'vi doc', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_param: 'N', denotation: 'DATA_BATCH' }] } }, denotation: 'TENSOR' } }],
      quantization_annotation: [{ tensor_name: 'w', quant_parameter_tensor_names: [meta('SCALE_TENSOR', 's')] }],
      metadata_props: [meta('graph', 'meta')],
      $unknowns: [rawField(200, 'graph-unknown')],
    },
    training_info: [{ algorithm: { name: 'train', node: [] }, update_binding: [meta('w', 'w_new')] }],
    functions: [
      {
        name: 'MyFn', domain: 'custom', overload: 'v2', input: ['X'], output: ['Y'],
        attribute_proto: [{ name: 'alpha', type: 1, f: 1 }],
        node: [{ input: ['X'], output: ['Y'], op_type: 'Relu', metadata_props: [meta('fn', 'node')] }],
        opset_import: [{ domain: '', version: 21 }],
        value_info: [vi('X', 1, ['N'])],
        metadata_props: [meta('fn', 'meta')],
      },
    ],
    configuration: [{ name: 'mesh', num_devices: 2, device: ['cpu0', 'cpu1'] }],
    $unknowns: [rawField(1000, 'model-unknown'), rawField(1001, 12345), rawField(1002, 1.25, 5)],
  };
}

/** A small conv net built in code (seeded weights). */
export function smallConvModel(seed = 1): Model {
  const b = new ModelBuilder({ seed });
  let x = b.input('input', [1, 3, 16, 16]);
  x = b.conv(x, { outChannels: 8, kernel: 3, pads: 1 });
  x = b.batchNorm(x);
  x = b.relu(x);
  const y = b.conv(x, { outChannels: 8, kernel: 1 });
  x = b.add(x, y);
  x = b.globalAveragePool(x);
  x = b.flatten(x);
  x = b.gemm(x, 10);
  b.output(x);
  return b.build('small_conv');
}

/** The exotic model (unknown fields at every level) plus float initializers of the given element
 * counts, some with unknown fields and a doc_string around their raw_data. */
export function bigModelMsg(sizes: number[], extras = true): Msg {
  const m = exoticModelMsg();
  const inits = m.graph.initializer as Msg[];
  sizes.forEach((n, i) => {
    const t: Msg = { name: `big${i}`, data_type: 1, dims: [n], raw_data: bytesOf(n * 4, i + 1) };
    if (extras && i % 2 === 0) {
      t.doc_string = `tensor ${i}`;
      t.$unknowns = [rawField(900 + i, 'after-raw'), rawField(901, i)];
    }
    inits.push(t);
  });
  return m;
}
