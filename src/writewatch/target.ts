/**
 * What WriteWatch.track() watches, found once from the target: its buffer, where byte 0 of it is,
 * which pages to track, and how to follow it as it grows. Every length, offset and buffer is read
 * through the engine's own getters (intrinsics.ts), never through properties user code can define.
 *
 * Which pages: every page holding a byte of the target. A plain buffer is rarely page-aligned
 * (glibc's malloc puts 16 bytes of header in front of byte 0), so its first and last pages are
 * partly someone else's: malloc's bookkeeping, or, for a buffer smaller than malloc's mmap
 * threshold, neighbouring heap objects. They lie in the buffer's own mapping all the same, and are
 * tracked: a write there is reported at its page's offset clipped to the target (a neighbour's
 * write can overstate, nothing can be missed). Only when another tracker already holds such a page
 * (two small buffers sharing one) is the target tracked without it; its bytes there are then not
 * tracked, and a call whose range covers them throws ERR_WRITEWATCH_UNTRACKED instead of answering
 * for bytes nobody watches.
 *
 * Growth is the hard part: a WebAssembly.Memory or a resizable buffer grows in place inside a
 * PROT_NONE reservation V8 made up front, possibly from wasm code or another worker, without
 * telling us. A page that was never armed reads as written (it has no uffd-wp marker), and arming
 * a page after it became writable would erase a write made in between. So the whole reservation
 * that the target can ever grow into is tracked up front (write-protect arms it: armed unpopulated
 * PROT_NONE pages carry uffd-wp PTE markers that survive V8's mprotect on grow, so a grown page
 * reads clean until it is written; the price is page tables, 2 MiB per GiB armed).
 */
import { types } from 'node:util';
import { InvalidArgTypeError, InvalidArgValueError, LostError } from '../errors.js';
import { pageCeil, pageFloor } from '../memory/pages.js';
import { addressOf, getPageSize } from '../sys/platform.js';
import { readMaps } from '../sys/proc/maps.js';
import { checkInteger } from './args.js';
import {
  byteLengthOf,
  dataViewBuffer,
  dataViewByteLength,
  dataViewByteOffset,
  isGrowable,
  isWasmMemory,
  maxByteLengthOf,
  memoryBuffer,
  typedArrayBuffer,
  typedArrayByteLength,
  typedArrayByteOffset,
} from './intrinsics.js';

/** wasm32's limit (65536 pages of 64 KiB): a WebAssembly.Memory can never grow past this in V8. */
export const WASM32_MAX_BYTES = 65536 * 65536;

export interface TrackOptions {
  /**
   * For a target that can grow: how many bytes from byte 0 of its buffer to register and arm up
   * front. Default: the buffer's `maxByteLength` for a resizable ArrayBuffer or growable
   * SharedArrayBuffer; for a WebAssembly.Memory, 4 GiB (wasm32's limit; Node does not expose the
   * memory's declared `maximum`). Pass `maximum * 65536` to spend fewer page tables on a memory
   * with a small declared maximum. Pages grown past it read as written until reset.
   *
   * Clamped, never an error: to the buffer's `maxByteLength` for a resizable/growable buffer, to
   * 4 GiB for a WebAssembly.Memory, and always to the end of V8's reservation as /proc/self/maps
   * shows it, so nothing beyond the target's own reservation is ever registered.
   */
  maxByteLength?: number;
}

/**
 * The shape of a `WebAssembly.Memory` (@types/node 20 does not declare the WebAssembly namespace,
 * and the emitted declarations must not need the DOM lib).
 */
export interface WebAssemblyMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(delta: number): number;
}

/** Anything track() accepts. */
export type TrackTarget = ArrayBuffer | SharedArrayBuffer | WebAssemblyMemory | ArrayBufferView;

type Buffer = ArrayBuffer | SharedArrayBuffer;

/** Where a tracked target is, and what of it is tracked. Updated by `sync` as it grows. */
export interface Located {
  buffer: Buffer;
  /** Address of byte 0 of the buffer. */
  base: number;
  byteLength: number;
  /** Absolute, page-aligned: the pages tracked. */
  start: number;
  end: number;
  /** Buffer offsets of the target's own bytes (a view's, or the whole buffer's): results are clipped to them. */
  clipStart: number;
  /** -1: to the buffer's current length. */
  clipEnd: number;
  /**
   * Run first by every call on a target that can change: follows a grow (`buffer`, `byteLength`;
   * returns the new tracked end when it grew past `end`, else 0) and throws LostError when V8 moved
   * the memory or it was detached. Absent for a target that cannot change.
   */
  sync?: (l: Located) => number;
}

