/**
 * viewMemory: not Windows, but how JS reaches the memory a C caller would through the pointer.
 * Each call hands out a fresh ArrayBuffer from the allocation's Mapping, which detaches it at
 * MEM_RELEASE and keeps a placeholder over the range until it is collected (memory/mapping.ts), so
 * neither JS nor native code still holding its pointer can fault or reach a later allocation.
 */
import { OutOfRangeError } from '../errors.js';
import { findAllocation } from './allocations.js';
import { checkAddress, checkSize } from './args.js';

const USER_LIMIT = 2 ** 52;

/** An ArrayBuffer over [address, address + size); throws ERR_OUT_OF_RANGE unless inside one live allocation. */
export function viewMemory(address: bigint, size: number): ArrayBuffer {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  const start = addr < USER_LIMIT ? Number(addr) : USER_LIMIT;
  const a = start + size < USER_LIMIT ? findAllocation(start, start + size) : undefined;
  if (!a) {
    throw new OutOfRangeError(
      'address',
      `the start of a range of ${size} bytes inside one live allocation made by virtualAlloc`,
      address,
    );
  }
  return a.mapping.view(start - a.base, size);
}
