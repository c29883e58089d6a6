/**
 * Kept for the callers that predate util/output.ts (the one output-writing module): both
 * functions go through it, so they refuse inputs and non-regular targets the same way.
 */
import { OutputBatch, RunInputs, checkOutputTarget } from './output.ts';

/** Refuses to write over an input file (compared by device + inode, then real path), or over a
 * folder, link, FIFO or device. */
export function assertNotInput(output: string, inputs: string[] | RunInputs): void {
  checkOutputTarget(output, toInputs(inputs));
}

/** Writes a file atomically: a temporary file in the same folder, then rename. A crash or an
 * error never leaves a half-written output, and never removes a file that was there. */
export function writeFileAtomic(path: string, data: string | Uint8Array | (string | Uint8Array)[], inputs?: string[] | RunInputs): void {
  OutputBatch.run(inputs ? toInputs(inputs) : undefined, (b) => b.write(path, data));
}

function toInputs(inputs: string[] | RunInputs): RunInputs {
  if (inputs instanceof RunInputs) return inputs;
  const r = new RunInputs();
  for (const i of inputs) r.add(i, 'file');
  return r;
}
