/**
 * The process-wide registry of what this library tracks and which descriptors it holds, shared by
 * every thread of the process through native memory, so that a check costs a memory read:
 *
 * - ranges: [start, end) of every live tracker (WriteWatch, MEM_WRITE_WATCH allocation). A
 *   newcomer that the kernel let register memory (or that mmap placed there) proves that any older
 *   tracker overlapping it has lost that memory: it marks them LOST, whatever thread owns them,
 *   before it returns, and each of their calls reads its own state word first.
 * - descriptors: every fd the library opened (pagemap, userfaultfds), with its thread and
 *   st_dev:st_ino. A worker terminated while running JS never emits 'exit' (measured, Node 20),
 *   so its fds are closed by the next thread that opens one, once /proc/self/task/<tid> is gone,
 *   and only if the number still names the same file.
 *
 * Threads find it without being told: it is a memfd named `writewatch-registry-v2` mapped at the first
 * free one of a few fixed addresses with MAP_FIXED_NOREPLACE, which the kernel serialises, so two
 * threads racing to create it agree (the loser gets EEXIST and finds the winner's line in
 * /proc/self/maps). A zero-filled table is a valid empty one, so there is nothing to initialise.
 * MADV_DONTFORK keeps it out of forked children.
 */
import { existsSync, fstatSync, readlinkSync } from 'node:fs';
import createDebug from 'debug';
import koffi from 'koffi';
import { RESOURCE_ERRNO_CODES, SystemCallError, isResourceError } from '../../errors.js';
import { libc } from '../libc/libc.js';
import { atThreadExit } from '../libc/thread-exit.js';
import { mapProcessWide } from './process-wide.js';

const debug = createDebug('writewatch:registry');

/** Versioned: two copies of the library in one process share the registry only if they lay it out alike. */
const NAME = 'writewatch-registry-v2';
/**
 * Where the registry may live: below 2^38 (256 GiB), inside every user address space of x86_64
 * (47 bits) and arm64 (39 bits and up), and far from where mmap places memory (top-down from the
 * stack) and from PIE executables (0x55..., 0xaaaa...). Taken in order; one occupied by something
 * else is skipped.
 */
export const REGISTRY_ADDRESSES: readonly number[] = [0x3e_0000_0000, 0x3a_0000_0000, 0x36_0000_0000, 0x32_0000_0000];

/** Entries per table: more live trackers than this in one process fail with ENOMEM. */
export const SLOTS = 16384;
const SLOT = 32; // bytes
const HEADER = 64;
const RANGES = HEADER;
/**
 * Library memory that is not a watch (compare shadows), in a table of its own right after RANGES,
 * so that a shadow never takes a tracker's slot; its slots are numbered SLOTS + k, which puts
 * RANGES + slot * SLOT in this table for every range function.
 */
const MEMS = RANGES + SLOTS * SLOT;
const FDS = MEMS + SLOTS * SLOT;
const SIZE = Math.ceil((FDS + SLOTS * SLOT) / 65536) * 65536;
// Header words (Int32 indexes): how many slots of each table were ever used.
const RANGE_HIGH = 0;
const FD_HIGH = 1;
const MEM_HIGH = 2;

/** Calls `fn` with the byte offset of every range slot ever used, watches and library memory alike. */
function eachRange(t: Int32Array, fn: (b: number, slot: number) => void): void {
  const ranges = Atomics.load(t, RANGE_HIGH);
  for (let k = 0; k < ranges; k++) fn(RANGES + k * SLOT, k);
  const mems = Atomics.load(t, MEM_HIGH);
  for (let k = SLOTS; k < SLOTS + mems; k++) fn(RANGES + k * SLOT, k);
}

/**
 * A slot's first word: its state in the low 2 bits, a generation above them that every claim
 * bumps, so that a compare-and-swap prepared against one occupant never lands on the next.
 * The per-call check is `(word & STATE) === LIVE`.
 */
export const STATE = 3;
export const FREE = 0;
export const LIVE = 1;
export const LOST = 2;
/** Being filled in (claimed, not yet published) or being reaped. */
const BUSY = 3;
const as = (word: number, state: number) => (word & ~STATE) | state;

