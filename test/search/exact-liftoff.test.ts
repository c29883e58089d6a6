// HiGHS's wasm compiled by Liftoff only (issue 15, item 5: exact.ts sets --liftoff-only before the
// module compiles, to keep V8's optimising compiler's memory out of compile's peak) changes no
// answer: the same exact results, field by field, as with V8's default tier-up
// (DNNFUSE_WASM_TIERUP=1). Each setting runs in a process of its own (the flag is per process):
// this file, started again with DNNFUSE_LIFTOFF_CHILD=1, prints its solves as JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomCnn } from '../fusion/gen.ts';
import { createCostModel } from '../../src/fusion/cost.ts';
import { solveExact, type ExactResult } from '../../src/search/exact.ts';
import { greedyPlan } from '../../src/search/heuristics.ts';

async function solves(): Promise<Omit<ExactResult, 'ms'>[]> {
  const out: Omit<ExactResult, 'ms'>[] = [];
  for (let seed = 0; seed < 4; seed++) {
    for (const scheme of ['lbdf', 'brr'] as const) {
      const cost = createCostModel(scheme, randomCnn(900 + seed, 6), { bufferBytes: 16 * 1024, elementType: 'int8' });
      for (const limits of [{ maxCandidates: 60, incumbent: greedyPlan(cost) }, { maxGroupSize: 4 }]) {
        const { ms: _ms, ...r } = await solveExact(cost, { timeLimit: 20, decompose: false, ...limits });
        out.push(r);
      }
    }
  }
  return out;
}

if (process.env.DNNFUSE_LIFTOFF_CHILD === '1') {
  process.stdout.write(JSON.stringify(await solves()));
} else {
  test('HiGHS under --liftoff-only: the same exact results as with V8 tier-up', () => {
    const run = (tierUp: boolean) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      encoding: 'utf8',
      env: { ...process.env, DNNFUSE_LIFTOFF_CHILD: '1', DNNFUSE_WASM_TIERUP: tierUp ? '1' : '0' },
    })) as Omit<ExactResult, 'ms'>[];
    const liftoff = run(false), tiered = run(true);
    assert.equal(liftoff.length, 16);
    assert.deepEqual(liftoff, tiered);
    const milp = liftoff.filter((r) => r.solver.startsWith('milp') || r.solver.startsWith('lp')).length;
    assert.ok(milp >= 4, `only ${milp} of 16 solves went to HiGHS`);
  });
}
