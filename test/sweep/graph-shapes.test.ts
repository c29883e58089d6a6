import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { makeDir, sweepModelsIn, testSeries } from './fixture.ts';

const { dir, cleanup } = makeDir('sweep-shapes');
test.after(cleanup);

// Runs in a child with --allow-natives-syntax (V8's %HaveSameMap): the op graph a thread built
// from the file and the one it revived from another thread's bytes must share hidden classes
// object for object, else the planner's optimized code deoptimizes on the second kind.
const CHILD = `
const { forgetGraphs, heldGraph, runPointShared, pointKey } = await import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'sweep', 'point.ts'))});
const spec = JSON.parse(process.env.SPEC);
const task = { spec, key: pointKey(spec) };
forgetGraphs();
const read = await runPointShared(task);
const built = heldGraph(spec.model.hash);
forgetGraphs();
const handed = await runPointShared(task, read.graph);
const revived = heldGraph(spec.model.hash);
const same = new Function('a', 'b', 'return %HaveSameMap(a, b)');
const differ = [];
const walk = (a, b, path) => {
  if (typeof a !== 'object' || a === null) return;
  if (!same(a, b)) differ.push(path);
  if (Array.isArray(a)) a.forEach((v, i) => walk(v, b[i], path + '[' + i + ']'));
  else for (const k of Object.keys(a)) walk(a[k], b[k], path + '.' + k);
};
walk(built, revived, 'graph');
console.log(JSON.stringify({ built: built !== revived, rows: JSON.stringify({ ...read.row, time_ms: 0 }) === JSON.stringify({ ...handed.row, time_ms: 0 }), objects: differ.length, first: differ.slice(0, 5) }));
`;

test('an op graph built from the file and one revived from another thread share hidden classes (no planner deoptimization per kind)', { timeout: 120_000 }, () => {
  const spec = testSeries(sweepModelsIn(dir), false)[0].points[0];
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', CHILD], { encoding: 'utf8', env: { ...process.env, SPEC: JSON.stringify(spec) } });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { built: boolean; rows: boolean; objects: number; first: string[] };
  assert.ok(out.built, 'two graph objects compared');
  assert.ok(out.rows, 'the same row from both');
  assert.deepEqual(out.first, [], `${out.objects} objects of the graph with another map`);
});
