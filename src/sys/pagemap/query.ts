/**
 * Read-only PAGEMAP_SCAN for any category query, over the pagemap of this or another process: the
 * kernel's compact answer to "which pages of [start, end) are present / swapped / zero / huge /
 * file-backed / written". It never passes PM_SCAN_WP_MATCHING or PM_SCAN_CHECK_WPASYNC, so a query
 * never changes the target: no page is write-protected, no VMA has to be registered.
 *
 * Regions come out of a cursor over one preallocated off-heap vector, so walking a process costs no
 * allocation per page (nor per region with `forEach`); `regions()` allocates one object per region.
 */
import createDebug from 'debug';
import { ClosedError, InvalidArgTypeError, InvalidThisError, InvalidArgValueError, OutOfRangeError, UnsupportedError, WriteWatchError, unreadable } from '../../errors.js';
import { lastError } from '../libc/errno.js';
import { getPageSize } from '../platform.js';
import { get64, put64 } from '../libc/u64.js';
import { PM_SCAN_ARG } from './abi.js';
import { assertAddressSpaceAlive } from './alive.js';
import { acceptedCategories, categoryNames } from './categories.js';
import { closeFd, openPagemap, pagemapScan } from './raw.js';
import { scanArg } from './scan-arg.js';

const debug = createDebug('writewatch:pagemap');

export interface QueryOptions {
  /**
   * `category_mask`: a page matches only if it has every one of these categories (after
   * `inverted` is applied). Default 0: no requirement.
   */
  required?: number;
  /** `category_anyof_mask`: a page matches only if it has at least one of these. Default 0: no test. */
  anyOf?: number;
  /**
   * `category_inverted`: these bits of each page are flipped before `required` and `anyOf` are
   * tested, so `required: PFNZERO, inverted: PFNZERO` means "not the zero page". Output categories
   * are not flipped.
   */
  inverted?: number;
  /**
   * `return_mask`: the categories reported per region. Adjacent matching pages merge into one
   * region when their categories agree on these bits, so a smaller mask gives fewer, longer
   * regions (0: one region per contiguous run of matching pages). Default: every category the
   * kernel accepts.
   */
  returnMask?: number;
  /** `max_pages`: stop after this many matching pages (a positive integer). Default: no limit. */
  maxPages?: number;
}

/** A run of adjacent matching pages [start, end) (absolute addresses) sharing `categories`. */
export interface PagemapRegion {
  start: number;
  end: number;
  categories: number;
}

/** Receives each region; must not start another scan on the same query. */
export type RegionCallback = (start: number, end: number, categories: number) => void;

/**
 * The largest user address space Linux has: 2^56 on x86_64 with 5-level paging (2^47 without),
 * 2^52 on arm64 with 52-bit VA. Page-aligned addresses below it are exact doubles (44 bits of page
 * number), so they need not be safe integers; past the kernel's own TASK_SIZE it answers EFAULT.
 */
const MAX_ADDRESS = 2 ** 56;

/** The options, each read once into a plain object: a getter or Proxy trap runs here and cannot change a checked value. */
function copyOptions(options: unknown): QueryOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgTypeError('options', 'an object', options);
  try {
    const { required, anyOf, inverted, returnMask, maxPages } = options as QueryOptions;
    return { required, anyOf, inverted, returnMask, maxPages };
  } catch (e) {
    throw unreadable('options', options, e);
  }
}

export class PagemapQuery {
  readonly pageSize: number;
  /** The category bits this kernel accepts (0x7f on 6.7, 0xff on 6.8+, 0x1ff on 6.16+). */
  readonly accepted: number;
  readonly required: number;
  readonly anyOf: number;
  readonly inverted: number;
  readonly returnMask: number;
  readonly maxPages: number;

  #fd: number;
  #ownsFd = false;
  readonly #arg: BigUint64Array;
  readonly #arg32: Uint32Array;
  readonly #vec: ArrayBuffer; // kept reachable: its address is in the arg
  readonly #vec32: Uint32Array;
  #busy = false;

