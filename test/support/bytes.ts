/** Deterministic byte patterns, byte equality and a model of raw initializers for the ONNX I/O tests. */
import { DataType } from '../../src/ir/dtype.ts';
import type { Msg } from '../../src/onnx/schema.ts';

/** n pseudo-random bytes from `seed` (an LCG: reproducible, no fast-check needed). */
export function bytesOf(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The same bytes (views compared by their own ranges). */
export const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** A ModelProto message of float initializers of the given element counts, each read by an
 * Identity node: initializer i holds bytesOf(4n, i + firstSeed) and the doc_string doc(i). */
export function rawInitializersModel(sizes: number[], firstSeed: number, doc: (i: number) => string | undefined): Msg {
  return {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: sizes.map((_, i) => ({ op_type: 'Identity', name: `n${i}`, input: [`w${i}`], output: [`y${i}`] })),
      initializer: sizes.map((n, i) => ({ name: `w${i}`, data_type: DataType.FLOAT, dims: [n], raw_data: bytesOf(n * 4, i + firstSeed), doc_string: doc(i) })),
      output: sizes.map((_, i) => ({ name: `y${i}` })),
    },
  };
}
