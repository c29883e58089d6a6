// (d) A TypeScript consumer, type-checked with `tsc --noEmit` (strict, module/moduleResolution
// nodenext, skipLibCheck off): loads a model, runs a pass pipeline with a plugin pass of its
// own, plans fusion, reads the schedule and uses the testkit. The expect-error directives and
// the `NotAny` checks fail to compile if the package's types were `any` (an unused directive
// is an error), so they prove that the declarations carry real types.
import {
  load,
  registerPass,
  runPipeline,
  planFusion,
  finalPlan,
  passAnnotations,
  hardwarePresets,
  scheduleToJson,
  parseSchedule,
  decodeModel,
  encodeModel,
  type Model,
  type Pass,
  type PassContext,
  type PassResult,
  type Schedule,
  type ScheduledPlan,
  type FusionPlanJson,
  type Accelerator,
} from 'dnnfuse';
import { cnnModel, assertSameOutputs, assertPlanValid, type PlanValidSummary, type CnnArbitraryOptions } from 'dnnfuse/testkit';
import fc from 'fast-check';

type IsAny<T> = 0 extends 1 & T ? true : false;
type NotAny<T> = IsAny<T> extends true ? never : T;
const notAny = <T>(value: NotAny<T>): T => value;

// A plugin pass: typed annotations, reads the graph only.
interface ConvCount {
  convs: number;
  largestKernel: number;
}
const countConvs: Pass<ConvCount> = {
  name: 'count-convs',
  description: 'Count the Conv nodes and their largest kernel',
  reads: ['graph'],
  writes: ['annotations:count-convs'],
  run(model: Model, ctx: PassContext): PassResult<ConvCount> {
    const convs = model.graph.nodes.filter((n) => n.opType === 'Conv');
    ctx.log(`count-convs: ${convs.length}`);
    let largestKernel = 0;
    for (const n of convs) {
      const w = model.graph.initializers.get(n.inputs[1]);
      if (w) largestKernel = Math.max(largestKernel, ...w.dims.slice(2));
    }
    return { changed: false, annotations: { convs: convs.length, largestKernel } };
  },
};
registerPass(countConvs);

const hw: Accelerator = hardwarePresets['paper-256k'];
const model: Model = load(process.argv[2] ?? 'model.onnx');
const original = decodeModel(encodeModel(model));

const { schedule } = await runPipeline(model, ['fold-bn', 'collapse-branches', 'count-convs', 'plan'], {
  hardware: hw,
  scheme: 'lbdf',
  seed: 0,
  options: { plan: { search: 'greedy', optimum: false } },
});
const s: Schedule = notAny(schedule);
const mine = s.passes.find((p) => p.name === 'count-convs');
console.log(mine?.annotations);

// The built-in passes' annotations are typed by pass name.
const folded = passAnnotations(s, 'fold-bn');
const applied: number | undefined = folded?.applied;
// @ts-expect-error `applied` is a number
const wrong: string | undefined = folded?.applied;

// The final fusion plan and its groups.
const plan: ScheduledPlan | undefined = notAny(finalPlan(s));
for (const g of plan?.groups ?? []) console.log(g.nodes.length, g.dramBytes);
// @ts-expect-error `groups` is an array of groups
const groupsText: string = plan?.groups;

// Planning on its own (the 'plan' pass as a function), with typed options.
const planned = await planFusion(model, { hardware: hw, scheme: 'brr', seed: 1 }, { search: 'local', budget: 200, optimum: false });
const json: FusionPlanJson | undefined = notAny(planned.annotations);
console.log(json?.groups.length, json?.totals.dramBytes, json?.search.method);
// @ts-expect-error an unknown search method
await planFusion(model, {}, { search: 'simulated-annealing' });

// Round trip through the schedule's JSON.
const again: Schedule = parseSchedule(scheduleToJson(s));

// The testkit.
const summary: PlanValidSummary = notAny(assertPlanValid(again, hw, { model }));
console.log(summary.groups, summary.fusedGroups);
const arbOptions: CnnArbitraryOptions = { maxBlocks: 3, maxChannels: 8 };
const arb: fc.Arbitrary<Model> = cnnModel(arbOptions);
await fc.assert(
  fc.asyncProperty(arb, async (m) => {
    const copy = decodeModel(encodeModel(m));
    await runPipeline(copy, ['fold-bn']);
    const worst = await assertSameOutputs(m, copy, { rtol: 1e-4, atol: 1e-4, seed: 0 });
    return worst.every((o) => o.maxAbs >= 0 && o.mismatched === 0);
  }),
  { numRuns: 2, seed: 1 },
);
await assertSameOutputs(original, model);

void applied;
void wrong;
void groupsText;
