/**
 * The ownership and lifetime protocol, one for every mechanism and both fronts. A claim is a
 * tracker's hold on its memory:
 *
 * - recorded in the process-wide registry (sys/process/registry.ts) as soon as the mechanism knows
 *   the range, before it arms it, so every thread sees it;
 * - taken only when no live tracker of any mechanism, in any thread, still holds that memory
 *   (ERR_INVALID_ARG_VALUE, cause EBUSY, under write-protect and compare alike), and superseding
 *   the ones the kernel proved stale (mmap gave the range out again; a userfaultfd registered it);
 * - asked "is this memory still ours" (the registry's state word, then the tracker's own kernel
 *   evidence) once, before anything writes to or unmaps it, and the answer kept;
 * - ended exactly once: by close(), by the garbage collector (the front was dropped), at the
 *   owning thread's exit, or, for a thread stopped with terminate(), by the next thread that
 *   claims anything (the registry's reaper, which asks reapOwned() below).
 *
 * A claim keeps the tracked target reachable until it ends, so that V8 cannot free (and malloc
 * hand out again) memory whose registration is still open: the finalizer closes the registration
 * first, and only then lets the target go.
 */
import createDebug from 'debug';
import { InvalidArgValueError, SystemCallError } from '../errors.js';
import { committed } from '../memory/windows.js';
import { atThreadExit } from '../sys/libc/thread-exit.js';
import { libc } from '../sys/libc/libc.js';
import { allHaveVmFlag } from '../sys/proc/maps.js';
import { registeredAnywhere } from '../sys/pagemap/registered.js';
import { ownsByFd } from '../sys/uffd/owns.js';
import {
  KIND,
  LIVE,
  STATE,
  claimRange,
  liveWatches,
  recordedFd,
  rangeState,
  releaseRange,
  setReapOwnership,
  threadId,
} from '../sys/process/registry.js';

const debug = createDebug('writewatch:ownership');

export { KIND };

/** What a claim closes: the mechanism's tracker (structurally, mechanisms/contract.ts's Tracker). */
export interface Owner {
  owns(): boolean;
  close(): void;
}

/** Memory the library mapped (structurally, the contract's Memory). */
export interface HeldMemory {
  release(): void;
  setOwned(owned: () => boolean): void;
  /** The claim was dropped (its front collected without close()): the views are the user's now. */
  orphan?(): void;
}

/** This thread's live claims, by registry slot: what only this thread can answer for, and what its exit ends. */
const mine = new Map<number, Claim>();

/** How a claim ends: close() (everything released), dropped by GC (views may outlive it), thread exit. */
type Ending = 'close' | 'drop' | 'exit';

/** What a claim proved about its memory; see the contract's Proof. */
export type Proof = 'mapped' | 'registered' | 'none';

export interface ClaimOptions {
  kind: number;
  /** KIND.UFFD: the userfaultfd's slot in the descriptor table, for a reaper in another thread. */
  aux?: number;
  proof: Proof;
  /** What track() was given, for the error and to keep it reachable while the claim lives. */
  target?: object;
}

export class Claim {
  readonly slot: number;
  readonly start: number;
  readonly end: number;
  /** The registry word that turns LOST when a newcomer takes the memory: `(words[index] & STATE) === LIVE`. */
  readonly words: Int32Array;
  readonly index: number;
  readonly #kind: number;
  tracker: Owner | null = null;
  #memory: HeldMemory | null = null;
  #target: object | undefined;
  #owned: boolean | undefined;
  #ended = false;

  private constructor(slot: number, start: number, end: number, kind: number, target: object | undefined) {
    this.slot = slot;
    this.start = start;
    this.end = end;
    this.#kind = kind;
    this.#target = target;
    const { words, index } = rangeState(slot);
    this.words = words;
    this.index = index;
  }

  /**
   * Claims [start, end): refuses memory another live tracker still holds, marks stale ones lost,
   * records this one. Throws ERR_INVALID_ARG_VALUE (cause EBUSY) when the memory is taken.
   */
  static take(start: number, end: number, o: ClaimOptions): Claim {
    if (o.proof !== 'mapped') {
      for (const other of liveWatches(start, end)) {
        if (heldStill(other.slot, other.kind, other.tid, Math.max(start, other.start), Math.min(end, other.end), o.proof)) {
          throw alreadyTracked(o.target);
        }
      }
    }
    const slot = claimRange(start, end, o.kind, o.aux ?? -1);
    const c = new Claim(slot, start, end, o.kind, o.target);
    if (!(o.kind & KIND.PROCESS)) {
      mine.set(slot, c);
    }
    return c;
  }

  /** Memory the library mapped for this claim: asks the claim before every unmap. */
  hold(memory: HeldMemory): void {
    this.#memory = memory;
    memory.setOwned(() => this.owned());
  }

