/**
 * Reparameterization benchmark (`npm run bench:reparam`).
 *
 * For the reparam blocks, repvgg_net and the random-weight torchvision exports, three models:
 *   original   the file as exported;
 *   ort        onnxruntime's own optimizer (graphOptimizationLevel 'basic', saved with
 *              optimizedModelFilePath, then loaded from that file) — the peer;
 *   dnnfuse    `fold-bn,collapse-branches`, then optimized by onnxruntime the same way.
 * Reported: node counts, median inference latency over repeated runs in this process (every
 * session single-threaded, graph optimizations disabled at run time so each model runs as
 * saved; single runs interleaved round-robin across the three models so that drift from
 * other processes hits them alike), the dnnfuse/ort
 * ratios, and whether all three give the same outputs (max abs error <= 1e-4 x output scale).
 * Target: on every multi-branch model dnnfuse has strictly fewer nodes and lower latency.
 *
 * Environment: DNNFUSE_BENCH_MS (time per model and variant, default 4000 ms).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadModel, saveModel } from '../src/onnx/io.ts';
import { sharedModelPath, sharedModelsMissing } from '../src/models/shared.ts';
import { foldBnPass } from '../src/passes/fold-bn.ts';
import { collapseBranches } from '../src/passes/collapse-branches.ts';
import { makeContext } from '../src/passes/pass.ts';
import { compareOutputs, createSession, ort, ortOptimize, randomFeeds, runSession } from '../src/analysis/ort.ts';

const MODELS: { name: string; multiBranch: boolean }[] = [
  { name: 'reparam/repvgg_block', multiBranch: true },
  { name: 'reparam/repvgg_block_grouped', multiBranch: true },
  { name: 'reparam/repvgg_block_stride2', multiBranch: true },
  { name: 'reparam/acnet_block', multiBranch: true },
  { name: 'reparam/dbb_block', multiBranch: true },
  { name: 'reparam/repvgg_net', multiBranch: true },
  { name: 'efficientnet_b0', multiBranch: false },
  { name: 'mobilenet_v2', multiBranch: false },
  { name: 'mobilenet_v3_small', multiBranch: false },
  { name: 'squeezenet1_1', multiBranch: false },
];

const BUDGET_MS = Number(process.env.DNNFUSE_BENCH_MS ?? 4000);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const missing = sharedModelsMissing();
  if (missing) {
    console.log(`bench:reparam skipped: ${missing}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-bench-reparam-'));
  const rows: string[] = [];
  let targetMet = true;
  const t0 = Date.now();
  try {
    for (const { name, multiBranch } of MODELS) {
      const src = sharedModelPath(name);
      const base = name.replace(/\//g, '_');
      const original = loadModel(src);
      // ORT alone.
      const ortPath = await ortOptimize(src, join(dir, `${base}.ort.onnx`), 'basic');
      // dnnfuse, then ORT.
      const m = loadModel(src);
      const tr = performance.now();
      await foldBnPass.run(m, makeContext());
      collapseBranches(m);
      const rewriteMs = performance.now() - tr;
      const dnnPath = join(dir, `${base}.dnnfuse.onnx`);
      saveModel(m, dnnPath);
      const dnnOrtPath = await ortOptimize(dnnPath, join(dir, `${base}.dnnfuse.ort.onnx`), 'basic');
      const variants = [
        { key: 'original', path: src },
        { key: 'ort', path: ortPath },
        { key: 'dnnfuse', path: dnnOrtPath },
      ];
      const loaded = variants.map((v) => loadModel(v.path));
      const nodes = loaded.map((l) => l.graph.nodes.length);
      // Same op sequence as onnxruntime's own result: then latency differences are noise.
      const sig = (l: (typeof loaded)[number]) => l.graph.nodes.map((n) => `${n.domain}:${n.opType}/${n.inputs.length}`).join(',');
      const sameAsOrt = sig(loaded[1]) === sig(loaded[2]);
      const feeds = randomFeeds(original, 1);
      const sessions = await Promise.all(variants.map((v) => createSession(v.path, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 })));
      const outs = [];
      for (const s of sessions) outs.push(await runSession(s, feeds));
      const cmpOrt = compareOutputs(outs[0], outs[1]);
      const cmpDnn = compareOutputs(outs[0], outs[2]);
      // Calibrate repetitions from a few timed runs of the original.
      const o = await ort();
      const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new o.Tensor('float32', v.data as Float32Array, v.dims)]));
      for (const s of sessions) for (let i = 0; i < 3; i++) await s.run(ortFeeds); // warm-up
      const tc = performance.now();
      for (let i = 0; i < 3; i++) await sessions[0].run(ortFeeds);
      const per = (performance.now() - tc) / 3;
      const reps = Math.max(15, Math.min(2000, Math.round(BUDGET_MS / Math.max(per, 0.005))));
      // Round-robin single runs: machine-wide drift (other processes) hits all variants alike.
      const times: number[][] = variants.map(() => []);
      for (let k = 0; k < reps; k++) {
        for (const [i, s] of sessions.entries()) {
          const a = process.hrtime.bigint();
          await s.run(ortFeeds);
          times[i].push(Number(process.hrtime.bigint() - a) / 1e6);
        }
      }
      for (const s of sessions) await s.release();
      const lat = times.map(median);
      const fewer = nodes[2] < nodes[1];
      const faster = lat[2] < lat[1];
      const equal = cmpOrt.ok && cmpDnn.ok;
      if (multiBranch && !(fewer && faster && equal)) targetMet = false;
      rows.push(
        `| ${name} | ${nodes[0]} | ${nodes[1]} | ${nodes[2]} | ${(nodes[2] / nodes[1]).toFixed(2)} | ${lat[0].toFixed(3)} | ${lat[1].toFixed(3)} | ${lat[2].toFixed(3)} | ${(lat[2] / lat[1]).toFixed(2)} | ${equal ? 'yes' : 'NO'} (${cmpDnn.worst.toExponential(1)}) | ${rewriteMs.toFixed(0)} | ${sameAsOrt ? 'same ops' : 'differs'} | ${multiBranch ? (fewer && faster && equal ? 'met' : 'MISSED') : '-'} |`,
      );
      console.error(`bench:reparam ${name}: done (${reps} interleaved runs per variant)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\nReparameterization: nodes and median latency (ms, 1 thread) of original / onnxruntime basic / dnnfuse fold-bn,collapse-branches + onnxruntime basic\n');
  console.log('| model | nodes orig | nodes ort | nodes dnnfuse | nodes dnnfuse/ort | ms orig | ms ort | ms dnnfuse | ms dnnfuse/ort | equal outputs (worst rel. err) | rewrite ms | dnnfuse graph vs ort | target |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`\ntarget (multi-branch models: fewer nodes and lower latency than onnxruntime alone, equal outputs): ${targetMet ? 'met on every model' : 'MISSED on some model'}`);
  console.log('("same ops": dnnfuse + onnxruntime produced the same op sequence as onnxruntime alone, so its latency ratio is measurement noise)');
  console.log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(`bench:reparam failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
