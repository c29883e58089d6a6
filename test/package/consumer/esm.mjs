// (b) A plain Node ES module using the library: no TypeScript, no loader, no onnxruntime-node
// installed (the library loads it only to verify numerics). Usage: node esm.mjs <model.onnx>
import { load, runPipeline, finalPlan, passAnnotations, hardwarePresets, scheduleToJson, listPasses } from 'dnnfuse';
import { cnnModel } from 'dnnfuse/testkit';
import schema from 'dnnfuse/schema/schedule.schema.json' with { type: 'json' };
import { createRequire } from 'node:module';

const model = load(process.argv[2]);
const before = model.graph.nodes.length;
const { schedule } = await runPipeline(model, ['fold-bn', 'collapse-branches', 'plan'], {
  hardware: hardwarePresets['paper-256k'],
  scheme: 'lbdf',
  seed: 0,
  options: { plan: { search: 'greedy', optimum: false } },
});
const plan = finalPlan(schedule);
console.log(`nodes ${before} -> ${model.graph.nodes.length}`);
console.log(`fold-bn folded ${passAnnotations(schedule, 'fold-bn')?.rewrites.length ?? 0}`);
console.log(`plan: ${plan?.groups.length} groups, DRAM ${plan?.dramBytes} B`);
console.log(`schedule ${scheduleToJson(schedule).length} chars, schema ${schema.title ?? schema.$id}`);
console.log(`passes: ${listPasses().length}, testkit: ${typeof cnnModel}`);
let ort = 'not installed';
try {
  createRequire(import.meta.url).resolve('onnxruntime-node');
  ort = 'installed';
} catch {}
console.log(`onnxruntime-node: ${ort}`);
