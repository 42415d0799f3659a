/**
 * A write-protect tracker: one userfaultfd in async write-protect mode holding [start, end), read
 * (and re-armed) with PAGEMAP_SCAN. The protocol around each scan keeps a failed call from changing
 * anything: the range is checked mapped (msync) and, before a reset that cannot be undone,
 * registered; a reset into an array is undone instead of checked first (ResetGuard); a pagemap fd
 * number closed or replaced behind our back is re-opened and the call run again while nothing was
 * changed yet; an empty answer is confirmed to come from our own pagemap (pagemapStillOurs).
 */
import createDebug from 'debug';
import { LostError } from '../../errors.js';
import { pagemapStillOurs, selfScanner } from '../../sys/pagemap/self.js';
import type { ResetGuard, WrittenScanner } from '../../sys/pagemap/written.js';
import type { Userfaultfd } from '../../sys/uffd/userfaultfd.js';
import { ownsByFd } from '../../sys/uffd/owns.js';
import type { Query, Sink, Tracker } from '../contract.js';
import { assertRegisteredAt, assertTrackedAt, lostFromWriteProtect, pagemapReplaced } from './lost.js';

const debug = createDebug('writewatch:uffd');

/** ResetWriteWatch wants the re-arming, not the list. */
const discard: Sink = { region() {}, restart() {} };

export class WriteProtectTracker implements Tracker {
  readonly #uffd: Userfaultfd;
  readonly #start: number;
  #end: number;
  /** The range assertTrackedAt last checked, with msync's arguments as bigints made once per range. */
  #checked = { start: 0, end: 0, addr: 0n, len: 0n };
  /** get/getInto's resets are undone on failure instead of checked first (see ResetGuard). */
  readonly #guard: ResetGuard;

  constructor(uffd: Userfaultfd, start: number, end: number) {
    this.#uffd = uffd;
    this.#start = start;
    this.#end = end;
    this.#guard = {
      check: assertRegisteredAt,
      // Write-protection off: the pages read as written again, as before the call.
      undo: (b) => uffd.writeProtect(b[3], b[4] - b[3], false),
    };
  }

  /** The userfaultfd's slot in the registry's descriptor table (the claim records it for reapers). */
  get fdSlot(): number {
    return this.#uffd.slot;
  }

  /** The thread's scanner, with the query's [start, end, origin] in its bounds. */
  #scanner(q: Query): WrittenScanner {
    const scanner = selfScanner();
    const b = scanner.bounds;
    b[0] = q.bounds[0];
    b[1] = q.bounds[1];
    b[2] = q.bounds[2];
    return scanner;
  }

  scan(q: Query): void {
    const scanner = this.#scanner(q);
    scanner.into = q.into;
    scanner.count = q.count;
    try {
      this.#scan(scanner, q);
      q.count = scanner.count;
    } finally {
      scanner.into = null;
      scanner.guard = null;
    }
  }

  #scan(scanner: WrittenScanner, q: Query): void {
    const sink = q.into !== null ? null : (q.sink ?? discard);
    const k = scanner.count;
    // Into an array, a reset is undone if the walk finds tracking lost: only holes are checked first.
    const guarded = sink === null;
    let checked = false;
    scanner.guard = guarded ? this.#guard : null;
    try {
      this.#assertTracked(scanner.bounds, q.reset && !guarded);
      checked = true;
      const n = scanner.scanBounds(q.reset, q.maxPages, sink);
      // "Nothing written" is also what a number dup2'ed to another process's pagemap answers.
      if (n === 0 && !pagemapStillOurs()) {
        scanner.guard = null;
        this.#scan(scanner, q);
      }
    } catch (e) {
      scanner.guard = null;
      // A guarded scan that failed has undone its resets: it changed nothing and may run again.
      if (!pagemapReplaced(e)) throw e;
      if (checked && !guarded && q.reset) {
        // Another thread replaced the fd during an unguarded reset: pages may be re-armed already.
        throw new LostError('the /proc/self/pagemap descriptor was replaced during a reset', { cause: e });
      }
      scanner.count = k;
      sink?.restart();
      this.#scan(scanner, q);
    }
  }

  reset(q: Query): void {
    const scanner = this.#scanner(q);
    try {
      this.#assertTracked(scanner.bounds, true);
    } catch (e) {
      if (!pagemapReplaced(e)) throw e;
      this.reset(q); // nothing was reset yet: again, on a fresh pagemap fd
      return;
    }
    // PAGEMAP_SCAN WP_MATCHING re-protects only the pages written since the last reset, where
    // UFFDIO_WRITEPROTECT rewrites every PTE of the range (npm run bench, "ResetWriteWatch
    // implementations"). With a vector: the vec_len 0 form oopses kernels before the September 2025
    // fix on a partly covered THP, and tracked JS memory can be THP.
    scanner.scanBounds(true, 0, discard);
  }

  /** Throws LostError unless the bounds are still mapped and, before a reset, registered. */
  #assertTracked(b: Float64Array, modifies: boolean): void {
    let p = this.#checked;
    if (p.start !== b[0] || p.end !== b[1]) {
      p = this.#checked = { start: b[0], end: b[1], addr: BigInt(b[0]), len: BigInt(b[1] - b[0]) };
    }
    assertTrackedAt(b, p.addr, p.len, modifies);
  }

  /**
   * The target grew past what was armed up front (a `maxByteLength` smaller than its real maximum).
   * Its new pages may already have been written, so they are registered but not armed: they read as
   * written until reset, which overstates but never loses a write.
   */
  grow(end: number): void {
    if (end <= this.#end) return;
    try {
      this.#uffd.register(this.#end, end - this.#end);
    } catch (e) {
      throw new LostError(
        `the tracked memory grew to 0x${end.toString(16)}, past the 0x${this.#end.toString(16)} armed at track time, and the new part could not be registered`,
        { cause: e },
      );
    }
    debug('grew past the armed range: registered 0x%s..0x%s unarmed', this.#end.toString(16), end.toString(16));
    this.#end = end;
  }

  owns(): boolean {
    return this.#uffd.intact && ownsByFd(this.#uffd.fd, this.#start, this.#end);
  }

  /** The kernel unregisters every range of this userfaultfd, and only those. */
  close(): void {
    try {
      this.#uffd.close();
    } catch (e) {
      debug('closing userfaultfd failed: %o', e);
    }
  }

  /** Un-arms: an un-write-protected page reads as written, so the next call reports it. */
  unreset(q: Query): void {
    this.#uffd.writeProtect(q.bounds[0], q.bounds[1] - q.bounds[0], false);
  }

  /**
   * UFFDIO_WRITEPROTECT over the whole range: unlike a WP_MATCHING scan it also arms pages whose
   * entries MADV_DONTNEED zapped (they read as written until armed again) and 2 MiB page-table
   * holes, which kernels before the July 2026 PAGEMAP_SCAN fixes report as clean and never re-arm.
   */
  rearm(q: Query): void {
    try {
      this.#uffd.writeProtect(q.bounds[0], q.bounds[1] - q.bounds[0]);
    } catch (e) {
      throw lostFromWriteProtect(e, q.bounds[0], q.bounds[1]);
    }
  }
}
