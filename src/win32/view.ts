/**
 * viewMemory: not Windows, but how JS reaches the memory a C caller would through the pointer. A
 * released allocation's views are detached (this thread's at once, other threads' at their next
 * call) and its range held by a placeholder until they are collected, so neither JS nor native
 * code still holding a pointer can fault or reach a later allocation (process/views.ts).
 */
import { OutOfRangeError } from '../errors.js';
import { checkAddress, checkSize } from './args.js';
import { processView } from './process/index.js';

const USER_LIMIT = 2 ** 52;

/** An ArrayBuffer over [address, address + size); throws ERR_OUT_OF_RANGE unless inside one live allocation. */
export function viewMemory(address: bigint, size: number): ArrayBuffer {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  const start = addr < USER_LIMIT ? Number(addr) : USER_LIMIT;
  const ab = start + size < USER_LIMIT ? processView(start, size) : undefined;
  if (!ab) {
    throw new OutOfRangeError(
      'address',
      `the start of a range of ${size} bytes inside one live allocation made by virtualAlloc`,
      address,
    );
  }
  return ab;
}
