import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SweepStore, rowWithoutTime } from '../../src/sweep/store.ts';
import { InlineExecutor, PoolExecutor } from '../../src/sweep/executor.ts';
import { runSweep } from '../../src/sweep/run.ts';
import { forgetGraphs, pointKey, runPoint, runPointShared, type PointRow } from '../../src/sweep/point.ts';
import { fileStamp, parseBufferAxis, sweepModels } from '../../src/sweep/grid.ts';
import { CLI, cliArgs, dbRows, makeDir, sweepModelsIn, testSeries } from './fixture.ts';
import { heavyIn, loadedBy } from '../support/modules.ts';
import { loadModel, saveModel } from '../../src/onnx/io.ts';
import { Node } from '../../src/ir/graph.ts';
import { runPasses } from '../../src/passes/manager.ts';
import { getPass } from '../../src/passes/registry.ts';
import { ifModel } from '../support/control-flow.ts';

const SCRIPT = '/usr/bin/script';
const noScript = existsSync(SCRIPT) ? false : `script(1) not installed at ${SCRIPT} (util-linux: it gives the progress-bar test a terminal)`;

const { dir, cleanup } = makeDir('sweep');
test.after(cleanup);
const models = sweepModelsIn(dir);
const series = testSeries(models);
const N = series.reduce((a, s) => a + s.points.length, 0);

async function sweepInto(file: string, exec: InlineExecutor | PoolExecutor) {
  const store = await SweepStore.open(file);
  try {
    return await runSweep(series, store, exec);
  } finally {
    await exec.close();
    store.close();
  }
}

let reference: Omit<PointRow, 'time_ms'>[] = [];
const refDb = join(dir, 'inline.duckdb');

test('buffer axis: log ranges, steps, lists', () => {
  assert.deepEqual(parseBufferAxis('64KiB..512KiB'), [65536, 131072, 262144, 524288]);
  assert.deepEqual(parseBufferAxis('64KiB..8MiB', 8), [65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608]);
  assert.deepEqual(parseBufferAxis('1MiB,64KiB,1MiB'), [65536, 1048576]);
  assert.deepEqual(parseBufferAxis('100KiB..300KiB'), [102400, 204800, 307200]);
  assert.throws(() => parseBufferAxis('8MiB..64KiB'), /upper end is below/);
  assert.throws(() => parseBufferAxis('64 apples'), /not a size/);
});

test('a sweep in this thread: one row a point, monotone optimum, bounds below it, seeded by the smaller size', { timeout: 300_000 }, async () => {
  const t0 = performance.now();
  const sum = await sweepInto(refDb, new InlineExecutor());
  const wall = performance.now() - t0;
  assert.equal(sum.total, N);
  assert.equal(sum.computed, N);
  assert.equal(sum.errors, 0);
  // One point at a time: the points' times add up to no more than the sweep's wall time.
  const times = (await SweepStore.open(refDb).then(async (st) => {
    try {
      return (await st.rows()).map((r) => r.time_ms);
    } finally {
      st.close();
    }
  })).reduce((a, b) => a + b, 0);
  assert.ok(times <= wall, `points' time_ms add up to ${times.toFixed(0)} ms in a sweep of ${wall.toFixed(0)} ms: they overlapped`);
  reference = await dbRows(refDb);
  assert.equal(reference.length, N);
  assert.equal(new Set(reference.map((r) => r.key)).size, N);
  for (const s of series) {
    const rows = s.points.map((p) => reference.find((r) => r.key === pointKey(p))!);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      assert.ok(r.status === 'optimal' || r.status === 'not-proven', r.status);
      assert.ok(r.bound_bytes! <= r.optimum_bytes! && r.optimum_bytes! <= r.dram_bytes!, `${s.id}: bound <= optimum <= search`);
      assert.ok(r.dram_bytes! <= r.lbl_bytes!);
      if (i > 0) {
        assert.ok(r.optimum_bytes! <= rows[i - 1].optimum_bytes!, `${s.id}: optimum at ${r.buffer_bytes} B above the smaller size's`);
        assert.ok(r.dram_bytes! <= rows[i - 1].dram_bytes!, `${s.id}: search DRAM monotone too (seeded)`);
      }
    }
  }
  // The view applies the bounds of larger sizes to the smaller ones.
  const store = await SweepStore.open(refDb);
  try {
    const mono = await store.query('SELECT count(*) AS n, sum(CASE WHEN bound_bytes_monotone >= bound_bytes AND bound_bytes_monotone <= optimum_bytes THEN 1 ELSE 0 END) AS ok FROM points_monotone');
    assert.deepEqual(mono, [{ n: N, ok: N }]);
  } finally {
    store.close();
  }
});

