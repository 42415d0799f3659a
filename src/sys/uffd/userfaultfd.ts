/**
 * A userfaultfd negotiated for asynchronous write-protect: the kernel resolves write faults on
 * registered memory itself and only clears the page's uffd-wp bit, which PAGEMAP_SCAN then reports
 * as PAGE_IS_WRITTEN. Nothing is ever read from the fd.
 */
import createDebug from 'debug';
import { ClosedError, InvalidArgTypeError, InvalidArgValueError, OutOfRangeError, SystemCallError, UnsupportedError, isResourceError, unreadable } from '../../errors.js';
import { O_CLOEXEC, O_NONBLOCK } from '../libc/abi.js';
import { put64, u64Struct } from '../libc/u64.js';
import { fdIsRecorded, forgetFd, recordFd } from '../process/registry.js';
import {
  UFFD_API,
  UFFD_USER_MODE_ONLY,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_WP,
  WRITEWATCH_FEATURES,
  _UFFDIO_WRITEPROTECT,
  featureNames,
} from './abi.js';
import * as raw from './raw.js';

const debug = createDebug('writewatch:uffd');

export interface UserfaultfdOptions {
  /** Features to negotiate with UFFDIO_API. Default: WP_ASYNC | WP_UNPOPULATED. */
  features?: bigint;
  /** Which creation paths to try, in order. Default: the syscall, then `/dev/userfaultfd`. */
  via?: readonly ('syscall' | 'device')[];
  /** Path of the misc device (tests point it elsewhere). */
  devicePath?: string;
}

export class Userfaultfd {
  #fd: number;
  /** Features the kernel granted (`uffdio_api.features` after UFFDIO_API). */
  readonly features: bigint;
  /** `uffdio_api.ioctls`: bit N set means ioctl `_UFFDIO_*` number N is available. */
  readonly ioctls: bigint;
  /** How the fd was created. */
  readonly via: 'syscall' | 'device';
  // Preallocated structs: register/writeprotect/unregister run on every reset and must not allocate.
  readonly #reg = u64Struct(4);
  readonly #wp = u64Struct(3);
  readonly #range = u64Struct(2);

  /**
   * The fd's slot in the process-wide descriptor table, with its st_dev:st_ino: each userfaultfd
   * has its own inode, so close() can tell ours from a reused number, and a thread that outlives
   * this one's can close it if this thread dies without doing so.
   */
  readonly #slot: number;

  private constructor(fd: number, via: 'syscall' | 'device', features: bigint, ioctls: bigint) {
    this.#fd = fd;
    this.#slot = recordFd(fd);
    this.via = via;
    this.features = features;
    this.ioctls = ioctls;
  }

  /**
   * Creates a userfaultfd and negotiates `features`; throws `ERR_WRITEWATCH_UNSUPPORTED` with the
   * reason, or the SystemCallError (EMFILE, ENFILE, ENOMEM) when resources are exhausted.
   */
  static open(options: UserfaultfdOptions = {}): Userfaultfd {
    options = readOpenOptions(options);
    const wanted = options.features ?? WRITEWATCH_FEATURES;
    const { fd, via } = create(options);
    try {
      const { features, ioctls } = negotiate(fd, wanted);
      debug('fd %d via %s: features %s ioctls %s', fd, via, features.toString(16), ioctls.toString(16));
      return new Userfaultfd(fd, via, features, ioctls);
    } catch (e) {
      raw.close(fd);
      throw e;
    }
  }

