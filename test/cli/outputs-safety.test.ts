/**
 * Issue 18: outputs never destroy what the user has. Every probe of the issue is a row: the
 * command (run in-process, or as a child process where it must be: a run whose promise never
 * settles), the exit code, the message, and that no file in the temp folder changed — every file
 * is checksummed (FIFOs, devices and links by their kind and target) before and after, and new
 * files are differences too, except the outputs a row expects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';
import { ModelBuilder } from '../../src/models/builder.ts';
import { saveModel } from '../../src/onnx/io.ts';
import { Tensor } from '../../src/ir/tensor.ts';
import { DataType } from '../../src/ir/dtype.ts';
import { registerPass, hasPass } from '../../src/passes/registry.ts';
import { runPipeline } from '../../src/index.ts';
import { isDnnfuseError } from '../../src/errors.ts';
import { lockFolder } from '../../src/util/output.ts';
import type { Model } from '../../src/ir/graph.ts';

const BIN = fileURLToPath(new URL('../../bin/dnnfuse.mjs', import.meta.url));
const isRoot = process.getuid?.() === 0;

/** Runs the CLI in-process, capturing stderr (stdout is the test runner's: rows that read it
 * run as child processes). */
async function cli(args: string[]): Promise<{ code: number; err: string; out: string }> {
  const ew = process.stderr.write.bind(process.stderr);
  let err = '';
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    return { code: await main(args), err, out: '' };
  } finally {
    process.stderr.write = ew;
    process.exitCode = undefined;
  }
}