test('rows are byte-identical bar timings: in the pool, for a series run alone, for a point run alone', { timeout: 300_000 }, async () => {
  assert.ok(reference.length === N, 'needs the inline sweep');
  const poolDb = join(dir, 'pool.duckdb');
  const pool = new PoolExecutor(2);
  const sum = await sweepInto(poolDb, pool);
  assert.equal(sum.computed, N);
  assert.equal(pool.modelReads, new Set(series.map((s) => s.points[0].model.hash)).size, 'each model read by one thread only');
  assert.deepEqual(await dbRows(poolDb), reference);
  // one series alone (a sweep of that one series), and its second point alone given its seed
  const aloneDb = join(dir, 'alone.duckdb');
  const store = await SweepStore.open(aloneDb);
  try {
    const one = series[3];
    await runSweep([one], store, new InlineExecutor());
    const rows = (await store.rows()).map(rowWithoutTime).sort((a, b) => (a.key < b.key ? -1 : 1));
    assert.deepEqual(rows, reference.filter((r) => rows.some((x) => x.key === r.key)));
    assert.equal(rows.length, one.points.length);
    const first = reference.find((r) => r.key === pointKey(one.points[0]))!;
    const point = await runPoint({ spec: one.points[1], key: pointKey(one.points[1]), seed: JSON.parse(first.plan!) });
    assert.deepEqual(rowWithoutTime(point), reference.find((r) => r.key === point.key));
  } finally {
    store.close();
  }
  // a finished sweep re-run computes nothing
  const again = await sweepInto(poolDb, new PoolExecutor(2));
  assert.deepEqual([again.computed, again.reused], [0, N]);
});

test('a point computed from the op graph another thread built: the same row, and the file is not read', { timeout: 300_000 }, async () => {
  assert.ok(reference.length === N, 'needs the inline sweep');
  const spec = series[1].points[2];
  const prev = reference.find((r) => r.key === pointKey(series[1].points[1]))!;
  const task = { spec, key: pointKey(spec), seed: JSON.parse(prev.plan!) as string[][] };
  forgetGraphs();
  const read = await runPointShared(task);
  assert.ok(read.graph && read.graph.byteLength > 0, 'the thread that read the model returns its graph');
  assert.equal((await runPointShared(task)).graph, undefined, 'a graph already built is not sent again');
  forgetGraphs();
  // the file is gone for this thread: only the handed graph can compute the point
  const gone = { ...task, spec: { ...spec, model: { ...spec.model, path: join(dir, 'no-such-model.onnx') } } };
  const handed = await runPointShared(gone, read.graph);
  assert.equal(handed.graph, undefined);
  const want = reference.find((r) => r.key === task.key);
  assert.deepEqual(rowWithoutTime(read.row), want);
  assert.deepEqual(rowWithoutTime(handed.row), want);
  forgetGraphs();
  await assert.rejects(runPointShared(gone), /no-such-model|ENOENT/);
});

test('a pool thread that dies mid-point: its point is retried, nothing lost or duplicated', { timeout: 300_000 }, async () => {
  assert.ok(reference.length === N, 'needs the inline sweep');
  const marker = join(dir, 'thread-fault');
  process.env.DNNFUSE_SWEEP_FAULT = `2:${marker}`;
  let sum;
  try {
    sum = await sweepInto(join(dir, 'fault.duckdb'), new PoolExecutor(2));
  } finally {
    delete process.env.DNNFUSE_SWEEP_FAULT;
  }
  assert.ok(existsSync(marker), 'a thread exited');
  assert.ok(sum.retries >= 1, 'the lost point was retried');
  assert.equal(sum.computed, N);
  assert.deepEqual(await dbRows(join(dir, 'fault.duckdb')), reference);
});

