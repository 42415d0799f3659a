/**
 * viewMemory()'s buffers over process allocations. A view is a JS object of one thread, over memory
 * any thread may release, so:
 *
 * - the record counts the views of it that may still be reachable in any thread (VIEWS); each
 *   thread's FinalizationRegistry takes its own back. A released allocation with views left keeps
 *   its range under a placeholder (HELD) until the count drops to 0 (table.ts, space.ts #drop);
 * - MEM_RELEASE detaches the releasing thread's views at once; another thread's views of it are
 *   detached by that thread's next viewMemory/virtualFree call (a view cannot be reached from
 *   another isolate), and until then read the placeholder's zeros: never a fault, never someone
 *   else's memory;
 * - a view's own `transfer` / `transferToFixedLength` refuse: on Node 22+ they would hand the
 *   memory to a new ArrayBuffer that nothing here knows of. The way around that refusal
 *   (ArrayBuffer.prototype.transfer.call(view)) leaves the view detached: so this thread holds
 *   every view it handed out until the allocation is released (one per range asked for: asking
 *   again for the same range returns the same buffer), and a view found detached by someone else
 *   poisons the record: its range is never unmapped (a placeholder stays for the process's life).
 */
import koffi from 'koffi';
import { InvalidArgValueError } from '../../errors.js';
import { MAX_VIEW_LENGTH, maxViewLengthText } from '../../memory/mapping.js';
import { detach } from '../../memory/detach.js';
import { OutOfRangeError } from '../../errors.js';
import { libc } from '../../sys/libc/libc.js';
import { F, FREE, HELD, LIVE, getTable, lock, recordIndex, setState, unlock, type Table } from './table.js';

/** FLAGS bit: a view was transferred or detached behind our back; the range is never unmapped. */
export const POISONED = 2;

interface Views {
  gen: number;
  /** Held until the allocation is released (see above), by `start:size`. */
  strong: Map<string, ArrayBuffer>;
}

/** This thread's views, by record. */
const byRecord = new Map<number, Views>();
/** Views this library detached itself (so a detached view not in it was transferred by someone). */
const detachedHere = new WeakSet<ArrayBuffer>();

const collected = new FinalizationRegistry<{ k: number; gen: number }>(({ k, gen }) => {
  const t = getTable();
  lock(t);
  try {
    const i = recordIndex(k);
    if (t.i32[i + F.GEN] !== gen) return;
    const left = Atomics.sub(t.i32, i + F.VIEWS, 1) - 1;
    if (left === 0 && Atomics.load(t.i32, i + F.STATE) === HELD) unhold(t, k);
  } finally {
    unlock(t);
  }
});

/** The last view of a released (HELD) record is gone: its placeholder goes, unless poisoned. */
function unhold(t: Table, k: number): void {
  const i = recordIndex(k);
  if (t.i32[i + F.FLAGS] & POISONED) return;
  libc().munmap(BigInt(t.f64[(i >> 1) + F.BASE]), t.f64[(i >> 1) + F.SIZE]);
  setState(t, k, FREE);
}

function refuse(this: ArrayBuffer): never {
  throw new InvalidArgValueError(
    'this',
    this,
    'is a viewMemory() buffer: transferring it would hand memory that VirtualFree unmaps to a buffer nothing tracks; copy it with slice()',
  );
}

/** An ArrayBuffer over [start, start + size) of the (LIVE, table locked) record `k`. */
export function makeView(k: number, gen: number, start: number, size: number): ArrayBuffer {
  if (size === 0) return new ArrayBuffer(0); // koffi.view must never see an empty range it cannot back
  if (size > MAX_VIEW_LENGTH) throw new OutOfRangeError('size', maxViewLengthText(), size);
  sweep();
  const t = getTable();
  let v = byRecord.get(k);
  if (!v || v.gen !== gen) byRecord.set(k, (v = { gen, strong: new Map() }));
  const key = `${start}:${size}`;
  const had = v.strong.get(key);
  if (had) {
    if (had.byteLength === size) return had;
    if (!detachedHere.has(had)) t.i32[recordIndex(k) + F.FLAGS] |= POISONED; // transferred away
  }
  const ab = koffi.view(BigInt(start), size);
  Object.defineProperty(ab, 'transfer', { value: refuse });
  Object.defineProperty(ab, 'transferToFixedLength', { value: refuse });
  Atomics.add(t.i32, recordIndex(k) + F.VIEWS, 1);
  v.strong.set(key, ab);
  collected.register(ab, { k, gen });
  return ab;
}

/** Detaches the views of `v`; true when one was found detached by someone else (transferred). */
function detachAll(v: Views): boolean {
  let poisoned = false;
  for (const ab of v.strong.values()) {
    if (ab.byteLength === 0) {
      if (!detachedHere.has(ab)) poisoned = true;
      continue;
    }
    if (detach(ab)) detachedHere.add(ab);
  }
  v.strong.clear();
  return poisoned;
}

/** Detaches this thread's views of records released by another thread (table locked). */
function sweep(): void {
  const t = getTable();
  for (const [k, v] of byRecord) {
    const i = recordIndex(k);
    if (t.i32[i + F.GEN] === v.gen && Atomics.load(t.i32, i + F.STATE) === LIVE) continue;
    if (detachAll(v) && t.i32[i + F.GEN] === v.gen) t.i32[i + F.FLAGS] |= POISONED;
    byRecord.delete(k);
  }
}

/**
 * At release (table locked): detaches this thread's views of the record; true when one was found
 * detached by someone else (its memory may live on in a buffer made by transfer()).
 */
export function forgetViews(k: number, gen: number): boolean {
  sweep();
  const v = byRecord.get(k);
  if (!v || v.gen !== gen) return false;
  byRecord.delete(k);
  return detachAll(v);
}

/** How many released allocations still hold their range for a view (tests read it, as memory/mapping's heldMappings). */
export function heldAllocations(): number {
  const t = getTable();
  let n = 0;
  for (let k = 0, high = Atomics.load(t.i32, 2); k < high; k++) if (Atomics.load(t.i32, recordIndex(k) + F.STATE) === HELD) n++;
  return n;
}
