import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { decodeModel, encodeModel, loadModel, saveModel } from '../../src/onnx/io.ts';
import { DnnfuseError } from '../../src/errors.ts';
import { Model } from '../../src/ir/graph.ts';
import { type Msg } from '../../src/onnx/schema.ts';
import { encodeMsg, encodeTensorMsg, exoticModelMsg, smallConvModel } from './helpers.ts';
import { sharedModelPath, sharedModelsMissing } from '../../src/models/shared.ts';

/** Asserts `f` throws a one-line exit-2 DnnfuseError whose message matches `re`. */
function rejects(f: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof DnnfuseError, `expected a DnnfuseError, got ${String(err)}`);
  assert.equal(err.exitCode, 2, err.message);
  assert.ok(!err.message.includes('\n'), 'one line');
  assert.match(err.message, re);
}

const base = (): Msg => ({
  ir_version: 8,
  opset_import: [{ domain: '', version: 13 }],
  graph: {
    name: 'g',
    node: [
      { name: 'r1', op_type: 'Relu', input: ['x'], output: ['a'] },
      { name: 'r2', op_type: 'Relu', input: ['a'], output: ['y'] },
    ],
    input: [{ name: 'x', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 2 }] } } } }],
    output: [{ name: 'y', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 2 }] } } } }],
  },
});

test('the base fixture is valid', () => {
  assert.ok(decodeModel(encodeMsg(base())) instanceof Model, 'decodes');
});

test('empty, random, truncated bytes -> bad input', () => {
  rejects(() => decodeModel(new Uint8Array(0)), /empty/);
  rejects(() => decodeModel(Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff)), /not (a valid )?(an )?ONNX model/i);
  const good = encodeModel(smallConvModel());
  for (const cut of [1, 7, good.length >> 1, good.length - 1]) rejects(() => decodeModel(good.subarray(0, cut)), /ONNX model|malformed|raw_data|produced/);
});

test('a valid protobuf that is not a model (TensorProto) -> bad input', () => {
  const t = encodeTensorMsg({ name: 'w', data_type: 1, dims: [2], raw_data: new Uint8Array(8) });
  rejects(() => decodeModel(t), /not an ONNX model|wire type/);
});

test('missing graph / ir_version / opset_import -> bad input naming the field', () => {
  rejects(() => decodeModel(encodeMsg({ ir_version: 8, opset_import: [{ version: 13 }] })), /no graph/);
  const noIr = base();
  delete noIr.ir_version;
  rejects(() => decodeModel(encodeMsg(noIr)), /ir_version/);
  const noOpset = base();
  delete noOpset.opset_import;
  rejects(() => decodeModel(encodeMsg(noOpset)), /opset_import/);
});

test('cycle -> bad input naming a node on it', () => {
  const m = base();
  m.graph.node[0].input = ['x', 'y'];
  m.graph.node[0].op_type = 'Add';
  rejects(() => decodeModel(encodeMsg(m)), /cycle.*'r[12]'/);
});

