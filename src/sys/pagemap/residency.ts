/**
 * Residency of a whole process: for each VMA of `/proc/<pid>/maps`, how many pages are present,
 * swapped, the shared zero page, huge, file-backed; optionally a coarse picture (buckets of pages).
 * One read-only PAGEMAP_SCAN walk per VMA, asking only for pages that exist (present, swapped or
 * guard), so untouched reservations (V8 cages, wasm memories) cost one ioctl each.
 */
import createDebug from 'debug';
import { PAGE_IS } from './abi.js';
import { assertAddressSpaceAlive } from './alive.js';
import { acceptedCategories } from './categories.js';
import { InvalidArgTypeError, InvalidArgValueError, OutOfRangeError, unreadable } from '../../errors.js';
import { checkPid, readMaps, type MapsEntry } from '../proc/maps.js';
import { PagemapQuery, type QueryOptions } from './query.js';
import { closeFd, openPagemap } from './raw.js';

const debug = createDebug('writewatch:pagemap');

/** Page classes of the picture, in the order of `MappingResidency.buckets`' stride. */
export const CLASS = { PRESENT: 0, ZERO: 1, HUGE: 2, SWAPPED: 3, GUARD: 4, WRITTEN: 5 } as const;
export const CLASSES = 6;

export interface MappingResidency extends MapsEntry {
  /** Pages in the mapping. */
  pages: number;
  /** PAGE_IS_PRESENT: mapped pages, the shared zero page and huge pages included. */
  resident: number;
  /**
   * PAGE_IS_SWAPPED minus guard markers: swapped-out pages, and also the uffd-wp markers that
   * write-watched memory keeps in never-touched pages (the kernel reports both as swap entries).
   */
  swapped: number;
  /** PAGE_IS_PFNZERO: read but never written anonymous pages backed by the shared zero page. */
  zero: number;
  /** PAGE_IS_HUGE and present: pages of PMD-mapped THPs or hugetlb pages. */
  huge: number;
  /** PAGE_IS_FILE and present: page-cache pages (shared, or private and not yet copied on write). */
  file: number;
  /** PAGE_IS_GUARD (Linux 6.16+): MADV_GUARD_INSTALL pages. */
  guard: number;
  /** The VMA is registered for userfaultfd async write-protect (PAGE_IS_WPALLOWED), e.g. a WriteWatch. */
  tracked: boolean;
  /** For tracked VMAs: pages written since last write-protected (what GetWriteWatch would report). */
  written: number;
  /** False when the kernel cannot walk it ([vsyscall], above the user address space). */
  scanned: boolean;
  /**
   * With `buckets > 0`: per bucket of adjacent pages, the page count of each class
   * (`CLASSES` numbers per bucket, indexed by `CLASS`). The classes are exclusive: a written page
   * of a write-watched VMA is WRITTEN, not PRESENT.
   */
  buckets?: Float64Array;
}

export interface ProcessResidency {
  pid: number | 'self';
  pageSize: number;
  /** The category bits this kernel accepts. */
  categories: number;
  mappings: MappingResidency[];
}

export interface ResidencyOptions {
  /** Buckets per mapping for a picture (one per page when the mapping is smaller); 0: none. */
  buckets?: number;
}

/**
 * Reads `/proc/<pid>/maps` and scans `/proc/<pid>/pagemap` (PTRACE_MODE_READ on the target).
 * ENOENT for a process that does not exist, EACCES when it may not be inspected.
 */
export function scanResidency(pid: number | 'self' = 'self', options?: ResidencyOptions): ProcessResidency {
  // Arguments first, each read once (a getter or Proxy trap runs here, before anything is opened).
  pid = checkPid(pid);
  const buckets = readBuckets(options);
  // pagemap first: a refused open is the clearer error (maps of a foreign process may read empty).
  const fd = openPagemap(pid);
  try {
    const maps = readMaps(pid);
    // The maps of an exited process read empty, and some kernels' PAGEMAP_SCAN says nothing
    // either (no ESRCH): without this check a dead process would be an empty, valid answer.
    assertAddressSpaceAlive(fd, `/proc/${pid}/pagemap`);
    return scanMappings(fd, pid, maps, buckets);
  } finally {
    closeFd(fd);
  }
}

/** The most buckets per mapping a picture may ask for. */
export const MAX_BUCKETS = 65536;

/** `options.buckets`, read once: a non-negative safe integer (default 0). */
function readBuckets(options: unknown): number {
  if (options === undefined) return 0;
  if (options === null || typeof options !== 'object') throw new InvalidArgTypeError('options', 'of type object', options);
  let b: unknown;
  try {
    b = (options as ResidencyOptions).buckets;
  } catch (e) {
    throw unreadable('options', options, e);
  }
  if (b === undefined) return 0;
  if (typeof b !== 'number') throw new InvalidArgTypeError('options.buckets', 'of type number', b);
  // Bounded: a picture is for reading, and 6 doubles per bucket of every mapping (a V8 cage has
  // 2^28 pages) would otherwise fail in the allocator with a bare RangeError.
  if (!Number.isSafeInteger(b) || b < 0 || b > MAX_BUCKETS) throw new OutOfRangeError('options.buckets', `an integer >= 0 and <= ${MAX_BUCKETS}`, b);
  return b;
}

