import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync, rmSync, existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Command } from 'commander';
import { registerAll } from '../../src/cli/commands/index.ts';
import { listPasses } from '../../src/passes/registry.ts';
import { loadModel } from '../../src/onnx/io.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The fenced code blocks of a markdown text, with their info strings. */
function blocks(md: string): { info: string; code: string }[] {
  const out: { info: string; code: string }[] = [];
  const re = /^```([^\n]*)\n([\s\S]*?)^```/gm;
  for (let m; (m = re.exec(md)); ) out.push({ info: m[1].trim(), code: m[2] });
  return out;
}

test('README: exactly two set-up commands', () => {
  const setup = README.split(/^## /m).find((s) => s.startsWith('Set-up'));
  assert.ok(setup, 'a Set-up section');
  const cmds = blocks(setup!).flatMap((b) => b.code.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  assert.deepEqual(cmds, ['npm ci && node bin/dnnfuse.mjs compile', 'npm test']);
});

test('README: the library API example runs as written (imports from the package name)', { timeout: 180_000 }, () => {
  const ex = blocks(README).filter((b) => b.info === 'ts readme-example');
  assert.equal(ex.length, 1, 'one ```ts readme-example block');
  // Inside the repository so that `from 'dnnfuse'` resolves to this package (self-reference).
  const dir = join(ROOT, '.cache', 'readme-test');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `example-${process.pid}.ts`);
  const saved = join(ROOT, 'out', 'readme-example.onnx');
  rmSync(saved, { force: true });
  writeFileSync(file, ex[0].code);
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^fold-bn changed the graph: true$/m);
    assert.match(r.stdout, /^collapse-branches true /m);
    assert.match(r.stdout, /^count-convs false \{"convs":\d+\}$/m);
    assert.match(r.stdout, /^plan false \{/m);
    assert.match(r.stdout, /^fusion plan: \d+ groups, DRAM \d+ B$/m);
    assert.ok(existsSync(saved) && statSync(saved).size > 0);
    const m = loadModel(saved);
    assert.ok(m.graph.nodes.length < loadModel(join(ROOT, 'fixtures', 'example.onnx')).graph.nodes.length);
  } finally {
    rmSync(file, { force: true });
    rmSync(saved, { force: true });
  }
});

test('README documents every CLI command, the built-in passes and the exit codes', async () => {
  const program = new Command('dnnfuse');
  await registerAll(program);
  for (const c of program.commands) assert.match(README, new RegExp(`dnnfuse ${c.name()}\\b`), `command ${c.name()} is documented`);
  for (const p of listPasses().filter((x) => x.builtin)) {
    if (['dce', 'verify', 'shapes'].includes(p.name)) continue; // housekeeping passes
    assert.ok(README.includes(p.name), `pass ${p.name} is named in the README`);
  }
  for (const code of ['| 0 |', '| 1 |', '| 2 |']) assert.ok(README.includes(code));
});

test('.ci/run and package.json are set up for a registry-only install', () => {
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
  assert.ok((statSync(join(ROOT, '.ci', 'run')).mode & 0o111) !== 0, '.ci/run is executable');
  assert.match(ci, /^#!\/usr\/bin\/env bash/);
  assert.match(ci, /set -euo pipefail/);
  assert.match(ci, /export ONNXRUNTIME_NODE_INSTALL=skip/);
  assert.match(ci, /apt-get install .*libonnx-testdata.*python3-onnx.*chromium/);
  assert.match(ci, /npm ci/);
  assert.match(ci, /npm test\s*$/);
  // onnxruntime-node (its install script downloads CUDA libraries on linux/x64) is an optional
  // peer dependency of the package, a devDependency here whose script npm >= 11 skips
  // (allowScripts) and CI skips by ONNXRUNTIME_NODE_INSTALL; no .npmrc key (npm warns about those).
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.dependencies['onnxruntime-node'], undefined);
  assert.equal(pkg.peerDependenciesMeta['onnxruntime-node'].optional, true);
  assert.ok(pkg.devDependencies['onnxruntime-node']);
  assert.equal(pkg.allowScripts['onnxruntime-node'], false);
  assert.equal(existsSync(join(ROOT, '.npmrc')) && /onnxruntime-node-install/.test(readFileSync(join(ROOT, '.npmrc'), 'utf8')), false);
});
