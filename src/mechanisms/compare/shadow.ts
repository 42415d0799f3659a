/**
 * The shadow: the baseline copy the compare mechanism diffs against, in anonymous memory of its
 * own. Mapped MAP_NORESERVE and never prefilled: an untouched shadow page reads as zeros (the
 * kernel's shared zero page) and costs no RSS, so the shadow of never-written memory is free, and
 * only pages whose baseline differs from zero are ever copied into it (see baseline()). Huge
 * pages are refused: re-baselining one page would otherwise commit 2 MiB.
 *
 * Placed so that its distance from the memory it shadows is not a multiple of 256 MiB: mmap puts
 * a new mapping right below the last one, so the shadow of a 1 GiB allocation would start exactly
 * 1 GiB from it, and comparing two streams that far apart ran ~40 % slower here (130 against
 * 90 ms of CPU per GiB, x86_64; measured with bench/lib/compare.mjs and by moving the shadow).
 *
 * Its lifetime is its tracker's (closed by the claim: close(), the garbage collector, the thread's
 * exit). It is recorded in the process registry as library memory of this thread, so that a thread
 * stopped with terminate() does not leave it mapped: the next thread to claim anything unmaps it,
 * if it still carries the wipe-on-fork mark this file sets (ownership/claim.ts).
 */
import createDebug from 'debug';
import { SystemCallError } from '../../errors.js';
import { canTrim, growPages, mapPages, trimPages, unmapPages } from '../../memory/anonymous.js';
import { markMapped } from '../../ownership/claim.js';
import { lastError } from '../../sys/libc/errno.js';
import { getPageSize } from '../../sys/platform.js';
import { KIND, claimRange, releaseRange } from '../../sys/process/registry.js';

const debug = createDebug('writewatch:compare');

/**
 * The shadow starts skew(page) past a multiple of WINDOW from its partner (see above), a whole
 * number of pages: with a fixed 4096 the shadow started mid-page on 16 KiB pages, the munmap in
 * front of it took its first page, and the first compare faulted (SIGSEGV, arm64-16k).
 */
const WINDOW = 256 * 2 ** 20;
const skew = (page: number) => 66 * 2 ** 20 + page;

export class Shadow {
  #address: number;
  #length: number;
  /** Its slot in the process registry (KIND.SHADOW), -1 once released. */
  #slot: number;

  private constructor(address: number, length: number) {
    this.#address = address;
    this.#length = length;
    this.#slot = -1;
    this.#record();
  }

  #record(): void {
    markMapped(this.#address, this.#length);
    try {
      this.#slot = claimRange(this.#address, this.#address + this.#length, KIND.SHADOW);
    } catch (e) {
      unmapPages(this.#address, this.#length);
      throw e;
    }
  }

  /** A zero-filled shadow of `length` bytes for the memory at `partner`. */
  static map(length: number, partner: number): Shadow {
    let p = canTrim ? mapPages(length + WINDOW) : -1;
    if (p !== -1) {
      // Keep [s, s + length) at the skewed distance; give the rest of the window back.
      const s = p + ((((skew(getPageSize()) - (p - partner)) % WINDOW) + WINDOW) % WINDOW);
      trimPages(p, s - p);
      trimPages(s + length, p + length + WINDOW - (s + length));
      p = s;
    } else {
      p = mapPages(length); // no room for the window (or no trimming): anywhere
      if (p === -1) throw process.platform === 'win32' ? new SystemCallError('VirtualAlloc', 12, `${length}-byte shadow`) : lastError('mmap', `${length}-byte shadow`);
    }
    debug('shadow 0x%s +0x%s', p.toString(16), length.toString(16));
    return new Shadow(p, length);
  }

  get address(): number {
    return this.#address;
  }

  get length(): number {
    return this.#length;
  }

  /** Grows the shadow to `length` bytes, keeping its content; the new part reads as zeros. */
  grow(length: number): void {
    if (this.#slot < 0) throw new SystemCallError('mremap', 9 /* EBADF */, 'shadow released');
    if (length <= this.#length) return;
    const p = growPages(this.#address, this.#length, length);
    releaseRange(this.#slot);
    this.#address = p;
    this.#length = length;
    this.#record();
    debug('shadow grew to 0x%s +0x%s', p.toString(16), length.toString(16));
  }

  release(): void {
    if (this.#slot < 0) return;
    releaseRange(this.#slot);
    this.#slot = -1;
    if (!unmapPages(this.#address, this.#length)) debug('unmapping the shadow failed');
  }
}
