/**
 * Which modules a `dnnfuse` process loads: runs the CLI with the loaded-modules.mjs preload and
 * returns the recorded module URLs / paths. The start-up tests check with it that a command
 * loads none of the heavy dependencies it does not use (start-up time is module loading).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'dnnfuse.mjs');
const PRELOAD = pathToFileURL(join(ROOT, 'test', 'support', 'loaded-modules.mjs')).href;

/** Packages a start-up must not load unless its command uses them, by the path of their files. */
export const HEAVY: Record<string, RegExp> = {
  'onnxruntime-node': /\/node_modules\/onnxruntime-(node|common)\//,
  '@duckdb/node-api': /\/node_modules\/@duckdb\//,
  tfjs: /\/node_modules\/@tensorflow\//,
  highs: /\/node_modules\/highs\//,
  'vega / vega-lite': /\/node_modules\/vega(-[a-z-]+)?\//,
  elkjs: /\/node_modules\/elkjs\//,
  'bullmq / ioredis': /\/node_modules\/(bullmq|ioredis)\//,
  piscina: /\/node_modules\/piscina\//,
  'protobufjs / onnx-proto': /\/node_modules\/(protobufjs|onnx-proto)\//,
};

/** The HEAVY names among these modules. */
export function heavyIn(modules: string[]): string[] {
  return Object.entries(HEAVY).filter(([, re]) => modules.some((m) => re.test(m))).map(([name]) => name);
}

/** Runs `dnnfuse args` (this clone's bin from src/ through tsx, or from dist/; or `cli`, e.g. an
 * installed package's bin) and returns its result and the modules it loaded. */
export function loadedBy(args: string[], o: { dist?: boolean; cwd?: string; env?: NodeJS.ProcessEnv; cli?: string } = {}): { status: number | null; stdout: string; stderr: string; modules: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-modules-'));
  const out = join(dir, 'modules.txt');
  try {
    const r = spawnSync(process.execPath, ['--import', PRELOAD, o.cli ?? CLI, ...args], { cwd: o.cwd ?? ROOT, encoding: 'utf8', env: { ...process.env, ...o.env, DNNFUSE_LOADED_MODULES: out, DNNFUSE_DIST: o.dist ? '1' : '0' } });
    const modules = existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : [];
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, modules };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
