import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SweepStore } from '../../src/sweep/store.ts';
import { PoolExecutor } from '../../src/sweep/executor.ts';
import { runSweep } from '../../src/sweep/run.ts';
import { CLI, cliArgs, dbRows, freePort, makeDir, sweepModelsIn, testSeries } from './fixture.ts';

const REDIS = '/usr/bin/redis-server';
const noRedis = existsSync(REDIS) ? false : `redis-server not installed at ${REDIS} (apt-get install redis-server; .ci/run installs it)`;

/** Spawns a process and resolves once its output matches `ready`. */
function start(cmd: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; log: () => string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const on = (d: Buffer) => {
      out += d.toString();
      if (!done && ready.test(out)) {
        done = true;
        res({ child, log: () => out });
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.on('exit', (code) => {
      if (!done) rej(new Error(`${cmd} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('exit', (code) => res({ code, stdout, stderr }));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    child.once('exit', () => res());
    child.kill('SIGTERM');
  });
}

test('cluster: two `dnnfuse worker` processes on Redis give the embedded run\'s rows; a worker dying mid-point has its point retried', { skip: noRedis, timeout: 600_000 }, async () => {
  const { dir, cleanup } = makeDir('cluster');
  const procs: ChildProcess[] = [];
  try {
    const models = sweepModelsIn(dir);
    const series = testSeries(models);
    const N = series.reduce((a, s) => a + s.points.length, 0);
    // the embedded run (pool)
    const embedded = join(dir, 'embedded.duckdb');
    const store = await SweepStore.open(embedded);
    try {
      await runSweep(series, store, new PoolExecutor(2)).finally(() => undefined);
    } finally {
      store.close();
    }
    const reference = await dbRows(embedded);
    assert.equal(reference.length, N);

    const port = await freePort();
    const redis = await start(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], /Ready to accept connections/);
    procs.push(redis.child);
    const url = `redis://127.0.0.1:${port}`;
    const marker = join(dir, 'worker-died');
    // worker A dies (process exit) on its first point; worker B takes it over once its lock expires
    const a = await start(process.execPath, [CLI, 'worker', '--queue', url, '--lock-duration', '1500'], /serving/, { ...process.env, DNNFUSE_WORKER_FAULT: `1:${marker}` });
    procs.push(a.child);
    const b = await start(process.execPath, [CLI, 'worker', '--queue', url, '--lock-duration', '1500'], /serving/);
    procs.push(b.child);

    const db = join(dir, 'cluster.duckdb');
    const r = await run([...cliArgs(models, db), '--queue', url, '--json', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const { peakRssMB: _rss, ms: _ms, cpuS: _cpu, ...summary } = JSON.parse(r.stdout);
    assert.deepEqual(summary, { total: N, computed: N, reused: 0, errors: 0, retries: 0, db });
    assert.ok(existsSync(marker), 'worker A died mid-point');
    assert.notEqual(a.child.exitCode, null, 'worker A is gone');
    const ranByB = (b.log().match(/^worker \d+: /gm) ?? []).length - 1;
    assert.equal(ranByB, N, `worker B ran every point, the dead worker's included:\n${b.log()}`);
    assert.deepEqual(await dbRows(db), reference);

    // Idempotent by point key: the same sweep into a new database takes the queue's stored
    // results; no worker computes anything again.
    const db2 = join(dir, 'cluster2.duckdb');
    const r2 = await run([...cliArgs(models, db2), '--queue', url, '--json', '--quiet']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(await dbRows(db2), reference);
    assert.equal((b.log().match(/^worker \d+: /gm) ?? []).length - 1, N, 'no point recomputed');
  } finally {
    for (const p of procs.reverse()) await stop(p);
    cleanup();
  }
});
