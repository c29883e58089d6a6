/**
 * Large scratch arrays that do not come from malloc (issue 15, item 5).
 *
 * glibc maps a malloc block of at least its mmap threshold on its own and unmaps it when freed,
 * but each such free raises the threshold to the freed block's size (up to 32 MiB): after that,
 * blocks under the new threshold come from the heap, which keeps their pages when they are freed
 * and fragments. Node allocates every ArrayBuffer with malloc: on PP-OCRv4 det 640x640 the plan
 * pass's memo, doubling (1, 2, 4, 8, 16 MiB), and HiGHS's wasm file as read (3.4 MB) left the
 * threshold at 16 MiB (strace), and the exact solver's LP arrays are of the same kind (its whole
 * LP: 158,223 columns, 2.5 M nonzeros, 20 MB of values). onnxruntime's tensors in compile's check
 * (up to 12.5 MiB) then came from a heap that kept them: the check peaked ~40 MiB higher than
 * with the threshold fixed (MALLOC_MMAP_THRESHOLD_=2500000: 190 MiB, not 229; bench:memory). After
 * this change the largest malloc'd block freed before the check is V8's own (~1.6 MB). Node has
 * no mallopt.
 *
 * A WebAssembly.Memory is page-mapped by V8 itself (mmap, munmap when collected): the same
 * zero-filled memory, as fast to index as any typed array, and invisible to malloc's threshold.
 * (A resizable ArrayBuffer is page-mapped too, but node 20's optimizing compiler indexes views on
 * it 3-5x slower.) Below 128 KiB, glibc's initial threshold, a block never moves the threshold:
 * those stay plain arrays. Where the memory cannot be reserved (each reserves address space,
 * which `ulimit -v` may forbid) the array is a plain one: only the saving is lost.
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

type ArrayCtor<T> = { new (length: number): T; new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number };

/** glibc's initial mmap threshold (M_MMAP_THRESHOLD's default): smaller blocks never raise it. */
const PAGED_FROM = 128 * 1024;
const WASM_PAGE = 65536;
const Wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } }).WebAssembly;
let unavailable = false;

/** A zero-filled `new Ctor(length)`, page-mapped outside malloc when it is 128 KiB or more. */
export function pagedArray<T>(Ctor: ArrayCtor<T>, length: number): T {
  const bytes = length * Ctor.BYTES_PER_ELEMENT;
  if (bytes < PAGED_FROM || unavailable) return new Ctor(length);
  const pages = Math.ceil(bytes / WASM_PAGE);
  try {
    return new Ctor(new Wasm.Memory({ initial: pages, maximum: pages }).buffer, 0, length);
  } catch {
    unavailable = true; // no address space for it: plain arrays from now on
    return new Ctor(length);
  }
}

/** `pagedArray` of `source`'s type, `length` long, holding a copy of `source` (a grown array). */
export function grownArray<T extends Int32Array | Float64Array | Uint8Array | Uint32Array | Float32Array>(source: T, length: number): T {
  const y = pagedArray(source.constructor as unknown as ArrayCtor<T>, length);
  y.set(source as never);
  return y;
}

/** `Ctor.from(items, map)` as a `pagedArray`. */
export function pagedFrom<T extends { [i: number]: number }, X>(Ctor: ArrayCtor<T>, items: ArrayLike<X> | readonly X[], map?: (x: X, i: number) => number): T {
  const n = items.length;
  const y = pagedArray(Ctor, n);
  for (let i = 0; i < n; i++) y[i] = map ? map(items[i], i) : (items[i] as unknown as number);
  return y;
}

/** A file's bytes in a `pagedArray` (readFileSync's Buffer is malloc'd: HiGHS's 3.4 MB wasm,
 * read for each compile of it, raised the threshold to its size). */
export function readPaged(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const bytes = pagedArray(Uint8Array, size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, bytes, at, size - at, at);
      if (n === 0) break;
      at += n;
    }
    return at === size ? bytes : bytes.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}
