/**
 * WriteWatch.track: write watching over memory JavaScript already owns (ArrayBuffer,
 * SharedArrayBuffer, WebAssembly.Memory, a view of one). V8 owns the mapping, so the library only
 * registers whole pages of it with its own userfaultfd and never maps, unmaps or protects it;
 * closing the userfaultfd drops the registration and clears every uffd-wp bit, leaving the memory
 * as V8 made it.
 *
 * Growth is the hard part: a WebAssembly.Memory or a resizable buffer grows in place inside a
 * PROT_NONE reservation V8 made up front, possibly from wasm code or another worker, without
 * telling us. A page that was never armed reads as written (it has no uffd-wp marker), and arming
 * a page after it became writable would erase a write made in between. So the whole reservation
 * that the target can ever grow into is registered and armed at track time: armed unpopulated
 * PROT_NONE pages carry uffd-wp PTE markers that survive V8's mprotect on grow, so a grown page
 * reads clean until it is written. The price is page tables: 2 MiB per GiB armed.
 */
import { readFileSync } from 'node:fs';
import { types } from 'node:util';
import createDebug from 'debug';
import { InvalidArgTypeError, InvalidArgValueError, LostError, SystemCallError } from '../errors.js';
import { addressOf, getPageSize } from '../sys/libc/libc.js';
import { checkPagemapOwner, selfScanner } from '../sys/pagemap/self.js';
import { Userfaultfd } from '../sys/uffd/userfaultfd.js';
import { checkInteger } from './args.js';
import type { Watched } from './write-watch.js';

const debug = createDebug('writewatch:track');

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

type Buffer = ArrayBuffer | SharedArrayBuffer;

/**
 * The shape of a `WebAssembly.Memory` (@types/node 20 does not declare the WebAssembly
 * namespace, and the emitted declarations must not need the DOM lib).
 */
export interface WebAssemblyMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(delta: number): number;
}

/** Anything track() accepts. */
export type TrackTarget = ArrayBuffer | SharedArrayBuffer | WebAssemblyMemory | ArrayBufferView;

/**
 * One rule for every target, whatever realm made it (a node:vm context, this one): brand checks
 * (node:util types, the Memory `buffer` getter's own check), never `instanceof`, which only knows
 * this realm's constructors and so refused a vm ArrayBuffer while accepting a vm Uint8Array.
 */
const memoryBuffer = Object.getOwnPropertyDescriptor(
  (globalThis as { WebAssembly?: { Memory?: { prototype: object } } }).WebAssembly?.Memory?.prototype ?? {},
  'buffer',
)?.get;

function isWasmMemory(x: unknown): x is WebAssemblyMemory {
  if (memoryBuffer === undefined || x === null || typeof x !== 'object') return false;
  try {
    memoryBuffer.call(x);
    return true;
  } catch {
    return false;
  }
}

/** What a target resolves to: its buffer, the byte range whose whole pages are tracked, how it grows. */
interface Resolved {
  buffer: Buffer;
  memory?: WebAssemblyMemory;
  /** Byte range of the buffer to track, relative to byte 0 of the buffer. */
  from: number;
  to: number;
  /** True when the buffer grows in place inside a reservation (track up to `to`, which may exceed byteLength). */
  growable: boolean;
}

function isGrowable(b: Buffer): boolean {
  // `resizable` / `growable` are missing on runtimes without resizable buffers: fixed then.
  return types.isSharedArrayBuffer(b) ? (b as { growable?: boolean }).growable === true : (b as { resizable?: boolean }).resizable === true;
}

function maxLengthOf(b: Buffer): number {
  return (b as { maxByteLength?: number }).maxByteLength ?? b.byteLength;
}

/** Node 20 has no `detached` getter; a view over a detached buffer cannot be made. Off the hot path only. */
function isDetached(b: Buffer): boolean {
  if (types.isSharedArrayBuffer(b) || b.byteLength > 0) return false;
  try {
    new Uint8Array(b, 0, 0);
    return false;
  } catch {
    return true;
  }
}