  get fd(): number {
    if (this.#fd < 0) throw new ClosedError('Userfaultfd');
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Its slot in the registry's descriptor table (what a reaper in another thread finds the fd by). */
  get slot(): number {
    return this.#slot;
  }

  /** Whether the fd number still names this userfaultfd (not closed behind our back, not reused). */
  get intact(): boolean {
    return this.#fd >= 0 && fdIsRecorded(this.#slot, this.#fd);
  }

  /** UFFDIO_REGISTER in WP mode; returns the `ioctls` the range supports (WRITEPROTECT is checked). */
  register(start: number, len: number): bigint {
    checkRange(start, len);
    const { u64, u32 } = this.#reg;
    put64(u32, 0, start);
    put64(u32, 1, len);
    u64[2] = UFFDIO_REGISTER_MODE_WP;
    u64[3] = 0n;
    raw.register(this.fd, u64);
    const ioctls = u64[3];
    // Test the bit, not the request number (the kernel selftest and Wine AND with UFFDIO_WRITEPROTECT).
    if ((ioctls & (1n << BigInt(_UFFDIO_WRITEPROTECT))) === 0n) {
      this.unregister(start, len);
      throw new UnsupportedError(
        `UFFDIO_REGISTER succeeded but the range does not support UFFDIO_WRITEPROTECT (ioctls 0x${ioctls.toString(16)})`,
      );
    }
    debug('register 0x%s +0x%s', start.toString(16), len.toString(16));
    return ioctls;
  }

  /** UFFDIO_WRITEPROTECT: arm (`wp` true) or disarm the range. Holes between mappings are skipped. */
  writeProtect(start: number, len: number, wp = true): void {
    checkRange(start, len);
    const { u64, u32 } = this.#wp;
    put64(u32, 0, start);
    put64(u32, 1, len);
    u64[2] = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0n;
    raw.writeprotect(this.fd, u64);
  }

  /** UFFDIO_UNREGISTER; the kernel clears the range's uffd-wp bits. */
  unregister(start: number, len: number): void {
    checkRange(start, len);
    const { u64, u32 } = this.#range;
    put64(u32, 0, start);
    put64(u32, 1, len);
    raw.unregister(this.fd, u64);
    debug('unregister 0x%s +0x%s', start.toString(16), len.toString(16));
  }

  /** Closes the fd: the kernel drops every registration made through it. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    // If the fd was closed behind our back, its number may name someone else's file by now (another
    // userfaultfd, a database file): closing it would break them. Close only what is still ours.
    const ours = fdIsRecorded(this.#slot, fd);
    forgetFd(this.#slot);
    if (!ours) {
      debug('fd %d is no longer this userfaultfd: not closing it', fd);
      return;
    }
    raw.close(fd);
    debug('closed fd %d', fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The options, each read once into a plain object (a getter or Proxy trap runs here only), with their types checked. */
function readOpenOptions(options: unknown): UserfaultfdOptions {
  if (options === null || typeof options !== 'object') throw new InvalidArgTypeError('options', 'of type object', options);
  let features: unknown, via: unknown, devicePath: unknown;
  try {
    ({ features, via, devicePath } = options as UserfaultfdOptions);
    if (via !== undefined) via = Array.from(via as Iterable<unknown>);
  } catch (e) {
    throw unreadable('options', options, e);
  }
  if (features !== undefined && typeof features !== 'bigint') throw new InvalidArgTypeError('options.features', 'of type bigint', features);
  if (via !== undefined && !(via as unknown[]).every((v) => v === 'syscall' || v === 'device')) {
    throw new InvalidArgValueError('options.via', via, "must list 'syscall' and/or 'device'");
  }
  if (devicePath !== undefined && typeof devicePath !== 'string') throw new InvalidArgTypeError('options.devicePath', 'of type string', devicePath);
  return { features, via, devicePath } as UserfaultfdOptions;
}

/** An address range for an ioctl: numbers the kernel can be given (it checks alignment itself: EINVAL). */
function checkRange(start: unknown, len: unknown): void {
  if (typeof start !== 'number') throw new InvalidArgTypeError('start', 'of type number', start);
  if (typeof len !== 'number') throw new InvalidArgTypeError('len', 'of type number', len);
  if (!Number.isInteger(start) || start < 0 || start >= 2 ** 64) throw new OutOfRangeError('start', 'an address: an integer >= 0', start);
  if (!Number.isInteger(len) || len < 0 || len >= 2 ** 64) throw new OutOfRangeError('len', 'a length: an integer >= 0', len);
}

function create(options: UserfaultfdOptions): { fd: number; via: 'syscall' | 'device' } {
  const flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
  const failures: SystemCallError[] = [];
  for (const via of options.via ?? ['syscall', 'device']) {
    try {
      const fd = via === 'syscall' ? raw.userfaultfd(flags) : raw.userfaultfdFromDevice(flags, options.devicePath);
      return { fd, via };
    } catch (e) {
      if (!(e instanceof SystemCallError)) throw e;
      debug('userfaultfd via %s failed: %s', via, e.code);
      // Out of fds or memory: the kernel supports it, this process cannot have one right now.
      if (isResourceError(e)) throw e;
      failures.push(e);
    }
  }
  throw new UnsupportedError(explainCreateFailure(failures, options.devicePath ?? '/dev/userfaultfd'), {
    cause: failures[0],
  });
}

/** Why userfaultfd could not be created and what to do, from the errno of each attempt. */
export function explainCreateFailure(failures: readonly SystemCallError[], devicePath: string): string {
  const parts: string[] = [];
  for (const e of failures) {
    if (e.syscall === 'userfaultfd') {
      if (e.code === 'ENOSYS') {
        parts.push(
          'the userfaultfd syscall returned ENOSYS: the kernel lacks CONFIG_USERFAULTFD, or a seccomp filter ' +
            "(e.g. a container runtime's default profile) blocks it; allow userfaultfd in the seccomp profile " +
            '(docker run --security-opt seccomp=<profile allowing userfaultfd>)',
        );
      } else if (e.code === 'EPERM' || e.code === 'EACCES') {
        // UFFD_USER_MODE_ONLY needs no privilege whatever vm.unprivileged_userfaultfd says, so the
        // sysctl is not the cause: something in front of the syscall refused it.
        parts.push(
          `the userfaultfd syscall returned ${e.code} even with UFFD_USER_MODE_ONLY, which needs no privilege: a seccomp ` +
            "filter (e.g. a container runtime's default profile) or an LSM denies it; allow userfaultfd in the " +
            'sandbox profile (docker run --security-opt seccomp=<profile allowing userfaultfd>)',
        );
      } else {
        parts.push(`the userfaultfd syscall failed with ${e.code}`);
      }
    } else if (e.syscall === 'open') {
      parts.push(
        e.code === 'ENOENT'
          ? `${devicePath} does not exist (Linux < 6.1, or not exposed in this container)`
          : `${devicePath} cannot be opened (${e.code}): grant access with e.g. 'chmod 0666 ${devicePath}' or a udev rule, or add the user to its group`,
      );
    } else if (e.code === 'ENOTTY') {
      parts.push(`${devicePath} is not the userfaultfd device (USERFAULTFD_IOC_NEW failed with ENOTTY: masked?)`);
    } else {
      parts.push(
        `USERFAULTFD_IOC_NEW on ${devicePath} failed with ${e.code}` +
          (['EPERM', 'EACCES', 'ENOSYS'].includes(e.code) ? ': a seccomp filter or an LSM blocks the ioctl' : ''),
      );
    }
  }
  return `userfaultfd is unavailable: ${parts.join('; ')}`;
}

function negotiate(fd: number, wanted: bigint): { features: bigint; ioctls: bigint } {
  const { u64 } = u64Struct(3);
  u64[0] = BigInt(UFFD_API);
  u64[1] = wanted;
  u64[2] = 0n;
  try {
    raw.api(fd, u64);
  } catch (e) {
    if (!(e instanceof SystemCallError) || e.code !== 'EINVAL') throw e;
    // Since 6.10 the kernel refuses features it lacks; a failed UFFDIO_API may be retried, so ask
    // for nothing to learn what it does offer and name what is missing.
    u64[0] = BigInt(UFFD_API);
    u64[1] = 0n;
    u64[2] = 0n;
    let have = 0n;
    try {
      raw.api(fd, u64);
      have = u64[1];
    } catch {
      /* the kernel does not even speak UFFD_API 0xAA: report everything missing */
    }
    throw missingFeatures(wanted, have, e);
  }
  const features = u64[1];
  // Before 6.10 unknown feature bits were silently accepted: check what came back.
  if ((features & wanted) !== wanted) throw missingFeatures(wanted, features);
  return { features, ioctls: u64[2] };
}

function missingFeatures(wanted: bigint, have: bigint, cause?: unknown): UnsupportedError {
  const missing = featureNames(wanted & ~have).join(', ');
  return new UnsupportedError(
    `this kernel's userfaultfd lacks ${missing} (it offers: ${featureNames(have).join(', ') || 'nothing'}); ` +
      'write watching needs Linux >= 6.7 on x86_64 (>= 6.10 on aarch64) built with CONFIG_PTE_MARKER_UFFD_WP',
    { cause },
  );
}
