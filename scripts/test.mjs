#!/usr/bin/env node
/**
 * `npm test`: node's test runner over every test/**\/*.test.ts (sorted, two files at a time), in a
 * temporary folder of its own. The suite writes models, schedules and scratch files into
 * os.tmpdir() (hundreds of MB per run: the save and lazy-load tests write 100 MB models), and a
 * test that fails, times out or is interrupted leaves its files behind; before this script the
 * suite left ~100 folders and ~300 MB in /tmp per run. Here TMPDIR points every test process at one
 * folder, which is removed when the run ends, whatever its outcome; what the tests left in it is
 * printed first (by folder prefix), so a test that forgets to clean up is visible.
 *
 * The decompressed shared models (src/models/shared.ts, DNNFUSE_SHARED_CACHE) and tsx's cache
 * stay in the real temporary folder, so a run does not decompress 1 GB or transpile every module
 * again. Extra arguments: options go to the test runner (`npm test -- --test-name-pattern=lazy`),
 * files replace the whole suite (`npm test -- test/onnx/io.test.ts`).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = [];
(function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.ts')) files.push(relative(root, p));
  }
})(join(root, 'test'));
files.sort();

const realTmp = tmpdir();
const runTmp = mkdtempSync(join(realTmp, 'dnnfuse-test-run-'));
// tsx keeps its transpile cache in <tmpdir>/tsx-<euid>: linked to the real one, so each run
// does not transpile every module afresh in each of its ~150 test processes.
const tsxCache = `tsx-${process.geteuid ? process.geteuid() : userInfo().username}`;
mkdirSync(join(realTmp, tsxCache), { recursive: true });
symlinkSync(join(realTmp, tsxCache), join(runTmp, tsxCache));
// onnxruntime's telemetry off in every test process, as dnnfuse sets it for itself: tests that
// import onnxruntime-node directly (the shape oracles) left mat-debug-<pid>.log files.
const env = { ORT_DISABLE_TELEMETRY: '1', ...process.env, TMPDIR: runTmp, DNNFUSE_SHARED_CACHE: process.env.DNNFUSE_SHARED_CACHE ?? join(realTmp, 'dnnfuse-shared-models') };
const args = process.argv.slice(2);
const options = args.filter((a) => a.startsWith('-'));
const chosen = args.filter((a) => !a.startsWith('-'));
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...options, ...(chosen.length ? chosen : files)], { cwd: root, env, stdio: 'inherit' });
// Ctrl-C reaches the runner too (same process group); wait for it to stop, then clean up.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));

child.on('exit', (code, signal) => {
  let left = [];
  try {
    left = readdirSync(runTmp).filter((f) => f !== tsxCache);
  } catch { /* removed by a test: nothing to report */ }
  if (left.length) {
    const byPrefix = new Map();
    for (const f of left) {
      const p = f.replace(/[-_.][A-Za-z0-9]{6}$/, '').replace(/\d+/g, 'N');
      byPrefix.set(p, (byPrefix.get(p) ?? 0) + 1);
    }
    console.log(`# temporary files the tests left (removed now): ${[...byPrefix].map(([p, n]) => `${p} x${n}`).join(', ')}`);
  }
  rmSync(runTmp, { recursive: true, force: true });
  process.exitCode = signal ? 1 : code ?? 1;
});
