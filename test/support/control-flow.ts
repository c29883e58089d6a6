/** Small models with control flow (If, Loop, Scan) for the shape, pass and planner tests. */
import { Graph, Model, Node, attr, type Attribute, type ValueInfo } from '../../src/ir/graph.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { ModelBuilder } from '../../src/models/builder.ts';

const f32 = (shape: number[] | undefined) => ({ elemType: DataType.FLOAT, shape });

/** Prefixes every node, value and initializer name of `g` except `keep` (outer-scope names). */
export function prefixNames(g: Graph, prefix: string, keep: Set<string>): Graph {
  const ren = (v: string) => (!v || keep.has(v) ? v : `${prefix}${v}`);
  for (const n of g.nodes) {
    n.name = `${prefix}${n.name}`;
    n.inputs = n.inputs.map(ren);
    n.outputs = n.outputs.map(ren);
  }
  g.initializers = new Map([...g.initializers.values()].map((t) => { t.name = ren(t.name); return [t.name, t]; }));
  for (const v of [...g.inputs, ...g.outputs]) v.name = ren(v.name);
  g.invalidate();
  return g;
}

/** A branch graph built by `body(b, p)` from the outer value `p` of shape `shape`: conv
 * layers with BatchNorms, reading `p` from the enclosing graph (no graph inputs). */
export function branch(prefix: string, outer: string, shape: number[], body: (b: ModelBuilder, p: string) => string, seed: number, opts: { declareShape?: boolean } = {}): Graph {
  const b = new ModelBuilder({ seed });
  const p = b.input(outer, shape);
  const y = body(b, p);
  b.output(y);
  const g = b.build(`${prefix}graph`).graph;
  g.inputs = [];
  prefixNames(g, prefix, new Set([outer]));
  if (!opts.declareShape) g.outputs = g.outputs.map((o): ValueInfo => ({ name: o.name, type: { elemType: DataType.FLOAT } }));
  return g;
}

/**
 * x [1,4,8,8] -> Conv 'pre' -> p; If(cond) { then: Conv+BN+Relu(p) ; else: Conv+BN(p) } -> y;
 * Relu 'post'(y) -> out. Both branches read `p` (an intermediate value) from the main graph.
 * `elseChannels` differing from 6 gives branches of different output shapes.
 */
export function ifModel(opts: { elseChannels?: number; cond?: boolean } = {}): Model {
  const b = new ModelBuilder({ seed: 3 });
  const x = b.input('x', [1, 4, 8, 8]);
  const p = b.conv(x, { outChannels: 4, kernel: 3, pads: 1, name: 'pre' });
  const m = b.build('if_model');
  const g = m.graph;
  const thenG = branch('t_', p, [1, 4, 8, 8], (bb, q) => bb.relu(bb.batchNorm(bb.conv(q, { outChannels: 6, kernel: 3, pads: 1 }))), 4);
  const elseG = branch('e_', p, [1, 4, 8, 8], (bb, q) => bb.batchNorm(bb.conv(q, { outChannels: opts.elseChannels ?? 6, kernel: 1 })), 5);
  let cond = 'cond';
  if (opts.cond === undefined) g.inputs.push({ name: 'cond', type: { elemType: DataType.BOOL, shape: [] } });
  else {
    cond = 'cond_const';
    g.setInitializer(new Tensor('cond_const', DataType.BOOL, [], { kind: 'raw', bytes: Uint8Array.from([opts.cond ? 1 : 0]) }));
  }
  const ga = (name: string, value: Graph): Attribute => ({ name, type: 'graph', value });
  g.addNode(new Node({ name: 'the_if', opType: 'If', inputs: [cond], outputs: ['y'], attributes: [ga('then_branch', thenG), ga('else_branch', elseG)] }));
  g.addNode(new Node({ name: 'post', opType: 'Relu', inputs: ['y'], outputs: ['out'] }));
  g.outputs = [{ name: 'out', type: f32(undefined) }];
  return m;
}