let i32: Int32Array | undefined;
let f64: Float64Array;
let myTid = 0;

function table(): Int32Array {
  if (i32) return i32;
  let ab: ArrayBuffer;
  try {
    // Off Linux there is no memfd nor /proc/self/maps (under Wine the latter is the Linux host's).
    if (process.platform !== 'linux') throw new Error(`no process-wide registry on ${process.platform}`);
    const at = mapProcessWide(NAME, SIZE, REGISTRY_ADDRESSES);
    ab = koffi.view(BigInt(at), SIZE);
    debug('registry at 0x%s', at.toString(16));
  } catch (e) {
    // Out of fds or memory (memfd_create, or reading /proc/self/maps): say so, as everywhere, and
    // attach next time rather than keep a private table for good.
    if (isResourceError(e) || RESOURCE_ERRNO_CODES.includes((e as { code?: string }).code ?? '')) throw e;
    // No memfd (a seccomp filter), no /proc/self/maps, no free address: this thread keeps a table
    // of its own. Newcomers of other threads then go unseen until the kernel's checks catch them.
    debug('no process-wide registry (%s): this thread keeps its own', (e as Error).message);
    ab = new ArrayBuffer(SIZE);
  }
  f64 = new Float64Array(ab);
  i32 = new Int32Array(ab);
  atThreadExit(releaseThread);
  return i32;
}


/** This thread's kernel thread id (/proc/thread-self names it; no fd, no syscall number). */
function tid(): number {
  if (myTid === 0 && process.platform !== 'linux') myTid = -1; // no thread is ever taken for dead
  if (myTid === 0) {
    try {
      myTid = Number(readlinkSync('/proc/thread-self').split('/').pop()) || -1;
    } catch {
      myTid = -1; // no procfs: no thread is ever taken for dead
    }
  }
  return myTid;
}

/** Claims a free slot of the table at byte `base`, whose high-water word is `high`. */
function take(base: number, high: number): number {
  const t = table();
  const grab = (k: number) => {
    const i = (base + k * SLOT) >> 2;
    const w = Atomics.load(t, i);
    return (w & STATE) === FREE && Atomics.compareExchange(t, i, w, ((((w >>> 2) + 1) << 2) | BUSY)) === w;
  };
  const used = Atomics.load(t, high);
  for (let k = 0; k < used; k++) if (grab(k)) return k;
  for (;;) {
    const k = Atomics.add(t, high, 1);
    if (k >= SLOTS) {
      Atomics.sub(t, high, 1);
      throw new SystemCallError('writewatch registry', 12 /* ENOMEM */, `more than ${SLOTS} live trackers or descriptors`);
    }
    if (grab(k)) return k;
  }
}

/** Sets the state of a slot this thread holds, keeping its generation. */
function setState(i: number, state: number): void {
  const t = table();
  Atomics.store(t, i, as(Atomics.load(t, i), state));
}

// ---- ranges ----

/**
 * Marks LOST every live range of any thread that overlaps [start, end): call only once the kernel
 * has proved that memory is no longer theirs (mmap placed new memory there, or UFFDIO_REGISTER of
 * it succeeded, which it would not while another userfaultfd held it). Returns how many.
 */
export function supersede(start: number, end: number): number {
  const t = table();
  let n = 0;
  eachRange(t, (b) => {
    const w = Atomics.load(t, b >> 2);
    if ((w & STATE) !== LIVE) return;
    const s = f64[(b >> 3) + 1];
    const e = f64[(b >> 3) + 2];
    if (s < end && start < e && Atomics.compareExchange(t, b >> 2, w, as(w, LOST)) === w) {
      debug('range [0x%s, 0x%s) superseded by [0x%s, 0x%s)', s.toString(16), e.toString(16), start.toString(16), end.toString(16));
      n++;
    }
  });
  return n;
}

/**
 * What a range slot records beside [start, end) (its word 6), so that a thread other than the
 * owner can judge it: the reaper of a dead thread, a newcomer deciding whether memory is taken.
 */
