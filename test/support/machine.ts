/**
 * What the tests need to know about the machine they run on, found out rather than assumed: how
 * long a child process may take, and where the user address space ends.
 */
import { MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_NONE } from '../../src/sys/libc/abi.js';
import { libc } from '../../src/sys/libc/libc.js';
import { PAGE } from './kernel.js';

/**
 * The bound on a child process (spawnSync's `timeout`). A bound against a hang, never a
 * measurement: it fits a machine 20x slower than a laptop (QEMU TCG emulation is 5-20x slower).
 */
export const CHILD_TIMEOUT = 600_000;

const EEXIST = 17;

/** Whether [address, address + PAGE) lies in the user address space (mapped or not). */
function userPage(address: number): boolean {
  const c = libc();
  const p = c.mmap(BigInt(address), PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p === MAP_FAILED) return c.errno() === EEXIST; // something is mapped there: it is user space
  c.munmap(p, PAGE);
  // A kernel before 4.17 treats the flag as a hint and may map elsewhere: not at `address`, not proof.
  return p === BigInt(address);
}

let limit: number | undefined;

/**
 * The end of the user address space (TASK_SIZE), found by probing with MAP_FIXED_NOREPLACE: 2^47
 * minus a page on x86_64 with 4-level paging, 2^56 minus a page with 5-level paging, 2^48 or 2^52
 * on arm64 (Debian's arm64 kernels use 52-bit virtual addresses). Binary search over pages.
 */
export function userAddressLimit(): number {
  if (limit !== undefined) return limit;
  let lo = 1 << 20; // user space: page-aligned, well above the NULL guard
  let hi = 2 ** 57; // above every 64-bit layout Linux has
  if (!userPage(lo)) throw new Error('cannot map a page at 1 MiB: the probe does not work here');
  // Invariant: lo is a user page, hi is not.
  while (hi - lo > PAGE) {
    const mid = Math.floor((lo + hi) / 2 / PAGE) * PAGE;
    if (userPage(mid)) lo = mid;
    else hi = mid;
  }
  return (limit = hi);
}
