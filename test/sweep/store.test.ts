import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SweepStore } from '../../src/sweep/store.ts';
import { runPoint } from '../../src/sweep/point.ts';
import { pointKey } from '../../src/sweep/row.ts';
import { makeDir, sweepModelsIn, testSeries } from './fixture.ts';

const { dir, cleanup } = makeDir('sweep-store');
test.after(cleanup);

test('insert is idempotent by key: a second row of a stored key is refused and the first is kept; other errors still throw', { timeout: 120_000 }, async () => {
  const spec = testSeries(sweepModelsIn(dir), false)[0].points[0];
  const row = await runPoint({ spec, key: pointKey(spec) });
  const store = await SweepStore.open(join(dir, 'points.duckdb'));
  try {
    assert.equal(await store.insert(row), true);
    assert.equal(await store.insert({ ...row, groups: (row.groups ?? 0) + 1, time_ms: 1 }), false);
    const stored = await store.rows();
    assert.equal(stored.length, 1);
    assert.deepEqual(stored[0], row);
    assert.equal(await store.insert({ ...row, key: `${row.key}-other` }), true);
    assert.equal((await store.rows()).length, 2);
    // Another error (a value of the wrong type) must not read as "already stored"
    await assert.rejects(store.insert({ ...row, key: `${row.key}-bad`, buffer_bytes: 'x' as unknown as number }));
  } finally {
    store.close();
  }
});
