/**
 * The Windows 'write-protect' mechanism: Windows' own write watch. allocate() is
 * VirtualAlloc(NULL, length, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, PAGE_READWRITE), scan is
 * GetWriteWatch, reset is ResetWriteWatch, release is VirtualFree(MEM_RELEASE). track() cannot be:
 * Windows adds write watch only to memory reserved with it, never to memory that exists already
 * (an ArrayBuffer, a WebAssembly.Memory), so 'auto' takes 'compare' for track() here.
 */
import { UnsupportedError } from '../../errors.js';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, MEM_WRITE_WATCH, PAGE_READWRITE, win32ErrorName } from '../../kernel32/abi.js';
import { isWin32ResourceError, lastWin32Error } from '../../kernel32/error.js';
import { kernel32 } from '../../kernel32/raw.js';
import type { Mechanism, Memory, Tracker } from '../contract.js';
import { Kernel32Memory } from './memory.js';
import { Kernel32Tracker } from './tracker.js';

/** Why track() cannot use this mechanism (what probe() and 'auto' say). */
export const TRACK_UNAVAILABLE =
  'Windows cannot add write watch to memory it did not reserve with VirtualAlloc(MEM_WRITE_WATCH): track() needs the compare mechanism here';

let why: string | null | undefined;

/** Null when VirtualAlloc(MEM_WRITE_WATCH) works in this process, else why not. Asked once. */
function unavailable(): string | null {
  if (why !== undefined) return why;
  if (process.platform !== 'win32') return (why = `kernel32 write watch is Windows' own; this is ${process.platform}`);
  try {
    const k = kernel32();
    // As the .NET GC probes it (GCToOSInterface::SupportsWriteWatch): reserve 64 KiB with MEM_WRITE_WATCH.
    const p = k.VirtualAlloc(null, 0x10000, MEM_RESERVE | MEM_WRITE_WATCH, PAGE_READWRITE);
    if (p === null) {
      const err = k.GetLastError();
      return (why = `VirtualAlloc(MEM_WRITE_WATCH) failed with ${win32ErrorName(err)} (${err}): this Windows does not offer write watch (Proton turns it off with PROTON_NO_WRITE_WATCH)`);
    }
    k.VirtualFree(p, 0, MEM_RELEASE);
    return (why = null);
  } catch (e) {
    return (why = (e as Error).message);
  }
}

function allocate(length: number): { memory: Memory; tracker: Tracker } {
  const reason = unavailable();
  if (reason) throw new UnsupportedError(reason);
  const p = kernel32().VirtualAlloc(null, length, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, PAGE_READWRITE);
  if (p === null) {
    const e = lastWin32Error('VirtualAlloc', `${length} bytes with MEM_WRITE_WATCH`);
    // Out of memory or commit charge is the error it is (retry later); anything else means write watch is refused.
    if (isWin32ResourceError(e)) throw e;
    throw new UnsupportedError(`${e.message}: Windows refused a write-watched allocation`, { cause: e });
  }
  const memory = new Kernel32Memory(Number(p), length);
  return { memory, tracker: new Kernel32Tracker(memory) };
}

function track(): Tracker {
  throw new UnsupportedError(TRACK_UNAVAILABLE);
}

export const kernel32Mechanism: Mechanism = { name: 'write-protect', unavailable, allocate, track };
export { heldAllocations } from './memory.js';