interface Resolved {
  buffer: Buffer;
  shared: boolean;
  memory?: object;
  /** Byte range of the buffer that is the target. */
  from: number;
  to: number;
  /** The target grows in place inside a reservation, up to `reach` bytes from byte 0. */
  growable: boolean;
  reach: number;
}

function isDetached(b: Buffer, shared: boolean): boolean {
  if (shared || byteLengthOf(b, false) > 0) return false;
  try {
    new Uint8Array(b, 0, 0);
    return false;
  } catch {
    return true;
  }
}

function resolve(target: unknown, limit: number | undefined): Resolved {
  if (isWasmMemory(target)) {
    const buffer = memoryBuffer(target);
    const shared = types.isSharedArrayBuffer(buffer);
    const length = byteLengthOf(buffer, shared);
    // Never past 4 GiB: a wasm32 memory cannot grow further, and V8 reserves more than that past
    // byte 0 of every WebAssembly.Memory (measured, Node 20-26 x64: 8 GiB for wasm32, 10 GiB for a
    // shared one on 20, 16 GiB for memory64 on 24/26), so [base, base + 4 GiB) is the memory's own.
    const reach = Math.max(length, Math.min(limit ?? WASM32_MAX_BYTES, WASM32_MAX_BYTES));
    return { buffer, shared, memory: target, from: 0, to: length, growable: true, reach };
  }
  if (types.isArrayBuffer(target) || types.isSharedArrayBuffer(target)) {
    const shared = types.isSharedArrayBuffer(target);
    if (isDetached(target, shared)) throw new InvalidArgValueError('target', target, 'is a detached ArrayBuffer');
    const length = byteLengthOf(target, shared);
    const growable = isGrowable(target, shared);
    const reach = growable ? Math.max(length, Math.min(limit ?? Infinity, maxByteLengthOf(target, shared))) : length;
    return { buffer: target, shared, from: 0, to: length, growable, reach };
  }
  if (ArrayBuffer.isView(target)) {
    const dv = types.isDataView(target);
    const buffer = dv ? dataViewBuffer(target as DataView) : typedArrayBuffer(target);
    const shared = types.isSharedArrayBuffer(buffer);
    if (isDetached(buffer, shared)) throw new InvalidArgValueError('target', target, 'is a view of a detached ArrayBuffer');
    const from = dv ? dataViewByteOffset(target as DataView) : typedArrayByteOffset(target);
    const length = dv ? dataViewByteLength(target as DataView) : typedArrayByteLength(target);
    // A view tracks the bytes inside it as it is now; it does not follow a resizable buffer's growth.
    return { buffer, shared, from, to: from + length, growable: false, reach: from + length };
  }
  throw new InvalidArgTypeError(
    'target',
    'an instance of ArrayBuffer, SharedArrayBuffer, WebAssembly.Memory, TypedArray or DataView',
    target,
  );
}

/**
 * Where V8's reservation for a growable buffer ends, up to `limit`: from `start`, the anonymous
 * mappings that hold its committed bytes (up to `committed`), then the one PROT_NONE mapping that
 * is the reservation. A readable or writable mapping after the committed part, a gap, or file or
 * special memory ends it. (A PROT_NONE neighbour merges into the same /proc/self/maps line and
 * cannot be told apart here: the caller's cap keeps the registration inside the reservation.)
 */
function reservationEnd(start: number, committed: number, limit: number): number {
  let reach = start;
  let maps;
  try {
    maps = readMaps('self');
  } catch {
    return committed; // no procfs: the committed pages only (write-protect cannot run there anyway)
  }
  for (const m of maps) {
    if (m.end <= reach) continue;
    if (m.start > reach || m.inode !== 0 || m.pathname !== '') break; // a gap, or file/special memory
    if (m.start >= committed && !m.perms.startsWith('---')) break; // past the committed bytes: only the reservation
    reach = m.end;
    if (reach >= limit) break;
  }
  return Math.min(reach, limit);
}

/**
 * The pages of `target` to track and how to follow it, with nothing registered yet. `reserve`:
 * reach over the reservation a growable target can grow into (write-protect arms it up front;
 * compare needs only the committed part, and its shadow grows with the target). `inner`: only the
 * pages wholly inside the target (when another tracker holds a partial one).
 */
