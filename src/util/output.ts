/**
 * The one place outputs are written. Every command goes through it, so that an output never
 * destroys what the user has:
 *
 * - A target that is an input of the run (the model, its external data, the hardware file, the
 *   calibration files, the schedule a report reads, ...) is refused, compared by device + inode
 *   when it exists (hard links, `a/../a`, symlinked folders) and by real path otherwise
 *   (`RunInputs`). Two outputs of one run naming the same file are refused too.
 * - Only regular files are replaced: a folder, a symbolic link, a FIFO, a device node or a socket
 *   at the target is a one-line error (the atomic rename would replace the node itself, e.g.
 *   turn /dev/stdout or a device into a plain file). `-` means stdout where a command says so.
 * - Every file is written to a temporary file beside its target and renamed into place only
 *   when everything succeeded; a failure removes the temporaries and leaves every pre-existing
 *   file as it was.
 * - The files of one run (compile's model.onnx + schedule.json, a model + its external data, sgs's
 *   model + annotations) are one `OutputBatch`: all are written first, then renamed in one short
 *   step; if a rename fails, the targets already replaced are restored from hard-link backups.
 *   So a new model never sits beside an old schedule.
 * - `lockFolder` serializes runs writing into one folder: a lock file created exclusively; a
 *   second run fails at once with a message naming the holder's pid (a lock whose process is
 *   gone is taken over).
 *
 * Written here by hand: write-file-atomic and friends replace symlinks/devices silently and know
 * nothing of a run's inputs or of multi-file commits.
 */
import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeSync, writevSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { badInput, isDnnfuseError } from '../errors.ts';
import { fileKind } from './input.ts';

/** One input file of a run: the path as given, what it is (for messages), its real path, and its
 * device and inode when it exists (outputs are compared with both). */
export interface InputEntry {
  path: string;
  what: string;
  real: string;
  dev?: number;
  ino?: number;
}

/** Real path of p, or of its deepest existing ancestor joined with the rest (p may not exist). */
export function realPathOf(p: string): string {
  const abs = resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(realPathOf(parent), basename(abs));
  }
}

/** The files a run reads; outputs must not be any of them. */
export class RunInputs {
  readonly items: InputEntry[] = [];

  /** Adds an input file (it may not exist: then it is compared by real path only). */
  add(path: string, what: string): this {
    const e: InputEntry = { path, what, real: realPathOf(path) };
    try {
      const st = statSync(path);
      e.dev = st.dev;
      e.ino = st.ino;
    } catch {
      /* absent: real path only */
    }
    this.items.push(e);
    return this;
  }

  /** Adds a model file and every external data file its tensors read. */
  addModel(path: string, model?: { graph: { initializers: Map<string, { source: { kind: string; path?: string } }>; nodes: { attributes: { type: string; value: unknown }[] }[] } }): this {
    this.add(path, 'model file');
    if (model) {
      const seen = new Set<string>();
      const visit = (t: { source: { kind: string; path?: string } }) => {
        if (t.source.kind === 'external' && t.source.path && !seen.has(t.source.path)) (seen.add(t.source.path), this.add(t.source.path, 'external data file'));
      };
      for (const t of model.graph.initializers.values()) visit(t);
      for (const n of model.graph.nodes) for (const a of n.attributes) {
        if (a.type === 'tensor') visit(a.value as { source: { kind: string; path?: string } });
        else if (a.type === 'tensors') for (const t of a.value as { source: { kind: string; path?: string } }[]) visit(t);
      }
    }
    return this;
  }

  /** Adds every file under a folder (calibration data), at most `depth` levels and `max` files. */
  addTree(dir: string, what: string, depth = 2, max = 100000): this {
    let count = 0;
    const walk = (d: string, level: number) => {
      let names: string[];
      try {
        names = readdirSync(d);
      } catch {
        return;
      }
      for (const name of names) {
        if (count >= max) return;
        const p = join(d, name);
        let st: Stats;
        try {
          st = statSync(p);
        } catch {
          continue;
        }
        if (st.isDirectory()) {
          if (level < depth) walk(p, level + 1);
        } else (count++, this.add(p, what));
      }
    };
    walk(dir, 0);
    return this;
  }

  /** The input a target clashes with (same device + inode, or same real path), if any. */
  clash(target: string, st?: Stats): InputEntry | undefined {
    // No inputs, nothing to clash with: skip the real-path walk (about 3 stat calls; each save
    // checks its targets twice, and a stat costs 70-95 us on the VM of issue 15).
    if (!this.items.length) return undefined;
    const real = realPathOf(target);
    return this.items.find((i) => (st && i.ino !== undefined && i.dev === st.dev && i.ino === st.ino) || i.real === real);
  }
}

