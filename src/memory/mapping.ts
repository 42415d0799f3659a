/**
 * Anonymous memory the library maps itself, and the ArrayBuffers JS gets over it. The danger is a
 * view touched after munmap: that is a SIGSEGV, not an exception. So release() first detaches every
 * view it handed out; only when all are detached does it unmap at once. Otherwise (no detach
 * support) it maps a fresh zero-filled placeholder over the range, so stale views read zeros and
 * their writes go nowhere, and unmaps when the last view is garbage-collected.
 */
import createDebug from 'debug';
import koffi from 'koffi';
import { constants } from 'node:buffer';
import { MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../libc/abi.js';
import { OutOfRangeError, SystemCallError } from '../errors.js';
import { check, lastError } from '../libc/errno.js';
import { libc } from '../libc/libc.js';
import { detach } from './detach.js';

const MAX_LENGTH = constants.MAX_LENGTH;

const debug = createDebug('writewatch:memory');

interface Views {
  refs: Set<WeakRef<ArrayBuffer>>;
  live: number;
  /** Unmap when `live` drops to 0 (set by release() when a view could not be detached, or by `autoRelease`). */
  unmapWhenUnreachable: boolean;
  unmapped: boolean;
  address: bigint;
  length: number;
}

const collected = new FinalizationRegistry<{ views: Views; ref: WeakRef<ArrayBuffer> }>(({ views, ref }) => {
  views.refs.delete(ref);
  views.live--;
  if (views.live === 0 && views.unmapWhenUnreachable) unmap(views);
});

function unmap(views: Views): void {
  if (views.unmapped) return;
  views.unmapped = true;
  if (libc().munmap(views.address, views.length) < 0) debug('munmap failed: %s', lastError('munmap').code);
  else debug('unmapped 0x%s +0x%s', views.address.toString(16), views.length.toString(16));
}

export interface MapOptions {
  prot?: number;
  /** Do not reserve swap for the range (reserved-only memory, placeholders). */
  noReserve?: boolean;
  /** Unmap once every view was garbage-collected even without release() (owner dropped without close). */
  autoRelease?: boolean;
  /** Map exactly here (page-aligned) or fail with EEXIST if anything is mapped there (MAP_FIXED_NOREPLACE). */
  at?: bigint;
}

export class Mapping {
  readonly address: number;
  readonly length: number;
  readonly #views: Views;
  #released = false;

  private constructor(address: bigint, length: number, autoRelease: boolean) {
    this.address = Number(address);
    this.length = length;
    this.#views = { refs: new Set(), live: 0, unmapWhenUnreachable: autoRelease, unmapped: false, address, length };
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
    return new Mapping(p, length, options.autoRelease ?? false);
  }

  get released(): boolean {
    return this.#released;
  }

  /** An ArrayBuffer over [offset, offset + length) of the mapping; detached by release(). */
  view(offset = 0, length = this.length - offset): ArrayBuffer {
    if (this.#released) throw new Error('mapping released');
    if (length === 0) return new ArrayBuffer(0); // koffi.view must never see an empty range it cannot back
    // Past the largest ArrayBuffer (4 GiB on Node 20) koffi.view aborts the process (FATAL ERROR in N-API).
    if (length > MAX_LENGTH) throw new OutOfRangeError('length', `<= ${MAX_LENGTH} (buffer.constants.MAX_LENGTH: the largest ArrayBuffer)`, length);
    const ab = koffi.view(BigInt(this.address + offset), length);
    const ref = new WeakRef(ab);
    this.#views.refs.add(ref);
    this.#views.live++;
    collected.register(ab, { views: this.#views, ref }, ref);
    return ab;
  }

  /** Unmaps now if every view handed out could be detached; else placeholder + unmap after GC. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const views = this.#views;
    let alive = 0;
    for (const ref of views.refs) {
      const ab = ref.deref();
      if (ab && !detach(ab)) alive++;
      else {
        collected.unregister(ref);
        views.refs.delete(ref);
        views.live--;
      }
    }
    if (alive === 0) {
      unmap(views);
      return;
    }
    // Stale views must not fault: replace the pages with fresh zero pages at the same address.
    const p = libc().mmap(views.address, views.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (p === MAP_FAILED) throw lastError('mmap', 'placeholder');
    views.unmapWhenUnreachable = true;
    debug('placeholder over 0x%s: %d views still reachable', views.address.toString(16), alive);
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
