/**
 * The ONNX protobuf schema, complete up to IR version 11 (ONNX 1.18): written from the ONNX
 * spec (onnx/onnx.in.proto + onnx-ml additions), parsed once by protobufjs 8 reflection.
 *
 * Why not onnx-proto's generated code: it is ONNX 1.10 (IR 8) on protobufjs 6 and drops every
 * field it does not know (metadata_props on nodes/graphs/values, FunctionProto.overload,
 * attribute_proto, value_info, device configurations, ...). Here every known field is declared
 * and protobufjs 8 keeps the bytes of anything else in `$unknowns`, re-emitted by the encoder.
 *
 * Deliberate deviations from the .proto text, all wire-compatible:
 * - enums are declared `int32`: proto2 enums are closed, and protobufjs moves an unknown enum
 *   value (a newer AttributeType or DataLocation) to `$unknowns`, which would reorder fields on
 *   write. As int32 every value survives in place.
 * - TensorProto.float_data / double_data are declared `repeated bytes`: a packed run of
 *   fixed-width floats is exactly a length-delimited field, so each run decodes as a byte view
 *   (no per-element JS numbers, NaN payloads kept bit for bit) and is written back as is.
 *   Unpacked elements (wire types 5 / 1, legal but rare) arrive in `$unknowns` and are read
 *   from there (decode.ts).
 * - `oneof`s are flattened to plain optional fields (same wire format; avoids protobufjs's
 *   virtual oneof property on messages, and keeps a malformed message with two members set
 *   byte-for-byte).
 */
import protobuf from 'protobufjs';

