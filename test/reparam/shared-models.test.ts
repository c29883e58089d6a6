import test from 'node:test';
import assert from 'node:assert/strict';
import { loadModel, decodeModel, encodeModel } from '../../src/onnx/io.ts';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';
import { foldBnPass } from '../../src/passes/fold-bn.ts';
import { collapseBranches } from '../../src/passes/collapse-branches.ts';
import { makeContext } from '../../src/passes/pass.ts';
import { assertSameOutputs, opCounts } from './helpers.ts';

const skip = sharedModelsMissing();

/** Expected node counts after fold-bn,collapse-branches (and the ops that remain). */
const EXPECT: Record<string, { before: number; after: number; ops?: Record<string, number> }> = {
  'reparam/repvgg_block': { before: 8, after: 2, ops: { Conv: 1, Relu: 1 } },
  'reparam/repvgg_block_grouped': { before: 8, after: 2, ops: { Conv: 1, Relu: 1 } },
  'reparam/repvgg_block_stride2': { before: 6, after: 2, ops: { Conv: 1, Relu: 1 } },
  'reparam/acnet_block': { before: 9, after: 2, ops: { Conv: 1, Relu: 1 } },
  // One conv + the exact border-correction Add (1x1->BN->3x3 and 1x1->BN->Pad->AvgPool branches).
  'reparam/dbb_block': { before: 18, after: 3, ops: { Conv: 1, Add: 1, Relu: 1 } },
  'reparam/repvgg_net': { before: 61, after: 19, ops: { Conv: 16 - 8, Relu: 8, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 } },
  // Torchvision exports: every BN folds into its conv; residual Adds stay (nonlinear branches).
  efficientnet_b0: { before: 306, after: 306 - 49 },
  mobilenet_v2: { before: 222, after: 222 - 52 },
  mobilenet_v3_small: { before: 180, after: 180 - 34 },
  squeezenet1_1: { before: 83, after: 83 },
  // A constant-weight export (gzipped): structure only matters; all 20 BNs fold.
  resnet18: { before: 69, after: 49 },
};

for (const [name, exp] of Object.entries(EXPECT)) {
  test(`shared model ${name}: fold-bn,collapse-branches keeps outputs and drops nodes ${exp.before} -> ${exp.after}`, { skip }, async () => {
    const path = sharedModelPath(name);
    const original = loadModel(path);
    const m = loadModel(path);
    assert.equal(m.graph.nodes.length, exp.before);
    await foldBnPass.run(m, makeContext());
    const a = collapseBranches(m);
    // Written as ONNX and read back, as the CLI does.
    const written = decodeModel(encodeModel(m));
    assert.equal(written.graph.nodes.length, exp.after, JSON.stringify(opCounts(written)));
    if (exp.ops) assert.deepEqual(opCounts(written), exp.ops);
    if (name.startsWith('reparam/')) assert.ok(a.applied >= 1);
    await assertSameOutputs(original, written, { runs: name.startsWith('reparam/') ? 3 : 1 });
    // Idempotent: a second run finds nothing more to do.
    assert.equal((await foldBnPass.run(written, makeContext())).changed, false);
    assert.equal(collapseBranches(written).applied, 0);
  });
}