/**
 * Loop with a constant trip count 3 and no condition: carried `acc` [2,3] (acc + w, w an
 * intermediate of the main graph read from outer scope: shape preserved), carried `grow`
 * [1,3] (concatenated with itself: doubles every iteration; left out with grow: false) and a
 * scan output acc*2 [2,3].
 */
export function loopModel(opts: { grow?: boolean } = {}): Model {
  const g = new Graph({ name: 'loop_model' });
  g.inputs.push({ name: 'x', type: f32([2, 3]) }, { name: 'g0', type: f32([1, 3]) });
  g.setInitializer(Tensor.int64('M', [], [3]));
  g.setInitializer(Tensor.float32('two', [], Float32Array.from([2])));
  g.addNode(new Node({ name: 'w_node', opType: 'Sigmoid', inputs: ['x'], outputs: ['w'] }));
  const body = new Graph({ name: 'body' });
  body.inputs.push({ name: 'i', type: { elemType: DataType.INT64, shape: [] } }, { name: 'c_in', type: { elemType: DataType.BOOL, shape: [] } }, { name: 'acc_in', type: f32(undefined) }, { name: 'grow_in', type: f32(undefined) });
  body.addNode(new Node({ name: 'b_cond', opType: 'Identity', inputs: ['c_in'], outputs: ['c_out'] }));
  body.addNode(new Node({ name: 'b_acc', opType: 'Add', inputs: ['acc_in', 'w'], outputs: ['acc_out'] }));
  body.addNode(new Node({ name: 'b_grow', opType: 'Concat', inputs: ['grow_in', 'grow_in'], outputs: ['grow_out'], attributes: [attr.int('axis', 0)] }));
  body.addNode(new Node({ name: 'b_scan', opType: 'Mul', inputs: ['acc_in', 'two'], outputs: ['s'] }));
  body.outputs.push({ name: 'c_out', type: { elemType: DataType.BOOL } }, { name: 'acc_out', type: { elemType: DataType.FLOAT } }, { name: 'grow_out', type: { elemType: DataType.FLOAT } }, { name: 's', type: { elemType: DataType.FLOAT } });
  g.addNode(new Node({ name: 'the_loop', opType: 'Loop', inputs: ['M', '', 'x', 'g0'], outputs: ['acc', 'grow', 'scan'], attributes: [{ name: 'body', type: 'graph', value: body }] }));
  g.outputs.push({ name: 'acc', type: f32(undefined) }, { name: 'grow', type: f32(undefined) }, { name: 'scan', type: f32(undefined) });
  if (opts.grow === false) {
    // Without the growing value (every shape static).
    const loop = g.nodes.find((n) => n.opType === 'Loop')!;
    loop.inputs = ['M', '', 'x'];
    loop.outputs = ['acc', 'scan'];
    body.inputs.splice(3, 1);
    body.nodes = body.nodes.filter((n) => n.name !== 'b_grow');
    body.outputs.splice(2, 1);
    body.invalidate();
    g.inputs.splice(1, 1);
    g.outputs.splice(1, 1);
    g.invalidate();
  }
  return new Model({ graph: g, opsetImports: [{ domain: '', version: 13 }] });
}

/** Scan (opset 11) over axis 1 of X [3,5,4]: state sum [3,4] += slice; scan output slice*2
 * stacked on axis 2 ([3,4,5]). */
