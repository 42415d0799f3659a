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
 */
import { isMainThread } from 'node:worker_threads';
import createDebug from 'debug';
import { SystemCallError } from '../../errors.js';
import { MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../sys/libc/abi.js';
import { lastError } from '../../sys/libc/errno.js';
import { getPageSize } from '../../sys/libc/libc.js';
import { mem, MREMAP_MAYMOVE } from './mem.js';

const debug = createDebug('writewatch:compare');

/**
 * The shadow starts skew(page) past a multiple of WINDOW from its partner (see above), a whole
 * number of pages: with a fixed 4096 the shadow started mid-page on 16 KiB pages, the munmap in
 * front of it took its first page, and the first compare faulted (SIGSEGV, arm64-16k).
 */
const WINDOW = 256 * 2 ** 20;
const skew = (page: number) => 66 * 2 ** 20 + page;

/** Unmaps the shadow of a WriteWatch dropped without close(). */
const dropped = new FinalizationRegistry<{ address: number; length: number }>((m) => {
  debug('shadow collected without close(): unmapping 0x%s', m.address.toString(16));
  live.delete(m);
  mem().munmap(m.address, m.length);
});

/**
 * This thread's shadows. A worker that exits without closing its WriteWatches is torn down
 * without running FinalizationRegistry callbacks: its 'exit' event unmaps them instead (nothing
 * but this thread's trackers reads them). A process's exit unmaps everything anyway.
 */
const live = new Set<{ address: number; length: number }>();
let unmapOnExit = false;

function adopt(m: { address: number; length: number }): void {
  live.add(m);
  if (isMainThread || unmapOnExit) return;
  unmapOnExit = true;
  process.on('exit', () => {
    for (const x of live) mem().munmap(x.address, x.length);
    live.clear();
  });
}

export class Shadow {
  /** What the registry unmaps: updated when grow() moves the shadow. */
  readonly #m: { address: number; length: number };
  #released = false;

  private constructor(address: number, length: number) {
    this.#m = { address, length };
    dropped.register(this, this.#m, this);
    adopt(this.#m);
  }

  /** A zero-filled shadow of `length` bytes for the memory at `partner`. */
  static map(length: number, partner: number): Shadow {
    const m = mem();
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    let p = m.mmap(0, length + WINDOW, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p !== -1) {
      // Keep [s, s + length) at the skewed distance; give the rest of the window back.
      const s = p + ((((skew(getPageSize()) - (p - partner)) % WINDOW) + WINDOW) % WINDOW);
      if (s > p) m.munmap(p, s - p);
      m.munmap(s + length, p + length + WINDOW - (s + length));
      p = s;
    } else {
      p = m.mmap(0, length, PROT_READ | PROT_WRITE, flags, -1, 0); // no room for the window: anywhere
      if (p === -1) throw lastError('mmap', `${length}-byte shadow`);
    }
    m.madvise(p, length, MADV_NOHUGEPAGE); // advisory: without THP support it fails, harmlessly
    debug('shadow 0x%s +0x%s', p.toString(16), length.toString(16));
    return new Shadow(p, length);
  }

  get address(): number {
    return this.#m.address;
  }

  get length(): number {
    return this.#m.length;
  }

  /** Grows the shadow to `length` bytes, keeping its content; the new part reads as zeros. */
  grow(length: number): void {
    if (this.#released) throw new SystemCallError('mremap', 9 /* EBADF */, 'shadow released');
    const m = this.#m;
    if (length <= m.length) return;
    const p = mem().mremap(m.address, m.length, length, MREMAP_MAYMOVE);
    if (p === -1) throw lastError('mremap', `shadow to ${length} bytes`);
    mem().madvise(p, length, MADV_NOHUGEPAGE);
    debug('shadow grew to 0x%s +0x%s', p.toString(16), length.toString(16));
    m.address = p;
    m.length = length;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    dropped.unregister(this);
    live.delete(this.#m);
    if (mem().munmap(this.#m.address, this.#m.length) !== 0) debug('munmap of the shadow failed');
  }
}