export const ONNX_PROTO = `
syntax = "proto2";
package onnx;

message AttributeProto {
  optional string name = 1;
  optional string ref_attr_name = 21;
  optional string doc_string = 13;
  optional int32 type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  optional SparseTensorProto sparse_tensor = 22;
  optional TypeProto tp = 14;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  repeated SparseTensorProto sparse_tensors = 23;
  repeated TypeProto type_protos = 15;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
  repeated StringStringEntryProto metadata_props = 4;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  optional string overload = 8;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  repeated StringStringEntryProto metadata_props = 9;
  repeated NodeDeviceConfigurationProto device_configurations = 10;
}

message IntIntListEntryProto {
  optional int64 key = 1;
  repeated int64 value = 2;
}

message NodeDeviceConfigurationProto {
  optional string configuration_id = 1;
  repeated ShardingSpecProto sharding_spec = 2;
  optional int32 pipeline_stage = 3;
}

message ShardingSpecProto {
  optional string tensor_name = 1;
  repeated int64 device = 2;
  repeated IntIntListEntryProto index_to_device_group_map = 3;
  repeated ShardedDimProto sharded_dim = 4;
}

message ShardedDimProto {
  optional int64 axis = 1;
  repeated SimpleShardedDimProto simple_sharding = 2;
}

message SimpleShardedDimProto {
  optional int64 dim_value = 1;
  optional string dim_param = 2;
  optional int64 num_shards = 3;
}

message TrainingInfoProto {
  optional GraphProto initialization = 1;
  optional GraphProto algorithm = 2;
  repeated StringStringEntryProto initialization_binding = 3;
  repeated StringStringEntryProto update_binding = 4;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
  repeated TrainingInfoProto training_info = 20;
  repeated FunctionProto functions = 25;
  repeated DeviceConfigurationProto configuration = 26;
}

message DeviceConfigurationProto {
  optional string name = 1;
  optional int32 num_devices = 2;
  repeated string device = 3;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message TensorAnnotation {
  optional string tensor_name = 1;
  repeated StringStringEntryProto quant_parameter_tensor_names = 2;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated SparseTensorProto sparse_initializer = 15;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
  repeated TensorAnnotation quantization_annotation = 14;
  repeated StringStringEntryProto metadata_props = 16;
}

message TensorProto {
  message Segment {
    optional int64 begin = 1;
    optional int64 end = 2;
  }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional Segment segment = 3;
  repeated bytes float_data = 4;
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional string doc_string = 12;
  optional bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  optional int32 data_location = 14;
  repeated bytes double_data = 10;
  repeated uint64 uint64_data = 11 [packed = true];
  repeated StringStringEntryProto metadata_props = 16;
}

message SparseTensorProto {
  optional TensorProto values = 1;
  optional TensorProto indices = 2;
  repeated int64 dims = 3;
}

message TensorShapeProto {
  message Dimension {
    optional int64 dim_value = 1;
    optional string dim_param = 2;
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  message Sequence {
    optional TypeProto elem_type = 1;
  }
  message Map {
    optional int32 key_type = 1;
    optional TypeProto value_type = 2;
  }
  message Optional {
    optional TypeProto elem_type = 1;
  }
  message SparseTensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  message Opaque {
    optional string domain = 1;
    optional string name = 2;
  }
  optional Tensor tensor_type = 1;
  optional Sequence sequence_type = 4;
  optional Map map_type = 5;
  optional Optional optional_type = 9;
  optional SparseTensor sparse_tensor_type = 8;
  optional Opaque opaque_type = 7;
  optional string denotation = 6;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}

message FunctionProto {
  optional string name = 1;
  repeated string input = 4;
  repeated string output = 5;
  repeated string attribute = 6;
  repeated AttributeProto attribute_proto = 11;
  repeated NodeProto node = 7;
  optional string doc_string = 8;
  repeated OperatorSetIdProto opset_import = 9;
  optional string domain = 10;
  optional string overload = 13;
  repeated ValueInfoProto value_info = 12;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
root.resolveAll();
decodeOnly(root);

/**
 * Gives every message type a decoder generated at its first use, and nothing else. protobufjs's
 * own first use (Type.setup) generates five coders per type (encode, decode, verify, fromObject,
 * toObject) with `new Function`; dnnfuse only decodes with protobufjs (wire.ts encodes), and
 * the four unused coders were most of a fresh process's first load: MobileNetV2's `loadModel`
 * in a new process, median of 15, 39 ms before and 23 ms after (bench:io's setting (1)).
 * The decoder is the one setup generates, with the same arguments.
 */
function decodeOnly(ns: protobuf.NamespaceBase): void {
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type) {
      const type = o;
      // The generated decoders pass more arguments than Type.decode declares (nesting depth,
      // the message to merge into): handed on as they come.
      type.decode = function decodeSetup(...args: unknown[]) {
        const types = type.fieldsArray.map((f) => f.resolve().resolvedType);
        const decode = protobuf.decoder(type)({ Reader: protobuf.Reader, types, util: protobuf.util, C: type.ctor }) as (...a: unknown[]) => protobuf.Message;
        type.decode = decode as protobuf.Type['decode'];
        return decode(...args);
      } as protobuf.Type['decode'];
    }
    if (o instanceof protobuf.Namespace) decodeOnly(o); // a Type is a Namespace (nested types)
  }
}

export const ModelProto = root.lookupType('onnx.ModelProto');
export const TensorProtoType = root.lookupType('onnx.TensorProto');
export const GraphProtoType = root.lookupType('onnx.GraphProto');
export const NodeProtoType = root.lookupType('onnx.NodeProto');

/** Field numbers known to the schema, per message type name (to tell a corrupt known field
 * from a genuinely unknown one). */
export function knownFieldNumbers(typeName: string): Set<number> {
  const t = root.lookupType(`onnx.${typeName}`);
  return new Set(t.fieldsArray.map((f) => f.id));
}

/** The protobufjs long representation (from the `long` package). */
export interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

/** Decoded messages are plain objects with snake_case fields plus `$unknowns` (raw bytes of
 * unknown fields). Typed loosely: the IR layer reads them through the helpers in codec.ts. */
export type Msg = Record<string, any> & { $unknowns?: Uint8Array[] };

export { protobuf };
