/**
 * Predictors: the closed-form infinite-width NTK mean (alpha values from the spec; equal to a
 * direct kernel solve on the one-hot Gram matrix), finite-width ensembles (trained, grown and
 * certified on flooding; deterministic; cached on disk and read back), and the two ways to
 * fail that must be detected: a 0.5 threshold and an under-sized ensemble.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Rng } from '../../src/util/random.ts';
import { makeGraph } from '../../src/learnability/graph.ts';
import { certify } from '../../src/learnability/certify.ts';
import { bfsInstruction, floodingInstruction } from '../../src/learnability/instructions.ts';
import { NtkPredictor, growEnsemble, ntkAlphaBeta, ntkKernel, trainMember, defaultLr, theoryEnsembleBound } from '../../src/learnability/predictors.ts';

const path = (n: number) => makeGraph(n, Array.from({ length: n - 1 }, (_, i) => [i, i + 1] as [number, number]), [0]);

test('alpha(1) = 1, alpha(2) = 0.575, alpha(3) = 0.443; beta(1) = 0 and beta <= 0', () => {
  assert.ok(Math.abs(ntkAlphaBeta(1, 10).alpha - 1) < 1e-12);
  assert.ok(Math.abs(ntkAlphaBeta(2, 10).alpha - 0.575) < 5e-4);
  assert.ok(Math.abs(ntkAlphaBeta(3, 10).alpha - 0.443) < 5e-4);
  assert.ok(Math.abs(ntkAlphaBeta(1, 10).beta) < 1e-15);
  for (let m = 2; m < 200; m++) assert.ok(ntkAlphaBeta(m, 50).beta < 0);
});

/** Gaussian elimination with partial pivoting (small dense systems in tests only). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  return M.map((r, i) => r[n] / r[i]);
}

test('closed form = direct NTK kernel regression on the one-hot template set', () => {
  const ins = bfsInstruction(2, 3, 3);
  const t = ins.table;
  const n0 = t.count;
  const K = Array.from({ length: n0 }, (_, i) => Array.from({ length: n0 }, (_, j) => ntkKernel(i === j ? 1 : 0)));
  const ntk = new NtkPredictor(t);
  const rng = new Rng(5);
  const bits = [...new Set(Array.from(t.outBit))].slice(0, 12);
  for (const bit of bits) {
    const y = Array.from({ length: n0 }, (_, j) => (Array.from(t.outBit.subarray(t.outStart[j], t.outStart[j + 1])).includes(bit) ? 1 : 0));
    const a = solve(K, y);
    for (let trial = 0; trial < 8; trial++) {
      const m = rng.int(1, 6);
      const matched = rng.shuffle(Array.from({ length: n0 }, (_, j) => j)).slice(0, m);
      const inMatched = new Set(matched);
      const k = Array.from({ length: n0 }, (_, j) => ntkKernel(inMatched.has(j) ? 1 / Math.sqrt(m) : 0));
      const direct = k.reduce((s, kj, j) => s + kj * a[j], 0);
      const closed = ntk.value(matched, bit);
      assert.ok(Math.abs(direct - closed) < 1e-9, `bit ${bit} m=${m}: ${direct} vs ${closed}`);
    }
  }
});

test('a 0.5 threshold is detected as not exact (no certificate)', () => {
  const g = path(6);
  const ok = certify(g, 'flooding', { eps: 5e-3 });
  assert.ok(ok.certified);
  const bad = certify(g, 'flooding', { eps: 0.5 });
  assert.equal(bad.certified, false);
  assert.ok(bad.tableMismatches > 0);
  assert.ok(bad.agreement.percent < 100);
});

test('finite ensemble: trained, grown and certified on flooding at small D, l; cached and deterministic', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnnfuse-ens-'));
  const g = path(5);
  const opts = { predictor: 'ensemble' as const, seed: 3, ensemble: { hidden: 16, epochs: 300, cacheDir: dir, cap: 512 } };
  const c = certify(g, 'flooding', opts);
  assert.ok(c.certified, c.reason);
  assert.equal(c.predictor, 'ensemble');
  assert.ok(typeof c.ensembleSize === 'number' && c.ensembleSize >= 8 && c.ensembleSize <= 512);
  assert.ok((c.caseAccuracy ?? 0) >= 0.999);
  // cache file: magic, JSON header, float64 payload of the right size
  const files = readdirSync(dir);
  assert.equal(files.length, 1);
  const buf = readFileSync(join(dir, files[0]));
  assert.equal(buf.toString('ascii', 0, 8), 'DNNFENS1');
  const header = JSON.parse(buf.toString('utf8', 12, 12 + buf.readUInt32LE(8)));
  assert.equal(header.instruction, 'flooding');
  // the cache keeps every member trained (the last batch may go past the first exact size)
  assert.ok(header.members >= (c.ensembleSize as number), `${header.members} cached, ${c.ensembleSize} used`);
  const pre = 12 + buf.readUInt32LE(8);
  const payload = buf.length - (pre + ((8 - (pre % 8)) % 8));
  assert.equal(payload, header.members * (header.n0 * header.hidden + header.hidden * header.outputs) * 8);
  // second run reads the cache and gives the same certificate
  const again = certify(g, 'flooding', opts);
  assert.equal(again.ensembleSize, c.ensembleSize);
  assert.equal(again.margin, c.margin);
});

test('an under-sized ensemble is detected as not exact (no certificate)', () => {
  const g = path(5);
  const c = certify(g, 'flooding', { predictor: 'ensemble', seed: 1, ensemble: { hidden: 16, epochs: 300, cacheDir: null, start: 2, cap: 2 } });
  assert.equal(c.ensembleSize, 2);
  assert.equal(c.certified, false);
  assert.ok((c.caseAccuracy ?? 1) < 1);
  assert.ok(c.tableMismatches > 0);
});

test('member training fits the template set and is seeded', () => {
  const ins = floodingInstruction(2, 1, 3);
  const lr = defaultLr(ins.table.count, 16);
  const a = trainMember(ins.table, 16, 300, lr, new Rng(9));
  const b = trainMember(ins.table, 16, 300, lr, new Rng(9));
  assert.ok(a.loss < 1e-3, `training loss ${a.loss}`);
  assert.deepEqual(a.member.w1, b.member.w1);
  assert.deepEqual(a.member.w2, b.member.w2);
  const grown = growEnsemble(ins.table, { instruction: 'flooding', D: 2, l: 1, slots: 3 }, [], { hidden: 16, epochs: 50, cacheDir: null, start: 4 });
  assert.equal(grown.members, 4); // no cases: accuracy 1 at the first size
});

test('theory ensemble-size bound m >= 8 n0 ln(2 n0 T 2^n0)', () => {
  const b = theoryEnsembleBound(10, 20);
  assert.ok(Math.abs(b.value - 8 * 10 * Math.log(2 * 10 * 20 * 2 ** 10)) < 1e-6);
  assert.match(theoryEnsembleBound(1e14, 10).text, /^10\^/);
});

test('finite ensemble on a BFS table (defaults: antisymmetric init, preconditioned GD with early stop, hidden 8 x state bits): certified, members beside the theory bound', () => {
  // a tree with max degree 3 and distances up to 4 (l = 3)
  const g = makeGraph(9, [[0, 1], [0, 2], [1, 3], [1, 4], [2, 5], [5, 6], [6, 7], [3, 8]], [0]);
  const c = certify(g, 'bfs', { predictor: 'ensemble', seed: 0, ensemble: { cacheDir: null, cap: 512 } });
  assert.ok(c.certified, `${c.reason} (case accuracy ${c.caseAccuracy})`);
  assert.equal(c.predictor, 'ensemble');
  assert.ok(typeof c.ensembleSize === 'number' && c.ensembleSize <= 512);
  assert.ok(c.stateBits >= 16, 'hidden width max(64, 8 x state bits) is even');
  assert.ok(c.theoryEnsembleBoundLog10 > Math.log10(c.ensembleSize as number), 'the theory bound is far above the members needed');
});
