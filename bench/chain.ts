/**
 * `npm run bench:chain`: planning time and peak memory against graph size, on chains of
 * conv 3x3 -> relu pairs (4 channels, 8x8 maps, int8, edge-512k: groups of thousands of ops).
 * Each size runs `dnnfuse plan <chain.onnx> --search greedy --no-optimum` in a fresh process
 * (the CLI path, load included) and reports wall time, CPU time and peak RSS; the peer is the
 * 2k-op chain of the same run: near-linear planning gives time ratios close to the size ratio
 * (10x for 20k / 2k), a quadratic one ~100x. Before issue 18 the 20k chain did not finish
 * (killed at 600 s wall, 1.2 GB and growing).
 *
 * Environment: DNNFUSE_BENCH_CHAIN (sizes, default "2000,20000").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ModelBuilder } from '../src/models/builder.ts';
import { saveModel } from '../src/onnx/io.ts';

function chain(ops: number) {
  const b = new ModelBuilder({ seed: 0 });
  let x = b.input('x', [1, 4, 8, 8]);
  for (let i = 0; i < ops / 2; i++) x = b.relu(b.conv(x, { outChannels: 4, kernel: 3, pads: 'same' }));
  b.output(x);
  return b.build(`chain${ops}`);
}

const sizes = (process.env.DNNFUSE_BENCH_CHAIN ?? '2000,20000').split(',').map(Number);
const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-bench-chain-'));
try {
  const rows: { ops: number; wall: number; cpu: number; rssMB: number; summary: string }[] = [];
  for (const n of sizes) {
    const path = join(dir, `chain${n}.onnx`);
    saveModel(chain(n), path);
    // The child reports its own resource usage (peak RSS, CPU) after the plan.
    const script = `import { register } from 'tsx/esm/api'; register(); const { main } = await import(${JSON.stringify(new URL('../src/cli/main.ts', import.meta.url).href)}); const code = await main(${JSON.stringify(['plan', path, '--search', 'greedy', '--no-optimum', '-o', join(dir, `s${n}.json`)])}); const { peakRssBytes } = await import(${JSON.stringify(new URL('../src/util/peak-rss.ts', import.meta.url).href)}); const u = process.resourceUsage(); process.stderr.write('\\nUSAGE ' + JSON.stringify({ code, cpu: (u.userCPUTime + u.systemCPUTime) / 1e6, rss: peakRssBytes() / 1048576 }) + '\\n');`;
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
    const wall = (performance.now() - t0) / 1000;
    const m = /USAGE (\{.*\})/.exec(r.stderr);
    if (!m) throw new Error(`chain ${n}: no usage line; stderr: ${r.stderr.slice(-500)}`);
    const u = JSON.parse(m[1]) as { code: number; cpu: number; rss: number };
    if (u.code !== 0) throw new Error(`chain ${n}: exit ${u.code}: ${r.stderr.slice(-500)}`);
    rows.push({ ops: n, wall, cpu: u.cpu, rssMB: u.rss, summary: (r.stderr.split('\n').find((l) => l.includes('groups, DRAM')) ?? '').replace(/^.*?: /, '') });
  }
  const peer = rows[0];
  console.log('ops      wall s   cpu s  peak RSS MB  cpu ratio vs ' + peer.ops + ' ops (size ratio)');
  for (const r of rows) console.log(`${String(r.ops).padEnd(8)} ${r.wall.toFixed(2).padStart(6)} ${r.cpu.toFixed(2).padStart(7)} ${r.rssMB.toFixed(0).padStart(12)}  ${(r.cpu / peer.cpu).toFixed(2)} (${(r.ops / peer.ops).toFixed(0)})  ${r.summary}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
