#!/usr/bin/env node
/**
 * Summarizes V8's --trace-opt --trace-deopt output: TurboFan compiles, their summed time ("took":
 * the compile job's phases, wall time, inflated under load) and deopts per function name, with
 * the deopt reasons. Used for issue 16 (the sweep pool's duplicated warm-up), e.g.:
 *   DNNFUSE_DIST=1 node --trace-opt --trace-deopt bin/dnnfuse.mjs sweep <models> --buffer 64KiB..8MiB \
 *     --scheme lbdf,brr --dtype int8 --optimum --db /tmp/t.duckdb --workers 1 --json --quiet > /tmp/trace.out
 *   node scripts/trace-compiles.mjs /tmp/trace.out [top]
 * Anonymous functions are summed under <anon>; with several threads (a pool) their lines are
 * counted together.
 */
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/trace-compiles.mjs <trace file> [top]');
  process.exit(2);
}
const top = Number(topArg ?? 20);
const sfiName = new Map();
const comp = new Map(); // name -> { n, ms }
const deopt = new Map(); // name -> Map(reason -> n)
for (const line of readFileSync(file, 'utf8').split('\n')) {
  let m = /^\[compiling method \S+ <JSFunction (\S*) ?\(sfi = (\w+)\)> \(target TURBOFAN/.exec(line);
  if (m) {
    sfiName.set(m[2], m[1] || '<anon>');
    continue;
  }
  m = /^\[completed compiling \S+ <JSFunction (\S*) ?\(sfi = (\w+)\)> \(target TURBOFAN\) - took ([\d.]+), ([\d.]+), ([\d.]+) ms/.exec(line);
  if (m) {
    const name = m[1] || sfiName.get(m[2]) || '<anon>';
    const c = comp.get(name) ?? { n: 0, ms: 0 };
    c.n++;
    c.ms += Number(m[3]) + Number(m[4]) + Number(m[5]);
    comp.set(name, c);
    continue;
  }
  m = /^\[bailout \(kind: [\w-]+, reason: ([^)]*)\): begin\. deoptimizing \S+ <JSFunction (\S*) ?\(sfi/.exec(line);
  if (m) {
    const name = m[2] || '<anon>';
    const r = deopt.get(name) ?? new Map();
    r.set(m[1], (r.get(m[1]) ?? 0) + 1);
    deopt.set(name, r);
  }
}
const sum = (it) => [...it].reduce((a, b) => a + b, 0);
const deopts = (name) => sum((deopt.get(name) ?? new Map()).values());
const reasons = (name) => [...(deopt.get(name) ?? new Map())].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([r, n]) => `${r} x${n}`).join('; ');
console.log(`TurboFan compiles ${sum([...comp.values()].map((c) => c.n))}, took ${(sum([...comp.values()].map((c) => c.ms)) / 1000).toFixed(2)} s; deopts ${sum([...deopt.keys()].map(deopts))}`);
for (const [name, c] of [...comp].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
  console.log(`  ${name.padEnd(32)} ${String(c.n).padStart(4)} compiles ${(c.ms / 1000).toFixed(2).padStart(6)} s  deopts ${String(deopts(name)).padStart(3)}  ${reasons(name)}`);
}