  /** Still LIVE in the registry: no newcomer of this library took the memory. */
  get live(): boolean {
    return (Atomics.load(this.words, this.index) & STATE) === LIVE;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Whether the memory is still this claim's: decided once, the first time it matters (before a
   * close or unmap), and while the tracker's evidence still exists (its userfaultfd is open).
   */
  owned(): boolean {
    return (this.#owned ??= this.live && (this.tracker === null || this.tracker.owns()));
  }

  /**
   * close(): the tracker closed, mapped memory released (detached, unmapped only if still ours).
   * `owned` false: the caller knows the memory is someone else's now (mmap just gave its range out).
   */
  close(owned?: boolean): void {
    if (owned === false) this.#owned = false;
    this.#end('close');
  }

  /** The front was garbage-collected without close(): its views may still be reachable and keep the memory. */
  drop(): void {
    this.#end('drop');
  }

  #end(how: Ending): void {
    if (this.#ended) return;
    this.#ended = true;
    mine.delete(this.slot);
    if (this.#memory) this.owned(); // before the tracker's evidence goes
    try {
      this.tracker?.close();
    } catch (e) {
      debug('closing the tracker of [0x%s, 0x%s) failed: %o', this.start.toString(16), this.end.toString(16), e);
    }
    // Dropped: the mapping unmaps itself when its last view is collected (if still ours).
    if (how !== 'drop') this.#memory?.release();
    else this.#memory?.orphan?.();
    releaseRange(this.slot);
    this.#target = undefined;
    debug('claim [0x%s, 0x%s) ended (%s)', this.start.toString(16), this.end.toString(16), how);
  }

  /** Used by the thread-exit hook. */
  static endForExit(c: Claim): void {
    c.#end('exit');
  }
}

/** A worker ending normally: everything it still holds goes with it (its isolate runs no finalizer). */
function endAll(): void {
  for (const c of [...mine.values()]) Claim.endForExit(c);
}

// At load, not on the first claim: exit hooks run in the order they were added, and the claims must
// end while the registry still lists them and the pagemap fd is open (both add theirs on first use);
// else every claim reads as lost and its memory stays mapped.
atThreadExit(endAll);

/**
 * Whether a live watch overlapping a newcomer's range still holds it. `proof` 'registered': the
 * kernel let the newcomer's userfaultfd register it, so no other userfaultfd holds it (stale
 * write-protect claims); 'none': ask the kernel whether any userfaultfd still holds it.
 */
function heldStill(slot: number, kind: number, tid: number, start: number, end: number, proof: Proof): boolean {
  if (kind & KIND.UFFD) return proof === 'registered' ? false : registeredAnywhere(start, end);
  // A watch with no kernel evidence (compare): only its own thread can ask it.
  if (tid !== threadId()) return true;
  const c = mine.get(slot);
  return c !== undefined && !c.ended && c.tracker !== null && c.tracker.owns();
}

export function alreadyTracked(target: unknown, cause?: unknown): InvalidArgValueError {
  const err = new InvalidArgValueError(
    'target',
    target,
    'is already tracked by another WriteWatch or allocation in this process (one tracker per page, whatever the ' +
      'mechanism: close() the other first)',
  );
  (err as { cause?: unknown }).cause = cause ?? new SystemCallError('track', 16 /* EBUSY */, 'memory already tracked');
  return err;
}

/**
 * The reaper's question about a dead thread's memory: still the library's? A userfaultfd-registered
 * allocation, by its fd (still open until the reaper closes it); other memory the library mapped
 * (compare allocations, shadows), by the wipe-on-fork flag it set at mmap, which memory mapped
 * there later by anyone else does not carry.
 */
export function markedOwned(kind: number, aux: number, start: number, end: number): boolean {
  // Windows: still the allocation VirtualAlloc made at `start`, every page committed.
  if (process.platform === 'win32') return committed(start, end, start);
  try {
    if (kind & KIND.UFFD) return ownsByFd(recordedFd(aux), start, end);
    return allHaveVmFlag(start, end, 'wf');
  } catch (e) {
    debug('ownership of [0x%s, 0x%s) unknown: %o', start.toString(16), end.toString(16), e);
    return false;
  }
}

setReapOwnership(markedOwned);

/** MADV_WIPEONFORK: the mark markedOwned() looks for (and a forked child gets zeros, never our data). */
const MADV_WIPEONFORK = 18;

/** Marks memory the library just mapped as its own (see markedOwned); false where the kernel lacks the flag. */
export function markMapped(address: number, length: number): boolean {
  if (process.platform !== 'linux') return false; // Windows asks VirtualQuery instead (markedOwned)
  return libc().madvise(BigInt(address), length, MADV_WIPEONFORK) === 0;
}
