/**
 * Peak resident set size of this process. On Linux it is /proc/self/status's VmHWM, the
 * high-water mark of the process's own address space, and not getrusage's ru_maxrss. A child
 * inherits ru_maxrss from its parent at fork, and exec keeps the larger of the two: `node -e`
 * spawned by a process holding 443 MiB reports a maxRSS of 404 MiB, and VmHWM 39 MiB. A bench
 * that spawns the commands it measures would otherwise read its own size as theirs. Elsewhere
 * (no /proc) it is ru_maxrss.
 */
import { readFileSync } from 'node:fs';

/** Bytes. */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // no procfs: below
  }
  return process.resourceUsage().maxRSS * 1024;
}