/**
 * Checks that `path` may be replaced by an output: not an input, not a folder, link, FIFO,
 * device or socket. `flag` names the option in messages (`-o`, `--schedule`).
 */
export function checkOutputTarget(path: string, inputs: RunInputs | undefined, flag = '-o', opts: { stdoutOk?: boolean } = {}): Stats | undefined {
  if (!path) throw badInput(`${flag}: empty path`);
  let lst: Stats | undefined;
  try {
    lst = lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw badInput(`cannot write ${path}: a part of the path is a file, not a folder (${flag})`);
    if (code !== 'ENOENT') throw badInput(`cannot write ${path}: ${code ?? String(e)} (${flag})`);
  }
  const stdoutHint = opts.stdoutOk ? ' (use - for stdout)' : '';
  if (lst) {
    if (lst.isSymbolicLink()) throw badInput(`${flag} ${path} is a symbolic link; outputs are replaced atomically, which would replace the link itself: give the path of a regular file${stdoutHint}`);
    if (lst.isDirectory()) throw badInput(`cannot write ${path}: it is a folder (${flag} takes a file path)`);
    if (!lst.isFile()) throw badInput(`${flag} ${path} is ${fileKind(lst)}; dnnfuse writes regular files only${stdoutHint}`);
  }
  const hit = inputs?.clash(path, lst);
  if (hit) throw badInput(`${flag} ${path}: refusing to overwrite the input ${hit.what} ${hit.path} this run reads; choose another output path`);
  return lst;
}

/** Maps a file-system error while writing to a one-line bad-input error naming the path. */
export function writeError(e: unknown, path: string): unknown {
  if (isDnnfuseError(e)) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (!code) return e;
  const why =
    code === 'EISDIR' ? 'it is a folder'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOSPC' ? 'no space left on the device'
    : code === 'ENOTDIR' ? 'a part of the path is a file, not a folder'
    : code === 'EROFS' ? 'read-only file system'
    : code === 'EEXIST' ? 'a file of that name exists'
    : code;
  return badInput(`cannot write ${path}: ${why}`, e);
}

let tmpCounter = 0;

/**
 * The outputs of one run, written as a unit: `write`/`stage` put each file in a temporary file
 * beside its target (checked first); `commit` renames them all into place; `abort` (or a failure
 * in commit) removes the temporaries and leaves the targets as they were.
 */
export class OutputBatch {
  private staged: { tmp: string; path: string; flag: string }[] = [];
  private done = false;

  constructor(private readonly inputs?: RunInputs) {}

