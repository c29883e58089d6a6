/**
 * The `learnability` pass and CLI command: certificates on a generated model (pass API), the
 * table / JSON outputs and exit codes of the command on a saved model, bad options (exit 2,
 * one stderr line), an uncertifiable setting (exit 1), and a shared reference model when
 * present.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ModelBuilder } from '../../src/models/builder.ts';
import { saveModel } from '../../src/onnx/io.ts';
import { learnabilityPass, runLearnability, type LearnabilityAnnotations } from '../../src/passes/learnability.ts';
import { makeContext } from '../../src/passes/pass.ts';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';

const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-learnability-'));

function residualModel() {
  const b = new ModelBuilder({ seed: 2 });
  let x = b.input('image', [1, 4, 8, 8]);
  x = b.conv(x, { outChannels: 4, kernel: 3, pads: 1 });
  x = b.relu(x);
  for (let i = 0; i < 3; i++) {
    const y = b.relu(b.batchNorm(b.conv(x, { outChannels: 4, kernel: 3, pads: 1 })));
    x = b.add(x, y);
  }
  b.output(x);
  return b.build();
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/dnnfuse.mjs', 'learnability', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('pass: one certificate per algorithm, all certified at 100% agreement, graph unchanged', async () => {
  const model = residualModel();
  const nodes = model.graph.nodes.length;
  const res = await learnabilityPass.run(model, makeContext({ seed: 0 }));
  assert.equal(res.changed, false);
  const a = res.annotations as LearnabilityAnnotations;
  assert.equal(a.version, 1);
  assert.equal(a.graph.nodes, nodes + 1);
  assert.deepEqual(a.certificates.map((c) => c.algorithm), ['flooding', 'bfs', 'dfs', 'bellman-ford']);
  for (const c of a.certificates) {
    assert.ok(c.certified, `${c.algorithm}: ${c.reason}`);
    assert.equal(c.agreement.percent, 100);
    assert.equal(c.regime, 'inside');
    assert.ok(c.templates > 0 && c.stateBits > 0 && c.rounds > 0 && c.l >= 1);
    assert.equal(c.ensembleSize, 'infinite');
    assert.ok(Number.isFinite(c.theoryEnsembleBoundLog10));
  }
  assert.ok(a.allCertified);
  assert.equal(model.graph.nodes.length, nodes);
});

test('pass options: algorithm subset and bad values', async () => {
  const model = residualModel();
  const res = await learnabilityPass.run(model, makeContext({ options: { learnability: { algorithms: 'bfs,bf' } } }));
  assert.deepEqual((res.annotations as LearnabilityAnnotations).certificates.map((c) => c.algorithm), ['bfs', 'bellman-ford']);
  await assert.rejects(async () => learnabilityPass.run(model, makeContext({ options: { learnability: { algorithms: 'dijkstra' } } })), /unknown algorithm 'dijkstra'/);
  await assert.rejects(async () => learnabilityPass.run(model, makeContext({ options: { learnability: { predictor: 'svm' as 'ntk' } } })), /predictor must be/);
});

test('CLI: table and JSON, exit 0 when certified, exit 1 when not, exit 2 on bad input', () => {
  const file = join(dir, 'res.onnx');
  saveModel(residualModel(), file);
  const t = cli(file, '-q');
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^graph: \d+ nodes/);
  assert.match(t.stdout, /bellman-ford\s+yes\s+inside/);
  assert.equal(t.stderr, '');
  const j = cli(file, '--json', '-q', '--algorithms', 'flooding,dfs');
  assert.equal(j.code, 0);
  const parsed = JSON.parse(j.stdout) as LearnabilityAnnotations;
  assert.equal(parsed.certificates.length, 2);
  assert.ok(parsed.allCertified);
  assert.equal(parsed.certificates[0].timing, undefined);
  // same model, options and seed: byte-identical JSON
  assert.equal(cli(file, '--json', '-q', '--algorithms', 'flooding,dfs').stdout, j.stdout);
  // a trained finite ensemble (seeded, no cache) is deterministic too
  const opts = { algorithms: 'flooding', predictor: 'ensemble' as const, cacheDir: null, hidden: 16, cap: 32 };
  const e1 = JSON.stringify(runLearnability(residualModel(), opts, 4, () => {}));
  const e2 = JSON.stringify(runLearnability(residualModel(), opts, 4, () => {}));
  assert.equal(e1, e2);
  const ens = (JSON.parse(e1) as LearnabilityAnnotations).certificates[0];
  assert.equal(ens.predictor, 'ensemble');
  assert.equal(typeof ens.ensembleSize, 'number');
  // a 0.5 threshold cannot execute flooding exactly: reported, exit 1
  const bad = cli(file, '-q', '--algorithms', 'flooding', '--eps', '0.5');
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /flooding\s+NO/);
  for (const args of [['--algorithms', 'nope'], ['--max-degree', 'x']]) {
    const r = cli(file, ...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.equal(r.stdout, '');
  }
  const missing = cli(join(dir, 'missing.onnx'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /not found/);
});

test('CLI on a shared reference model (googlenet, max degree 8): certified inside and on the bounded-degree views (DFS: the port view)', { skip: sharedModelsMissing() }, () => {
  const file = sharedModelPath('googlenet');
  const inside = cli(file, '-q', '--json', '--algorithms', 'flooding,bfs');
  assert.equal(inside.code, 0, inside.stdout + inside.stderr);
  const a = JSON.parse(inside.stdout) as LearnabilityAnnotations;
  assert.equal(a.graph.maxDegree, 8);
  assert.ok(a.certificates.every((c) => c.certified && c.regime === 'inside'));
  const view = cli(file, '-q', '--json', '--max-degree', '4', '--algorithms', 'flooding,bfs,dfs');
  assert.equal(view.code, 0, view.stderr);
  const b = JSON.parse(view.stdout) as LearnabilityAnnotations;
  for (const c of b.certificates) {
    assert.equal(c.regime, 'bounded-degree-view');
    assert.ok(c.certified, c.reason);
    assert.ok(c.D <= 4);
  }
  assert.equal(b.certificates[2].instruction, 'dfs-ports');
  assert.ok(b.certificates[2].D <= 3);
});
