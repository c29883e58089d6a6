// (c) A CommonJS caller: require('dnnfuse') and require('dnnfuse/testkit').
// Node >= 20.19 / >= 22.12 load the ES modules with require(); older Node gets one line
// saying to use `await import('dnnfuse')` (the test emulates it with
// --no-experimental-require-module).
const dnnfuse = require('dnnfuse');
const { cnnModel, assertPlanValid } = require('dnnfuse/testkit');
const m = dnnfuse.load(process.argv[2]);
console.log(`require: ${m.graph.nodes.length} nodes, ${typeof dnnfuse.runPipeline}, ${typeof cnnModel}, ${typeof assertPlanValid}`);
console.log(`same module as import: ${require('dnnfuse').load === dnnfuse.load}`);
