import { getSystemErrorName, types } from 'node:util';

/**
 * Every error this library throws on purpose carries a stable string `code`, as Node's own errors
 * do, so callers can branch on `err.code` rather than on message text.
 */
export class WriteWatchError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WriteWatchError';
    this.code = code;
  }
}

/** The kernel or the sandbox lacks what tracking needs; the message names what and how to get it. */
export class UnsupportedError extends WriteWatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WRITEWATCH_UNSUPPORTED', message, options);
    this.name = 'UnsupportedError';
  }
}

/**
 * A call's range covers bytes of the target that are not tracked (the partial first or last page
 * of a small buffer, shared with other heap memory): answering for them would say "clean" for
 * bytes nobody watches.
 */
export class UntrackedError extends WriteWatchError {
  constructor(message: string) {
    super('ERR_WRITEWATCH_UNTRACKED', message);
    this.name = 'UntrackedError';
  }
}

/** `new WriteWatch()` from outside the library: WriteWatch.allocate() and WriteWatch.track() make them. */
export class IllegalConstructorError extends WriteWatchError {
  constructor() {
    super('ERR_ILLEGAL_CONSTRUCTOR', 'WriteWatch cannot be constructed directly: use WriteWatch.allocate(byteLength) or WriteWatch.track(target)');
    this.name = 'TypeError';
  }
}

/** A method was called after `close()`. */
export class ClosedError extends WriteWatchError {
  constructor(what = 'WriteWatch') {
    super('ERR_WRITEWATCH_CLOSED', `${what} is closed`);
    this.name = 'ClosedError';
  }
}

/**
 * The kernel no longer tracks the memory (it was unmapped, mapped over, moved, unregistered, or
 * this is a forked child). Thrown instead of answering "all clean" or "all written".
 */
export class LostError extends WriteWatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WRITEWATCH_LOST', message, options);
    this.name = 'LostError';
  }
}

/** A failed system call, shaped like Node's own system errors: `code` is the errno name. */
export class SystemCallError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, errno: number, detail?: string) {
    const name = errnoName(errno);
    super(`${syscall} failed: ${name}${detail ? ` (${detail})` : ''}`);
    this.name = 'SystemCallError';
    this.code = name;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/**
 * errnos that say "this process or system ran out of something", not "unsupported": a full fd
 * table (EMFILE: RLIMIT_NOFILE), a full system file table (ENFILE), no kernel memory (ENOMEM).
 * They are thrown as the SystemCallError they are, never folded into ERR_WRITEWATCH_UNSUPPORTED:
 * retrying after closing something can succeed, and "unsupported" would be believed for good.
 */
export const RESOURCE_ERRNO_CODES: readonly string[] = ['EMFILE', 'ENFILE', 'ENOMEM'];

export function isResourceError(e: unknown): e is SystemCallError {
  return e instanceof SystemCallError && RESOURCE_ERRNO_CODES.includes(e.code);
}

/** What to do about a resource error, for messages (probe's reasons). */
export function explainResourceError(e: SystemCallError): string {
  const what =
    e.code === 'EMFILE'
      ? "too many open files: this process reached its RLIMIT_NOFILE (ulimit -n); close descriptors or raise the limit"
      : e.code === 'ENFILE'
        ? 'the system-wide file table is full (fs.file-max); close files elsewhere or raise fs.file-max'
        : 'the kernel is out of memory for this request; free memory, or lower vm.max_map_count pressure';
  return `${e.syscall} failed with ${e.code}: ${what} (a resource limit, not a missing feature: retry once resources are free)`;
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `Unknown system error ${errno}`;
  }
}

/** `ERR_INVALID_ARG_TYPE`, as Node throws it. */
export class InvalidArgTypeError extends TypeError {
  readonly code = 'ERR_INVALID_ARG_TYPE';
  constructor(name: string, expected: string, actual: unknown) {
    super(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`);
    this.name = 'TypeError';
  }
}

/** `ERR_INVALID_ARG_VALUE`, as Node throws it. */
export class InvalidArgValueError extends TypeError {
  readonly code = 'ERR_INVALID_ARG_VALUE';
  constructor(name: string, value: unknown, reason: string) {
    super(`The argument '${name}' ${reason}. Received ${describe(value)}`);
    this.name = 'TypeError';
  }
}

/** `ERR_OUT_OF_RANGE`, as Node throws it. */
export class OutOfRangeError extends RangeError {
  readonly code = 'ERR_OUT_OF_RANGE';
  constructor(name: string, range: string, value: unknown) {
    super(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(value)}`);
    this.name = 'RangeError';
  }
}

/**
 * How a received value reads in a message, without running user code (a Proxy's traps, a getter,
 * a function whose `name` is a Symbol): the error must always be made.
 */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'bigint':
      return `type bigint (${value}n)`;
    case 'number':
      return `type number (${value})`;
    case 'string':
      return `type string (${JSON.stringify(value.length > 28 ? value.slice(0, 25) + '...' : value)})`;
    case 'function':
      if (types.isProxy(value)) return 'a Proxy of a function';
      return `function ${ownName(value) || '<anonymous>'}`;
    case 'object': {
      if (types.isProxy(value)) return 'a Proxy';
      let name = '';
      try {
        const proto = Object.getPrototypeOf(value) as object | null;
        const d = proto === null ? undefined : Object.getOwnPropertyDescriptor(proto, 'constructor');
        if (typeof d?.value === 'function') name = ownName(d.value as object);
      } catch {
        /* unreadable: described generically */
      }
      return `an instance of ${name || 'Object'}`;
    }
    default:
      return `type ${typeof value} (${String(value)})`;
  }
}

/** A function's own `name` when it is a string; '' otherwise (a Symbol, a getter, a Proxy). */
function ownName(f: object): string {
  if (types.isProxy(f)) return '';
  const d = Object.getOwnPropertyDescriptor(f, 'name');
  return typeof d?.value === 'string' ? d.value : '';
}