/** Kind + content hash of every entry under dir (never opens a FIFO or a device). */
function snapshot(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = p.slice(dir.length + 1);
      if (st.isSymbolicLink()) m.set(rel, `link:${readlinkSync(p)}`);
      else if (st.isDirectory()) (m.set(rel, 'dir'), walk(p));
      else if (st.isFile()) m.set(rel, `file:${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      else m.set(rel, `special:${st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? `chr:${st.rdev}` : st.isBlockDevice() ? 'blk' : 'other'}`);
    }
  };
  walk(dir);
  return m;
}

function diff(before: Map<string, string>, after: Map<string, string>, allowed: string[]): string[] {
  const out: string[] = [];
  for (const [k, v] of before) if (after.get(k) !== v && !allowed.includes(k)) out.push(`${k} changed (${v.slice(0, 20)} -> ${(after.get(k) ?? 'gone').slice(0, 20)})`);
  for (const k of after.keys()) if (!before.has(k) && !allowed.includes(k)) out.push(`${k} appeared`);
  return out;
}

/** A small valid CNN: conv(bias) -> relu -> conv, input x [1,3,8,8]. `edit` breaks it. */
function smallModel(edit?: (m: Model) => void): Model {
  const b = new ModelBuilder({ seed: 1 });
  let x = b.input('x', [1, 3, 8, 8]);
  x = b.conv(x, { outChannels: 8, kernel: 3, pads: 'same', bias: true, name: 'conv1' });
  x = b.relu(x);
  x = b.conv(x, { outChannels: 4, kernel: 3, pads: 'same', name: 'conv2' });
  b.output(x);
  const m = b.build('small');
  edit?.(m);
  return m;
}

/** A 2-node model (conv -> relu). */
function twoNodeModel(): Model {
  const b = new ModelBuilder({ seed: 2 });
  let x = b.input('x', [1, 3, 8, 8]);
  x = b.conv(x, { outChannels: 4, kernel: 3, pads: 'same' });
  b.output(b.relu(x));
  return b.build('two');
}

const convBias = (m: Model) => m.graph.initializers.get(m.graph.nodes.find((n) => n.name === 'conv1')!.inputs[2])!;

interface Row {
  name: string;
  /** Prepares the temp folder; returns the CLI arguments. */
  setup: (dir: string) => string[] | Promise<string[]>;
  code: number;
  message: RegExp;
  /** Files (relative to the temp folder) the row may create or change. */
  writes?: string[];
  /** Reason to skip (printed), decided at run time. */
  skip?: () => string | undefined;
  /** Run as a child process (bin/dnnfuse.mjs) with this timeout instead of in-process. */
  child?: number;
  /** Extra assertion after the run. */
  after?: (dir: string, r: { err: string; out: string }) => void;
  /** Holds thanks to issue 17 (pass option schemas checked by the pass manager). */
  needsIssue17?: boolean;
}

const write = (dir: string, name: string, m: Model, opts?: Parameters<typeof saveModel>[2]) => {
  const p = join(dir, name);
  saveModel(m, p, opts);
  return p;
};
const hwJson = (dir: string) => {
  const p = join(dir, 'hw.json');
  writeFileSync(p, JSON.stringify({ name: 'tiny', bufferBytes: 65536, elementType: 'int8' }));
  return p;
};
const fifo = (p: string) => (execFileSync('mkfifo', [p]), p);
const hasMkfifo = () => (spawnSync('mkfifo', ['--version']).status === 0 ? undefined : 'mkfifo is not available');

// Passes registered for rows that need a misbehaving pipeline (in-process runs).
if (!hasPass('test18-break-weights'))
  registerPass({
    name: 'test18-break-weights',
    description: 'scales every Conv weight by 3 (changes the outputs: --verify must fail)',
    reads: ['graph'],
    writes: ['graph'],
    run: (m) => {
      for (const n of m.graph.nodes) if (n.opType === 'Conv') {
        const w = m.graph.initializers.get(n.inputs[1])!;
        const v = w.toFloat32().map((x) => x * 3);
        m.graph.initializers.set(w.name, new Tensor(w.name, DataType.FLOAT, [...w.dims], { kind: 'values', values: v }));
      }
      return { changed: true };
    },
  });
if (!hasPass('test18-failed-certificate'))
  registerPass({ name: 'test18-failed-certificate', description: 'reports a certificate not granted', reads: ['graph'], writes: [], run: () => ({ changed: false, annotations: { allCertified: false, certificates: [] }, status: 'failed', reason: 'not certified (test)' }) });

const rows: Row[] = [
  // --- outputs onto the run's inputs -------------------------------------------------------
  {
    name: 'report out/schedule.json -o <the source model> is refused',
    setup: async (dir) => {
      const m = write(dir, 'm.onnx', smallModel());
      const r = await cli(['plan', m, '--search', 'greedy', '--no-optimum', '-o', join(dir, 'schedule.json'), '--quiet']);
      assert.equal(r.code, 0, r.err);
      return ['report', join(dir, 'schedule.json'), '-o', m, '--no-sweep', '-q'];
    },
    code: 2,
    message: /refusing to overwrite the input model file/,
  },
  {
    name: 'rewrite x.onnx -o x.onnx.data (its own external data file) is refused',
    setup: (dir) => {
      const m = write(dir, 'x.onnx', smallModel(), { externalDataThreshold: 0 });
      assert.ok(existsSync(join(dir, 'x.onnx.data')));
      return ['rewrite', m, '-o', join(dir, 'x.onnx.data')];
    },
    code: 2,
    message: /refusing to overwrite the input external data file/,
  },
  {
    name: 'plan --hw hw.json -o hw.json is refused',
    setup: (dir) => ['plan', write(dir, 'm.onnx', smallModel()), '--hw', hwJson(dir), '-o', join(dir, 'hw.json'), '--search', 'greedy', '--no-optimum'],
    code: 2,
    message: /refusing to overwrite the input hardware file/,
  },
  {
    name: 'plan -o <a hard link to the model> is refused (same inode)',
    setup: (dir) => {
      const m = write(dir, 'm.onnx', smallModel());
      execFileSync('ln', [m, join(dir, 'hard.onnx')]);
      return ['plan', m, '-o', join(dir, 'hard.onnx'), '--search', 'greedy', '--no-optimum'];
    },
    code: 2,
    message: /refusing to overwrite the input model file/,
  },
  {
    name: 'sgs --calib dir -o dir/b0.npy is refused',
    setup: (dir) => {
      mkdirSync(join(dir, 'calib'));
      writeFileSync(join(dir, 'calib', 'b0.npy'), 'not really npy');
      return ['sgs', write(dir, 'm.onnx', smallModel()), '--calib', join(dir, 'calib'), '-o', join(dir, 'calib', 'b0.npy')];
    },
    code: 2,
    message: /refusing to overwrite the input calibration file/,
  },
  {
    name: 'sgs -o X --schedule X is refused',
    setup: (dir) => ['sgs', write(dir, 'm.onnx', smallModel()), '--calib', 'random', '-o', join(dir, 'X'), '--schedule', join(dir, 'X')],
    code: 2,
    message: /name the same file/,
  },
  // --- non-regular targets -------------------------------------------------------------------
  {
    name: 'plan -o /dev/stdout is refused (a link: it would be replaced by a file); -o - is stdout',
    setup: (dir) => ['plan', write(dir, 'm.onnx', smallModel()), '-o', '/dev/stdout', '--search', 'greedy', '--no-optimum'],
    code: 2,
    message: /\/dev\/stdout is a symbolic link/,
    skip: () => (existsSync('/dev/stdout') && lstatSync('/dev/stdout').isSymbolicLink() ? undefined : '/dev/stdout is not a symbolic link here'),
  },
  {
    name: 'plan -o - writes the schedule to stdout',
    child: 60000,
    setup: (dir) => ['plan', write(dir, 'm.onnx', smallModel()), '-o', '-', '--search', 'greedy', '--no-optimum', '--quiet'],
    code: 0,
    message: /^$/,
    after: (_d, r) => assert.match(r.out, /"schemaVersion"/),
  },
  {
    name: 'plan -o <a FIFO> is refused without opening it',
    skip: hasMkfifo,
    setup: (dir) => ['plan', write(dir, 'm.onnx', smallModel()), '-o', fifo(join(dir, 'p')), '--search', 'greedy', '--no-optimum'],
    code: 2,
    message: /is a FIFO \(named pipe\); dnnfuse writes regular files only/,
  },
  {
    name: 'rewrite -o <a symbolic link> is refused',
    setup: (dir) => {
      writeFileSync(join(dir, 'target.onnx'), 'keep me');
      symlinkSync(join(dir, 'target.onnx'), join(dir, 'link.onnx'));
      return ['rewrite', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'link.onnx')];
    },
    code: 2,
    message: /link\.onnx is a symbolic link/,
  },
  {
    name: 'rewrite -o <a device node> is refused (the node is not replaced)',
    skip: () => (isRoot ? undefined : 'mknod needs root'),
    setup: (dir) => {
      execFileSync('mknod', [join(dir, 'null'), 'c', '1', '3']);
      return ['rewrite', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'null')];
    },
    code: 2,
    message: /is a character device; dnnfuse writes regular files only/,
  },
  {
    name: 'plan -o <a folder> is a named bad-input error, no tmp name',
    setup: (dir) => (mkdirSync(join(dir, 'd')), ['plan', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'd'), '--search', 'greedy', '--no-optimum']),
    code: 2,
    message: /cannot write .*\/d: it is a folder/,
  },
  // --- failures keep what was there; multi-file outputs as a pair ------------------------------
  {
    name: 'a failed rewrite --verify keeps the file the user had at -o',
    setup: (dir) => {
      writeFileSync(join(dir, 'out.onnx'), 'the user file');
      return ['rewrite', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out.onnx'), '--passes', 'test18-break-weights', '--verify'];
    },
    code: 1,
    message: /differs from .*\/out\.onnx was not written/,
  },
  {
    name: 'rewrite with a bad pass name (exit 2) leaves no output behind',
    setup: (dir) => ['rewrite', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'new.onnx'), '--passes', 'no-such-pass'],
    code: 2,
    message: /unknown pass 'no-such-pass'/,
  },
  {
    name: 'compile whose schedule.json cannot be written writes no model.onnx either',
    setup: (dir) => {
      mkdirSync(join(dir, 'out', 'schedule.json'), { recursive: true });
      writeFileSync(join(dir, 'out', 'model.onnx'), 'old model');
      return ['compile', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out'), '--pipeline', 'fold-bn', '--no-verify', '-q'];
    },
    code: 2,
    message: /schedule\.json: it is a folder/,
  },
  {
    name: 'compile into a folder another run holds is refused (lock file)',
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out'), '--pipeline', 'fold-bn', '--no-verify', '-q'],
    code: 2,
    message: /another dnnfuse run \(pid \d+\) is writing into this folder/,
  },
  {
    name: 'compile with a failed certificate (exit 1) writes nothing',
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out'), '--pipeline', 'test18-failed-certificate', '--no-verify', '-q'],
    code: 1,
    message: /nothing written to/,
  },
  {
    name: 'compile that succeeds writes model.onnx and schedule.json and removes its lock',
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out'), '--pipeline', 'fold-bn,plan', '--no-verify', '-q', '--option', 'plan.search="greedy"', '--option', 'plan.optimum=false'],
    code: 0,
    message: /^$/,
    writes: ['out', 'out/model.onnx', 'out/schedule.json'],
    after: (dir) => assert.ok(!existsSync(join(dir, 'out', '.dnnfuse.lock'))),
  },
  // --- external data by real path ------------------------------------------------------------
  {
    name: 'an external data location that is a symlink out of the model folder is refused',
    setup: (dir) => {
      mkdirSync(join(dir, 'model'));
      mkdirSync(join(dir, 'elsewhere'));
      write(join(dir, 'elsewhere'), 'w.onnx', smallModel(), { externalDataThreshold: 0 });
      const m = write(dir, 'model/m.onnx', smallModel(), { externalDataThreshold: 0, externalDataLocation: 'w.data' });
      rmSync(join(dir, 'model', 'w.data'));
      symlinkSync(join(dir, 'elsewhere', 'w.onnx.data'), join(dir, 'model', 'w.data'));
      return ['rewrite', m, '-o', join(dir, 'out.onnx')];
    },
    code: 2,
    message: /external data location 'w\.data' is a symbolic link to .*elsewhere.*outside the model's folder/,
  },
  // --- options ---------------------------------------------------------------------------------
  {
    name: '--option constructor.keys=1 is refused (Object.keys stays intact)',
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out'), '--option', 'constructor.keys=1', '--no-verify'],
    code: 2,
    message: /'constructor' is not a pass name/,
    after: () => assert.equal(typeof Object.keys, 'function'),
  },
  {
    name: "--option 'plan.__proto__={\"search\":\"exact\"}' is refused",
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out'), '--option', 'plan.__proto__={"search":"exact"}', '--no-verify'],
    code: 2,
    message: /'__proto__' is not an option name/,
  },
  {
    name: "--option 'plan.search={\"__proto__\":{}}' (a forbidden key inside the JSON value) is refused",
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out'), '--option', 'plan.search={"__proto__":{"x":1}}', '--no-verify'],
    code: 2,
    message: /the key '__proto__' is not allowed/,
  },
  {
    name: '--option nosuch.key=1 (unknown pass) is refused',
    needsIssue17: true,
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out'), '--option', 'nosuch.key=1', '--no-verify', '-q'],
    code: 2,
    message: /pass 'nosuch'/,
  },
  {
    name: '--option plan.serach=exact (a misspelt key) is refused',
    needsIssue17: true,
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel()), '-o', join(dir, 'out'), '--pipeline', 'plan', '--option', 'plan.serach=exact', '--no-verify', '-q'],
    code: 2,
    message: /pass 'plan': unknown option 'serach'/,
  },
  // --- bounded reads ---------------------------------------------------------------------------
  {
    name: 'inspect /dev/zero is refused before reading',
    skip: () => (existsSync('/dev/zero') ? undefined : 'no /dev/zero'),
    setup: () => ['inspect', '/dev/zero'],
    code: 2,
    message: /model file \/dev\/zero is a character device, not a regular file/,
  },
  {
    name: 'inspect <a FIFO> is refused without blocking',
    skip: hasMkfifo,
    setup: (dir) => ['inspect', fifo(join(dir, 'fifo.onnx'))],
    code: 2,
    message: /is a FIFO \(named pipe\), not a regular file/,
  },
  {
    name: 'inspect <a folder> is refused',
    setup: (dir) => ['inspect', dir],
    code: 2,
    message: /is a folder, not a regular file/,
  },
  {
    name: 'plan --hw /tmp (a folder) is a named bad-input error',
    setup: (dir) => ['plan', write(dir, 'm.onnx', smallModel()), '--hw', tmpdir(), '--search', 'greedy', '--no-optimum'],
    code: 2,
    message: /hardware file .* is a folder, not a regular file/,
  },
  {
    name: 'plan --hw <a FIFO> is refused without blocking',
    skip: hasMkfifo,
    setup: (dir) => ['plan', write(dir, 'm.onnx', smallModel()), '--hw', fifo(join(dir, 'hw.json')), '--search', 'greedy', '--no-optimum'],
    code: 2,
    message: /hardware file .* is a FIFO/,
  },
  {
    name: 'inspect <an unreadable file> is a named bad-input error',
    skip: () => (isRoot ? 'root reads files whatever their mode (run as a normal user to cover this row)' : undefined),
    setup: (dir) => {
      const m = write(dir, 'm.onnx', smallModel());
      chmodSync(m, 0);
      return ['inspect', m];
    },
    code: 2,
    message: /cannot read model file .*: permission denied/,
  },
  // --- searches' memory bounded ------------------------------------------------------------------
  {
    name: 'plan --budget 1e9 on a 2-node model stops at a capped budget and says so',
    setup: (dir) => ['plan', write(dir, 'two.onnx', twoNodeModel()), '--search', 'random', '--budget', '1e9', '--no-optimum', '-o', join(dir, 's.json')],
    code: 0,
    message: /budget capped at 10000 plans \(asked 1000000000; the graph has at most 2 distinct plans\)/,
    writes: ['s.json'],
    after: (dir) => {
      const s = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'));
      assert.deepEqual(s.passes[0].annotations.search.budgetCap, { requested: 1e9, used: 10000, distinctPlansBound: 2 });
      assert.equal(s.passes[0].annotations.search.plansGenerated, 10000);
    },
  },
  // --- dims, tensor lengths, dtypes, opset checked before any pass --------------------------------
  {
    name: 'a -1 batch dim is refused (negative MACs and DRAM before)',
    setup: (dir) => ['plan', write(dir, 'm.onnx', smallModel((m) => (m.graph.inputs[0].type!.shape![0] = -1))), '--search', 'greedy', '--no-optimum'],
    code: 2,
    message: /graph input 'x': dim #0 is -1; dims must be >= 0/,
  },
  {
    name: '--shape x=1x3x99999999999999999999x16 is refused (it wrapped to a 64-bit value)',
    setup: (dir) => ['plan', write(dir, 'm.onnx', smallModel()), '--shape', 'x=1x3x99999999999999999999x16', '--search', 'greedy', '--no-optimum'],
    code: 2,
    message: /--shape 'x=1x3x99999999999999999999x16': dim #2 \(99999999999999999999\) is larger than 2147483647/,
  },
  {
    name: 'a Conv bias of 5 values for 8 outputs is refused',
    setup: (dir) =>
      ['compile', write(dir, 'm.onnx', smallModel((m) => {
        const b = convBias(m);
        m.graph.initializers.set(b.name, new Tensor(b.name, DataType.FLOAT, [5], { kind: 'values', values: new Float32Array(5) }));
      })), '-o', join(dir, 'out'), '-q'],
    code: 2,
    message: /node 'conv1' \(Conv\) bias '.*' has dims \[5\] for 8 output channels; expected \[8\]/,
  },
  {
    name: 'an int64 input into Conv is refused',
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel((m) => (m.graph.inputs[0].type!.elemType = DataType.INT64))), '-o', join(dir, 'out'), '-q'],
    code: 2,
    message: /node 'conv1' \(Conv\) input X 'x' is INT64; Conv takes float/i,
  },
  {
    name: 'a Conv on an input with H=0 is refused, naming the node',
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel((m) => (m.graph.inputs[0].type!.shape![2] = 0))), '-o', join(dir, 'out'), '-q'],
    code: 2,
    message: /node 'conv1' \(Conv\) input X 'x' has dims \[1,3,0,8\]: spatial dim #2 is 0/,
  },
  {
    name: 'opset 99 is refused',
    setup: (dir) => ['compile', write(dir, 'm.onnx', smallModel((m) => (m.opsetImports[0].version = 99))), '-o', join(dir, 'out'), '-q'],
    code: 2,
    message: /default-domain opset 99 is not supported/,
  },
  // --- stalls and commander errors -----------------------------------------------------------------
  {
    name: 'a plugin pass that never resolves: a message naming it and exit 1 (not a silent 13)',
    child: 60000,
    setup: (dir) => {
      writeFileSync(join(dir, 'hang.mjs'), "export const passes = [{ name: 'hang', description: 'never resolves', reads: ['graph'], writes: [], run: () => new Promise(() => {}) }];\n");
      return ['compile', write(dir, 'm.onnx', smallModel()), '--plugin', join(dir, 'hang.mjs'), '--pipeline', 'hang', '-o', join(dir, 'out'), '--no-verify', '-q'];
    },
    code: 1,
    message: /^dnnfuse: pass 'hang' never finished: its promise can no longer settle/,
  },
  {
    name: "commander's errors carry the dnnfuse: prefix",
    setup: () => ['plan', '--no-such-option'],
    code: 2,
    message: /^dnnfuse: unknown option '--no-such-option'/,
  },
];

for (const row of rows) {
  test(`issue 18 probe: ${row.name}`, { timeout: 120000 }, async (t) => {
    const why = row.skip?.();
    if (why) {
      console.log(`# skipped: ${row.name}: ${why}`);
      t.skip(why);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-i18-'));
    let release: (() => void) | undefined;
    try {
      const args = await row.setup(dir);
      if (/another dnnfuse run/.test(row.message.source)) release = lockFolder(join(dir, 'out'));
      const before = snapshot(dir);
      let r: { code: number; err: string; out: string };
      if (row.child) {
        const c = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: row.child });
        assert.equal(c.signal, null, `the child was killed after ${row.child} ms (hang)`);
        r = { code: c.status ?? -1, err: c.stderr, out: c.stdout };
      } else r = await cli(args);
      const errLines = r.err.split('\n').filter((l) => l && !/^dnnfuse: (\[|wrote)/.test(l) && !/^\S+: .* groups, DRAM/.test(l));
      assert.equal(r.code, row.code, `exit code; stderr: ${r.err}`);
      assert.match(row.code === 0 && row.message.source !== '^$' ? r.err : row.code === 0 ? '' : errLines.join('\n'), row.message);
      if (row.code !== 0) assert.equal(errLines.filter((l) => l.startsWith('dnnfuse:') && !/nothing written/.test(l)).length <= 1, true, `one error line: ${r.err}`);
      assert.doesNotMatch(r.err, /\.tmp\b|\n\s+at /, 'no temporary name, no stack trace');
      const after = snapshot(dir);
      assert.deepEqual(diff(before, after, row.writes ?? []), [], 'no pre-existing file changed, no file appeared');
      row.after?.(dir, r);
    } finally {
      release?.();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('issue 18 probe: a model built in memory with a 10-value tensor for dims [8,3,3,3] is refused before any pass', async () => {
  const m = smallModel((m) => {
    const w = m.graph.initializers.get(m.graph.nodes[0].inputs[1])!;
    m.graph.initializers.set(w.name, new Tensor(w.name, DataType.FLOAT, [8, 3, 3, 3], { kind: 'values', values: new Float32Array(10) }));
  });
  await assert.rejects(runPipeline(m, ['fold-bn']), (e: unknown) => isDnnfuseError(e) && e.exitCode === 2 && /initializer '.*': 10 values for dims \[8,3,3,3\] \(216 expected\)/.test(e.message));
});

test('issue 18 probe: in-memory models get the same dim / dtype / opset checks as files', async () => {
  const cases: [string, (m: Model) => void, RegExp][] = [
    ['-1 dim', (m) => (m.graph.inputs[0].type!.shape![0] = -1), /dim #0 is -1/],
    ['H=0', (m) => (m.graph.inputs[0].type!.shape![2] = 0), /dim #2 is 0/],
    ['opset 99', (m) => (m.opsetImports[0].version = 99), /opset 99/],
    ['int64 into Conv', (m) => (m.graph.inputs[0].type!.elemType = DataType.INT64), /Conv takes float/],
    ['bias 5 for 8', (m) => {
      const b = convBias(m);
      m.graph.initializers.set(b.name, new Tensor(b.name, DataType.FLOAT, [5], { kind: 'values', values: new Float32Array(5) }));
    }, /for 8 output channels/],
    ['2^60 dims', (m) => (m.graph.inputs[0].type!.shape = [1, 3, 2 ** 30, 2 ** 30]), /more than 2\^53 elements|not an integer/],
  ];
  for (const [name, edit, re] of cases) {
    await assert.rejects(runPipeline(smallModel(edit), ['fold-bn']), (e: unknown) => isDnnfuseError(e) && e.exitCode === 2 && re.test(e.message), name);
  }
});

test('issue 18: the row table covers every probe of the issue', () => {
  assert.ok(rows.length >= 35, `${rows.length} rows`);
  console.log(`# rows depending on issue 17 (pass option schemas): ${rows.filter((r) => r.needsIssue17).map((r) => r.name).join('; ')}`);
  void resolve;
});
