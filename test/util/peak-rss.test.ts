// peakRssBytes (bench:memory's and the sweep's peak RSS) is the process's own high-water mark:
// getrusage's maxRSS is inherited from the parent at fork, so every command a big bench process
// spawned reported at least the bench's size (bench:memory's rows read 218 MiB for the peer,
// compile --pipeline plan and the rest alike).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { peakRssBytes } from '../../src/util/peak-rss.ts';

const MiB = 1048576;

test('peakRssBytes of a child is its own peak, not the parent size it inherits at fork', (t) => {
  if (!existsSync('/proc/self/status')) return t.skip('no /proc/self/status (not Linux): peakRssBytes is getrusage maxRSS there');
  const ballast = Buffer.alloc(384 * MiB, 1); // resident: every page written
  const parent = process.memoryUsage().rss;
  const script = `import { peakRssBytes } from ${JSON.stringify(new URL('../../src/util/peak-rss.ts', import.meta.url).href)}; console.log(JSON.stringify({ own: peakRssBytes(), maxRSS: process.resourceUsage().maxRSS * 1024 }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { own, maxRSS } = JSON.parse(r.stdout) as { own: number; maxRSS: number };
  const mib = (b: number) => (b / MiB).toFixed(0);
  assert.ok(maxRSS > own + 200 * MiB, `the quirk this works around: the child reads a maxRSS of ${mib(maxRSS)} MiB (parent ${mib(parent)} MiB), its own peak ${mib(own)} MiB`);
  assert.ok(own < parent - 200 * MiB, `own peak ${mib(own)} MiB, parent ${mib(parent)} MiB`);
  assert.ok(peakRssBytes() >= 384 * MiB, `this process: at least its ballast (${mib(peakRssBytes())} MiB)`);
  assert.equal(ballast[ballast.length - 1], 1);
});
