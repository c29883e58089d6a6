/** schema.ts generates only decoders (decodeOnly), not protobufjs's five coders per type: the
 * messages it decodes must be those of protobufjs's own setup, field for field. Checked against a
 * second root parsed from the same schema text with protobufjs's stock setup, on models whose
 * fields repeat (a non-repeated message field twice is merged), carry unknown fields and nest
 * messages. This file's first decode is the property's, so each type's first-use path is in it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ModelProto, ONNX_PROTO, protobuf } from '../../src/onnx/schema.ts';

const stock = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
stock.resolveAll();
const StockModel = stock.lookupType('onnx.ModelProto');
const StockGraph = stock.lookupType('onnx.GraphProto');

/** A decoded message as plain data: own fields, `$unknowns`, bytes as hex, longs as strings. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    if ('low' in v && 'high' in v) return `long:${String(v)}`;
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) o[k] = plain((v as Record<string, unknown>)[k]);
    const unknowns = (v as { $unknowns?: unknown }).$unknowns;
    if (unknowns) o.$unknowns = plain(unknowns);
    return o;
  }
  return v;
}

const name = fc.stringMatching(/^[a-z]{1,4}$/);
const graph = fc.record(
  {
    name,
    node: fc.array(fc.record({ op_type: name, input: fc.array(name, { maxLength: 3 }), output: fc.array(name, { maxLength: 2 }), attribute: fc.array(fc.record({ name, type: fc.constant(7), ints: fc.array(fc.integer({ min: -5, max: 1 << 30 }), { maxLength: 4 }) }), { maxLength: 2 }) }), { maxLength: 3 }),
    initializer: fc.array(fc.record({ name, data_type: fc.constant(1), dims: fc.array(fc.nat(9), { maxLength: 3 }), raw_data: fc.uint8Array({ maxLength: 8 }) }), { maxLength: 2 }),
  },
  { requiredKeys: [] },
);
/** One top-level ModelProto field, encoded: the graph (7, which may come more than once), an
 * opset import (8), ir_version (1) or an unknown field (99). */
const field = fc.oneof(
  graph.map((g) => ({ field: 7, bytes: StockGraph.encode(StockGraph.fromObject(g)).finish() })),
  fc.record({ domain: name, version: fc.nat(20) }).map((o) => ({ field: 8, bytes: stock.lookupType('onnx.OperatorSetIdProto').encode(o).finish() })),
  fc.nat(12).map((v) => ({ field: 1, value: v })),
  fc.uint8Array({ maxLength: 6 }).map((b) => ({ field: 99, bytes: b })),
);

function encodeFields(fields: ({ field: number; bytes: Uint8Array } | { field: number; value: number })[]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const f of fields) {
    if ('value' in f) w.uint32((f.field << 3) | 0).uint32(f.value);
    else w.uint32((f.field << 3) | 2).bytes(f.bytes);
  }
  return w.finish();
}

test('decodeOnly: the same messages as protobufjs stock setup (merged fields, unknowns, nesting)', () => {
  let merged = 0;
  fc.assert(
    fc.property(fc.array(field, { minLength: 1, maxLength: 6 }), (fields) => {
      if (fields.filter((f) => f.field === 7).length > 1) merged++;
      const bytes = encodeFields(fields);
      assert.deepEqual(plain(ModelProto.decode(bytes)), plain(StockModel.decode(bytes)));
    }),
    { numRuns: 300, seed: 7 },
  );
  assert.ok(merged > 10, `the property merged a repeated graph field in ${merged} runs`);
});