/**
 * The query behind the counts, from the bits this kernel accepts: GUARD (6.16+) only where it
 * exists, SOFT_DIRTY never (it would split regions without changing any count).
 */
export function residencyQuery(accepted: number): QueryOptions {
  const guard = accepted & PAGE_IS.GUARD;
  return {
    // Only pages that exist: pte_none holes are WRITTEN on current kernels and would flood the output.
    anyOf: PAGE_IS.PRESENT | PAGE_IS.SWAPPED | guard,
    // WRITTEN only splits regions inside write-watched VMAs: elsewhere every entry is "written".
    returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED | PAGE_IS.PFNZERO | PAGE_IS.HUGE | PAGE_IS.FILE | PAGE_IS.WPALLOWED | PAGE_IS.WRITTEN | guard,
  };
}

function scanMappings(fd: number, pid: number | 'self', maps: MapsEntry[], width: number): ProcessResidency {
  const accepted = acceptedCategories(fd);
  const guard = accepted & PAGE_IS.GUARD;
  const existing = new PagemapQuery(fd, residencyQuery(accepted));
  const written = new PagemapQuery(fd, { required: PAGE_IS.WPALLOWED | PAGE_IS.WRITTEN, returnMask: 0 });
  const page = existing.pageSize;
  const out: MappingResidency[] = [];
  const t0 = performance.now();
  for (const m of maps) {
    const r: MappingResidency = {
      ...m,
      pages: 0, resident: 0, swapped: 0, zero: 0, huge: 0, file: 0, guard: 0, tracked: false, written: 0,
      scanned: Number.isFinite(m.start) && Number.isFinite(m.end),
    };
    out.push(r);
    r.pages = Number((BigInt(`0x${m.endHex}`) - BigInt(`0x${m.startHex}`)) / BigInt(page));
    if (!r.scanned) continue;
    const n = width > 0 ? Math.min(width, r.pages) : 0;
    const buckets = n > 0 ? new Float64Array(n * CLASSES) : undefined;
    if (buckets) r.buckets = buckets;
    const first = m.start / page;
    try {
      existing.forEach(m.start, m.end, (start, end, c) => {
        const pages = (end - start) / page;
        let cls: number = CLASS.PRESENT;
        if (c & PAGE_IS.PRESENT) {
          r.resident += pages;
          if (c & PAGE_IS.PFNZERO) (r.zero += pages), (cls = CLASS.ZERO);
          if (c & PAGE_IS.HUGE) (r.huge += pages), (cls = CLASS.HUGE);
          if (c & PAGE_IS.FILE) r.file += pages;
        } else if (c & guard) {
          r.guard += pages;
          cls = CLASS.GUARD;
        } else if (c & PAGE_IS.SWAPPED) {
          r.swapped += pages;
          cls = CLASS.SWAPPED;
        }
        if (c & PAGE_IS.WPALLOWED) {
          r.tracked = true;
          if (c & PAGE_IS.WRITTEN) cls = CLASS.WRITTEN;
        }
        if (buckets) addToBuckets(buckets, n, r.pages, start / page - first, end / page - first, cls);
      });
      if (r.tracked) r.written = written.count(m.start, m.end);
    } catch (e) {
      // The VMA vanished or changed between reading maps and scanning: report it as not scanned.
      debug('scan of %s-%s failed: %s', m.startHex, m.endHex, (e as Error).message);
      if ((e as { code?: string }).code !== 'EFAULT') throw e;
      r.scanned = false;
    }
  }
  debug('scanned %d mappings of %s in %s ms', out.length, pid, (performance.now() - t0).toFixed(1));
  return { pid, pageSize: page, categories: accepted, mappings: out };
}

/** Adds pages [p0, p1) (relative to the mapping) of class `cls` to `n` buckets over `total` pages. */
function addToBuckets(b: Float64Array, n: number, total: number, p0: number, p1: number, cls: number): void {
  // Bucket k covers pages [ceil(k·total/n), ceil((k+1)·total/n)).
  let k = Math.floor((p0 * n) / total);
  while (p0 < p1) {
    const kEnd = Math.ceil(((k + 1) * total) / n);
    const upto = kEnd < p1 ? kEnd : p1;
    if (upto > p0) {
      b[k * CLASSES + cls] += upto - p0;
      p0 = upto;
    }
    k++;
  }
}

/** Pages in bucket `k` of `n` over `total` pages. */
export function bucketPages(k: number, n: number, total: number): number {
  return Math.ceil(((k + 1) * total) / n) - Math.ceil((k * total) / n);
}
