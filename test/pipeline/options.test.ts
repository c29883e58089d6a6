/**
 * Typed pass options: every pass declares a schema; the manager checks ctx.options before any
 * pass runs (unknown pass, unknown key, mistyped value, prototype keys -> exit 2 with one line
 * naming pass and key) and hands the passes null-prototype copies; non-JSON hooks travel in
 * ctx.services.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ModelBuilder } from '../../src/models/builder.ts';
import type { Pass, PassContext } from '../../src/passes/pass.ts';
import { checkOptions, runPasses } from '../../src/passes/manager.ts';
import { builtinPasses } from '../../src/passes/builtins.ts';
import { planPass } from '../../src/passes/plan-fusion.ts';
import { PRESETS } from '../../src/hardware/load.ts';
import { randomSplit } from '../../src/fusion/rectify.ts';
import { DnnfuseError } from '../../src/errors.ts';
import { runCli } from '../support/cli.ts';

const exit2 = (re: RegExp) => (e: unknown) => e instanceof DnnfuseError && e.exitCode === 2 && re.test(e.message) && !e.message.includes('\n');

function net() {
  const b = new ModelBuilder({ seed: 3 });
  let x = b.input('input', [1, 4, 16, 16]);
  for (let i = 0; i < 3; i++) x = b.relu(b.conv(x, { outChannels: 8, kernel: 3, pads: 'same' }));
  b.output(x);
  return b.build();
}

test('every built-in pass declares a closed options schema', () => {
  for (const p of builtinPasses) {
    assert.ok(p.options, `${p.name} declares options`);
    assert.equal(p.options!.additionalProperties, false, p.name);
  }
});

test('checkOptions: unknown pass, unknown key, mistyped value, prototype keys are one-line bad-input errors naming pass and key', () => {
  const passes = [planPass];
  assert.throws(() => checkOptions(passes, { plan: { budgte: 3 } }), exit2(/pass 'plan': unknown option 'budgte'/));
  assert.throws(() => checkOptions(passes, { plna: { search: 'x' } }), exit2(/pass 'plna'.*not in the pipeline/));
  assert.throws(() => checkOptions(passes, { plan: { budget: 'many' } }), exit2(/pass 'plan': option 'budget' must be integer, got "many"/));
  assert.throws(() => checkOptions(passes, { plan: { rectifier: 'get-magic' } }), exit2(/pass 'plan': option 'rectifier' must be one of random, get-gnne/));
  assert.throws(() => checkOptions(passes, { plan: { rectifier: randomSplit } }), exit2(/option 'rectifier'/), 'functions are not options');
  assert.throws(() => checkOptions(passes, JSON.parse('{"plan": {"__proto__": {"budget": 1}}}')), exit2(/option key '__proto__' is not allowed/));
  assert.throws(() => checkOptions(passes, { plan: { constructor: 1 } }), exit2(/'constructor' is not allowed/));
  assert.throws(() => checkOptions(passes, JSON.parse('{"__proto__": {}}')), exit2(/'__proto__' is not a pass name/));
  const ok = checkOptions(passes, { plan: { budget: 5, search: 'greedy' } });
  assert.equal(Object.getPrototypeOf(ok), null);
  assert.equal(Object.getPrototypeOf(ok.plan), null);
  assert.deepEqual({ ...ok.plan }, { budget: 5, search: 'greedy' });
});

test('a third-party pass without a schema gets its options unchecked; with one, checked', async () => {
  let seen: unknown;
  const free: Pass = { name: 'free', description: '', reads: [], writes: [], run: (_m, ctx) => ((seen = ctx.options.free), { changed: false }) };
  await runPasses(net(), [free], { options: { free: { anything: [1, 2] } } });
  assert.deepEqual({ ...(seen as object) }, { anything: [1, 2] });
  const strict: Pass = { ...free, name: 'strict', options: { type: 'object', properties: { n: { type: 'integer' } }, additionalProperties: false } };
  await assert.rejects(runPasses(net(), [strict], { options: { strict: { m: 1 } } }), exit2(/pass 'strict': unknown option 'm' \(its options: n\)/));
});

test('services carry the non-JSON hooks: progress reaches the search, a custom rectifier replaces the named one', async () => {
  const calls: number[] = [];
  let rectified = 0;
  const ctx: Partial<PassContext> = {
    hardware: { ...PRESETS['edge-512k'], bufferBytes: 2048 },
    seed: 1,
    options: { plan: { search: 'random', budget: 30, optimum: false } },
    services: { onProgress: (done) => calls.push(done), rectifier: { name: 'mine', rectify: (g, c, r) => (rectified++, randomSplit(g, c, r)) } },
  };
  const { schedule } = await runPasses(net(), [planPass], ctx);
  const a = schedule.passes[0].annotations as { search: { rectifier: string; invalidGroups: number } };
  assert.equal(a.search.rectifier, 'mine');
  assert.ok(calls.length > 0, 'progress reported');
  assert.equal(rectified > 0, a.search.invalidGroups > 0);
});

test('CLI: --option typos exit 2 with one line naming pass and key', async () => {
  const out = mkdtempSync(join(tmpdir(), 'dnnfuse-options-'));
  for (const [opt, re] of [
    ['plan.budgte=3', /pass 'plan': unknown option 'budgte'/],
    ['plna.search=x', /pass 'plna'/],
    ['plan.search=x', /pass 'plan': option 'search' must be one of/],
    ['plan.prototype=1', /'prototype' is not an option name/],
  ] as const) {
    const r = await runCli(['compile', '--quiet', '--no-verify', '-o', out, '--option', opt]);
    assert.equal(r.code, 2, `${opt}: ${r.err}`);
    assert.match(r.err, re);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
  }
});

test('plan --shape uses the same overrides as compile: rank and fixed dims are checked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-shape-'));
  const { saveModel } = await import('../../src/onnx/io.ts');
  const file = join(dir, 'm.onnx');
  saveModel(net(), file);
  const r = await runCli(['plan', file, '--shape', 'input=1x4x16', '--quiet', '--no-optimum', '--search', 'greedy', '-o', join(dir, 's.json')]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /--shape input: 3 dims given, the input has rank 4/);
  const fixed = await runCli(['plan', file, '--shape', 'input=1x4x16x17', '--quiet', '--no-optimum', '--search', 'greedy', '-o', join(dir, 's.json')]);
  assert.equal(fixed.code, 2, fixed.err);
  assert.match(fixed.err, /dim 3 is fixed to 16 in the model, not 17/);
});