  /** Checks `path` and returns a fresh temporary path beside it for the caller to write. */
  stage(path: string, flag = '-o'): string {
    const lst = checkOutputTarget(path, this.inputs, flag);
    const real = this.staged.length ? realPathOf(path) : '';
    const other = this.staged.find((s) => realPathOf(s.path) === real);
    if (other) throw badInput(`${flag} ${path} and ${other.flag} ${other.path} name the same file; give two different paths`);
    const dir = dirname(resolve(path));
    // A file there: its folder exists. Else one mkdir (EEXIST: the folder is there; a file of
    // that name fails the temporary's open, named by writeError); the recursive form (a mkdir
    // and a stat) only when that fails otherwise. Syscalls cost 70-95 us on issue 15's VM.
    if (!lst) {
      try {
        mkdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          try {
            mkdirSync(dir, { recursive: true });
          } catch (e2) {
            throw writeError(e2, path);
          }
        }
      }
    }
    const tmp = join(dir, `.${basename(path)}.${process.pid}.${++tmpCounter}.tmp`);
    this.staged.push({ tmp, path: resolve(path), flag });
    return tmp;
  }

  /** Stages `path` and writes `data` (chunks written with gathered writes, never concatenated). */
  write(path: string, data: string | Uint8Array | (string | Uint8Array)[], flag = '-o'): void {
    const tmp = this.stage(path, flag);
    try {
      const fd = openSync(tmp, 'wx', 0o644);
      try {
        if (Array.isArray(data)) writeAllv(fd, data.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
        else {
          const b = typeof data === 'string' ? Buffer.from(data) : data;
          let off = 0;
          while (off < b.length) off += writeSync(fd, b, off, b.length - off);
        }
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      this.abort();
      throw writeError(e, path);
    }
  }

  /** Renames every staged file into place; on failure restores what was replaced. */
  commit(): void {
    if (this.done) return;
    this.done = true;
    const replaced: { path: string; backup?: string; existed: boolean }[] = [];
    try {
      for (const s of this.staged) {
        // Re-check just before the rename: the target may have changed since it was staged.
        // Its lstat (undefined: no file there) says whether a file is replaced.
        const existed = checkOutputTarget(s.path, this.inputs, s.flag)?.isFile() ?? false;
        let backup: string | undefined;
        if (existed) {
          backup = `${s.tmp}.bak`;
          try {
            linkSync(s.path, backup);
          } catch {
            backup = undefined; // no hard links here: no rollback for this file
          }
        }
        renameSync(s.tmp, s.path);
        replaced.push({ path: s.path, backup, existed });
      }
    } catch (e) {
      for (const r of replaced.reverse()) {
        try {
          if (r.backup) renameSync(r.backup, r.path);
          else if (!r.existed) unlinkSync(r.path);
        } catch {
          /* best effort */
        }
      }
      this.removeTemps();
      throw writeError(e, this.staged[replaced.length]?.path ?? '');
    }
    for (const r of replaced) if (r.backup) rmSync(r.backup, { force: true });
  }

  /** Removes the temporaries; the targets are untouched. */
  abort(): void {
    this.done = true;
    this.removeTemps();
  }

  private removeTemps(): void {
    for (const s of this.staged) {
      rmSync(s.tmp, { force: true });
      rmSync(`${s.tmp}.bak`, { force: true });
    }
  }

  /** Runs `fill` (which stages/writes files), then commits; aborts if anything throws. */
  static run<T>(inputs: RunInputs | undefined, fill: (b: OutputBatch) => T): T {
    const b = new OutputBatch(inputs);
    try {
      const r = fill(b);
      b.commit();
      return r;
    } catch (e) {
      b.abort();
      throw e;
    }
  }
}

/** Writes one output file atomically (`-` = stdout when `stdoutOk`), refusing inputs and
 * non-regular targets. */
export function writeOutput(path: string, data: string | Uint8Array, inputs?: RunInputs, opts: { flag?: string; stdoutOk?: boolean } = {}): void {
  if (path === '-' && opts.stdoutOk) {
    process.stdout.write(data);
    return;
  }
  OutputBatch.run(inputs, (b) => b.write(path, data, opts.flag ?? '-o'));
}

/** writev until every byte is written (handles partial writes and the IOV_MAX limit). */
export function writeAllv(fd: number, chunks: Uint8Array[]): void {
  let i = 0;
  let skip = 0; // bytes of chunks[i] already written
  while (i < chunks.length) {
    const batch: Uint8Array[] = [];
    for (let j = i; j < chunks.length && batch.length < 512; j++) {
      const c = j === i ? chunks[j].subarray(skip) : chunks[j];
      if (c.length) batch.push(c);
    }
    if (!batch.length) break;
    let n = writevSync(fd, batch);
    while (n > 0 && i < chunks.length) {
      const left = chunks[i].length - skip;
      if (n >= left) {
        n -= left;
        i++;
        skip = 0;
      } else {
        skip += n;
        n = 0;
      }
    }
    while (i < chunks.length && chunks[i].length - skip === 0) {
      i++;
      skip = 0;
    }
  }
}

const LOCK_NAME = '.dnnfuse.lock';
const held = new Set<string>();

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of an output folder (`<dir>/.dnnfuse.lock`, created exclusively, holding the
 * pid). Another live run holding it: a one-line error naming it. Returns the release function
 * (also run at process exit).
 */
export function lockFolder(dir: string): () => void {
  const d = resolve(dir);
  try {
    mkdirSync(d, { recursive: true });
  } catch (e) {
    throw writeError(e, d);
  }
  const lock = join(d, LOCK_NAME);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(e, lock);
      let pid = NaN;
      let young = false;
      try {
        pid = Number.parseInt(readFileSync(lock, 'utf8'), 10);
        young = Date.now() - statSync(lock).mtimeMs < 5000; // being written by its creator
      } catch {
        /* vanished or unreadable */
      }
      if (pidAlive(pid) || held.has(lock) || (Number.isNaN(pid) && young)) {
        throw badInput(`${dir}: another dnnfuse run (pid ${pid}) is writing into this folder (lock file ${lock}); wait for it to finish, or delete the lock file if no such run exists`);
      }
      if (attempt > 2) throw badInput(`${dir}: cannot take the lock file ${lock}; delete it if no dnnfuse run is writing into this folder`);
      rmSync(lock, { force: true }); // stale: its process is gone
    }
  }
  held.add(lock);
  const release = () => {
    if (!held.delete(lock)) return;
    rmSync(lock, { force: true });
    process.off('exit', release);
  };
  process.on('exit', release);
  return release;
}
