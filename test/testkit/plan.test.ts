import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Pass } from '../../src/passes/pass.ts';
import { runPasses, scheduleGraph, type Schedule } from '../../src/passes/manager.ts';
import { cnnModel, buildCnn } from '../../src/testkit/arbitraries.ts';
import { assertPlanValid } from '../../src/testkit/plan.ts';
import { inferShapes } from '../../src/analysis/shapes.ts';
import { buildOpGraph } from '../../src/fusion/op-graph.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import type { Accelerator } from '../../src/hardware/accelerator.ts';
import { DnnfuseError } from '../../src/errors.ts';

/** A stand-in planner for these tests (the real one is the 'plan' pass): greedy chains in
 * topological order, extended while the group stays valid under the cost model. */
const greedyPlanner: Pass = {
  name: 'greedy-plan',
  description: 'greedy chains',
  reads: ['hardware', 'scheme'],
  writes: ['annotations:greedy-plan'],
  kind: 'fusion-plan',
  run(model, ctx) {
    inferShapes(model);
    const og = buildOpGraph(model);
    const cost = createCostModel(ctx.scheme!, og, ctx.hardware!);
    const groups: number[][] = [];
    let cur: number[] = [];
    for (const op of og.ops) {
      const cand = [...cur, op.id];
      const connected = cur.length === 0 || og.pred[op.id].includes(cur[cur.length - 1]);
      if (connected && cost.valid(cand) && cur.length < 4) cur = cand;
      else {
        if (cur.length) groups.push(cur);
        cur = [op.id];
      }
    }
    if (cur.length) groups.push(cur);
    const out = groups.map((g, id) => ({ id, nodes: g.map((i) => og.ops[i].node), memoryBytes: cost.memory(g).bytes, dramBytes: cost.dram(g), valid: cost.valid(g) }));
    return { changed: false, annotations: { groups: out, totals: { dramBytes: out.reduce((a, g) => a + g.dramBytes, 0) } } };
  },
};

const HW: Accelerator = { name: 'test', bufferBytes: 16 * 1024, elementType: 'int8', dramBytesPerSecond: 1e10, macsPerSecond: 1e12 };

async function plan(model = buildCnn({ seed: 1, inChannels: 3, size: 16, blocks: [{ kind: 'conv-bn-relu', out: 8, kernel: 3, stride: 1, bn: false }, { kind: 'residual', bottleneck: false }, { kind: 'se', reduction: 2 }, { kind: 'concat', a: 4, b: 4 }], head: true })) {
  const { schedule } = await runPasses(model, [greedyPlanner], { hardware: HW, scheme: 'lbdf', seed: 0 });
  schedule.graph = scheduleGraph(model);
  return { schedule, model };
}

const resum = (s: Schedule) => { const a = groupsOf(s); a.totals.dramBytes = a.groups.reduce((x, g) => x + g.dramBytes, 0); };
const clone = (s: Schedule): Schedule => JSON.parse(JSON.stringify(s));
const groupsOf = (s: Schedule) => (s.passes[0].annotations as { groups: { id: number; nodes: string[]; memoryBytes: number; dramBytes: number; valid?: boolean }[]; totals: { dramBytes: number } });

test('assertPlanValid accepts valid plans of arbitrary CNNs, re-checked against the cost model (property)', async () => {
  await fc.assert(
    fc.asyncProperty(cnnModel({ maxBlocks: 5, maxChannels: 12 }), fc.constantFrom('lbdf' as const, 'brr' as const), async (m, scheme) => {
      const { schedule } = await runPasses(m, [greedyPlanner], { hardware: HW, scheme, seed: 0 });
      schedule.graph = scheduleGraph(m);
      const r = assertPlanValid(schedule, HW, { model: m });
      assert.equal(r.recomputed, true);
      assert.equal(r.groups, groupsOf(schedule).groups.length);
      assert.ok(r.largestGroupBytes <= HW.bufferBytes);
    }),
    { numRuns: 15, seed: 5 },
  );
});

test('assertPlanValid names the broken rule', async () => {
  const { schedule, model } = await plan();
  assertPlanValid(schedule);
  const fused = groupsOf(schedule).groups.findIndex((g) => g.nodes.length > 1);
  assert.ok(fused >= 0, 'the stand-in planner fused something');
  const expectFail = (mutate: (s: Schedule) => void, re: RegExp, withModel = false) => {
    const s = clone(schedule);
    mutate(s);
    assert.throws(() => assertPlanValid(s, HW, withModel ? { model } : {}), (e: unknown) => e instanceof DnnfuseError && e.exitCode === 1 && re.test(e.message));
  };
  expectFail((s) => { s.passes = []; }, /holds no fusion plan/);
  expectFail((s) => { const g = groupsOf(s).groups; g[1].nodes.push(g[0].nodes[0]); }, /is in groups 0 and 1/);
  expectFail((s) => { groupsOf(s).groups[fused].memoryBytes = HW.bufferBytes + 1; }, /needs \d+ B on chip > buffer 16384 B/);
  expectFail((s) => { groupsOf(s).groups[fused].valid = false; }, /is marked invalid/);
  expectFail((s) => { groupsOf(s).totals.dramBytes += 1000; }, /is not the sum of the groups' F_D/);
  expectFail((s) => { groupsOf(s).groups[0].nodes.push('ghost'); }, /'ghost' is not in the schedule's graph/);
  // two far-apart single ops merged into one group: not connected
  expectFail((s) => {
    const g = groupsOf(s).groups;
    const last = g[g.length - 1];
    g[0].nodes.push(...last.nodes);
    g.pop();
    resum(s);
  }, /group 0 is not connected|cycle/);
  // a group holding ops before and after another group: the group graph has a cycle
  expectFail((s) => {
    const g = groupsOf(s).groups;
    const [a, b, c] = [g[0], g[1], g[2]];
    a.nodes.push(...c.nodes);
    g.splice(2, 1);
    void b;
    resum(s);
  }, /cycle|not connected/);
  // recorded figures that the cost model does not reproduce
  expectFail((s) => { groupsOf(s).groups[fused].memoryBytes -= 1; }, /recorded F_beta \d+ B, the LBDF cost model gives \d+ B/, true);
  // an op left out of every group
  expectFail((s) => { const g = groupsOf(s).groups; const lost = g.pop()!; groupsOf(s).totals.dramBytes -= lost.dramBytes; }, /is in no group/, true);
});
