/**
 * viewMemory on Windows: not a Windows call, but how JS reaches the memory a C caller would through
 * the pointer. Only inside an allocation this thread's virtualAlloc made and VirtualQuery still
 * shows (regions.ts); MEM_RELEASE detaches the views. Touching reserved, decommitted or protected
 * pages faults the process, as the same access does in C on Windows.
 */
import { OutOfRangeError } from '../../errors.js';
import { kernel32 } from '../../sys/kernel32/raw.js';
import { checkAddress, checkSize } from '../args.js';
import { MAX_VIEW_LENGTH, regionHolding, viewOf } from './regions.js';

/** x64 user space ends below 2^47: larger numbers cannot name an allocation (and stay exact below 2^52). */
const USER_LIMIT = 2 ** 52;

/** An ArrayBuffer over [address, address + size); throws ERR_OUT_OF_RANGE unless inside one live allocation. */
export function viewMemory(address: bigint, size: number): ArrayBuffer {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  const start = addr < USER_LIMIT ? Number(addr) : USER_LIMIT;
  const k = kernel32();
  // VirtualQuery (the liveness check) leaves the last error alone when it succeeds, and a failure
  // here is not the caller's: keep whatever the caller's last call set.
  const saved = k.GetLastError();
  const r = start + size < USER_LIMIT && size <= MAX_VIEW_LENGTH ? regionHolding(start, start + size) : undefined;
  k.SetLastError(saved);
  if (!r) {
    throw new OutOfRangeError(
      'address',
      `the start of a range of ${size} bytes inside one live allocation made by virtualAlloc`,
      address,
    );
  }
  return viewOf(r, start, size);
}
