/** wire.ts, the hand-written protobuf writer: byte-identical to protobufjs's encoder on random
 * messages of every ONNX message type (every field kind, negative and 64-bit integers, NaN and
 * -0 floats, non-ASCII and ill-formed UTF-16 strings, unknown fields), its parts concatenate to
 * its flat bytes, and random models encode to canonical protobufjs output. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { protobuf, ModelProto, type Msg } from '../../src/onnx/schema.ts';
import { encodeFlat, encodeParts } from '../../src/onnx/wire.ts';
import { FileRange, LazyFile, concatParts } from '../../src/onnx/lazy.ts';
import { decodeModel, encodeModel } from '../../src/onnx/io.ts';
import { encodeModelChunks } from '../../src/onnx/encode.ts';
import { cnnModel } from '../../src/testkit/arbitraries.ts';
import { exoticModelMsg, rawField } from './helpers.ts';

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
const root = ModelProto.root;
const TYPES = ['ModelProto', 'GraphProto', 'NodeProto', 'AttributeProto', 'TensorProto', 'ValueInfoProto', 'TypeProto', 'FunctionProto', 'SparseTensorProto', 'TrainingInfoProto'].map((n) => root.lookupType(`onnx.${n}`));

const int64Arb = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.maxSafeNat(),
  fc.maxSafeInteger(),
  fc.record({ low: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), high: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), unsigned: fc.boolean() }),
);
const stringArb = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  // Any UTF-16 code units (lone surrogates included), around BufferWriter's 40-unit switch.
  fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.integer({ min: 0x20, max: 0x7e })), { minLength: 30, maxLength: 150 }).map((u) => String.fromCharCode(...u)),
);
const unknownArb = fc.array(
  fc.oneof(
    fc.tuple(fc.integer({ min: 1000, max: 5000 }), fc.nat()).map(([f, v]) => rawField(f, v)),
    fc.tuple(fc.integer({ min: 1000, max: 5000 }), fc.uint8Array({ maxLength: 20 })).map(([f, v]) => rawField(f, v)),
  ),
  { minLength: 1, maxLength: 3 },
);

function valueArb(f: protobuf.Field, depth: number): fc.Arbitrary<unknown> | undefined {
  const rt = f.resolve().resolvedType;
  if (rt instanceof protobuf.Type) return depth > 2 ? undefined : msgArb(rt, depth + 1);
  if (rt instanceof protobuf.Enum) return fc.integer({ min: -5, max: 30 });
  switch (f.type) {
    case 'int32': return fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 200 }));
    case 'int64': case 'uint64': return int64Arb;
    case 'float': case 'double': return fc.double();
    case 'bool': return fc.boolean();
    case 'string': return stringArb;
    case 'bytes': return fc.uint8Array({ maxLength: 40 });
  }
  throw new Error(`no arbitrary for ${f.type}`);
}

const memo = new Map<string, fc.Arbitrary<Msg>>();
function msgArb(type: protobuf.Type, depth = 0): fc.Arbitrary<Msg> {
  const key = `${type.fullName}@${depth}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const entries: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of type.fieldsArray) {
    const v = valueArb(f, depth);
    if (!v) continue;
    entries[f.name] = f.repeated ? fc.array(v, { maxLength: depth > 1 ? 2 : 4 }) : v;
  }
  const arb = fc.tuple(fc.record(entries, { requiredKeys: [] }), fc.option(unknownArb, { freq: 4 })).map(([m, u]) => {
    const out = m as Msg;
    if (u) out.$unknowns = u;
    return out;
  });
  memo.set(key, arb);
  return arb;
}

test('random messages of every ONNX type: byte-identical to protobufjs; parts concatenate to the flat bytes', () => {
  for (const type of TYPES) {
    fc.assert(
      fc.property(msgArb(type), fc.integer({ min: 1, max: 64 }), (m, spliceMin) => {
        const want = type.encode(m).finish();
        const got = encodeFlat(type, m);
        assert.ok(same(got, want), `${type.name}: ${Buffer.from(got).toString('hex')} != ${Buffer.from(want).toString('hex')}`);
        assert.ok(same(concatParts(encodeParts(type, m, spliceMin)), want), `${type.name} parts (spliceMin ${spliceMin})`);
      }),
      { numRuns: 150, seed: 1515 },
    );
  }
});

test('the exotic model message (unknown fields at every level): byte-identical to protobufjs', () => {
  const m = exoticModelMsg();
  assert.ok(same(encodeFlat(ModelProto, m), ModelProto.encode(m).finish()));
});

test('FileRange values: read into the flat bytes, handed back as parts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-wire-'));
  const path = join(dir, 'data.bin');
  const data = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) & 255);
  writeFileSync(path, data);
  const file = new LazyFile(path, statSync(path));
  const m: Msg = { ir_version: 9, graph: { name: 'g', initializer: [{ name: 'a', dims: [25_000], data_type: 1, raw_data: new FileRange(file, 0, 100_000) }, { name: 'b', raw_data: new FileRange(file, 10, 5) }] } };
  const inMemory: Msg = { ir_version: 9, graph: { name: 'g', initializer: [{ name: 'a', dims: [25_000], data_type: 1, raw_data: data }, { name: 'b', raw_data: data.subarray(10, 15) }] } };
  const want = ModelProto.encode(inMemory).finish();
  assert.ok(same(encodeFlat(ModelProto, m), want));
  const parts = encodeParts(ModelProto, m, 4096);
  assert.equal(parts.filter((p) => p instanceof FileRange).length, 2);
  assert.ok(same(concatParts(parts), want));
});

test('random models: encodeModel is canonical protobufjs output, equal to its save parts, and a fixed point', () => {
  fc.assert(
    fc.property(cnnModel(), (model) => {
      const bytes = encodeModel(model);
      assert.ok(same(bytes, ModelProto.encode(ModelProto.decode(bytes)).finish()));
      assert.ok(same(concatParts(encodeModelChunks(model, { baseDir: process.cwd() })), bytes));
      assert.ok(same(encodeModel(decodeModel(bytes)), bytes));
    }),
    { numRuns: 25, seed: 15 },
  );
});
