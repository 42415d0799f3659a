import { readFileSync } from 'node:fs';
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

/** A method or getter called with a `this` that is not an instance (`WriteWatch.prototype.get.call({})`). */
export class InvalidThisError extends WriteWatchError {
  constructor(type: string) {
    super('ERR_INVALID_THIS', `Value of "this" must be of type ${type}`);
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

/**
 * A failed system call, shaped like Node's own system errors: `code` is the errno name. A resource
 * errno (EMFILE, ENFILE, ENOMEM) gets advice in the message: which resource, how many, what to do
 * ([resourceAdvice]); `advice` replaces it where the caller knows better (allocateFailed).
 */
export class SystemCallError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, errno: number, detail?: string, advice?: string) {
    const name = errnoName(errno);
    const say = advice ?? resourceAdvice(syscall, name);
    super(`${syscall} failed: ${name}${detail ? ` (${detail})` : ''}${say ? `: ${say}` : ''}`);
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
  const advice = resourceAdvice(e.syscall, e.code) ?? 'a resource ran out';
  return `${e.syscall} failed with ${e.code}: ${advice} (a resource limit, not a missing feature: retry once resources are free)`;
}

/** The registry's pseudo-syscall: its ENOMEM means every slot for a live tracker is taken. */
export const REGISTRY_SYSCALL = 'writewatch registry';

const GiB = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);
/** process.report's ulimits: getrlimit(2), which needs no descriptor (it works under EMFILE). */
function userLimits(): Record<string, { soft: number | string; hard: number | string }> | undefined {
  try {
    return (process.report?.getReport() as { userLimits?: Record<string, { soft: number | string; hard: number | string }> } | undefined)?.userLimits;
  } catch {
    return undefined;
  }
}
/** A file of /proc or /sys, or undefined where it cannot be read (no descriptor left, no procfs). */
function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Which resource ran out, how much of it there is, and what to do, for EMFILE, ENFILE and ENOMEM;
 * undefined for other errnos. Every figure is read when the error is made, and left out where it
 * cannot be read (a full fd table cannot open /proc files).
 */
export function resourceAdvice(syscall: string, code: string): string | undefined {
  if (code === 'EMFILE') {
    const nofile = userLimits()?.open_files;
    const limit = nofile ? `all ${nofile.soft} file descriptors its limit allows (RLIMIT_NOFILE: soft ${nofile.soft}, hard ${nofile.hard})` : 'all the file descriptors its RLIMIT_NOFILE allows';
    const raise = nofile && nofile.soft !== nofile.hard ? `raise the soft limit (ulimit -n ${nofile.hard}, the hard limit here)` : 'raise the limit (ulimit -n; systemd LimitNOFILE=; docker run --ulimit nofile=N:N)';
    return `this process has ${limit} open. Each write-protect WriteWatch holds one (its userfaultfd): close() the trackers you are done with (a \`using\` declaration closes at the end of its scope), close other descriptors, or ${raise}`;
  }
  if (code === 'ENFILE') {
    const max = readProc('/proc/sys/fs/file-max')?.trim();
    return `the system-wide file table is full${max ? ` (fs.file-max = ${max})` : ''}: close files elsewhere on this machine, or raise fs.file-max (sysctl)`;
  }
  if (code !== 'ENOMEM') return undefined;
  if (syscall === REGISTRY_SYSCALL) {
    return 'this process holds as many live trackers as one process can (WriteWatch objects and writewatch/win32 allocations, in all its threads): close() those you are done with (a `using` declaration closes at the end of its scope); one dropped without close() is released only when it is garbage-collected';
  }
  const maps = readProc('/proc/self/maps')?.split('\n').length;
  const maxMaps = readProc('/proc/sys/vm/max_map_count')?.trim();
  const facts = [...memoryFacts(), maps && maxMaps && `${maps - 1} mappings of vm.max_map_count ${maxMaps}`].filter(Boolean).join(', ');
  return `the kernel refused memory or a mapping for this request${facts ? ` (${facts})` : ''}: free memory, close() the trackers you are done with, or, for a process with very many mappings, raise vm.max_map_count`;
}