export function scanModel(): Model {
  const g = new Graph({ name: 'scan_model' });
  g.inputs.push({ name: 's0', type: f32([3, 4]) }, { name: 'X', type: f32([3, 5, 4]) });
  g.setInitializer(Tensor.float32('two', [], Float32Array.from([2])));
  const body = new Graph({ name: 'body' });
  body.inputs.push({ name: 'sum_in', type: f32(undefined) }, { name: 'xs', type: f32(undefined) });
  body.addNode(new Node({ name: 'b_sum', opType: 'Add', inputs: ['sum_in', 'xs'], outputs: ['sum_out'] }));
  body.addNode(new Node({ name: 'b_out', opType: 'Mul', inputs: ['xs', 'two'], outputs: ['ys'] }));
  body.outputs.push({ name: 'sum_out', type: { elemType: DataType.FLOAT } }, { name: 'ys', type: { elemType: DataType.FLOAT } });
  g.addNode(new Node({ name: 'the_scan', opType: 'Scan', inputs: ['s0', 'X'], outputs: ['sum', 'Y'], attributes: [{ name: 'body', type: 'graph', value: body }, attr.int('num_scan_inputs', 1), attr.ints('scan_input_axes', [1]), attr.ints('scan_output_axes', [2])] }));
  g.outputs.push({ name: 'sum', type: f32(undefined) }, { name: 'Y', type: f32(undefined) });
  return new Model({ graph: g, opsetImports: [{ domain: '', version: 11 }] });
}

/**
 * A shape guard as exporters write it (Silero VAD v5's decoder): x [1,4,n] (declared [1,4,'n'],
 * as exported; fix n with applyShapeOverrides);
 * If(cond) { then: Squeeze(x, axis 2) ; else: Identity(x) } -> out, where cond is
 * `Shape(x)[2] == 1` (constant once n is static), or the bool graph input `cond` with
 * `guard: 'input'`. At n != 1 the then branch cannot run. `elseSqueezeAxis` makes the else branch
 * a Squeeze of that axis instead (neither branch can run when it is not of size 1).
 */
export function shapeGuardModel(opts: { guard?: 'shape' | 'input'; elseSqueezeAxis?: number } = {}): Model {
  const g = new Graph({ name: 'guard_model' });
  g.inputs.push({ name: 'x', type: { elemType: DataType.FLOAT, shape: [1, 4, 'n'] } });
  let cond = 'cond';
  if (opts.guard === 'input') g.inputs.push({ name: 'cond', type: { elemType: DataType.BOOL, shape: [] } });
  else {
    g.setInitializer(Tensor.int64('two', [], [2]));
    g.setInitializer(Tensor.int64('one', [], [1]));
    g.addNode(new Node({ name: 'shape', opType: 'Shape', inputs: ['x'], outputs: ['sx'] }));
    g.addNode(new Node({ name: 'dim2', opType: 'Gather', inputs: ['sx', 'two'], outputs: ['d2'], attributes: [attr.int('axis', 0)] }));
    g.addNode(new Node({ name: 'is_one', opType: 'Equal', inputs: ['d2', 'one'], outputs: ['cond'] }));
  }
  const squeeze = (prefix: string, axis: number) => {
    const b = new Graph({ name: `${prefix}graph` });
    b.setInitializer(Tensor.int64(`${prefix}axes`, [1], [axis]));
    b.addNode(new Node({ name: `${prefix}squeeze`, opType: 'Squeeze', inputs: ['x', `${prefix}axes`], outputs: [`${prefix}y`] }));
    b.outputs = [{ name: `${prefix}y`, type: { elemType: DataType.FLOAT } }];
    return b;
  };
  const thenG = squeeze('t_', 2);
  let elseG: Graph;
  if (opts.elseSqueezeAxis !== undefined) elseG = squeeze('e_', opts.elseSqueezeAxis);
  else {
    elseG = new Graph({ name: 'e_graph' });
    elseG.addNode(new Node({ name: 'e_identity', opType: 'Identity', inputs: ['x'], outputs: ['e_y'] }));
    elseG.outputs = [{ name: 'e_y', type: { elemType: DataType.FLOAT } }];
  }
  const ga = (name: string, value: Graph): Attribute => ({ name, type: 'graph', value });
  g.addNode(new Node({ name: 'guard', opType: 'If', inputs: [cond], outputs: ['y'], attributes: [ga('then_branch', thenG), ga('else_branch', elseG)] }));
  g.addNode(new Node({ name: 'post', opType: 'Relu', inputs: ['y'], outputs: ['out'] }));
  g.outputs = [{ name: 'out', type: f32(undefined) }];
  return new Model({ graph: g, irVersion: 8, opsetImports: [{ domain: '', version: 13 }] });
}