test('dangling input -> bad input naming node and value', () => {
  const m = base();
  m.graph.node[1].input = ['ghost'];
  rejects(() => decodeModel(encodeMsg(m)), /node 'r2' \(Relu\) input #0 'ghost' is not produced/);
  const m2 = base();
  m2.graph.output[0].name = 'nowhere';
  rejects(() => decodeModel(encodeMsg(m2)), /graph output 'nowhere'/);
});

test('duplicate producers, initializers, node names -> bad input', () => {
  const m = base();
  m.graph.node[1].output = ['a'];
  m.graph.output[0].name = 'a';
  rejects(() => decodeModel(encodeMsg(m)), /value 'a' has two producers: node 'r1' \(Relu\) and node 'r2' \(Relu\)/);
  const m2 = base();
  m2.graph.initializer = [{ name: 'a', data_type: 1, dims: [2], raw_data: new Uint8Array(8) }];
  rejects(() => decodeModel(encodeMsg(m2)), /value 'a' has two producers: initializer 'a' and node 'r1'/);
  const m3 = base();
  m3.graph.initializer = [{ name: 'w', data_type: 1, dims: [1], raw_data: new Uint8Array(4) }, { name: 'w', data_type: 1, dims: [1], raw_data: new Uint8Array(4) }];
  rejects(() => decodeModel(encodeMsg(m3)), /duplicate initializer 'w'/);
  const m4 = base();
  m4.graph.node[1].name = 'r1';
  rejects(() => decodeModel(encodeMsg(m4)), /duplicate node name 'r1'/);
  const m5 = base();
  m5.graph.input.push({ name: 'a' });
  rejects(() => decodeModel(encodeMsg(m5)), /value 'a' has two producers: graph input 'a' and node 'r1'/);
  const m6 = base();
  m6.graph.input.push({ name: 'x' });
  rejects(() => decodeModel(encodeMsg(m6)), /value 'x' has two producers: graph input 'x' and graph input 'x'/);
});

test('tensor data that does not match its shape -> bad input naming the tensor', () => {
  const m = base();
  m.graph.initializer = [{ name: 'w', data_type: 1, dims: [3], raw_data: new Uint8Array(8) }];
  rejects(() => decodeModel(encodeMsg(m)), /'w' \(float \[3\]\): raw_data has 8 bytes, the shape needs 12/);
  m.graph.initializer = [{ name: 'w', data_type: 1, dims: [3], float_data: [new Uint8Array(8)] }];
  rejects(() => decodeModel(encodeMsg(m)), /'w'.*float_data has 2 values, the shape needs 3/);
  m.graph.initializer = [{ name: 'w', data_type: 1, dims: [-1], raw_data: new Uint8Array(0) }];
  rejects(() => decodeModel(encodeMsg(m)), /'w': negative dimension/);
  m.graph.initializer = [{ name: 'w', data_type: 1, dims: [2], int64_data: [1, 2] }];
  rejects(() => decodeModel(encodeMsg(m)), /'w'.*int64_data, which does not match/);
});

test('node without op_type -> bad input', () => {
  const m = base();
  delete m.graph.node[1].op_type;
  rejects(() => decodeModel(encodeMsg(m)), /node #1 'r2' has no op_type/);
});

test('loadModel: missing file, folder, corrupt file -> one line naming the path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-bad-'));
  rejects(() => loadModel(join(dir, 'nope.onnx')), /model file not found: .*nope\.onnx/);
  rejects(() => loadModel(dir), /folder/);
  const p = join(dir, 'corrupt.onnx');
  writeFileSync(p, encodeModel(smallConvModel()).subarray(0, 100));
  rejects(() => loadModel(p), /corrupt\.onnx: /);
});

// ---- fuzzing: mutated real models only ever give a Model or a DnnfuseError ----

function seedModels(): Uint8Array[] {
  const out = [encodeModel(smallConvModel(9)), encodeMsg(exoticModelMsg()), encodeMsg(base())];
  const conf = '/usr/share/libonnx-testdata/data/node';
  for (const n of ['test_conv_with_strides_padding', 'test_if', 'test_gemm_default_no_bias', 'test_resize_upsample_scales_linear']) {
    const p = join(conf, n, 'model.onnx');
    if (existsSync(p)) out.push(readFileSync(p));
  }
  if (!sharedModelsMissing()) {
    try {
      out.push(readFileSync(sharedModelPath('reparam/repvgg_block')));
    } catch {
      /* absent: fine */
    }
  }
  return out;
}

type Mutation = { kind: 'flip'; at: number; bit: number } | { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; bytes: number[] } | { kind: 'set'; at: number; value: number } | { kind: 'delete'; at: number; n: number };

