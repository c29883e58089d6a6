import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cnnProgram, buildCnn } from '../../src/testkit/arbitraries.ts';
import { assertSameOutputs } from '../../src/testkit/properties.ts';
import { outlineFusionGroups, annotateFusionGroups, readFusionGroups, FUSION_DOMAIN } from '../../src/onnx/functions.ts';
import { encodeModel, decodeModel } from '../../src/onnx/io.ts';
import type { Model } from '../../src/ir/graph.ts';
import type { Msg } from '../../src/onnx/schema.ts';
import { NodeCarry } from '../../src/onnx/carry.ts';
import { DnnfuseError } from '../../src/errors.ts';
import { Rng } from '../../src/util/random.ts';

/** Random convex grouping: consecutive runs of the topological order (always convex). */
function runsOf(model: Model, seed: number) {
  const order = model.graph.topoOrder().map((n) => n.name);
  const rng = new Rng(seed);
  const groups: { id: number; nodes: string[] }[] = [];
  for (let i = 0; i < order.length; ) {
    const len = rng.int(1, 5);
    groups.push({ id: groups.length, nodes: order.slice(i, i + len) });
    i += len;
  }
  return groups;
}

const roundTrip = (m: Model) => decodeModel(encodeModel(m));

test('fusion groups as local functions: onnxruntime loads the model and gives the same outputs (property)', async () => {
  await fc.assert(
    fc.asyncProperty(cnnProgram({ maxBlocks: 5, maxChannels: 8 }), fc.integer({ min: 0, max: 1000 }), async (prog, seed) => {
      const original = buildCnn(prog);
      const m = roundTrip(original);
      const groups = runsOf(m, seed);
      const r = outlineFusionGroups(m, groups, { scheme: 'lbdf' });
      assert.equal(r.functions, groups.length);
      const bytes = encodeModel(m);
      const back = decodeModel(bytes);
      const fns = back.functions as Msg[];
      assert.equal(fns.length, groups.length, 'one FunctionProto per group');
      assert.ok(fns.every((f) => f.domain === FUSION_DOMAIN));
      assert.equal(back.graph.nodes.length, groups.length, 'the main graph only calls the functions');
      assert.ok(back.graph.nodes.every((n) => n.domain === FUSION_DOMAIN));
      assert.ok(back.opsetImports.some((o) => o.domain === FUSION_DOMAIN));
      // every original node is inside exactly one function, under its own name
      const inside = fns.flatMap((f) => (f.node as Msg[]).map((n) => n.name));
      assert.deepEqual([...inside].sort(), original.graph.nodes.map((n) => n.name).sort());
      assert.deepEqual(readFusionGroups(back), groups);
      await assertSameOutputs(original, bytes, { seed });
    }),
    { numRuns: 12, seed: 42 },
  );
});

test('fusion groups as node metadata: tags every node, model runs unchanged', async () => {
  const original = buildCnn({ seed: 3, inChannels: 3, size: 12, blocks: [{ kind: 'residual', bottleneck: true }, { kind: 'se', reduction: 2 }, { kind: 'concat', a: 3, b: 4 }], head: true });
  const m = roundTrip(original);
  const groups = runsOf(m, 1);
  const r = annotateFusionGroups(m, groups, { scheme: 'brr' });
  assert.equal(r.annotated, groups.length);
  const back = decodeModel(encodeModel(m));
  assert.equal(back.functions.length, 0);
  assert.equal(back.graph.nodes.length, original.graph.nodes.length);
  for (const n of back.graph.nodes) {
    const msg = (n.carry as NodeCarry).msg;
    const props = Object.fromEntries((msg.metadata_props as Msg[]).map((e) => [e.key, e.value]));
    const g = groups.find((x) => x.nodes.includes(n.name))!;
    assert.equal(props['dnnfuse.group'], String(g.id));
    assert.equal(props['dnnfuse.scheme'], 'brr');
    assert.match(msg.doc_string, /dnnfuse\.fusion group \d+ \(brr\)/);
  }
  // without the schedule metadata, the groups are read back from the node tags
  back.metadata = back.metadata.filter((e) => e.key !== 'dnnfuse.schedule');
  assert.deepEqual(readFusionGroups(back), groups);
  await assertSameOutputs(original, encodeModel(m));
});

test('outlining refuses groups that name unknown nodes, overlap, or are not convex', () => {
  const model = () => roundTrip(buildCnn({ seed: 1, inChannels: 2, size: 8, blocks: [{ kind: 'conv-bn-relu', out: 4, kernel: 3, stride: 1, bn: true }, { kind: 'residual', bottleneck: false }], head: false }));
  const m1 = model();
  assert.throws(() => outlineFusionGroups(m1, [{ id: 0, nodes: ['nope'] }]), (e: unknown) => e instanceof DnnfuseError && e.exitCode === 1 && /names node 'nope'.*put 'plan' after/.test(e.message));
  const m2 = model();
  const names = m2.graph.topoOrder().map((n) => n.name);
  assert.throws(() => outlineFusionGroups(m2, [{ id: 0, nodes: [names[0]] }, { id: 1, nodes: [names[0], names[1]] }]), /in fusion groups 0 and 1/);
  // first and last node in one group, the middle ones in another: a cycle between the groups
  const m3 = model();
  const o = m3.graph.topoOrder().map((n) => n.name);
  const before = encodeModel(m3);
  assert.throws(() => outlineFusionGroups(m3, [{ id: 0, nodes: [o[0], o[o.length - 1]] }, { id: 1, nodes: o.slice(1, -1) }]), /cycle.*not convex/);
  assert.deepEqual(encodeModel(m3), before, 'the model is left as it was');
});

test('ungrouped nodes sandwiched inside a group are absorbed into it', async () => {
  const original = buildCnn({ seed: 5, inChannels: 2, size: 8, blocks: [{ kind: 'conv-bn-relu', out: 4, kernel: 3, stride: 1, bn: true }], head: false });
  const m = roundTrip(original);
  const [conv, bn, relu] = m.graph.topoOrder().map((n) => n.name);
  const r = outlineFusionGroups(m, [{ id: 7, nodes: [conv, relu] }]);
  assert.equal(r.absorbed, 1);
  assert.equal(m.graph.nodes.length, 1);
  assert.deepEqual(((m.functions[0] as Msg).node as Msg[]).map((n) => n.name), [conv, bn, relu]);
  await assertSameOutputs(original, encodeModel(m));
});