  // Cursor state of the scan in progress (numbers only: advancing allocates nothing).
  #cur = 0;
  #end = 0;
  #remaining = 0;
  #lastEnd = 0;
  #n = 0;
  #i = 0;
  #walked = false;
  #walkEnd = 0;
  #pages = 0;
  #has = false;
  #ps = 0;
  #pe = 0;
  #pc = 0;
  /** The region the cursor stands on after `#next()` returned true. */
  #rs = 0;
  #re = 0;
  #rc = 0;

  /**
   * A query on an open pagemap fd, which stays the caller's (see `PagemapQuery.open` for one that
   * owns it). Masks using a category the kernel does not know fail with ERR_WRITEWATCH_UNSUPPORTED.
   */
  constructor(fd: number, options: QueryOptions = {}) {
    if (!Number.isInteger(fd) || fd < 0) throw new InvalidArgValueError('fd', fd, 'must be an open file descriptor');
    const { required, anyOf, inverted, returnMask, maxPages } = copyOptions(options);
    this.pageSize = getPageSize();
    this.accepted = acceptedCategories(fd);
    if (this.accepted === 0) {
      throw new UnsupportedError(`fd ${fd} does not answer PAGEMAP_SCAN: it must be a /proc/<pid>/pagemap fd on Linux >= 6.7`);
    }
    this.required = this.#mask('required', required, 0);
    this.anyOf = this.#mask('anyOf', anyOf, 0);
    this.inverted = this.#mask('inverted', inverted, 0);
    this.returnMask = this.#mask('returnMask', returnMask, this.accepted);
    if (maxPages !== undefined && (!Number.isSafeInteger(maxPages) || (maxPages as number) < 1)) {
      throw new OutOfRangeError('maxPages', 'a positive safe integer', maxPages);
    }
    this.maxPages = (maxPages as number | undefined) ?? 0;
    this.#fd = fd;
    const { arg: u64, arg32, vec, vec32 } = scanArg(this.pageSize);
    this.#arg = u64;
    this.#arg32 = arg32;
    this.#vec = vec;
    this.#vec32 = vec32;
    u64[PM_SCAN_ARG.flags] = 0n; // never WP_MATCHING / CHECK_WPASYNC: a query must not modify the target
    u64[PM_SCAN_ARG.category_inverted] = BigInt(this.inverted);
    u64[PM_SCAN_ARG.category_mask] = BigInt(this.required);
    u64[PM_SCAN_ARG.category_anyof_mask] = BigInt(this.anyOf);
    u64[PM_SCAN_ARG.return_mask] = BigInt(this.returnMask);
  }