export const KIND = {
  /** A watch: a WriteWatch or a MEM_WRITE_WATCH allocation. Newcomers overlapping it are refused or supersede it. */
  WATCH: 1,
  /** Registered with a userfaultfd whose number is word 7: the kernel can tell whether it still holds the memory. */
  UFFD: 2,
  /** The library mapped the memory (allocate): unmapped when its thread ends, if still its own. */
  MAPPED: 4,
  /** Library-internal memory (a compare shadow): unmapped when its thread ends; never a watch. */
  SHADOW: 8,
  /** Belongs to the process, not its thread (win32 allocations): a thread's end leaves it alone. */
  PROCESS: 16,
} as const;

/** Supersedes what overlaps [start, end), then records it as this thread's live range; returns its slot. */
export function claimRange(start: number, end: number, kind: number = KIND.WATCH, aux = -1, supersedeFirst = true): number {
  if (supersedeFirst) supersede(start, end);
  reapDeadThreads();
  const t = table();
  const k = kind & KIND.SHADOW ? SLOTS + take(MEMS, MEM_HIGH) : take(RANGES, RANGE_HIGH);
  const b = RANGES + k * SLOT;
  f64[(b >> 3) + 1] = start;
  f64[(b >> 3) + 2] = end;
  t[(b >> 2) + 1] = tid();
  t[(b >> 2) + 6] = kind;
  t[(b >> 2) + 7] = aux;
  setState(b >> 2, LIVE); // publishes start/end (seq-cst)
  return k;
}

/** A live watch overlapping a range: its slot, what it is, which thread holds it. */
export interface Overlap {
  slot: number;
  kind: number;
  tid: number;
  start: number;
  end: number;
}

/** The live watches (KIND.WATCH) that overlap [start, end), of every thread. */
export function liveWatches(start: number, end: number): Overlap[] {
  const t = table();
  const used = Atomics.load(t, RANGE_HIGH);
  const out: Overlap[] = [];
  for (let k = 0; k < used; k++) {
    const b = RANGES + k * SLOT;
    if ((Atomics.load(t, b >> 2) & STATE) !== LIVE || !(t[(b >> 2) + 6] & KIND.WATCH)) continue;
    const s = f64[(b >> 3) + 1];
    const e = f64[(b >> 3) + 2];
    if (s < end && start < e) out.push({ slot: k, kind: t[(b >> 2) + 6], tid: t[(b >> 2) + 1], start: s, end: e });
  }
  return out;
}

/** This thread's kernel thread id, as the registry records it (-1 without procfs). */
export function threadId(): number {
  return tid();
}

/** Marks one live range LOST (a newcomer found it stale); false if it was not live. */
export function supersedeSlot(slot: number): boolean {
  const t = table();
  const i = (RANGES + slot * SLOT) >> 2;
  const w = Atomics.load(t, i);
  return (w & STATE) === LIVE && Atomics.compareExchange(t, i, w, as(w, LOST)) === w;
}

/** The Int32Array and index of a range's state word: the per-call check is `(words[index] & STATE) === LIVE`. */
export function rangeState(slot: number): { words: Int32Array; index: number } {
  return { words: table(), index: (RANGES + slot * SLOT) >> 2 };
}

export function rangeIsLive(slot: number): boolean {
  return (Atomics.load(table(), (RANGES + slot * SLOT) >> 2) & STATE) === LIVE;
}

export function releaseRange(slot: number): void {
  setState((RANGES + slot * SLOT) >> 2, FREE);
}

// ---- descriptors ----

/** Records a descriptor this thread just opened; first closes those of threads that are gone. */
export function recordFd(fd: number): number {
  const st = fstatSync(fd);
  reapDeadThreads();
  const t = table();
  const k = take(FDS, FD_HIGH);
  const b = FDS + k * SLOT;
  t[(b >> 2) + 1] = tid();
  t[(b >> 2) + 2] = fd;
  f64[(b >> 3) + 2] = st.dev;
  f64[(b >> 3) + 3] = st.ino;
  setState(b >> 2, LIVE);
  return k;
}

export function forgetFd(slot: number): void {
  setState((FDS + slot * SLOT) >> 2, FREE);
}

/** Whether `fd` still names the file recorded in `slot` (st_dev:st_ino). */
export function fdIsRecorded(slot: number, fd: number): boolean {
  const b = FDS + slot * SLOT;
  try {
    const st = fstatSync(fd);
    return st.dev === f64[(b >> 3) + 2] && st.ino === f64[(b >> 3) + 3];
  } catch {
    return false;
  }
}