function mutate(b: Uint8Array, muts: Mutation[]): Uint8Array {
  let x = Uint8Array.from(b);
  for (const m of muts) {
    const at = x.length ? m.at % x.length : 0;
    switch (m.kind) {
      case 'flip': if (x.length) x[at] ^= 1 << m.bit; break;
      case 'set': if (x.length) x[at] = m.value; break;
      case 'truncate': x = x.subarray(0, at); break;
      case 'insert': x = Uint8Array.from([...x.subarray(0, at), ...m.bytes, ...x.subarray(at)]); break;
      case 'delete': x = Uint8Array.from([...x.subarray(0, at), ...x.subarray(at + m.n)]); break;
    }
  }
  return x;
}

test('fuzz: mutated real models decode to a Model or throw a one-line DnnfuseError, never anything else', () => {
  const seeds = seedModels();
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 0x80, 0xff, 0x7f, 0x0a, 0x12, 0x3a) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
  );
  let models = 0, errors = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, muts) => {
      const bytes = mutate(seeds[i], muts);
      try {
        const m = decodeModel(bytes);
        models++;
        // Whatever decodes must also encode, and re-decode to the same bytes.
        const again = encodeModel(m);
        const back = encodeModel(decodeModel(again));
        return Buffer.compare(Buffer.from(again), Buffer.from(back)) === 0;
      } catch (e) {
        errors++;
        return e instanceof DnnfuseError && e.exitCode === 2 && !e.message.includes('\n');
      }
    }),
    { numRuns: Number(process.env.DNNFUSE_FUZZ_RUNS ?? 200), seed: Number(process.env.DNNFUSE_FUZZ_SEED ?? 20261128) },
  );
  assert.ok(models + errors >= Number(process.env.DNNFUSE_FUZZ_RUNS ?? 200), 'all runs happened');
  console.log(`# fuzz: ${models} mutated inputs still decoded, ${errors} rejected with a DnnfuseError`);
});

test('CLI-level: a corrupt model gives exit 2 and one line (via inspect, when registered)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-cli-'));
  const p = join(dir, 'corrupt.onnx');
  writeFileSync(p, Uint8Array.from({ length: 300 }, (_, i) => (i * 31 + 7) & 0xff));
  const root = join(dirname(new URL(import.meta.url).pathname), '..', '..');
  const r = spawnSync(process.execPath, [join(root, 'bin', 'dnnfuse.mjs'), 'inspect', p], { encoding: 'utf8', timeout: 60000 });
  if (/unknown command/i.test(r.stderr)) {
    console.log('# inspect command not registered yet: checked the loader error only');
    rejects(() => loadModel(p), /corrupt\.onnx/);
    return;
  }
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /corrupt\.onnx/);
  assert.deepEqual(readdirSync(dir), ['corrupt.onnx'], 'no partial output');
});

test('invalid UTF-8 in a string field is refused (it could not be written back unchanged)', () => {
  const good = encodeMsg(base());
  const at = Buffer.from(good).indexOf(Buffer.from('r2'));
  const bad = Uint8Array.from(good);
  bad[at] = 0xff;
  rejects(() => decodeModel(bad), /not valid UTF-8/);
  // Valid non-ASCII names are fine and survive.
  const m = base();
  m.graph.node[1].name = 'relu-Ω-ß';
  const bytes = encodeMsg(m);
  const model = decodeModel(bytes);
  assert.equal(model.graph.nodes[1].name, 'relu-Ω-ß');
  assert.equal(Buffer.compare(Buffer.from(encodeModel(model)), Buffer.from(bytes)), 0);
});

test('saveModel into a folder path or an unwritable place -> one-line error naming the path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-save-'));
  const model = smallConvModel(2);
  rejects(() => saveModel(model, dir), new RegExp(`cannot write ${dir}`));
  writeFileSync(join(dir, 'file'), 'x');
  rejects(() => saveModel(model, join(dir, 'file', 'sub.onnx')), /cannot write/);
});

