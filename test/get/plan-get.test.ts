/**
 * `dnnfuse plan --get ...`: the search rectifies invalid groups with GET's SPLIT and the
 * schedule's plan section records the rectifier statistics, rectify rate and split trees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ModelBuilder } from '../../src/models/builder.ts';
import { saveModel } from '../../src/onnx/io.ts';
import { runCli as cli } from '../support/cli.ts';

const require = createRequire(import.meta.url);
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(require('../../schema/schedule.schema.json'));
const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-plan-get-'));

/** Residual CNN with an SE block: wide enough that most random groups overflow 16 KiB (int8). */
function net(): string {
  const b = new ModelBuilder({ seed: 11 });
  let x = b.input('input', [1, 8, 32, 32]);
  x = b.relu(b.batchNorm(b.conv(x, { outChannels: 24, kernel: 3, pads: 'same' })));
  for (let i = 0; i < 3; i++) {
    const y = b.batchNorm(b.conv(b.relu(b.batchNorm(b.conv(x, { outChannels: 24, kernel: 3, pads: 'same' }))), { outChannels: 24, kernel: 3, pads: 'same' }));
    x = b.relu(b.add(y, x));
  }
  x = b.squeezeExcite(x, 4);
  b.output(b.gemm(b.flatten(b.globalAveragePool(x)), 10));
  const path = join(dir, 'net.onnx');
  saveModel(b.build('net'), path);
  return path;
}


interface Tree { group: number[]; outcome: string; children?: Tree[] }
const leaves = (t: Tree): number[][] => (t.children?.length ? t.children.flatMap(leaves) : [t.group]);

test('plan --get pg: valid schedule with split trees, byte-identical for a seed', async () => {
  const model = net();
  const args = ['plan', model, '--hw', 'paper-128k', '--buffer', '16KiB', '--dtype', 'int8', '--scheme', 'lbdf', '--search', 'random', '--budget', '40', '--seed', '3', '--no-optimum', '--no-warm-start', '--get', 'pg'];
  const out1 = join(dir, 'a.json');
  const out2 = join(dir, 'b.json');
  const r1 = await cli([...args, '-o', out1]);
  assert.equal(r1.code, 0, r1.err);
  assert.match(r1.err, /GET pg: \d+ invalid groups, rectify rate [0-9.]+%, \d+ split trees/);
  const r2 = await cli([...args, '-o', out2, '--quiet']);
  assert.equal(r2.code, 0, r2.err);
  const text = readFileSync(out1, 'utf8');
  assert.equal(text, readFileSync(out2, 'utf8'), 'same seed -> byte-identical schedule');
  const s = JSON.parse(text) as { passes: { name: string; annotations: any }[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.ok(validate(s), JSON.stringify(validate.errors?.slice(0, 3)));
  const plan = s.passes.find((p) => p.name === 'plan')!.annotations;
  assert.equal(plan.search.rectifier, 'get-pg');
  assert.ok(plan.groups.every((g: { valid: boolean }) => g.valid), 'every group of the final plan fits');
  const get = plan.get;
  assert.equal(get.explainer, 'pg');
  assert.ok(get.invalidGroups > 0, 'the search met invalid groups');
  assert.equal(get.rectified + get.fallback, get.invalidGroups);
  // 0 is possible: with refineDeep (default) every group of this small net, and every sub-group
  // SPLIT recurses into, has a proven optimum, so the explainer's cuts are used nowhere
  assert.ok(get.rectifyRate >= 0 && get.rectifyRate <= 1);
  assert.ok(get.splitTrees.length > 0, 'split trees recorded');
  // Every recorded tree's leaves are groups of the final plan (ops in topological numbering).
  const sizes = new Set(plan.groups.map((g: { nodes: string[] }) => g.nodes.length));
  for (const t of get.splitTrees as Tree[]) {
    assert.notEqual(t.outcome, 'valid');
    for (const l of leaves(t)) assert.ok(sizes.has(l.length), `leaf ${l} has the size of a plan group`);
  }
});

test('plan --get none (default) is the random split; bad --get is a one-line error', async () => {
  const model = net();
  const out = join(dir, 'n.json');
  const r = await cli(['plan', model, '--hw', 'paper-128k', '--buffer', '32KiB', '--search', 'random', '--budget', '20', '--no-optimum', '--quiet', '-o', out]);
  assert.equal(r.code, 0, r.err);
  const plan = JSON.parse(readFileSync(out, 'utf8')).passes[0].annotations;
  // --get none is sugar for plan.rectifier=random: the same annotations as compile's plan pass
  assert.equal(plan.search.rectifier, 'random-split');
  assert.equal(plan.get, undefined);
  assert.equal(plan.search.rectifiedGroups, plan.search.invalidGroups);
  const bad = await cli(['plan', model, '--get', 'magic', '--quiet']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--get magic: expected one of gnne, pg, rg, cuts, none/);
  assert.equal(bad.err.trim().split('\n').length, 1);
});
