// Writes the model onnxruntime-node saves after its graph optimizations at a level
// (`node corpus/ort-optimize.mjs in.onnx out.onnx extended`): what users ship when they keep
// onnxruntime's optimized model (SessionOptions.optimizedModelFilePath). Run by corpus/fetch.ts
// in a child process (fetchModel is synchronous; a session is not).
import * as ort from 'onnxruntime-node';

// As dnnfuse does (src/analysis/ort.ts): onnxruntime 1.30's telemetry off, read when its
// environment is created by the first session (it leaves mat-debug-<pid>.log files in /tmp).
process.env.ORT_DISABLE_TELEMETRY ??= '1';

const [src, dst, level] = process.argv.slice(2);
const session = await ort.InferenceSession.create(src, { graphOptimizationLevel: level, optimizedModelFilePath: dst, intraOpNumThreads: 1 });
await session.release();
