/**
 * The whole repository type-checks (`tsc --noEmit` over src, test, bench, bin and corpus with the
 * repository's tsconfig): the suite runs through tsx, which strips types without checking them,
 * and the build checks src only, so a test or a benchmark that no longer matches an API it calls
 * would otherwise go unnoticed until someone runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');

test('tsc --noEmit: the repository (src, test, bench, bin, corpus) type-checks', { timeout: 300_000 }, () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `tsc --noEmit:\n${(r.stdout + r.stderr).split('\n').slice(0, 30).join('\n')}`);
});
