/**
 * CLI start-up loads only what the command runs (src/cli/commands/index.ts commandsFor): the
 * heavy dependencies — onnxruntime, DuckDB, tfjs, HiGHS, vega, elkjs, BullMQ, piscina, the ONNX
 * protobuf reader — are imported by the commands that use them, never at start. Checked on the
 * modules a `dnnfuse` process actually loads (test/support/modules.ts records them), so
 * that an eager import added anywhere on the way fails here rather than as a slower start.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { commandsFor, commands } from '../../src/cli/commands/index.ts';
import { HEAVY, heavyIn, loadedBy } from '../support/modules.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-startup-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('commandsFor: the command that runs, none for --version, all to list them', () => {
  const names = (argv: string[]) => commandsFor(argv).map((c) => c.name);
  assert.deepEqual(names(['compile', 'm.onnx', '-o', 'out']), ['compile']);
  assert.deepEqual(names(['-h', 'sweep', '--db', 'x']), ['sweep']);
  assert.deepEqual(names(['help', 'plan']), ['plan']);
  assert.deepEqual(names(['get', 'train', '--help']), ['get']);
  assert.deepEqual(names(['--version']), []);
  assert.deepEqual(names(['-V']), []);
  assert.equal(names([]).length, commands.length);
  assert.equal(names(['--help']).length, commands.length);
  assert.equal(names(['comple']).length, commands.length, 'an unknown command: commander reports it among all');
});

test('the recorder sees what a command loads (a command that opens DuckDB loads it)', { timeout: 120_000 }, () => {
  const r = loadedBy(['sweep', '--db', join(dir, 'missing.duckdb'), '--sql', 'SELECT 1']);
  assert.equal(r.status, 2, r.stderr); // no such database: refused before DuckDB opens
  assert.ok(r.modules.some((m) => /\/node_modules\/commander\//.test(m)), 'commander recorded');
  assert.deepEqual(heavyIn(r.modules), []);
  const made = loadedBy(['sweep', join(ROOT, 'fixtures', 'example.onnx'), '--buffer', '64KiB', '--db', join(dir, 'one.duckdb'), '--workers', '0', '--quiet', '--sql', 'SELECT count(*) AS n FROM points']);
  assert.equal(made.status, 0, made.stderr);
  assert.equal(made.stdout.trim(), '{"n":1}');
  assert.ok(heavyIn(made.modules).includes('@duckdb/node-api'), 'DuckDB recorded');
  assert.ok(heavyIn(made.modules).includes('protobufjs / onnx-proto') || made.modules.some((m) => /\/src\/onnx\/decode\.ts$/.test(m)), 'the ONNX reader recorded (a point was computed)');
});

for (const [args, check] of [
  [['--version'], (r: { stdout: string }) => assert.equal(r.stdout.trim(), VERSION)],
  [['compile', '--help'], (r: { stdout: string }) => assert.match(r.stdout, /--no-verify/)],
  [['sweep', '--help'], (r: { stdout: string }) => assert.match(r.stdout, /--queue <url>/)],
  [['worker', '--help'], (r: { stdout: string }) => assert.match(r.stdout, /--concurrency/)],
] as [string[], (r: { stdout: string }) => void][]) {
  test(`dnnfuse ${args.join(' ')} loads none of ${Object.keys(HEAVY).join(', ')}`, { timeout: 60_000 }, () => {
    const r = loadedBy(args);
    assert.equal(r.status, 0, r.stderr);
    check(r);
    assert.deepEqual(heavyIn(r.modules), [], `loaded:\n${r.modules.filter((m) => Object.values(HEAVY).some((re) => re.test(m))).slice(0, 10).join('\n')}`);
    if (args[0] === '--version') {
      // no command module at all, and not the pass manager (ajv)
      assert.deepEqual(r.modules.filter((m) => /\/src\/cli\/commands\/(?!index\.ts)/.test(m) || /\/node_modules\/ajv\//.test(m)), []);
    }
  });
}

test('dnnfuse --help lists every command (it loads them all: their options are in their modules)', { timeout: 60_000 }, () => {
  const r = loadedBy(['--help']);
  assert.equal(r.status, 0, r.stderr);
  for (const c of commands) assert.match(r.stdout, new RegExp(`^  ${c.name}\\b`, 'm'), c.name);
  assert.match(r.stdout, /compile \[options\] \[model\]/);
});

// From dist/ (what users run): test/package/package.test.ts checks the installed package the same way.

// tfjs (about 27 MiB resident, bench:memory) loads with the first learned explainer, not with the
// plan pass: the explainer names live in get/explainers/kinds.ts, which imports nothing.
test('dnnfuse compile loads tfjs only for a learned explainer (a plan does not, get with pg does)', { timeout: 240_000 }, () => {
  const model = join(ROOT, 'fixtures', 'example.onnx');
  const plan = loadedBy(['compile', model, '--pipeline', 'fold-bn,plan', '--no-verify', '-o', join(dir, 'plan'), '--quiet']);
  assert.equal(plan.status, 0, plan.stderr);
  assert.ok(plan.modules.some((m) => /\/src\/passes\/plan-fusion\.ts$/.test(m)), 'the plan pass recorded');
  assert.deepEqual(heavyIn(plan.modules).filter((h) => h === 'tfjs'), [], 'a plan without GET loads no tfjs');
  const pg = loadedBy(['compile', model, '--pipeline', 'plan,get', '--no-verify', '-o', join(dir, 'pg'), '--quiet']);
  assert.equal(pg.status, 0, pg.stderr);
  assert.ok(heavyIn(pg.modules).includes('tfjs'), 'the pre-trained PGExplainer runs on tfjs');
});
