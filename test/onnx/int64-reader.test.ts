/** decode.ts's int64 reading (StrictReader.int64): a safe integer comes back as a plain number,
 * anything else as protobufjs's Long; either way the value is protobufjs's own decoding, and the
 * model re-encodes to the same bytes. Checked on every int64 field a model commonly carries
 * (ir_version, opset versions, dims, attribute i and ints) over the whole 64-bit range, varint
 * lengths 1 to 10, and on truncated input (the same error as protobufjs). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ModelProto, type Msg } from '../../src/onnx/schema.ts';
import { bigIntToLong, longToBigInt, parseModelProto } from '../../src/onnx/decode.ts';
import { decodeModel, encodeModel } from '../../src/onnx/io.ts';

const i64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 28n }),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom(0n, 127n, 128n, 2n ** 28n - 1n, 2n ** 28n, 2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n) + 1n, -(2n ** 53n), -1n, 2n ** 63n - 1n, -(2n ** 63n)),
);

function modelMsg(dims: bigint[], ints: bigint[], i: bigint, version: bigint, raw?: Uint8Array): Msg {
  return {
    ir_version: bigIntToLong(version),
    opset_import: [{ domain: '', version: bigIntToLong(version) }],
    graph: {
      name: 'g',
      initializer: [{ name: 'w', data_type: 1, dims: dims.map(bigIntToLong), ...(raw ? { raw_data: raw } : {}) }],
      node: [{ op_type: 'Foo', input: ['w'], output: ['y'], attribute: [{ name: 'a', type: 7, ints: ints.map(bigIntToLong) }, { name: 'b', type: 2, i: bigIntToLong(i) }] }],
    },
  };
}

const asBig = (v: unknown) => longToBigInt(v as never);

test('int64 fields: the same values as protobufjs, numbers exactly when safe, same bytes re-encoded', () => {
  fc.assert(
    fc.property(fc.array(i64, { maxLength: 6 }), fc.array(i64, { maxLength: 6 }), i64, i64, (dims, ints, i, version) => {
      const bytes = ModelProto.encode(ModelProto.fromObject(modelMsg(dims, ints, i, version))).finish();
      const ours = parseModelProto(bytes);
      const theirs = ModelProto.decode(bytes) as unknown as Msg;
      const pairs: [unknown, unknown][] = [
        [ours.ir_version, theirs.ir_version],
        [ours.opset_import[0].version, theirs.opset_import[0].version],
        [ours.graph.node[0].attribute[1].i, theirs.graph.node[0].attribute[1].i],
        ...ours.graph.initializer[0].dims.map((d: unknown, k: number) => [d, theirs.graph.initializer[0].dims[k]] as [unknown, unknown]),
        ...ours.graph.node[0].attribute[0].ints.map((d: unknown, k: number) => [d, theirs.graph.node[0].attribute[0].ints[k]] as [unknown, unknown]),
      ];
      assert.equal(ours.graph.initializer[0].dims.length, dims.length);
      for (const [a, b] of pairs) {
        assert.equal(asBig(a), asBig(b));
        const safe = Number.isSafeInteger(Number(asBig(b))) && BigInt(Number(asBig(b))) === asBig(b);
        assert.equal(typeof a === 'number', safe, `value ${asBig(b)}: ${typeof a}`);
      }
      // The message as decoded writes back byte for byte (the IR's writer and protobufjs's).
      assert.deepEqual(Buffer.from(ModelProto.encode(ours as never).finish()), Buffer.from(bytes));
    }),
    { numRuns: 300, seed: 15 },
  );
});

test('int64 decoding: a model with small and large ints round-trips through the IR byte for byte', () => {
  const bytes = ModelProto.encode(ModelProto.fromObject(modelMsg([1n, 3n], [-1n, 2n ** 40n, 5n], -(2n ** 62n), 8n, new Uint8Array(12)))).finish();
  const model = decodeModel(bytes, { validate: false });
  const a = model.graph.nodes[0].attributes;
  assert.deepEqual(a[0].value, [-1n, 2n ** 40n, 5n]);
  assert.equal(a[1].value, -(2n ** 62n));
  assert.deepEqual(Buffer.from(encodeModel(model)), Buffer.from(bytes));
});

test('int64 decoding: a truncated varint fails like protobufjs (one-line bad input)', () => {
  const bytes = ModelProto.encode(ModelProto.fromObject(modelMsg([2n ** 20n], [], 1n, 8n))).finish();
  // Cut inside the first field (ir_version, tag 0x08, then a varint): both readers must fail.
  const cut = Uint8Array.from([0x08, 0xff, 0xff]);
  assert.throws(() => ModelProto.decode(cut));
  assert.throws(() => parseModelProto(cut), /not a valid ONNX model: protobuf decoding failed/);
  assert.ok(bytes.length > 3);
});
