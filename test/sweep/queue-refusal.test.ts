import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, EXAMPLE, freePort, makeDir } from './fixture.ts';

test('--queue with no Redis listening: sweep and worker refuse at once in one line, exit 2, write nothing', async () => {
  const { dir, cleanup } = makeDir('queue-refusal');
  try {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const db = join(dir, 'points.duckdb');
    for (const args of [
      ['sweep', EXAMPLE, '--buffer', '64KiB', '--db', db, '--queue', url],
      ['worker', '--queue', url],
    ]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${args[0]} printed more than one line:\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`--queue ${url}: cannot reach Redis \\(connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\)`));
    }
    assert.equal(existsSync(db), false, 'no database was created');
  } finally {
    cleanup();
  }
});
