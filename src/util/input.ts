/**
 * Bounded reads of the files a run takes as input (model, hardware file, schedule, calibration
 * tensors). Only regular files are read: a folder, a FIFO (which would block forever), a device
 * (/dev/zero reads without end) or a socket is a one-line bad-input error naming the path, found
 * by stat before anything is opened; the file is then opened non-blocking and checked again on
 * its descriptor (it may have been swapped in between), and at most `maxBytes` are read.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { badInput } from '../errors.ts';

/** What kind of non-regular file a stat describes (for messages). */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return st.isFile() ? 'a regular file' : 'not a regular file';
}

const GiB = 2 ** 30;

/** Errno of a failed open/read/stat as a one-line bad-input error naming the file. */
export function readError(e: unknown, path: string, what: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return badInput(`${what} not found: ${path}`);
  if (code === 'EACCES' || code === 'EPERM') return badInput(`cannot read ${what} ${path}: permission denied`);
  if (code === 'EISDIR') return badInput(`${what} ${path} is a folder, not a file`);
  if (code === 'ENOTDIR') return badInput(`${what} not found: ${path} (a part of the path is not a folder)`);
  if (code === 'ELOOP') return badInput(`cannot read ${what} ${path}: too many levels of symbolic links`);
  return badInput(`cannot read ${what} ${path}: ${code ?? (e instanceof Error ? e.message : String(e))}`);
}

/**
 * Reads a regular file whole, at most `maxBytes` (default 2 GiB - 1, what one Buffer and one
 * protobuf message can hold). `what` names the file in errors ("model file", "hardware file").
 */
export function readInputFile(path: string, what: string, maxBytes = 2 * GiB - 1): Buffer {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw readError(e, path, what);
  }
  if (!st.isFile()) throw badInput(`${what} ${path} is ${fileKind(st)}, not a regular file`);
  if (st.size > maxBytes) throw badInput(`${what} ${path} has ${st.size} bytes, more than the ${maxBytes} this reader accepts`);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw readError(e, path, what);
  }
  try {
    const st2 = fstatSync(fd);
    if (!st2.isFile()) throw badInput(`${what} ${path} is ${fileKind(st2)}, not a regular file`);
    if (st2.size > maxBytes) throw badInput(`${what} ${path} has ${st2.size} bytes, more than the ${maxBytes} this reader accepts`);
    const buf = Buffer.allocUnsafe(st2.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break; // shrank meanwhile
      off += n;
    }
    return off === buf.length ? buf : buf.subarray(0, off);
  } catch (e) {
    if (e instanceof Error && e.name === 'DnnfuseError') throw e;
    throw readError(e, path, what);
  } finally {
    closeSync(fd);
  }
}

/** The same as text (UTF-8). */
export function readInputText(path: string, what: string, maxBytes?: number): string {
  return readInputFile(path, what, maxBytes).toString('utf8');
}