/** What memory there is: available, the commit limit where it is enforced, an address-space limit. */
function memoryFacts(): string[] {
  const meminfo = readProc('/proc/meminfo') ?? '';
  const kB = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(meminfo);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const available = kB('MemAvailable'), limit = kB('CommitLimit'), committed = kB('Committed_AS');
  const overcommit = readProc('/proc/sys/vm/overcommit_memory')?.trim();
  const as = addressSpaceLimit();
  return [
    available !== undefined ? `${GiB(available)} available` : '',
    overcommit === '2' && limit !== undefined && committed !== undefined ? `commit limit ${GiB(limit)}, ${GiB(committed)} committed (vm.overcommit_memory=2)` : '',
    typeof as === 'number' ? `address space limited to ${GiB(as)} (ulimit -v)` : '',
  ].filter(Boolean);
}

/**
 * RLIMIT_AS's soft limit in bytes, or undefined when unlimited. process.report names it
 * `virtual_memory_kbytes` on Node 20 (in bytes all the same) and `virtual_memory_bytes` from 22.
 */
function addressSpaceLimit(): number | undefined {
  const l = userLimits();
  const soft = (l?.virtual_memory_bytes ?? l?.virtual_memory_kbytes)?.soft;
  return typeof soft === 'number' ? soft : undefined;
}

/**
 * The error `WriteWatch.allocate(byteLength)` throws when its mmap fails with ENOMEM: it says that
 * allocate maps the whole length at once, what the kernel has, and what to use instead. Any other
 * error is returned as it is. Use: `catch (e) { throw allocateFailed(e, byteLength) }`.
 */
export function allocateFailed(e: unknown, byteLength: number): unknown {
  if (!(e instanceof SystemCallError) || e.code !== 'ENOMEM' || e.syscall !== 'mmap') return e;
  const facts = memoryFacts().join(', ');
  const limited = addressSpaceLimit() !== undefined;
  const advice = limited
    ? // Under RLIMIT_AS a reservation counts as much as committed memory: only less helps.
      `WriteWatch.allocate maps all ${GiB(byteLength)} at once, and the kernel refused (${facts}). ` +
      'Allocate less, or raise the address-space limit (a WebAssembly.Memory or a resizable buffer reserves its maximum against it too)'
    : `WriteWatch.allocate maps all ${GiB(byteLength)} as committed memory at once, and the kernel refused${facts ? ` (${facts})` : ''}. ` +
      'Allocate less, or track memory that commits only the part in use and grows: a WebAssembly.Memory, or a resizable ' +
      'ArrayBuffer (new ArrayBuffer(length, { maxByteLength })), passed to WriteWatch.track';
  const detail = /\((.*?)\)/.exec(e.message)?.[1];
  return new SystemCallError(e.syscall, e.errno, detail, advice);
}

/**
 * The errno numbers the library makes itself are Linux's (the kernel's, or ENOMEM/EBUSY/EBADF for
 * its own refusals on every platform); libuv numbers them differently on Windows, so these few are
 * named here and Node is asked only on Linux.
 */
const OWN_ERRNOS: Record<number, string> = { 9: 'EBADF', 12: 'ENOMEM', 16: 'EBUSY', 17: 'EEXIST', 22: 'EINVAL', 24: 'EMFILE' };

function errnoName(errno: number): string {
  if (process.platform !== 'linux' && OWN_ERRNOS[errno] !== undefined) return OWN_ERRNOS[errno];
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
 * What reading a user object threw (a getter, a Proxy trap, a revoked Proxy), as
 * ERR_INVALID_ARG_VALUE naming the argument, the thrown value as its `cause`. Never throws itself,
 * whatever was thrown: a revoked Proxy, an object whose `message` or `toString` throws.
 */
export function unreadable(name: string, value: unknown, thrown: unknown): InvalidArgValueError {
  let text = 'a value that cannot be described';
  try {
    if (types.isNativeError(thrown)) text = String(Reflect.getOwnPropertyDescriptor(thrown, 'message')?.value ?? thrown.name);
    else if (typeof thrown !== 'object' && typeof thrown !== 'function') text = String(thrown);
  } catch {
    /* described generically */
  }
  const err = new InvalidArgValueError(name, value, `could not be read (${text})`);
  (err as { cause?: unknown }).cause = thrown;
  return err;
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
