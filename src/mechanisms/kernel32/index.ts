/**
 * The Windows 'write-protect' mechanism: Windows' own write watch. allocate() is
 * VirtualAlloc(NULL, length, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, PAGE_READWRITE), scan is
 * GetWriteWatch, reset is ResetWriteWatch, release is VirtualFree(MEM_RELEASE). track() cannot be:
 * Windows adds write watch only to memory reserved with it, never to memory that exists already
 * (an ArrayBuffer, a WebAssembly.Memory), so 'auto' takes 'compare' for track() here.
 */
import { SystemCallError, UnsupportedError } from '../../errors.js';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, MEM_WRITE_WATCH, PAGE_READWRITE, win32ErrorName } from '../../sys/kernel32/abi.js';
import { lastWin32Error } from '../../sys/kernel32/error.js';
import { kernel32 } from '../../sys/kernel32/raw.js';
import type { ClaimHook, Mechanism, Memory, Tracker } from '../contract.js';
import { Kernel32Memory } from '../../memory/windows.js';
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

function allocate(length: number, claim: ClaimHook): { memory: Memory; tracker: Tracker } {
  const reason = unavailable();
  if (reason) throw new UnsupportedError(reason);
  const p = kernel32().VirtualAlloc(null, length, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, PAGE_READWRITE);
  if (p === null) {
    const e = lastWin32Error('VirtualAlloc', `${length} bytes with MEM_WRITE_WATCH`);
    // unavailable() found write watch offered: only ERROR_NOT_SUPPORTED means it is refused now.
    if (e.errno === 50 /* ERROR_NOT_SUPPORTED */) throw new UnsupportedError(`${e.message}: Windows refused a write-watched allocation`, { cause: e });
    // Anything else is the memory Windows cannot give (commit charge, address space, a size past
    // it): ENOMEM, as mmap's on Linux, with Windows' own error named and kept as the cause.
    const err = new SystemCallError('VirtualAlloc', 12 /* ENOMEM */, `${length} bytes: ${e.code} (${e.errno})`);
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
  const memory = new Kernel32Memory(Number(p), length);
  try {
    claim(memory.address, memory.address + length, 'mapped');
  } catch (e) {
    memory.release();
    throw e;
  }
  return { memory, tracker: new Kernel32Tracker(memory) };
}

function track(): Tracker {
  throw new UnsupportedError(TRACK_UNAVAILABLE);
}

export const kernel32Mechanism: Mechanism = {
  name: 'write-protect',
  unavailable,
  trackUnavailable: () => TRACK_UNAVAILABLE,
  allocate,
  track,
};
export { heldAllocations } from '../../memory/windows.js';