function resolve(target: unknown, options: TrackOptions): Resolved {
  const limit = options.maxByteLength === undefined ? undefined : checkInteger('options.maxByteLength', options.maxByteLength, 0, Number.MAX_SAFE_INTEGER);
  if (isWasmMemory(target)) {
    const buffer = target.buffer;
    // Never past 4 GiB: a wasm32 memory cannot grow further, and V8 reserves more than that past
    // byte 0 of every WebAssembly.Memory (measured, Node 20-26 x64: 8 GiB for wasm32, 10 GiB for a
    // shared one on 20, 16 GiB for memory64 on 24/26), so [base, base + 4 GiB) is the memory's own.
    // What lies past the reservation (another Memory, a malloc arena) can merge with it into one
    // /proc/self/maps line, so the maps alone could not tell where it ends.
    const to = Math.max(buffer.byteLength, Math.min(limit ?? WASM32_MAX_BYTES, WASM32_MAX_BYTES));
    return { buffer, memory: target, from: 0, to, growable: true };
  }
  if (types.isArrayBuffer(target) || types.isSharedArrayBuffer(target)) {
    if (isDetached(target)) throw new InvalidArgValueError('target', target, 'is a detached ArrayBuffer');
    const growable = isGrowable(target);
    const to = growable ? Math.max(target.byteLength, Math.min(limit ?? Infinity, maxLengthOf(target))) : target.byteLength;
    return { buffer: target, from: 0, to, growable };
  }
  if (ArrayBuffer.isView(target)) {
    const buffer = target.buffer as Buffer;
    if (isDetached(buffer)) throw new InvalidArgValueError('target', target, "is a view of a detached ArrayBuffer");
    // A view tracks the pages inside it as it is now; it does not follow a resizable buffer's growth.
    return { buffer, from: target.byteOffset, to: target.byteOffset + target.byteLength, growable: false };
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
  for (const line of readFileSync('/proc/self/maps', 'latin1').split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (!m) continue;
    const s = parseInt(m[1], 16);
    const e = parseInt(m[2], 16);
    if (e <= reach) continue;
    if (s > reach || m[4] !== '0' || m[5] !== '') break; // a gap, or file/special memory
    if (s >= committed && !m[3].startsWith('---')) break; // past the committed bytes: only the reservation
    reach = e;
    if (reach >= limit) break;
  }
  return Math.min(reach, limit);
}

/** start-end perms offset dev inode [path] */
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ \S+ (\d+)\s*(.*)$/;

/**
 * The first mapping in [start, end) whose pages can change without a write through this mapping:
 * shared ('s': MAP_SHARED, shmem, another process's view) or file-backed (write(2) to the file
 * shows through its pages until they are first written here). Write watching sees only stores
 * through these page tables, so such memory would miss writes: it is refused. Null when none.
 */
function sharedMapping(start: number, end: number): string | null {
  for (const line of readFileSync('/proc/self/maps', 'latin1').split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (!m) continue;
    const s = parseInt(m[1], 16);
    const e = parseInt(m[2], 16);
    if (e <= start) continue;
    if (s >= end) break;
    if (m[3][3] === 's' || m[4] !== '0') return line.trim();
  }
  return null;
}

/**
 * Refuses memory whose pages can change without a store through this mapping (sharedMapping).
 * `optional`: where /proc/self/maps cannot be read, skip the check rather than fail (the compare
 * mechanism, which sees content changed by anyone, runs without procfs).
 */
export function refuseShared(target: unknown, start: number, end: number, optional = false): void {
  let shared: string | null;
  try {
    shared = sharedMapping(start, end);
  } catch (e) {
    if (optional) return;
    throw e;
  }
  if (shared !== null) {
    throw new InvalidArgValueError(
      'target',
      target,
      `is memory that can change without a store through this mapping (${shared}): writes through its other ` +
        'mappings and write(2) to its file would never be reported; track anonymous private memory (an ArrayBuffer, ' +
        'SharedArrayBuffer, WebAssembly.Memory) or use WriteWatch.allocate()',
    );
  }
}

/**
 * The whole pages of `target` and how to follow it, with nothing registered yet: what both
 * mechanisms watch (openTracked registers them; the compare mechanism shadows them). `reserve`:
 * reach over the reservation a growable target can grow into (write-protect arms it up front;
 * compare needs only the committed part, and its shadow grows with the target).
 */
export function locateTracked(target: unknown, options: TrackOptions = {}, reserve = true): Watched {
  if (options === null || typeof options !== 'object') throw new InvalidArgTypeError('options', 'of type object', options);
  const r = resolve(target, options);
  const page = getPageSize();
  const base = Number(addressOf(r.buffer));
  // An empty buffer may have no memory behind it at all: there would be nothing to register.
  if (base === 0) throw new InvalidArgValueError('target', target, 'has no memory behind it (address 0)');
  let start = Math.ceil((base + r.from) / page) * page;
  let end = Math.floor((base + r.to) / page) * page;
  if (r.growable) {
    // V8 commits a growable buffer page by page: the page holding its last byte is the buffer's
    // alone, and the reservation past it is what it can grow into.
    const committed = Math.ceil((base + r.buffer.byteLength) / page) * page;
    // Without the reservation: what is committed, at least the first page it can grow into.
    end = reserve
      ? reservationEnd(start, committed, Math.ceil((base + r.to) / page) * page)
      : Math.max(committed, Math.min(start + page, Math.floor((base + r.to) / page) * page));
    if (end < committed) end = committed;
  }
  if (end <= start) {
    throw new InvalidArgValueError(
      'target',
      target,
      `contains no whole ${page}-byte page (bytes [${r.from}, ${r.to}) at address 0x${(base + r.from).toString(16)}); ` +
        'only whole pages can be tracked: track a larger buffer, or use WriteWatch.allocate()',
    );
  }
  const w: Watched = { buffer: r.buffer, base, byteLength: r.buffer.byteLength, start, end, target: target as object };
  w.sync = syncFor(r, base);
  return w;
}

/** Registers and arms the whole pages of `target`; the caller wraps the result in a WriteWatch. */
export function openTracked(target: unknown, options: TrackOptions = {}): Watched {
  const w = locateTracked(target, options);
  const { start, end } = w;
  checkPagemapOwner();
  selfScanner(); // open /proc/self/pagemap now, so a sandbox that hides it fails here, not in get()
  refuseShared(target, start, end);
  const uffd = Userfaultfd.open();
  try {
    try {
      uffd.register(start, end - start);
    } catch (e) {
      if (e instanceof SystemCallError && e.code === 'EBUSY') {
        const err = new InvalidArgValueError(
          'target',
          target,
          'is already tracked by another WriteWatch in this process (the kernel allows one userfaultfd per page: close the other first)',
        );
        (err as { cause?: unknown }).cause = e;
        throw err;
      }
      throw e;
    }
    // Registration alone leaves every page reading as written: arm it all, reserved pages included.
    uffd.writeProtect(start, end - start);
  } catch (e) {
    uffd.close();
    throw e;
  }
  debug('tracking 0x%s..0x%s of a buffer at 0x%s (%d bytes now)', start.toString(16), end.toString(16), w.base.toString(16), w.byteLength);
  w.uffd = uffd;
  return w;
}

/**
 * What each call does first to follow the target: pick up a grown length (and, for a
 * WebAssembly.Memory, its new buffer object), and refuse memory that V8 moved or that left JS's
 * hands. Allocates nothing unless the target changed.
 */
function syncFor(r: Resolved, base: number): ((w: Watched) => void) | undefined {
  const { memory, buffer } = r;
  if (memory) {
    return (w) => {
      const b = memory.buffer;
      if (b === w.buffer) return;
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
      w.buffer = b;
      w.byteLength = b.byteLength;
      if (base + b.byteLength > w.end) extend(w);
    };
  }
  if (types.isSharedArrayBuffer(buffer)) {
    if (!isGrowable(buffer)) return undefined; // fixed and never detached: nothing can change
    return (w) => {
      w.byteLength = buffer.byteLength; // another thread may have grown it
      if (r.growable && base + w.byteLength > w.end) extend(w);
    };
  }
  const fixedLength = buffer.byteLength;
  const growable = isGrowable(buffer);
  // A tracked buffer holds a whole page, so a length (or, resizable, a maximum) of 0 means detached.
  return (w) => {
    if (growable ? maxLengthOf(buffer) === 0 : buffer.byteLength !== fixedLength) {
      // Transferred (postMessage, structuredClone) or detached: the memory is no longer this
      // buffer's, and V8 frees it when its new owner is collected.
      throw new LostError('the tracked ArrayBuffer was detached or transferred: its memory is no longer JS\'s to track here');
    }
    w.byteLength = growable ? buffer.byteLength : fixedLength;
    // A view of a resizable buffer keeps its own pages; only the buffer itself follows growth.
    if (r.growable && base + w.byteLength > w.end) extend(w);
  };
}

/**
 * The target grew past what was armed up front (a `maxByteLength` option smaller than its real
 * maximum). Its new pages may already have been written, so they are registered but not armed:
 * they read as written until reset, which overstates but never loses a write.
 */
function extend(w: Watched): void {
  const page = getPageSize();
  const end = Math.ceil((w.base + w.byteLength) / page) * page;
  if (end <= w.end) return;
  if (w.uffd === undefined) {
    w.end = end; // compare: nothing to register; the shadow grows to cover it on the next call
    return;
  }
  try {
    w.uffd.register(w.end, end - w.end);
  } catch (e) {
    throw new LostError(
      `the tracked memory grew to 0x${end.toString(16)}, past the 0x${w.end.toString(16)} armed at track time, and the new part could not be registered`,
      { cause: e },
    );
  }
  debug('grew past the armed range: registered 0x%s..0x%s unarmed', w.end.toString(16), end.toString(16));
  w.end = end;
}
