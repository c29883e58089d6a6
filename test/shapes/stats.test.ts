/**
 * Parameters and MACs of the reference models against torchvision's published figures
 * (torchvision model docs: "Params" and "GFLOPS", the latter counting multiply-accumulates of
 * convolutions and linear layers). Trainable parameters exclude BatchNorm running statistics,
 * as PyTorch's model.parameters() does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/onnx/io.ts';
import { modelStats, nodeMacs } from '../../src/analysis/stats.ts';
import { inferShapes } from '../../src/analysis/shapes.ts';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';
import { caseModel, I } from './cases.ts';
import { a } from './cases.ts';

// name -> [params, GMACs] from the torchvision documentation tables.
const TORCHVISION: Record<string, [number, number]> = {
  resnet18: [11_689_512, 1.81],
  resnet50: [25_557_032, 4.09],
  resnet152: [60_192_808, 11.51],
  vgg16: [138_357_544, 15.47],
  mobilenet_v2: [3_504_872, 0.30],
  mobilenet_v3_large: [5_483_032, 0.22],
  mobilenet_v3_small: [2_542_856, 0.06],
  googlenet: [6_624_904, 1.50],
  squeezenet1_1: [1_235_496, 0.35],
  shufflenet_v2_x1_0: [2_278_604, 0.14],
  mnasnet1_0: [4_383_312, 0.31],
  regnet_y_400mf: [4_344_144, 0.40],
};

test('params and MACs match torchvision published figures', { skip: sharedModelsMissing() }, () => {
  const lines: string[] = [];
  for (const [name, [params, gmacs]] of Object.entries(TORCHVISION)) {
    const s = modelStats(loadModel(sharedModelPath(name)));
    // MobileNetV3-Small and SqueezeNet 1.1 are the 'random'-weight exports: the exporter
    // deduplicated identical initializers (e.g. zero-initialized biases) behind Identity nodes,
    // so the file holds ~0.1% fewer distinct parameters. Every other figure is exact.
    const tol = name === 'mobilenet_v3_small' || name === 'squeezenet1_1' ? 0.01 : 0;
    assert.ok(Math.abs(s.totals.trainableParams - params) <= tol * params, `${name}: ${s.totals.trainableParams} trainable params vs ${params}`);
    assert.equal(s.totals.macsComplete, true);
    assert.equal((s.totals.macs / 1e9).toFixed(2), gmacs.toFixed(2), `${name}: ${s.totals.macs} MACs vs ${gmacs} G`);
    lines.push(`${name} ${s.totals.trainableParams} ${(s.totals.macs / 1e9).toFixed(3)}G`);
  }
  console.log(`torchvision figures reproduced: ${lines.join('; ')}`);
});

test('MAC formulas for ConvTranspose, grouped Conv, MatMul with batch broadcast', () => {
  const macsOf = (c: Parameters<typeof caseModel>[0]) => {
    const m = caseModel(c);
    return nodeMacs(m.graph.nodes[0], inferShapes(m));
  };
  // ConvTranspose: input elements x (C_out/g) x k*k
  assert.equal(macsOf({ op: 'ConvTranspose', inputs: [I(1, 8, 5, 5), I(8, 3, 4, 4)], attrs: { strides: a.ints(2, 2) } }), 8 * 5 * 5 * 3 * 16);
  // Depthwise conv: output elements x 1 x k*k
  assert.equal(macsOf({ op: 'Conv', inputs: [I(1, 8, 10, 10), I(8, 1, 3, 3)], attrs: { group: a.int(8), pads: a.ints(1, 1, 1, 1) } }), 8 * 10 * 10 * 9);
  // MatMul [2,1,4,5] x [3,5,6] -> [2,3,4,6], K = 5
  assert.equal(macsOf({ op: 'MatMul', inputs: [I(2, 1, 4, 5), I(3, 5, 6)] }), 2 * 3 * 4 * 6 * 5);
  // Gemm with transA: A [7,3] -> M=3, K=7
  assert.equal(macsOf({ op: 'Gemm', inputs: [I(7, 3), I(7, 5)], attrs: { transA: a.int(1) } }), 3 * 5 * 7);
  // Unknown shapes: undefined, not a guess
  assert.equal(macsOf({ op: 'Conv', inputs: [I('N', 3, 'H', 8), I(4, 3, 3, 3)] }), undefined);
  assert.equal(macsOf({ op: 'Relu', inputs: [I(2, 3)] }), 0);
});
