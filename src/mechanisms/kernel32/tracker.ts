/**
 * A Tracker over one VirtualAlloc(MEM_WRITE_WATCH) allocation: scan is GetWriteWatch (with
 * WRITE_WATCH_FLAG_RESET for q.reset, q.maxPages as *lpdwCount), reset is ResetWriteWatch. Windows
 * keeps the dirty state; this holds nothing but the range.
 *
 * Loss: GetWriteWatch and ResetWriteWatch fail with ERROR_INVALID_PARAMETER when the range is no
 * longer inside one write-watch allocation (freed behind our back, VirtualFree'd by another thread):
 * that is LostError, never "all clean". A failed call changed nothing.
 */
import { LostError, UnsupportedError } from '../../errors.js';
import { win32ErrorName } from '../../sys/kernel32/abi.js';
import { kernel32 } from '../../sys/kernel32/raw.js';
import type { Query, Tracker } from '../contract.js';
import type { Kernel32Memory } from '../../memory/windows.js';
import { addressAt, getWriteWatch, stillWatched } from './scan.js';

const PAGE = 4096;

export class Kernel32Tracker implements Tracker {
  readonly #start: number;
  readonly #end: number;
  readonly #memory: Kernel32Memory;
  #closed = false;
  // The query being scanned: read by the batch callback, which is made once (no closure per call).
  #q: Query | null = null;
  #runStart = -1;
  #runEnd = -1;
  readonly #batch: (n: number) => void;

  constructor(memory: Kernel32Memory) {
    this.#memory = memory;
    this.#start = memory.address;
    this.#end = memory.address + memory.length;
    this.#batch = (n) => this.#take(n);
  }

  scan(q: Query): void {
    const start = q.bounds[0];
    const end = q.bounds[1];
    const pages = (end - start) / PAGE;
    let cap = q.maxPages > 0 && q.maxPages < pages ? q.maxPages : pages;
    // Never more than `into` holds: a store past its end would be dropped, and with reset lost.
    if (q.into && cap > q.into.length - q.count) cap = q.into.length - q.count;
    if (cap <= 0) return;
    this.#q = q;
    this.#runStart = this.#runEnd = -1;
    let n: number;
    try {
      n = getWriteWatch(q.reset, start, end, PAGE, cap, this.#batch);
    } finally {
      this.#q = null;
    }
    if (n < 0) throw this.#lost('GetWriteWatch');
    if (q.sink && !q.into && this.#runStart >= 0) q.sink.region(this.#runStart - q.bounds[2], this.#runEnd - q.bounds[2]);
  }

  #take(n: number): void {
    const q = this.#q!;
    const origin = q.bounds[2];
    const into = q.into;
    if (into) {
      let c = q.count;
      for (let i = 0; i < n; i++) into[c++] = addressAt(i) - origin;
      q.count = c;
      return;
    }
    q.count += n;
    const sink = q.sink;
    if (!sink) return;
    // Coalesce ascending pages into runs; a run may continue into the next batch.
    let rs = this.#runStart;
    let re = this.#runEnd;
    for (let i = 0; i < n; i++) {
      const a = addressAt(i);
      if (a === re) {
        re += PAGE;
        continue;
      }
      if (rs >= 0) sink.region(rs - origin, re - origin);
      rs = a;
      re = a + PAGE;
    }
    this.#runStart = rs;
    this.#runEnd = re;
  }

  reset(q: Query): void {
    const start = q.bounds[0];
    if (kernel32().ResetWriteWatch(start, q.bounds[1] - start) !== 0) throw this.#lost('ResetWriteWatch');
  }

  /** ResetWriteWatch re-arms every page, whatever Windows last saw of it. */
  rearm(q: Query): void {
    this.reset(q);
  }

  /** Windows has no call that marks a page written: the caller must deliver before it resets. */
  unreset(): void {
    throw new UnsupportedError('GetWriteWatch cannot be undone on Windows: no call marks a page as written');
  }

  grow(end: number): void {
    // VirtualAlloc'd memory never grows; the front never asks (only track()ed targets grow).
    if (end > this.#end) throw new RangeError(`a kernel32 allocation does not grow (asked to reach 0x${end.toString(16)})`);
  }

  owns(): boolean {
    return !this.#memory.released && stillWatched(this.#start, this.#end);
  }

  close(): void {
    this.#closed = true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #lost(fn: string): LostError {
    const err = kernel32().GetLastError();
    return new LostError(
      `${fn} failed with ${win32ErrorName(err)} (${err}): 0x${this.#start.toString(16)} is no longer a write-watched allocation (it was freed without close())`,
    );
  }
}
