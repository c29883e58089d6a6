/**
 * Memory trace of a compile job (issue 15, item 5): with `DNNFUSE_TRACE_MEMORY=1` in the
 * environment, each phase boundary (load, every pass, plan, embed, the check's sessions, write)
 * prints one line on stderr: the resident set now, the process's peak so far, and V8's heap,
 * (used/total), external and ArrayBuffer memory (`process.memoryUsage()`). The peak column rising between two
 * lines names the phase that set it. Nothing is printed, and nothing costs, without the variable.
 */
import { peakRssBytes } from './peak-rss.ts';

const enabled = (): boolean => process.env.DNNFUSE_TRACE_MEMORY === '1';
const mib = (bytes: number) => (bytes / 1048576).toFixed(0);

/** Prints the memory line of the phase boundary `label` when DNNFUSE_TRACE_MEMORY=1. */
export function traceMemory(label: string): void {
  if (!enabled()) return;
  const m = process.memoryUsage();
  const peak = peakRssBytes();
  process.stderr.write(`dnnfuse-memory: ${label.padEnd(34)} rss ${mib(m.rss).padStart(5)} peak ${mib(peak).padStart(5)} heap ${mib(m.heapUsed).padStart(4)}/${mib(m.heapTotal).padStart(4)} external ${mib(m.external).padStart(5)} arrayBuffers ${mib(m.arrayBuffers).padStart(5)} MiB\n`);
}