/** The fd recorded in `slot`, if that number still names the recorded file; else -1. */
export function recordedFd(slot: number): number {
  if (slot < 0 || slot >= SLOTS) return -1;
  const b = FDS + slot * SLOT;
  const t = table();
  if ((Atomics.load(t, b >> 2) & STATE) === FREE) return -1;
  const fd = t[(b >> 2) + 2];
  return fdIsRecorded(slot, fd) ? fd : -1;
}

/**
 * Cleans up after threads that ended without doing so themselves (a worker stopped with
 * terminate(), whose isolate runs no handler at all): unmaps the memory the library mapped for them
 * (allocations, compare shadows) while it is still the library's, closes their descriptors, and
 * frees their ranges. A thread id reused by a new thread only delays this; a live thread's fds and
 * memory are never touched. Returns how many fds were closed.
 */
export function reapDeadThreads(): number {
  const t = table();
  const me = tid();
  const alive = new Map<number, boolean>();
  const isAlive = (id: number) => {
    if (id <= 0 || me <= 0) return true;
    let a = alive.get(id);
    if (a === undefined) alive.set(id, (a = id === me || existsSync(`/proc/self/task/${id}`)));
    return a;
  };
  // Ranges first: whether a userfaultfd-registered allocation is still ours is asked of its fd.
  eachRange(t, (b) => {
    const w = Atomics.load(t, b >> 2);
    const state = w & STATE;
    if ((state !== LIVE && state !== LOST) || t[(b >> 2) + 6] & KIND.PROCESS || isAlive(t[(b >> 2) + 1])) return;
    if (Atomics.compareExchange(t, b >> 2, w, as(w, BUSY)) !== w) return; // another reaper has it
    const kind = t[(b >> 2) + 6];
    if (state === LIVE && kind & (KIND.MAPPED | KIND.SHADOW)) {
      const start = f64[(b >> 3) + 1];
      const end = f64[(b >> 3) + 2];
      if (reapOwned(kind, t[(b >> 2) + 7], start, end)) {
        libc().munmap(BigInt(start), end - start);
        debug('unmapped [0x%s, 0x%s) of ended thread %d', start.toString(16), end.toString(16), t[(b >> 2) + 1]);
      }
    }
    Atomics.store(t, b >> 2, as(w, FREE));
  });
  let closed = 0;
  const fdsUsed = Atomics.load(t, FD_HIGH);
  for (let k = 0; k < fdsUsed; k++) {
    const b = FDS + k * SLOT;
    const w = Atomics.load(t, b >> 2);
    if ((w & STATE) !== LIVE || isAlive(t[(b >> 2) + 1])) continue;
    if (Atomics.compareExchange(t, b >> 2, w, as(w, BUSY)) !== w) continue; // another reaper has it
    const fd = t[(b >> 2) + 2];
    if (fdIsRecorded(k, fd)) {
      libc().close(fd);
      closed++;
      debug('closed fd %d of ended thread %d', fd, t[(b >> 2) + 1]);
    }
    Atomics.store(t, b >> 2, as(w, FREE));
  }
  return closed;
}

/** Decides whether a dead thread's memory is still the library's; set by the layer that knows how (ownership/). */
let reapOwned: (kind: number, aux: number, start: number, end: number) => boolean = () => false;

/** Installs the ownership test the reaper asks before unmapping a dead thread's memory. */
export function setReapOwnership(f: (kind: number, aux: number, start: number, end: number) => boolean): void {
  reapOwned = f;
}

/** At a worker's exit: its ranges are no one's any more (its fds are closed by their owners' hooks). */
function releaseThread(): void {
  const t = table();
  const me = tid();
  eachRange(t, (b) => {
    const w = Atomics.load(t, b >> 2);
    const state = w & STATE;
    if ((state === LIVE || state === LOST) && t[(b >> 2) + 1] === me && !(t[(b >> 2) + 6] & KIND.PROCESS)) {
      Atomics.compareExchange(t, b >> 2, w, as(w, FREE));
    }
  });
}
