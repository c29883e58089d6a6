import test from 'node:test';
import assert from 'node:assert/strict';
import { ModelBuilder } from '../../src/models/builder.ts';
import { Node } from '../../src/ir/graph.ts';
import type { Pass } from '../../src/passes/pass.ts';
import { runPasses, fixedPoint, scheduleToJson, parseSchedule, annotationsOf, SCHEDULE_SCHEMA_VERSION } from '../../src/passes/manager.ts';
import { registerPass, unregisterPass, getPass, parsePipeline, listPasses } from '../../src/passes/registry.ts';
import { DnnfuseError } from '../../src/errors.ts';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { scheduleGraph } from '../../src/passes/manager.ts';

function chain() {
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('x', [1, 3, 8, 8]);
  b.output(b.relu(b.batchNorm(b.conv(x, { outChannels: 4, pads: 'same' }))));
  return b.build();
}

const recorder = (name: string, log: string[], extra: Partial<Pass> = {}): Pass => ({
  name,
  description: name,
  reads: [],
  writes: [`annotations:${name}`],
  run(model) {
    log.push(name);
    return { changed: false, annotations: { nodes: model.graph.nodes.length } };
  },
  ...extra,
});

test('manager runs passes in order and records changed, ms, nodes and annotations', async () => {
  const log: string[] = [];
  const m = chain();
  const { schedule } = await runPasses(m, [recorder('a', log), recorder('b', log)], { seed: 7 });
  assert.deepEqual(log, ['a', 'b']);
  assert.equal(schedule.schemaVersion, SCHEDULE_SCHEMA_VERSION);
  assert.equal(schedule.seed, 7);
  assert.deepEqual(schedule.passes.map((p) => p.name), ['a', 'b']);
  assert.deepEqual(schedule.passes[0].annotations, { nodes: 3 });
  assert.ok(schedule.passes.every((p) => p.ms >= 0 && p.changed === false));
  assert.equal(schedule.model.nodesBefore, 3);
  assert.deepEqual(schedule.model.inputs, [{ name: 'x', shape: [1, 3, 8, 8] }]);
});

test('a promise onPassEnd returns is awaited before the next pass starts', async () => {
  const log: string[] = [];
  await runPasses(chain(), [recorder('a', log), recorder('b', log)], {}, {
    onPassEnd: async (r) => {
      await new Promise((res) => setTimeout(res, 5));
      log.push(`end ${r.name}`);
    },
  });
  assert.deepEqual(log, ['a', 'end a', 'b', 'end b']);
});

test('manager refuses a pipeline whose reads are unmet, before running anything', async () => {
  const log: string[] = [];
  const needsHw = recorder('needs-hw', log, { reads: ['hardware'] });
  await assert.rejects(runPasses(chain(), [recorder('first', log), needsHw], {}), (e: unknown) => {
    assert.ok(e instanceof DnnfuseError);
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /pass 'needs-hw' \(pipeline step 2\) needs an accelerator/);
    return true;
  });
  assert.deepEqual(log, [], 'nothing ran');
  const needsPlan = recorder('consumer', log, { reads: ['annotations:plan'] });
  await assert.rejects(runPasses(chain(), [needsPlan], {}), /needs the 'plan' annotations \(run the 'plan' pass earlier/);
  // satisfied by an earlier pass named plan, or by one declaring it writes annotations:plan
  await runPasses(chain(), [recorder('plan', log), needsPlan]);
  await runPasses(chain(), [recorder('my-planner', log, { writes: ['annotations:plan'] }), needsPlan]);
  // ... but not by a later one
  await assert.rejects(runPasses(chain(), [needsPlan, recorder('plan', log)]), /needs the 'plan' annotations/);
});

test('earlier annotations are visible to later passes through ctx.annotations', async () => {
  let seen: unknown;
  const reader: Pass = { name: 'reader', description: '', reads: ['annotations:a'], writes: [], run(_m, ctx) { seen = ctx.annotations.a; return { changed: false }; } };
  const r = await runPasses(chain(), [recorder('a', []), reader]);
  assert.deepEqual(seen, { nodes: 3 });
  assert.equal(r.schedule.passes[1].annotations, null);
  assert.deepEqual(annotationsOf(r.schedule, 'a'), { nodes: 3 });
});

test('analyses are invalidated after a changing pass, even if the pass forgot to', async () => {
  const m = chain();
  let producerSeen: string | undefined;
  const before = m.graph.producer(m.graph.outputs[0].name)!.opType; // fills the index cache
  assert.equal(before, 'Relu');
  const sneaky: Pass = {
    name: 'sneaky', description: '', reads: [], writes: ['graph'],
    run(model) {
      // Appends a node by editing the array directly (no invalidate()).
      const out = model.graph.outputs[0].name;
      const n = new Node({ name: 'extra', opType: 'Sigmoid', inputs: [out], outputs: ['y2'] });
      (model.graph as unknown as { nodes: Node[] }).nodes.push(n);
      model.graph.outputs[0] = { name: 'y2', type: model.graph.outputs[0].type };
      return { changed: true };
    },
  };
  const check: Pass = { name: 'check', description: '', reads: [], writes: [], run(model) { producerSeen = model.graph.producer('y2')?.opType; return { changed: false }; } };
  await runPasses(m, [sneaky, check]);
  assert.equal(producerSeen, 'Sigmoid');
});