export function locate(target: unknown, options: TrackOptions, reserve: boolean, inner = false): Located {
  const limit = options.maxByteLength === undefined ? undefined : checkInteger('options.maxByteLength', options.maxByteLength, 0, Number.MAX_SAFE_INTEGER);
  const r = resolve(target, limit);
  const page = getPageSize();
  const base = Number(addressOf(r.buffer));
  // An empty buffer may have no memory behind it at all: there would be nothing to register.
  if (base === 0) throw new InvalidArgValueError('target', target, 'has no memory behind it (address 0)');
  const length = byteLengthOf(r.buffer, r.shared);
  if (!r.growable && r.to <= r.from) throw new InvalidArgValueError('target', target, 'is empty: it holds no byte to track');
  let start: number;
  let end: number;
  if (r.growable) {
    // V8 commits a growable buffer page by page from a page-aligned start: the page holding its
    // last byte is the buffer's alone, and the reservation past it is what it can grow into.
    start = pageCeil(base, page);
    const committed = pageCeil(base + length, page);
    const limitEnd = pageCeil(base + r.reach, page);
    // Without the reservation (compare): what is committed, nothing beyond it (its pages are
    // PROT_NONE: reading one is a SIGSEGV), empty for a memory of 0 bytes; growth extends it.
    end = reserve ? reservationEnd(start, committed, limitEnd) : committed;
    if (end < committed) end = committed;
  } else {
    // Every page holding a byte of the target, or only those wholly inside it (`inner`).
    start = inner ? pageCeil(base + r.from, page) : pageFloor(base + r.from, page);
    end = inner ? pageFloor(base + r.to, page) : pageCeil(base + r.to, page);
  }
  if (end <= start && !(r.growable && !reserve)) {
    throw new InvalidArgValueError(
      'target',
      target,
      `contains no whole ${page}-byte page outside the pages another tracker holds (bytes [${r.from}, ${r.to}) at ` +
        `address 0x${(base + r.from).toString(16)}): close the other tracker, track a larger buffer, or use WriteWatch.allocate()`,
    );
  }
  const l: Located = {
    buffer: r.buffer,
    base,
    byteLength: length,
    start,
    end,
    clipStart: r.from,
    clipEnd: r.growable ? -1 : r.to,
  };
  l.sync = syncFor(r, base, length);
  return l;
}

/**
 * What each call does first to follow the target: pick up a grown length (and, for a
 * WebAssembly.Memory, its new buffer object), and refuse memory that V8 moved or that left JS's
 * hands. Allocates nothing unless the target changed.
 */
function syncFor(r: Resolved, base: number, length: number): ((l: Located) => number) | undefined {
  const { memory, buffer, shared } = r;
  const page = getPageSize();
  const grown = (l: Located) => {
    const end = pageCeil(base + l.byteLength, page);
    return end > l.end ? end : 0;
  };
  if (memory) {
    return (l) => {
      const b = memoryBuffer(memory);
      if (b === l.buffer) return 0;
      // A grow gave a new buffer object. In place (inside V8's reservation) it starts at the same
      // address; without a reservation V8 copies the memory elsewhere, and the pages we track are
      // no longer the memory's.
      const now = Number(addressOf(b));
      if (now !== base) {
        throw new LostError(
          `the WebAssembly.Memory moved from 0x${base.toString(16)} to 0x${now.toString(16)} when it grew ` +
            '(V8 had no reservation to grow it in place); track it again',
        );
      }
      l.buffer = b;
      l.byteLength = byteLengthOf(b, shared);
      return grown(l);
    };
  }
  const growable = isGrowable(buffer, shared);
  if (shared) {
    if (!growable) return undefined; // fixed and never detached: nothing can change
    return (l) => {
      l.byteLength = byteLengthOf(buffer, true); // another thread may have grown it
      return r.growable ? grown(l) : 0;
    };
  }
  // A tracked buffer holds a page of its own, so a length (or, resizable, a maximum) of 0 means detached.
  return (l) => {
    const now = byteLengthOf(buffer, false);
    if (growable ? maxByteLengthOf(buffer, false) === 0 : now !== length) {
      // Transferred (postMessage, structuredClone) or detached: the memory is no longer this
      // buffer's, and V8 frees it when its new owner is collected.
      throw new LostError("the tracked ArrayBuffer was detached or transferred: its memory is no longer JS's to track here");
    }
    l.byteLength = now;
    // A view of a resizable buffer keeps its own pages; only the buffer itself follows growth.
    return r.growable ? grown(l) : 0;
  };
}
