// Preloaded by corpus/run.ts and bench/memory.ts (`node --import ./corpus/peak-rss.mjs
// bin/dnnfuse.mjs ...`, and the bench's onnxruntime peer bench/ort-once.mjs): prints the
// process's peak resident set size on exit, for the corpus table's memory column and every row
// of the bench. Its own peak (/proc/self/status VmHWM), not
// getrusage's maxRSS, which a child inherits from its parent at fork (src/util/peak-rss.ts;
// plain JavaScript here, loaded before anything else).
import { readFileSync } from 'node:fs';

function peakKiB() {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // no procfs: below
  }
  return process.resourceUsage().maxRSS;
}
process.on('exit', () => process.stderr.write(`corpus-peak-rss-kib ${peakKiB()}\n`));
