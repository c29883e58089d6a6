/**
 * gunzip into one buffer sized from the gzip trailer. zlib's gunzipSync inflates into 16 KiB
 * chunks and then concatenates them: for a model whose weights inflate to 528 MB (vgg16.onnx.gz)
 * that touches twice the memory, and its page faults and copies cost more than inflating (CPU
 * 6-7 s against 2-3 s, peak RSS 1115 MB against 571 MB, measured on this file). The trailer's
 * ISIZE (the size mod 2^32 of the last member) is only a hint: when it is wrong (a file over
 * 4 GiB, several members) zlib adds chunks as usual, and the bytes are the same either way.
 */
import { constants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';

export function gunzipWhole(bytes: Uint8Array): Buffer {
  const isize = bytes.length >= 18 ? new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0, true) : 0;
  return gunzipSync(bytes, { chunkSize: Math.min(Math.max(64 * 1024, isize), constants.MAX_LENGTH) });
}
