/**
 * Output tensors parked in files while another onnxruntime session runs (issue 15, item 5).
 * `dnnfuse compile`'s check runs the original model, then the rewritten one; the original's
 * outputs were held in memory during the second session, on top of that session's own memory
 * (torchvision's DeepLabV3 at 520x520: one 1x21x520x520 float output, 21 MiB; compile's peak RSS
 * 320-326 -> 298 MiB in the trace). Parked, they are read back only once the second session is
 * released. Raw bytes in the platform's order, one file per output, read into a fresh typed array
 * of the same type: the values compared are the values onnxruntime returned, bit for bit.
 */
import { closeSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostTensor, hostTensorType, type HostTensor, type HostTensorType, type TypedData } from './ort.ts';

/** Outputs written to files by parkOutputs, to be read back by unparkOutputs. */
export interface ParkedOutputs {
  /** In the outputs' order; a string output stays in memory as `kept` (no byte image to park;
   * string outputs are rare and small). */
  entries: ({ name: string; file: string; dims: number[]; type: HostTensorType; length: number; make: (n: number) => TypedData } | { name: string; kept: HostTensor })[];
}

/** Writes each output's bytes to a file in `dir`; undefined (nothing left behind) when a write
 * fails, in which case the caller keeps the outputs in memory. */
export function parkOutputs(outputs: Record<string, HostTensor>, dir: string): ParkedOutputs | undefined {
  const entries: ParkedOutputs['entries'] = [];
  try {
    let k = 0;
    for (const [name, t] of Object.entries(outputs)) {
      const d = t.data;
      if (Array.isArray(d)) {
        entries.push({ name, kept: t });
        continue;
      }
      const file = join(dir, `parked-output-${k++}.bin`);
      const C = d.constructor as new (n: number) => TypedData;
      entries.push({ name, file, dims: t.dims, type: hostTensorType(t, `output '${name}'`), length: d.length, make: (n) => new C(n) });
      writeFileSync(file, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  } catch {
    for (const e of entries) if ('file' in e) rmSync(e.file, { force: true });
    return undefined;
  }
  return { entries };
}

/** Reads parked outputs back (and removes their files). */
export function unparkOutputs(parked: ParkedOutputs): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const e of parked.entries) {
    if ('kept' in e) {
      out[e.name] = e.kept;
      continue;
    }
    const data = e.make(e.length);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const fd = openSync(e.file, 'r');
    try {
      let at = 0;
      while (at < bytes.length) {
        const n = readSync(fd, bytes, at, bytes.length - at, at);
        if (n <= 0) throw new Error(`${e.file}: short read of a parked output`);
        at += n;
      }
    } finally {
      closeSync(fd);
    }
    rmSync(e.file, { force: true });
    out[e.name] = hostTensor(e.dims, data, e.type);
  }
  return out;
}