test('a pass that breaks the IR is reported by name with exit code 1', async () => {
  const breaker: Pass = {
    name: 'breaker', description: '', reads: [], writes: ['graph'],
    run(model) {
      model.graph.nodes[1].inputs[0] = 'nowhere';
      return { changed: true };
    },
  };
  await assert.rejects(runPasses(chain(), [breaker]), (e: unknown) => {
    assert.ok(e instanceof DnnfuseError);
    assert.equal(e.exitCode, 1);
    assert.match(e.message, /after pass 'breaker': node '.*' \(BatchNormalization\) reads 'nowhere'/);
    return true;
  });
});

test('an unexpected exception inside a pass is wrapped with the pass name', async () => {
  const boom: Pass = { name: 'boom', description: '', reads: [], writes: [], run() { throw new TypeError('x is undefined'); } };
  await assert.rejects(runPasses(chain(), [boom]), /pass 'boom' failed: x is undefined/);
});

test('registry: built-ins, registerPass, duplicates, unknown names, replace and restore', () => {
  assert.ok(listPasses().some((p) => p.name === 'dce' && p.builtin));
  const mine = recorder('my-pass', []);
  registerPass(mine);
  try {
    assert.equal(getPass('my-pass'), mine);
    assert.throws(() => registerPass(mine), /already registered/);
    assert.throws(() => registerPass({ ...mine, name: 'Bad Name' }), /kebab-case/);
    assert.throws(() => parsePipeline('dce,nope'), /unknown pass 'nope' \(known passes: .*dce/);
    assert.throws(() => parsePipeline('dce,,verify'), /empty entry/);
    assert.deepEqual(parsePipeline(' dce , my-pass ').map((p) => p.name), ['dce', 'my-pass']);
    const dce2 = { ...recorder('dce', []) };
    registerPass(dce2, { replace: true });
    assert.equal(getPass('dce'), dce2);
  } finally {
    unregisterPass('my-pass');
    unregisterPass('dce');
  }
  assert.notEqual(getPass('dce').description, 'dce', 'built-in restored');
  assert.throws(() => getPass('my-pass'), /unknown pass/);
});

test('dce and verify built-ins', async () => {
  const b = new ModelBuilder({ seed: 2 });
  const x = b.input('x', [1, 2, 4, 4]);
  b.relu(x); // dead
  b.output(b.sigmoid(x));
  const m = b.build();
  const { schedule } = await runPasses(m, parsePipeline('dce,verify'));
  assert.deepEqual(schedule.passes[0].annotations, { removedNodes: 1 });
  assert.equal(schedule.passes[0].changed, true);
  assert.equal(m.graph.nodes.length, 1);
  assert.deepEqual(schedule.passes[1].annotations, { ok: true, nodes: 1 });
});

test('fixedPoint repeats until no change and bounds the iterations', async () => {
  let n = 0;
  const three: Pass = { name: 'three', description: 'd', reads: [], writes: [], run() { n++; return { changed: n < 3, annotations: n }; } };
  const { schedule } = await runPasses(chain(), [fixedPoint(three)]);
  assert.equal(n, 3);
  assert.equal(schedule.passes[0].changed, true);
  const never: Pass = { name: 'never', description: 'd', reads: [], writes: [], run() { return { changed: true }; } };
  let logged = '';
  const r = await runPasses(chain(), [fixedPoint(never, 4)], { log: (m) => (logged += m) });
  assert.equal(r.schedule.passes[0].status, 'limit-reached');
  assert.match(r.schedule.passes[0].reason!, /no fixed point after 4 iterations of 'never'/);
  assert.match(logged, /never: limit-reached: no fixed point after 4/);
});

test('schedule JSON round-trips; omitTimings makes it byte-identical; bad envelopes are refused', async () => {
  const a = await runPasses(chain(), [recorder('a', [])], { seed: 3 }, { omitTimings: true });
  const b = await runPasses(chain(), [recorder('a', [])], { seed: 3 }, { omitTimings: true });
  assert.equal(scheduleToJson(a.schedule), scheduleToJson(b.schedule));
  assert.deepEqual(parseSchedule(scheduleToJson(a.schedule)), JSON.parse(scheduleToJson(a.schedule)));
  assert.throws(() => parseSchedule('{'), /not valid JSON/);
  assert.throws(() => parseSchedule('{"passes":[]}'), /no schemaVersion/);
  assert.throws(() => parseSchedule('{"schemaVersion":"9.0","passes":[],"model":{}}'), /9.0 is not supported/);
});

test('schedules validate against schema/schedule-envelope.schema.json; broken ones do not', async () => {
  const schema = JSON.parse(readFileSync(new URL('../../schema/schedule-envelope.schema.json', import.meta.url), 'utf8'));
  const validate = new Ajv({ strict: false }).compile(schema);
  const m = chain();
  const { schedule } = await runPasses(m, parsePipeline('dce,verify'), { seed: 2, scheme: 'brr', hardware: { name: 'x', bufferBytes: 1024, elementType: 'int8', dramBytesPerSecond: 1e9, macsPerSecond: 1e9 } });
  schedule.graph = scheduleGraph(m);
  const doc = JSON.parse(scheduleToJson(schedule));
  assert.equal(validate(doc), true, JSON.stringify(validate.errors));
  assert.equal(validate({ ...doc, schemaVersion: '3.0' }), false);
  assert.equal(validate({ ...doc, passes: doc.passes.map(({ kind: _k, ...p }: { kind: string }) => p) }), false, 'kind is required');
  assert.equal(validate({ ...doc, passes: [{ name: 'x' }] }), false);
  assert.equal(validate({ ...doc, hardware: { name: 'x', bufferBytes: 0 } }), false);
});
