import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ModelBuilder } from '../../src/models/builder.ts';
import { saveModel } from '../../src/onnx/io.ts';
import { runCli as cli } from '../support/cli.ts';
import { runPasses } from '../../src/passes/manager.ts';
import { planPass } from '../../src/passes/plan-fusion.ts';
import { PRESETS } from '../../src/hardware/load.ts';

const require = createRequire(import.meta.url);
const compiled = new Ajv2020({ strict: false, allErrors: true }).compile(require('../../schema/schedule.schema.json'));
const validate = Object.assign((d: unknown): boolean => compiled(d), { get errors() { return compiled.errors; } });
const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-plan-'));

function smallNet() {
  const b = new ModelBuilder({ seed: 4 });
  let x = b.input('input', [1, 8, 32, 32]);
  x = b.relu(b.batchNorm(b.conv(x, { outChannels: 16, kernel: 3, pads: 'same', stride: 2 })));
  for (let i = 0; i < 2; i++) {
    const y = b.batchNorm(b.conv(b.relu(b.batchNorm(b.conv(x, { outChannels: 16, kernel: 3, pads: 'same' }))), { outChannels: 16, kernel: 3, pads: 'same' }));
    x = b.relu(b.add(y, x));
  }
  x = b.squeezeExcite(x, 4);
  b.output(b.gemm(b.flatten(b.globalAveragePool(x)), 10));
  const path = join(dir, 'net.onnx');
  saveModel(b.build('net'), path);
  return path;
}


test('dnnfuse plan: schema-valid schedule, byte-identical for the same seed', async () => {
  const model = smallNet();
  const out1 = join(dir, 's1.json');
  const out2 = join(dir, 's2.json');
  for (const [scheme, search] of [['lbdf', 'local'], ['brr', 'nsga2']] as const) {
    const args = ['plan', model, '--hw', 'paper-128k', '--buffer', '64KiB', '--scheme', scheme, '--search', search, '--budget', '60', '--seed', '5', '--time-limit', '3'];
    const r1 = await cli([...args, '-o', out1]);
    assert.equal(r1.code, 0, r1.err);
    assert.match(r1.err, /groups, DRAM [0-9.]+ MB .* vs layer-by-layer [0-9.]+ MB/);
    const r2 = await cli([...args, '-o', out2, '--quiet']);
    assert.equal(r2.code, 0);
    assert.equal(r2.err, '');
    const text = readFileSync(out1, 'utf8');
    assert.equal(text, readFileSync(out2, 'utf8'), 'same seed -> byte-identical schedule');
    const s = JSON.parse(text);
    assert.ok(validate(s), JSON.stringify(validate.errors?.slice(0, 3)));
    const plan = s.passes.find((p: { name: string }) => p.name === 'plan').annotations;
    assert.equal(plan.scheme, scheme);
    assert.equal(plan.bufferBytes, 65536);
    assert.equal(s.hardware.bufferBytes, 65536);
    assert.equal(plan.search.seed, 5);
    // every op appears in exactly one group
    const names = plan.groups.flatMap((g: { nodes: string[] }) => g.nodes);
    assert.equal(new Set(names).size, names.length);
    assert.equal(names.length, plan.totals.ops);
    assert.ok(plan.totals.dramBytes <= plan.totals.layerByLayerDramBytes);
    assert.ok(plan.optimum && plan.optimum.dramBytes <= plan.totals.dramBytes);
    assert.ok(plan.groups.every((g: { valid: boolean }) => g.valid));
    if (scheme === 'brr') assert.ok(plan.groups.some((g: { weightSubgroups?: unknown[] }) => Array.isArray(g.weightSubgroups)));
    // the schema rejects a broken plan
    const broken = structuredClone(s);
    broken.passes[0].annotations.groups[0].memory.items.push({ tensor: 'x', kind: 'magic', bytes: 1, detail: '' });
    assert.equal(validate(broken), false);
  }
});

test('dnnfuse plan: bad options are one-line errors with exit code 2', async () => {
  const model = smallNet();
  const bad = join(dir, 'hw.json');
  writeFileSync(bad, JSON.stringify({ bufferBytes: 0 }));
  for (const [args, re] of [
    [['--scheme', 'xyz'], /--scheme xyz: expected lbdf or brr/],
    [['--search', 'magic'], /--search magic: expected one of lbl, greedy/],
    [['--hw', bad], /hardware config hw\.json: bufferBytes must be > 0/],
    [['--budget', '0'], /--budget 0: expected a positive integer/],
    [['--dtype', 'int2'], /elementType must be one of int8, fp16, fp32/],
  ] as const) {
    const r = await cli(['plan', model, ...args, '--quiet']);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, re);
    assert.equal(r.err.trim().split('\n').length, 1);
  }
});

test('plan pass in a pipeline: annotations = the fusion part; graph unchanged', async () => {
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('x', [1, 4, 16, 16]);
  b.output(b.relu(b.conv(b.relu(b.conv(x, { outChannels: 4, kernel: 3, pads: 'same' })), { outChannels: 4, kernel: 3, pads: 'same' })));
  const model = b.build('chain');
  const nodes = model.graph.nodes.length;
  const { schedule } = await runPasses(model, [planPass], { hardware: PRESETS['edge-512k'], scheme: 'lbdf', seed: 1, options: { plan: { search: 'greedy' } } }, { omitTimings: true });
  assert.equal(model.graph.nodes.length, nodes);
  const a = schedule.passes[0].annotations as { groups: { nodes: string[] }[]; optimum: { status: string; solver: string } };
  assert.equal(a.groups.length, 1, 'the whole chain fits in 512 KiB');
  assert.equal(a.optimum.status, 'optimal');
  assert.equal(a.optimum.solver, 'chain-dp');
  assert.ok(validate(schedule), JSON.stringify(validate.errors?.slice(0, 3)));
  await assert.rejects(runPasses(model, [planPass], { hardware: PRESETS['edge-512k'], seed: 1, options: { plan: { search: 'bogus' as 'local' } } }), /pass 'plan': option 'search' must be one of lbl, greedy, random, local, nsga2, exact, got "bogus"/);
});

test("dnnfuse plan: an optimum proven by the component bounds says solver 'bound', and the schema takes it", async () => {
  const model = smallNet();
  const out = join(dir, 'bound.json');
  // 64 MiB holds the whole network: the search's one group meets the lower bound
  const r = await cli(['plan', model, '--hw', 'paper-128k', '--buffer', '64MiB', '--scheme', 'brr', '--search', 'greedy', '-o', out, '--quiet']);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(readFileSync(out, 'utf8'));
  const plan = s.passes.find((p: { name: string }) => p.name === 'plan').annotations;
  assert.equal(plan.optimum.status, 'optimal');
  assert.equal(plan.optimum.solver, 'bound');
  assert.equal(plan.optimum.candidates, 0);
  assert.equal(plan.optimum.dramBytes, plan.totals.dramBytes);
  assert.ok(validate(s), JSON.stringify(validate.errors?.slice(0, 3)));
});