  /**
   * Opens `/proc/<pid>/pagemap` (PTRACE_MODE_READ on the target: the same user and a ptrace scope
   * that allows it, or CAP_SYS_PTRACE) and owns the fd until `close()`. A missing process is ENOENT,
   * one that may not be inspected EACCES, as system errors.
   */
  static open(pid: number | 'self' = 'self', options: QueryOptions = {}): PagemapQuery {
    if (pid !== 'self' && (!Number.isSafeInteger(pid) || pid < 1)) {
      throw new InvalidArgValueError('pid', pid, "must be a positive integer or 'self'");
    }
    // Read before the fd exists: user code (a getter) must not run while we hold a descriptor.
    const copy = copyOptions(options);
    const fd = openPagemap(pid);
    try {
      const q = new PagemapQuery(fd, copy);
      q.#ownsFd = true;
      return q;
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  get closed(): boolean {
    PagemapQuery.#brand(this);
    return this.#fd < 0;
  }

  /** Closes the pagemap fd if `open()` opened it. Idempotent. */
  close(): void {
    PagemapQuery.#brand(this);
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    if (this.#ownsFd) closeFd(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Where the last scan stopped: `end` when it walked the whole range, the end of the last region
   * returned when `maxPages` cut it short (the kernel's `walk_end`, made visible).
   */
  get walkEnd(): number {
    PagemapQuery.#brand(this);
    return this.#walkEnd;
  }

  /**
   * Calls `cb(start, end, categories)` for each coalesced region of matching pages in [start, end),
   * in ascending order, and returns the number of matching pages. Allocates nothing per page or
   * region. `start` must be page-aligned; `end` is rounded up to a page.
   */
  forEach(start: number, end: number, cb: RegionCallback): number {
    PagemapQuery.#brand(this);
    if (typeof cb !== 'function') throw new InvalidArgTypeError('cb', 'of type function', cb);
    this.#begin(start, end);
    try {
      while (this.#next()) {
        cb(this.#rs, this.#re, this.#rc);
        if (this.#fd < 0) throw new ClosedError('PagemapQuery'); // closed by the callback
      }
      return this.#pages;
    } finally {
      this.#busy = false;
    }
  }

  /** The same regions as objects, lazily: one ioctl per PMD_SIZE / PAGE_SIZE regions. */
  regions(start: number, end: number): Generator<PagemapRegion, number, undefined> {
    PagemapQuery.#brand(this);
    // Bad arguments throw here, at the call; the scan itself starts with the first next().
    this.#check(start, end);
    return this.#regions(start, end);
  }

  *#regions(start: number, end: number): Generator<PagemapRegion, number, undefined> {
    this.#begin(start, end);
    try {
      while (this.#next()) {
        yield { start: this.#rs, end: this.#re, categories: this.#rc };
        if (this.#fd < 0) throw new ClosedError('PagemapQuery'); // closed between two next()
      }
      return this.#pages;
    } finally {
      this.#busy = false;
    }
  }

  /** Number of matching pages in [start, end) (a `forEach` without a callback). */
  count(start: number, end: number): number {
    PagemapQuery.#brand(this);
    this.#begin(start, end);
    try {
      while (this.#next());
      return this.#pages;
    } finally {
      this.#busy = false;
    }
  }

  /** ERR_INVALID_THIS for a method or getter called on something that is not a PagemapQuery. */
  static #brand(self: unknown): void {
    if (typeof self !== 'object' || self === null || !(#fd in self)) throw new InvalidThisError('PagemapQuery');
  }

  #mask(name: string, value: unknown, fallback: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number') throw new InvalidArgTypeError(name, 'of type number', value);
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new OutOfRangeError(name, 'a bitmask of PAGE_IS categories', value);
    const unknown = value & ~this.accepted;
    if (unknown !== 0) {
      throw new UnsupportedError(
        `this kernel's PAGEMAP_SCAN does not know ${categoryNames(unknown).map((n) => `PAGE_IS_${n}`).join(', ') || `0x${unknown.toString(16)}`} ` +
          `(accepted: 0x${this.accepted.toString(16)}; SOFT_DIRTY needs Linux 6.8, GUARD 6.16, ACCESSED 7.3): leave it out of ${name}`,
      );
    }
    return value;
  }

  #check(start: number, end: number): void {
    if (this.#fd < 0) throw new ClosedError('PagemapQuery');
    if (this.#busy) {
      throw new WriteWatchError('ERR_INVALID_STATE', 'a scan of this PagemapQuery is already running (it owns one region vector): finish it or use another query');
    }
    if (typeof start !== 'number') throw new InvalidArgTypeError('start', 'of type number', start);
    if (typeof end !== 'number') throw new InvalidArgTypeError('end', 'of type number', end);
    if (!Number.isInteger(start) || start < 0 || start > MAX_ADDRESS || start % this.pageSize !== 0) {
      throw new OutOfRangeError('start', `a page-aligned address below 2^56`, start);
    }
    if (!Number.isInteger(end) || end < start || end > MAX_ADDRESS) {
      throw new OutOfRangeError('end', `an address >= start and below 2^56`, end);
    }
  }

  #begin(start: number, end: number): void {
    this.#check(start, end);
    this.#busy = true;
    this.#cur = start;
    this.#end = Math.ceil(end / this.pageSize) * this.pageSize;
    this.#remaining = this.maxPages > 0 ? this.maxPages : Infinity;
    this.#lastEnd = start;
    this.#n = 0;
    this.#i = 0;
    this.#walked = start >= this.#end;
    this.#walkEnd = start;
    this.#pages = 0;
    this.#has = false;
    put64(this.#arg32, PM_SCAN_ARG.end, this.#end);
  }

  /** Advances to the next coalesced region; false when the walk is over. */
  #next(): boolean {
    const vec32 = this.#vec32;
    for (;;) {
      while (this.#i < this.#n) {
        const j = 6 * this.#i++;
        let s = vec32[j] + vec32[j + 1] * 4294967296;
        const e = vec32[j + 2] + vec32[j + 3] * 4294967296;
        const c = vec32[j + 4]; // categories fit in the low word
        // A stale walk_end can make the kernel walk a range twice: never report a page twice.
        if (e <= this.#lastEnd) continue;
        if (s < this.#lastEnd) s = this.#lastEnd;
        this.#lastEnd = e;
        const pages = (e - s) / this.pageSize;
        this.#pages += pages;
        this.#remaining -= pages;
        // Regions split by an ioctl boundary are merged back.
        if (this.#has && s === this.#pe && c === this.#pc) {
          this.#pe = e;
          continue;
        }
        const had = this.#has;
        this.#rs = this.#ps;
        this.#re = this.#pe;
        this.#rc = this.#pc;
        this.#has = true;
        this.#ps = s;
        this.#pe = e;
        this.#pc = c;
        if (had) return true;
      }
      if (this.#walked) {
        if (!this.#has) return false;
        this.#has = false;
        this.#rs = this.#ps;
        this.#re = this.#pe;
        this.#rc = this.#pc;
        return true;
      }
      this.#call();
    }
  }

  /** One PAGEMAP_SCAN from `#cur`; leaves its regions in the vector and decides where to resume. */
  #call(): void {
    // A callback may have closed the query mid-walk: say so, never ioctl fd -1 (EBADF).
    if (this.#fd < 0) {
      this.#walked = true;
      this.#n = 0;
      this.#has = false;
      throw new ClosedError('PagemapQuery');
    }
    const arg32 = this.#arg32;
    const cur = this.#cur;
    put64(arg32, PM_SCAN_ARG.start, cur);
    put64(arg32, PM_SCAN_ARG.max_pages, this.#remaining === Infinity ? 0 : this.#remaining);
    const n = pagemapScan(this.#fd, this.#arg);
    if (n < 0) {
      const err = lastError('ioctl', `PAGEMAP_SCAN [0x${cur.toString(16)}, 0x${this.#end.toString(16)})`);
      this.#walked = true;
      this.#n = 0;
      this.#has = false;
      throw err;
    }
    // No region can also mean the target exited: some kernels answer that with success and an
    // empty vector instead of ESRCH, so an empty answer is checked (one 8-byte read).
    if (n === 0) assertAddressSpaceAlive(this.#fd, `PAGEMAP_SCAN [0x${cur.toString(16)}, 0x${this.#end.toString(16)})`);
    this.#n = n;
    this.#i = 0;
    // Budget of the regions just returned (read ahead of #next, which only clips duplicates).
    let pages = 0;
    let lastEnd = this.#lastEnd;
    for (let k = 0; k < n; k++) {
      const j = 6 * k;
      const s = this.#vec32[j] + this.#vec32[j + 1] * 4294967296;
      const e = this.#vec32[j + 2] + this.#vec32[j + 3] * 4294967296;
      if (e <= lastEnd) continue;
      pages += (e - (s < lastEnd ? lastEnd : s)) / this.pageSize;
      lastEnd = e;
    }
    if (this.#remaining - pages <= 0) {
      this.#walked = true;
      this.#walkEnd = lastEnd;
      return;
    }
    // walk_end can be stale (short) after a multi-buffer walk: never resume before the last region.
    let next = get64(arg32, PM_SCAN_ARG.walk_end);
    if (next < lastEnd) next = lastEnd;
    if (next >= this.#end) {
      this.#walked = true;
      this.#walkEnd = this.#end;
    } else if (n === 0 && next <= cur) {
      // Only WP_MATCHING on hugetlb can stall a walk; a read-only query should never get here.
      debug('PAGEMAP_SCAN made no progress at 0x%s', cur.toString(16));
      this.#walked = true;
      this.#walkEnd = cur;
    } else {
      this.#cur = next;
    }
  }
}
