/**
 * Seeded random verification inputs fit each input's dtype and use: an int64 scalar compared
 * with a constant gets that constant (Silero's `sr`), indices stay inside the table they index,
 * masks are ones, bools are fed as bools, and `--input-value` overrides; onnxruntime runs them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Model, Node, attr } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { randomFeeds, runModel } from '../../src/analysis/ort.ts';
import { parseInputValues } from '../../src/analysis/input-ranges.ts';
import { DnnfuseError } from '../../src/errors.ts';

function model(): Model {
  const g = new Graph({ name: 'feeds' });
  g.inputs.push(
    { name: 'sr', type: { elemType: DataType.INT64, shape: [] } },
    { name: 'ids', type: { elemType: DataType.INT64, shape: [2, 5] } },
    { name: 'attention_mask', type: { elemType: DataType.INT64, shape: [2, 5] } },
    { name: 'flag', type: { elemType: DataType.BOOL, shape: [3] } },
    { name: 'q', type: { elemType: DataType.UINT8, shape: [4] } },
    { name: 'sample_rate', type: { elemType: DataType.INT32, shape: [] } },
  );
  g.setInitializer(Tensor.int64('rate', [], [16000]));
  g.setInitializer(Tensor.float32('table', [7, 3], Float32Array.from({ length: 21 }, (_, i) => i)));
  g.addNode(new Node({ name: 'is16k', opType: 'Equal', inputs: ['sr', 'rate'], outputs: ['eq'] }));
  g.addNode(new Node({ name: 'ids_cast', opType: 'Cast', inputs: ['ids'], outputs: ['ids32'], attributes: [attr.int('to', DataType.INT32)] }));
  g.addNode(new Node({ name: 'embed', opType: 'Gather', inputs: ['table', 'ids32'], outputs: ['emb'] }));
  g.addNode(new Node({ name: 'notflag', opType: 'Not', inputs: ['flag'], outputs: ['nf'] }));
  g.outputs.push({ name: 'eq', type: { elemType: DataType.BOOL } }, { name: 'emb', type: { elemType: DataType.FLOAT } }, { name: 'nf', type: { elemType: DataType.BOOL } }, { name: 'attention_mask', type: { elemType: DataType.INT64 } }, { name: 'q', type: { elemType: DataType.UINT8 } });
  return new Model({ graph: g, opsetImports: [{ domain: '', version: 13 }] });
}

test('integer and bool inputs get values fitting their dtype and use; onnxruntime runs them', async () => {
  const m = model();
  for (const seed of [0, 1, 2]) {
    const f = randomFeeds(m, seed);
    assert.deepEqual([...(f.sr.data as BigInt64Array)], [16000n], 'compared with the constant 16000');
    assert.deepEqual([...(f.sample_rate.data as Int32Array)], [16000], 'named like a sample rate');
    const ids = [...(f.ids.data as BigInt64Array)].map(Number);
    assert.ok(ids.every((i) => i >= 0 && i < 7), `indices into a 7-row table: ${ids}`);
    assert.ok(new Set(ids).size > 1, 'random, not constant');
    assert.ok([...(f.attention_mask.data as BigInt64Array)].every((x) => x === 1n));
    assert.equal(f.flag.bool, true);
    assert.ok([...f.flag.data].every((x) => x === 0 || x === 1));
    const out = await runModel(m, f);
    assert.deepEqual([...out.eq.data], [1]);
  }
  assert.deepEqual(randomFeeds(m, 0), randomFeeds(m, 0), 'seeded');
});

test('--input-value fixes an input; a bad spec or an unknown input is a one-line error', () => {
  const m = model();
  const f = randomFeeds(m, 0, {}, parseInputValues(['sr=8000', 'flag=true']));
  assert.deepEqual([...(f.sr.data as BigInt64Array)], [8000n]);
  assert.deepEqual([...f.flag.data], [1, 1, 1]);
  assert.throws(() => parseInputValues(['sr']), (e: unknown) => e instanceof DnnfuseError && /--input-value 'sr': expected NAME=NUMBER/.test(e.message));
  assert.throws(() => randomFeeds(m, 0, {}, { nope: 1 }), (e: unknown) => e instanceof DnnfuseError && /no graph input 'nope'/.test(e.message));
});
