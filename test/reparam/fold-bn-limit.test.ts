/**
 * fold-bn at its fixed-point limit: a chain of BatchNormalizations before a Conv folds one BN
 * per sweep (the last one into the Conv, then the next), so a chain longer than the pass's
 * 10 sweeps stops there. The stop must be reported (record status, reason, annotation, log,
 * compile --json), not silent, and the partly folded graph must still compute the same.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ModelBuilder } from '../../src/models/builder.ts';
import type { Model } from '../../src/ir/graph.ts';
import { runPasses, type Schedule } from '../../src/passes/manager.ts';
import { foldBnPass } from '../../src/passes/fold-bn.ts';
import { saveModel } from '../../src/onnx/io.ts';
import type { RewriteAnnotations } from '../../src/reparam/graph-ops.ts';
import { assertSameOutputs, cloneViaOnnx, opCounts } from './helpers.ts';

/** x -> BN x `bns` -> Conv 3x3 without pads (BN -> Conv folds exactly) -> y. */
function bnChain(bns: number): Model {
  const b = new ModelBuilder({ seed: 11 });
  let v = b.input('x', [1, 4, 8, 8]);
  for (let i = 0; i < bns; i++) v = b.batchNorm(v);
  b.output(b.conv(v, { outChannels: 6, kernel: 3, pads: 0, bias: true }));
  return b.build();
}

test('fold-bn: a chain of 12 BNs stops at the 10-sweep limit and says so', async () => {
  const m = bnChain(12);
  const orig = cloneViaOnnx(m);
  const logged: string[] = [];
  const { schedule } = await runPasses(m, [foldBnPass], { log: (s) => logged.push(s) });
  const r = schedule.passes[0];
  assert.equal(r.status, 'limit-reached');
  assert.match(r.reason ?? '', /no fixed point after 10 iterations of 'fold-bn sweep'/);
  const a = r.annotations as RewriteAnnotations & { fixedPointLimit?: number };
  assert.equal(a.fixedPointLimit, 10);
  assert.equal(a.applied, 10);
  assert.equal(r.changed, true);
  assert.ok(logged.some((l) => /^fold-bn: limit-reached: no fixed point after 10/.test(l)), logged.join('\n'));
  // Two BNs were left (one sweep each would have folded them), and the graph is still right.
  assert.deepEqual(opCounts(m), { BatchNormalization: 2, Conv: 1 });
  await assertSameOutputs(orig, m);
});

test('fold-bn: a chain of 9 BNs reaches its fixed point within the limit (status ok)', async () => {
  const m = bnChain(9);
  const { schedule } = await runPasses(m, [foldBnPass]);
  const r = schedule.passes[0];
  assert.equal(r.status, 'ok');
  assert.equal(r.reason, undefined);
  const a = r.annotations as RewriteAnnotations & { fixedPointLimit?: number };
  assert.equal(a.fixedPointLimit, undefined);
  assert.equal(a.applied, 9);
  assert.deepEqual(opCounts(m), { Conv: 1 });
});

test('compile --json reports fold-bn\'s limit-reached status (exit 0, stderr line, schedule record)', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-foldbn-limit-'));
  try {
    const model = join(dir, 'chain.onnx');
    saveModel(bnChain(12), model);
    const out = join(dir, 'out');
    const c = spawnSync(process.execPath, ['bin/dnnfuse.mjs', 'compile', model, '-o', out, '--pipeline', 'fold-bn', '--json'], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stderr, /fold-bn: limit-reached: no fixed point after 10/);
    const summary = JSON.parse(c.stdout) as { ok: boolean; passes: { name: string; status: string; reason?: string }[] };
    assert.equal(summary.ok, true);
    assert.equal(summary.passes[0].name, 'fold-bn');
    assert.equal(summary.passes[0].status, 'limit-reached');
    assert.match(summary.passes[0].reason ?? '', /no fixed point after 10/);
    const s = JSON.parse(readFileSync(join(out, 'schedule.json'), 'utf8')) as Schedule;
    assert.equal(s.passes[0].status, 'limit-reached');
    assert.equal((s.passes[0].annotations as { fixedPointLimit?: number }).fixedPointLimit, 10);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('collapse-branches reports its sweep limit the same way (maxSweeps 1: the one sweep allowed merged something, so no fixed point was seen)', async () => {
  // Inner RepVGG block (3x3 + 1x1) read by a 1x1 conv that is one branch of an outer block
  // beside a 3x3 (merged in one sweep: the outer sum comes after the inner one in topological order).
  const b = new ModelBuilder({ seed: 5 });
  const x = b.input('x', [1, 4, 8, 8]);
  const inner = b.add(b.conv(x, { outChannels: 4, kernel: 3, pads: 1, bias: true }), b.conv(x, { outChannels: 4, kernel: 1, bias: true }));
  b.output(b.add(b.conv(inner, { outChannels: 4, kernel: 1, bias: true }), b.conv(x, { outChannels: 4, kernel: 3, pads: 1, bias: true })));
  const m = b.build();
  const orig = cloneViaOnnx(m);
  const { getPass } = await import('../../src/passes/registry.ts');
  const limited = await runPasses(cloneViaOnnx(m), [getPass('collapse-branches')], { options: { 'collapse-branches': { maxSweeps: 1 } } });
  const r = limited.schedule.passes[0];
  assert.equal(r.status, 'limit-reached');
  assert.match(r.reason ?? '', /no fixed point after 1 iterations of 'collapse-branches sweep'/);
  assert.equal((r.annotations as { fixedPointLimit?: number }).fixedPointLimit, 1);
  const full = await runPasses(m, [getPass('collapse-branches')]);
  assert.equal(full.schedule.passes[0].status, 'ok');
  assert.deepEqual(opCounts(m), { Conv: 1 });
  await assertSameOutputs(orig, m);
});
