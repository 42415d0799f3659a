/**
 * The shadow: the baseline copy the compare mechanism diffs against, in anonymous memory of its
 * own. Mapped MAP_NORESERVE and never prefilled: an untouched shadow page reads as zeros (the
 * kernel's shared zero page) and costs no RSS, so the shadow of never-written memory is free, and
 * only pages whose baseline differs from zero are ever copied into it (see baseline()). Huge
 * pages are refused: re-baselining one page would otherwise commit 2 MiB.
 */
import createDebug from 'debug';
import { SystemCallError } from '../errors.js';
import { MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../libc/abi.js';
import { lastError } from '../libc/errno.js';
import { mem, MREMAP_MAYMOVE } from './mem.js';

const debug = createDebug('writewatch:compare');

/** Unmaps the shadow of a WriteWatch dropped without close(). */
const dropped = new FinalizationRegistry<{ address: number; length: number }>((m) => {
  debug('shadow collected without close(): unmapping 0x%s', m.address.toString(16));
  mem().munmap(m.address, m.length);
});

export class Shadow {
  /** What the registry unmaps: updated when grow() moves the shadow. */
  readonly #m: { address: number; length: number };
  #released = false;

  private constructor(address: number, length: number) {
    this.#m = { address, length };
    dropped.register(this, this.#m, this);
  }

  static map(length: number): Shadow {
    const m = mem();
    const p = m.mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p === -1) throw lastError('mmap', `${length}-byte shadow`);
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
    if (mem().munmap(this.#m.address, this.#m.length) !== 0) debug('munmap of the shadow failed');
  }
}
