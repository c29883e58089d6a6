/** The corpus runner and the benches refuse a mistyped option or an unknown model in one line
 * (exit 2) instead of running everything with defaults (bench/args.ts). */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

for (const [script, args, re] of [
  ['corpus/run.ts', ['--onl', 'ppocr-cls'], /^Unknown option '--onl'.*\(options: --only /],
  ['corpus/run.ts', ['--only', 'ppocr-cls,nope'], /^--only: no corpus model nope \(corpus: ppocr-v4-rec, /],
  ['bench/fusion.ts', ['--model', 'resnet18'], /^Unknown option '--model'.*\(options: --models /],
] as [string, string[], RegExp][]) {
  test(`${script} ${args.join(' ')}: one line, exit 2, nothing run`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  });
}
