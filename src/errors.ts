/**
 * Typed errors. Every failure a user can cause (bad file, bad config, a pass that cannot
 * apply) is a DnnfuseError carrying an exit code and a one-line message that names the
 * node, tensor or field at fault. The CLI prints `dnnfuse: <message>` and exits with the
 * code; anything else escaping is a bug in dnnfuse.
 */
export type ErrorKind =
  | 'bad-input' // unreadable/corrupt/invalid model or config (exit 2)
  | 'unsupported' // valid input the tool cannot handle (unknown op needing shapes, dynamic dims) (exit 2)
  | 'verification' // a plan or rewrite failed its own check (exit 1)
  | 'internal'; // an invariant broke inside dnnfuse (exit 1)

/** The error dnnfuse throws for anything a user can cause, with a one-line message naming the node,
 * tensor, field or file at fault, and the CLI's exit code (`exitCode`: 2 bad input/unsupported, 1
 * verification/internal).
 */
export class DnnfuseError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), options);
    this.name = 'DnnfuseError';
    this.kind = kind;
  }
  get exitCode(): number {
    return this.kind === 'bad-input' || this.kind === 'unsupported' ? 2 : 1;
  }
}

export const badInput = (msg: string, cause?: unknown) => new DnnfuseError('bad-input', msg, { cause });
export const unsupported = (msg: string, cause?: unknown) => new DnnfuseError('unsupported', msg, { cause });
export const verificationFailed = (msg: string) => new DnnfuseError('verification', msg);
export const internal = (msg: string) => new DnnfuseError('internal', msg);

/** Whether `e` is a DnnfuseError (and so has a `kind` and an `exitCode`). */
export function isDnnfuseError(e: unknown): e is DnnfuseError {
  return e instanceof DnnfuseError;
}