test('structure-aware fuzz: edited protobuf messages decode to a Model or a DnnfuseError, and decoded ones re-encode stably', () => {
  const names = ['x', 'a', 'y', 'w', 'b', 'c', '', 'ghost', 'opt', 'seq_in', 'cond'];
  type Edit = { target: number; field: number; value: number; pick: number };
  const apply = (m: Msg, e: Edit): void => {
    const g = m.graph;
    const inits: Msg[] = g.initializer ?? [];
    const nodes: Msg[] = g.node ?? [];
    const t = inits.length ? inits[e.target % inits.length] : undefined;
    const n = nodes.length ? nodes[e.target % nodes.length] : undefined;
    const big = [0, 1, -1, 3, 2 ** 31 - 1, 2 ** 40, -(2 ** 33), 5000000000][e.value % 8];
    switch (e.field % 14) {
      case 0: if (t) t.data_type = e.value % 30; break;
      case 1: if (t) t.dims = [big, e.value % 5]; break;
      case 2: if (t) { t.data_location = 1; t.external_data = [{ key: ['location', 'offset', 'length', 'x'][e.pick % 4], value: ['', '12', '-3', 'a/b', '../up', '/abs'][e.value % 6] }]; } break;
      case 3: if (n?.attribute?.length) n.attribute[e.pick % n.attribute.length].type = e.value % 20; break;
      case 4: if (n) n.input = [names[e.value % names.length], names[e.pick % names.length]]; break;
      case 5: if (n) n.output = [names[e.value % names.length]]; break;
      case 6: if (g.input?.length) g.input[e.pick % g.input.length].type = [{}, { tensor_type: {} }, { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: big }, {}] } } }, { map_type: {} }][e.value % 4]; break;
      case 7: delete g[['node', 'initializer', 'input', 'output', 'value_info', 'name'][e.value % 6]]; break;
      case 8: if (t) t.raw_data = new Uint8Array(e.value % 40); break;
      case 9: m.opset_import = [{ domain: names[e.pick % names.length], version: big }]; break;
      case 10: m.ir_version = big; break;
      case 11: if (n) { n.name = names[e.value % names.length]; n.op_type = ['', 'Relu', 'If', 'Conv'][e.pick % 4]; } break;
      case 12: if (t) { delete t.raw_data; t[['float_data', 'int32_data', 'int64_data', 'double_data', 'uint64_data', 'string_data'][e.pick % 6]] = [5, 0, 3].includes(e.pick % 6) ? [new Uint8Array(e.value % 20)] : [1, 2]; } break;
      case 13: if (n?.attribute?.length) { const a = n.attribute[e.pick % n.attribute.length]; a.ints = [big]; a.t = { dims: [2], data_type: 1, float_data: [new Uint8Array(4)] }; } break;
    }
  };
  const edit = fc.record({ target: fc.nat(50), field: fc.nat(13), value: fc.nat(1000), pick: fc.nat(50) });
  let ok = 0, rejected = 0;
  fc.assert(
    fc.property(fc.boolean(), fc.array(edit, { minLength: 1, maxLength: 3 }), (exotic, edits) => {
      const m = exotic ? exoticModelMsg() : base();
      if (!exotic) m.graph.initializer = [{ name: 'w', data_type: 1, dims: [2], raw_data: new Uint8Array(8) }];
      for (const e of edits) apply(m, e);
      let bytes: Uint8Array;
      try {
        bytes = encodeMsg(m);
      } catch {
        return true; // not encodable by protobufjs: nothing to decode
      }
      try {
        const model = decodeModel(bytes);
        ok++;
        const again = encodeModel(model);
        return Buffer.compare(Buffer.from(encodeModel(decodeModel(again))), Buffer.from(again)) === 0;
      } catch (e) {
        rejected++;
        return e instanceof DnnfuseError && e.exitCode === 2 && !e.message.includes('\n');
      }
    }),
    { numRuns: Number(process.env.DNNFUSE_FUZZ_RUNS ?? 300), seed: Number(process.env.DNNFUSE_FUZZ_SEED ?? 42) },
  );
  console.log(`# structure fuzz: ${ok} edited models decoded, ${rejected} rejected`);
  assert.ok(ok > 0 && rejected > 0, 'both outcomes exercised');
});
