/**
 * Anonymous memory the library maps itself on Linux (mmap), and the ArrayBuffers JS gets over it,
 * freed safely by views.ts: munmap when no view is reachable, else a fresh zero-filled
 * MAP_NORESERVE placeholder mapped over the range in one step (MAP_FIXED: the address is never free
 * in between), which frees the memory's pages at once, keeps the address range ours and takes any
 * late native write, until the last view object is collected.
 */
import createDebug from 'debug';
import { constants } from 'node:buffer';
import { MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../sys/libc/abi.js';
import { InvalidArgTypeError, OutOfRangeError, SystemCallError } from '../errors.js';
import { check, lastError } from '../sys/libc/errno.js';
import { libc } from '../sys/libc/libc.js';
import { pageCeil } from './pages.js';
import { heldMemory, pinnedMemory, Views, type Freeing } from './views.js';

/**
 * The largest ArrayBuffer this Node makes (buffer.constants.MAX_LENGTH): 2^32 on Node 20, 2^53 - 1
 * on 22, 24 and 26. Past it koffi.view aborts the process (FATAL ERROR in N-API), so no view and
 * no WriteWatch.allocate may be larger.
 */
export const MAX_VIEW_LENGTH = constants.MAX_LENGTH;
const MAX_LENGTH = MAX_VIEW_LENGTH;

/** How MAX_VIEW_LENGTH reads in a message: the value, its name and this Node's version. */
export function maxViewLengthText(): string {
  const v = MAX_LENGTH === 2 ** 32 ? '2 ** 32' : MAX_LENGTH === Number.MAX_SAFE_INTEGER ? '2 ** 53 - 1' : String(MAX_LENGTH);
  return `<= ${v} (buffer.constants.MAX_LENGTH, the largest ArrayBuffer on Node ${process.versions.node})`;
}

/**
 * allocate's byteLength: a positive integer whose page-rounded length fits one ArrayBuffer.
 * Returns that rounded length. Checked before anything is mapped, so the answer never depends on
 * how much memory the machine has (an mmap first would be ENOMEM on a small machine), and the
 * message names this Node's bound (2 ** 32 on Node 20, 2 ** 53 - 1 on 22+).
 */
export function checkAllocationLength(name: string, value: unknown, page: number): number {
  if (typeof value !== 'number') throw new InvalidArgTypeError(name, 'of type number', value);
  const length = pageCeil(value, page);
  if (!Number.isSafeInteger(value) || value < 1 || length > MAX_LENGTH) {
    throw new OutOfRangeError(name, `an integer >= 1 and ${maxViewLengthText()} once rounded up to whole pages`, value);
  }
  return length;
}

const debug = createDebug('writewatch:memory');

/** Linux's way of freeing (views.ts): munmap, or a placeholder over the range while a view may still reach it. */
const linux: Freeing = {
  free(address, length) {
    if (libc().munmap(BigInt(address), length) < 0) debug('munmap failed: %s', lastError('munmap').code);
    else debug('unmapped 0x%s +0x%s', address.toString(16), length.toString(16));
  },
  hold(address, length) {
    // Stale pointers must neither fault nor reach memory mapped later for someone else.
    const p = libc().mmap(BigInt(address), length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    // Without a placeholder (ENOMEM: vm.max_map_count) the memory itself stays until then: safe, only dearer.
    if (p === MAP_FAILED) debug('placeholder failed (%s): keeping the memory mapped', lastError('mmap').code);
  },
};

/** How many released mappings still hold their address range (placeholder or memory) for a view. */
export const heldMappings = heldMemory;

/** How many ranges are kept as placeholders for good because a view of them was (or may be) transferred. */
export const pinnedMappings = pinnedMemory;

export interface MapOptions {
  prot?: number;
  /** Do not reserve swap for the range (reserved-only memory, placeholders). */
  noReserve?: boolean;
  /** Unmap once every view was garbage-collected even without release() (owner dropped without close). */
  autoRelease?: boolean;
  /** Map exactly here (page-aligned) or fail with EEXIST if anything is mapped there (MAP_FIXED_NOREPLACE). */
  at?: bigint;
  /**
   * Asked before every unmap and placeholder: false when the memory may have been unmapped behind
   * our back and mapped again for someone else, who must not lose it (issue 9, case 1).
   */
  owned?: () => boolean;
}

export class Mapping {
  readonly address: number;
  readonly length: number;
  readonly #views: Views;

  private constructor(address: bigint, length: number, autoRelease: boolean) {
    this.address = Number(address);
    this.length = length;
    this.#views = new Views(this.address, length, linux, autoRelease);
  }

  /** mmap(NULL, length, prot, MAP_PRIVATE | MAP_ANONYMOUS). Throws ENOMEM & co. as system errors. */
  static anonymous(length: number, options: MapOptions = {}): Mapping {
    const flags =
      MAP_PRIVATE | MAP_ANONYMOUS | (options.noReserve ? MAP_NORESERVE : 0) | (options.at !== undefined ? MAP_FIXED_NOREPLACE : 0);
    const p = libc().mmap(options.at ?? null, length, options.prot ?? PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p === MAP_FAILED || p === null) throw lastError('mmap', `${length} bytes`);
    if (options.at !== undefined && p !== options.at) {
      // Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and treat the address as a hint.
      libc().munmap(p, length);
      throw new SystemCallError('mmap', 17 /* EEXIST */, `0x${options.at.toString(16)} is occupied`);
    }
    debug('mapped 0x%s +0x%s', p.toString(16), length.toString(16));
    const m = new Mapping(p, length, options.autoRelease ?? false);
    m.#views.setOwned(options.owned);
    return m;
  }

  /** Sets (or replaces) the ownership check of MapOptions.owned after mapping. */
  setOwned(owned: () => boolean): void {
    this.#views.setOwned(owned);
  }

  get released(): boolean {
    return this.#views.released;
  }

  /** An ArrayBuffer over [offset, offset + length) of the mapping; detached by release(). */
  view(offset = 0, length = this.length - offset): ArrayBuffer {
    if (length > MAX_LENGTH) throw new OutOfRangeError('length', maxViewLengthText(), length);
    return this.#views.view(offset, length);
  }

  /**
   * Detaches every view handed out; unmaps now if none is reachable any more, else maps the
   * placeholder and unmaps once the last view object is collected. Idempotent.
   */
  release(): void {
    this.#views.release();
  }

  /** The owner was collected without release(): see Views.orphan(). */
  orphan(): void {
    this.#views.orphan();
  }

  /** mprotect a page-aligned sub-range. */
  protect(offset: number, length: number, prot: number): void {
    check(libc().mprotect(BigInt(this.address + offset), length, prot), 'mprotect');
  }

  /** madvise a page-aligned sub-range. */
  advise(offset: number, length: number, advice: number): void {
    check(libc().madvise(BigInt(this.address + offset), length, advice), 'madvise');
  }
}
