/**
 * Shape-inference speed: dnnfuse's inferShapes vs python onnx's
 * onnx.shape_inference.infer_shapes (Debian python3-onnx), on the reference models, measured
 * in the same run. Each figure is the median of 15 runs (dnnfuse: after 3 warm-up runs; python: 5 runs) on an already-loaded model (loading is
 * bench:io's business). Run: node --import tsx bench/shapes.ts
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadModel } from '../src/onnx/io.ts';
import { inferShapes } from '../src/analysis/shapes.ts';
import { sharedModels, sharedModelPath, sharedModelsMissing } from '../src/models/shared.ts';
import { benchArgs } from './args.ts';

const missing = sharedModelsMissing();
if (missing) {
  console.log(`skipped: ${missing}`);
  process.exit(0);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const PY = `
import sys, time, onnx
from onnx import shape_inference
for path in sys.argv[1:]:
    m = onnx.load(path, load_external_data=False)
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); shape_inference.infer_shapes(m); ts.append(time.perf_counter() - t0)
    ts.sort(); print(ts[2] * 1000)
`;
const opt = benchArgs({ all: { type: 'boolean' } });
const names = sharedModels().map((m) => m.name).filter((n) => n !== 'vgg16' || opt.all);
const paths = names.map((n) => sharedModelPath(n));
const pyTimes = existsSync('/usr/bin/python3')
  ? execFileSync('/usr/bin/python3', ['-c', PY, ...paths], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').map(Number)
  : [];
console.log('model                          nodes   dnnfuse ms   python onnx ms   ratio (onnx / dnnfuse)');
names.forEach((name, k) => {
  const model = loadModel(paths[k]);
  const ts: number[] = [];
  for (let i = 0; i < 18; i++) {
    model.graph.invalidate();
    const t0 = performance.now();
    inferShapes(model);
    if (i >= 3) ts.push(performance.now() - t0); // 3 warm-up runs (JIT)
  }
  const ours = median(ts);
  const py = pyTimes[k];
  console.log(`${name.padEnd(30)} ${String(model.graph.nodes.length).padStart(5)} ${ours.toFixed(2).padStart(12)} ${py === undefined ? '-'.padStart(16) : py.toFixed(2).padStart(16)} ${py === undefined ? '' : (py / ours).toFixed(1).padStart(10) + 'x'}`);
});
