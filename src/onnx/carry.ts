/**
 * What the ONNX reader stores in the IR's opaque `carry` slots: the decoded protobuf message
 * the IR object came from (with every field the IR does not model, and `$unknowns`: the raw
 * bytes of fields unknown even to our schema), plus the IR state at load time so that the
 * writer can tell an unchanged object (re-emit the message verbatim) from a changed one.
 * Passes never look inside; objects created by passes simply have no carry.
 */
import type { Attribute } from '../ir/graph.ts';
import type { TensorSource } from '../ir/tensor.ts';
import type { Msg } from './schema.ts';

/** Carry of a Model, Graph or ValueInfo: the original message. */
export class MsgCarry {
  constructor(readonly msg: Msg) {}
}

export class NodeCarry {
  /** synthName: the IR name given to a node whose name was absent or empty (the IR needs
   * unique node names); the writer restores the original (absent/empty) name. */
  constructor(readonly msg: Msg, readonly synthName?: string) {}
}

export class AttrCarry {
  /** snapshot: the attribute as decoded (arrays copied), to detect in-place edits. */
  constructor(readonly msg: Msg, readonly snapshot: Attribute) {}
}

/** Which TensorProto field held the data when the tensor was read. */
export type DataField = 'raw_data' | 'float_data' | 'int32_data' | 'string_data' | 'int64_data' | 'double_data' | 'uint64_data' | 'external' | 'none';

export class TensorCarry {
  constructor(
    readonly msg: Msg,
    /** The source object as loaded: `tensor.source !== carry.source` means the data changed. */
    readonly source: TensorSource,
    readonly dataType: number,
    readonly field: DataField,
  ) {}
}

export function msgOf(carry: unknown): Msg | undefined {
  return carry instanceof MsgCarry || carry instanceof NodeCarry || carry instanceof AttrCarry || carry instanceof TensorCarry ? carry.msg : undefined;
}

/** A shallow copy of a decoded message as a plain object, keeping `$unknowns` (protobufjs
 * stores it as a non-enumerable own property). */
export function copyMsg(m: Msg | undefined): Msg {
  if (!m) return {};
  const o: Msg = { ...m };
  if (Object.prototype.hasOwnProperty.call(m, '$unknowns') && m.$unknowns) o.$unknowns = m.$unknowns;
  return o;
}

export function has(m: Msg | undefined, field: string): boolean {
  return !!m && Object.prototype.hasOwnProperty.call(m, field) && m[field] != null;
}