test('dnnfuse sweep killed midway (SIGKILL of the parent) resumes: same rows, none twice', { timeout: 300_000 }, async () => {
  assert.ok(reference.length === N, 'needs the inline sweep');
  const db = join(dir, 'killed.duckdb');
  const child = spawn(process.execPath, [CLI, ...cliArgs(models, db), '--workers', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let seen = 0;
  let err = '';
  await new Promise<void>((res) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      seen = (err.match(/^point \d+\//gm) ?? []).length;
      if (seen >= 4 && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('exit', () => res());
  });
  assert.ok(seen >= 4 && seen < N, `killed after ${seen} points:\n${err}`);
  const partial = await dbRows(db);
  assert.ok(partial.length >= 4 && partial.length < N, `${partial.length} stored before the kill`);
  const r = spawnSync(process.execPath, [CLI, ...cliArgs(models, db), '--workers', '2', '--json', '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const sum = JSON.parse(r.stdout);
  assert.equal(sum.reused, partial.length);
  assert.equal(sum.computed, N - partial.length);
  assert.deepEqual(await dbRows(db), reference);
});

test('re-running a finished sweep computes nothing and loads no planner, ONNX reader, solver or thread pool', { timeout: 120_000 }, () => {
  assert.ok(reference.length === N, 'needs the inline sweep');
  const db = join(dir, 'killed.duckdb'); // complete after the resume above
  const r = loadedBy([...cliArgs(models, db), '--workers', '2', '--json', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const sum = JSON.parse(r.stdout);
  assert.deepEqual([sum.computed, sum.reused], [0, N]);
  assert.deepEqual(heavyIn(r.modules), ['@duckdb/node-api'], 'DuckDB only');
  const ours = r.modules.filter((m) => /\/src\/(search|fusion|onnx|analysis|get|passes)\/|\/src\/sweep\/(point|planner|pool-task|queue|page)\.ts$/.test(m));
  assert.deepEqual(ours, [], 'none of the planner, the ONNX reader, the point runner');
});

test('model hashes: kept by file stamp, so an unchanged file is not hashed again and a changed one is', { timeout: 120_000 }, async () => {
  // the cache answers for an unchanged stamp (a wrong hash proves it was not recomputed)
  const stamp = fileStamp(models[1]);
  const cache = { get: (p: string, s: string) => (p === models[1] && s === stamp ? 'cached' : undefined), set: () => undefined };
  assert.equal(sweepModels([models[1]], cache)[0].hash, 'cached');
  assert.equal(sweepModels([models[1]])[0].hash, sweepModels([models[1]], { get: () => undefined, set: () => undefined })[0].hash);
  // from the CLI: a model rewritten in place gets a new hash, so its points are computed anew
  const model = join(dir, 'edited.onnx');
  copyFileSync(models[1], model);
  const db = join(dir, 'hashes.duckdb');
  const sweepIt = () => {
    const r = spawnSync(process.execPath, [CLI, 'sweep', model, '--buffer', '64KiB', '--db', db, '--workers', '0', '--json', '--quiet'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { computed: number; reused: number };
  };
  const hashes = async () => {
    const st = await SweepStore.open(db);
    try {
      return await st.query('SELECT path, hash FROM model_files');
    } finally {
      st.close();
    }
  };
  assert.equal(sweepIt().computed, 1);
  const before = await hashes();
  assert.deepEqual(before, [{ path: model, hash: sweepModels([model])[0].hash }]);
  const again = sweepIt();
  assert.deepEqual([again.computed, again.reused], [0, 1]);
  copyFileSync(models[0], model); // another model, same path
  const edited = sweepIt();
  assert.deepEqual([edited.computed, edited.reused], [1, 0]);
  assert.deepEqual(await hashes(), [{ path: model, hash: sweepModels([models[0]])[0].hash }]);
});

test('on a terminal: a progress bar over the points to compute, the stored ones apart, with an ETA', { skip: noScript, timeout: 120_000 }, () => {
  const db = join(dir, 'tty.duckdb');
  const sweepOn = (buffers: string) => {
    const cmd = [process.execPath, CLI, 'sweep', ...models, '--buffer', buffers, '--scheme', 'lbdf', '--dtype', 'int8', '--db', db, '--workers', '0'].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    // script(1) runs the command on a pseudo-terminal: stderr is a TTY there
    const r = spawnSync(SCRIPT, ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm' } });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    return r.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  };
  const first = sweepOn('16KiB,64KiB');
  assert.match(first, /sweep [\u2588\u2591]+ 4\/4 points computed \| 0 already stored \| ETA \d+s/);
  assert.doesNotMatch(first, /^point \d+\//m, 'the bar replaces the point lines');
  assert.match(first, /sweep: 4 points, 4 computed, 0 already stored/);
  // two more sizes: the bar counts the 4 new points, the 4 stored ones apart
  const second = sweepOn('16KiB,64KiB,256KiB,1MiB');
  assert.match(second, /sweep [\u2588\u2591]+ 0\/4 points computed \| 4 already stored \| ETA/);
  assert.match(second, /sweep [\u2588\u2591]+ 4\/4 points computed \| 4 already stored \| ETA \d+s/);
  assert.match(second, /sweep: 8 points, 4 computed, 4 already stored/);
});

test('export to Parquet and CSV, SQL queries, the page, from the CLI', { timeout: 120_000 }, async () => {
  const pq = join(dir, 'out', 'points.parquet');
  const csv = join(dir, 'out', 'points.csv');
  const page = join(dir, 'out', 'page.html');
  const r = spawnSync(process.execPath, [CLI, 'sweep', '--db', refDb, '--export', pq, csv, '--page', page, '--sql', "SELECT scheme, count(*) AS n FROM points GROUP BY scheme ORDER BY scheme"], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l)), [{ scheme: 'brr', n: N / 2 }, { scheme: 'lbdf', n: N / 2 }]);
  assert.equal(readFileSync(csv, 'utf8').trim().split('\n').length, N + 1);
  assert.match(readFileSync(csv, 'utf8').split('\n')[0], /^key,model,model_hash,/);
  const store = await SweepStore.open(join(dir, 'read.duckdb'));
  try {
    const back = await store.query(`SELECT count(*) AS n, count(DISTINCT key) AS k, sum(optimum_bytes) AS s FROM read_parquet('${pq}')`);
    assert.deepEqual(back, [{ n: N, k: N, s: reference.reduce((a, x) => a + x.optimum_bytes!, 0) }]);
  } finally {
    store.close();
  }
  assert.match(readFileSync(page, 'utf8'), /<figure class="model-chart"/);
});

test("--shape (or --dim) fixes a dynamic input: the dynamic model's rows equal the static model's, bar its hash; without it each point is an error row naming the input", { timeout: 120_000 }, async () => {
  const m = loadModel(models[1]);
  const x = m.graph.inputs[0];
  const dims = x.type!.shape!.map(Number);
  x.type = { ...x.type!, shape: ['batch', ...dims.slice(1)] };
  const dyn = join(dir, 'toy_dynamic.onnx');
  saveModel(m, dyn);
  const spec = `${x.name}=${dims.join('x')}`;
  const run = (db: string, file: string, extra: string[] = []) => spawnSync(process.execPath, [CLI, 'sweep', file, '--buffer', '64KiB,256KiB', '--scheme', 'lbdf', '--dtype', 'int8', '--workers', '0', '--quiet', '--db', db, ...extra], { encoding: 'utf8' });
  const none = run(join(dir, 'shape-none.duckdb'), dyn);
  assert.equal(none.status, 1, none.stderr);
  const errors = await dbRows(join(dir, 'shape-none.duckdb'));
  assert.equal(errors.length, 2);
  for (const r of errors) assert.match(r.error!, new RegExp(`graph input '${x.name}' has dynamic dims.*--shape ${x.name}=`));
  // a --shape naming an input the model lacks is another model's: it changes nothing but the hash
  const fixed = run(join(dir, 'shape-fixed.duckdb'), dyn, ['--shape', spec, '--shape', 'other_input=1x2']);
  assert.equal(fixed.status, 0, fixed.stderr);
  const stat = run(join(dir, 'shape-static.duckdb'), models[1]);
  assert.equal(stat.status, 0, stat.stderr);
  const strip = (r: Omit<PointRow, 'time_ms'>) => ({ ...r, key: '', model: '', model_hash: '' });
  const [a, b] = [await dbRows(join(dir, 'shape-fixed.duckdb')), await dbRows(join(dir, 'shape-static.duckdb'))];
  assert.equal(a.length, 2);
  assert.deepEqual(a.map(strip).sort((p, q) => p.buffer_bytes - q.buffer_bytes), b.map(strip).sort((p, q) => p.buffer_bytes - q.buffer_bytes));
  assert.ok(a.every((r) => r.status === 'ok' && r.model === 'toy_dynamic'));
  // --dim fixes the named dim the same way (a --dim no input of this model has is another model's)
  const viaDim = run(join(dir, 'shape-dim.duckdb'), dyn, ['--dim', `batch=${dims[0]}`, '--dim', 'past=7']);
  assert.equal(viaDim.status, 0, viaDim.stderr);
  const c = await dbRows(join(dir, 'shape-dim.duckdb'));
  assert.deepEqual(c.map(strip).sort((p, q) => p.buffer_bytes - q.buffer_bytes), b.map(strip).sort((p, q) => p.buffer_bytes - q.buffer_bytes));
  const [kd] = sweepModels([dyn], undefined, [], [`batch=${dims[0]}`, 'past=7']);
  assert.ok(c.every((r) => r.model_hash === kd.hash) && kd.hash !== a[0].model_hash);
  // the shapes are part of the model's identity: another --shape, another model hash and key
  const [k1] = sweepModels([dyn], undefined, ['other_input=1x2', spec]); // any order
  const [k2] = sweepModels([dyn], undefined, [`${x.name}=2x${dims.slice(1).join('x')}`]);
  const [k0] = sweepModels([dyn]);
  assert.equal(k1.fileHash, k0.hash);
  assert.notEqual(k1.hash, k2.hash);
  assert.ok(a.every((r) => r.model_hash === k1.hash));
  const bad = spawnSync(process.execPath, [CLI, 'sweep', dyn, '--shape', `${x.name}=1xbad`, '--db', join(dir, 'shape-bad.duckdb')], { encoding: 'utf8' });
  assert.equal(bad.status, 2, bad.stderr);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.equal(existsSync(join(dir, 'shape-bad.duckdb')), false);
});

test("a detector's data-dependent tail (ops after a NonZero) is left out of a point's plan as dnnfuse plan leaves it out, not an error row", { timeout: 120_000 }, async () => {
  const m = ifModel();
  m.graph.addNode(new Node({ name: 'nz', opType: 'NonZero', inputs: ['out'], outputs: ['idx'] }));
  m.graph.addNode(new Node({ name: 'nz_t', opType: 'Transpose', inputs: ['idx'], outputs: ['idx_t'] }));
  m.graph.outputs.push({ name: 'idx_t', type: { elemType: 7 } });
  const file = join(dir, 'detector_tail.onnx');
  saveModel(m, file);
  const [spec] = testSeries([file], false)[0].points;
  const row = await runPoint({ spec, key: pointKey(spec) });
  assert.equal(row.error, null);
  assert.equal(row.status, 'ok');
  // the same op graph and DRAM as the plan pass's (greedy, no optimum)
  const planned = loadModel(file);
  const { schedule } = await runPasses(planned, [getPass('plan')], { hardware: spec.hardware, scheme: spec.scheme, seed: 0, options: { plan: { search: 'greedy', optimum: false } } });
  const plan = schedule.passes[0].annotations as { totals: { dramBytes: number }; unplanned?: { node: string }[] };
  assert.deepEqual(plan.unplanned?.map((u) => u.node).sort(), ['nz', 'nz_t']);
  assert.equal(row.dram_bytes, plan.totals.dramBytes);
});

test('dnnfuse sweep: bad inputs exit 2 with one line and write nothing', () => {
  const db = join(dir, 'bad.duckdb');
  const txt = join(dir, 'x.txt');
  writeFileSync(txt, 'not a model');
  for (const [args, re] of [
    [['sweep', join(dir, 'missing.onnx'), '--db', db], /model file not found/],
    [['sweep', models[0], '--buffer', '8MiB..64KiB', '--db', db], /--buffer 8MiB\.\.64KiB: the upper end/],
    [['sweep', models[0], '--page', models[0], '--db', db], /refusing to overwrite the input file/],
    [['sweep', '--db', refDb, '--sql', 'SELECT nope FROM points'], /SQL: /],
    [['sweep', '--db', db], /nothing to do: give models to sweep, or --sql/],
    [['sweep', '--db', db, '--sql', 'SELECT 1'], /results database .*bad\.duckdb not found/],
    [['sweep', models[0], '--db', db, '--queue', 'http://127.0.0.1:1'], /--queue http:\/\/127\.0\.0\.1:1: expected redis:\/\/host:port/],
  ] as [string[], RegExp][]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.equal(existsSync(db), false);
  // a file that is not a model: its points are stored as errors, the sweep exits 1
  const r = spawnSync(process.execPath, [CLI, 'sweep', txt, '--buffer', '64KiB', '--db', db, '--workers', '0', '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /1 of 1 points failed/);
});
