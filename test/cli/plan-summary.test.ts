/**
 * `dnnfuse plan`'s summary says how many nodes no group holds because their shapes are
 * data-dependent (a detector's NonZero and what follows it), as compile's log does: before, the
 * summary gave only the groups and DRAM of the rest, and a user could not tell from it that part
 * of the model was not planned.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ModelBuilder } from '../../src/models/builder.ts';
import { Node } from '../../src/ir/graph.ts';
import { saveModel } from '../../src/onnx/io.ts';
import { DataType } from '../../src/ir/dtype.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-plan-summary-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('plan: the summary counts the nodes left unplanned by a data-dependent shape and names the first', () => {
  const b = new ModelBuilder({ seed: 1 });
  const r0 = b.relu(b.conv(b.input('x', [1, 2, 8, 8]), { outChannels: 4, kernel: 3, pads: 1, name: 'conv' }), 'relu');
  b.output(r0);
  const m = b.build('nz');
  m.graph.addNode(new Node({ name: 'nz', opType: 'NonZero', inputs: [r0], outputs: ['idx'] }));
  m.graph.addNode(new Node({ name: 'tr', opType: 'Transpose', inputs: ['idx'], outputs: ['boxes'] }));
  m.graph.outputs.push({ name: 'boxes', type: { elemType: DataType.INT64 } });
  const file = join(dir, 'nz.onnx');
  saveModel(m, file);
  const out = join(dir, 'plan.json');
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'dnnfuse.mjs'), 'plan', file, '--search', 'greedy', '--no-optimum', '-o', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /nz\.onnx: 2 of 4 nodes not planned \(no static shape; listed in the schedule\), e\.g\. 'nz' \(NonZero\): .*data-dependent/);
  const unplanned = JSON.parse(readFileSync(out, 'utf8')).passes[0].annotations.unplanned as { node: string }[];
  assert.deepEqual(unplanned.map((u) => u.node).sort(), ['nz', 'tr']);
});
