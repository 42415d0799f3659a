/**
 * Whether the userfaultfd `fd` still holds [start, end): what must be known before memory it
 * tracked is unmapped, since the memory may have been unmapped behind our back and mapped again for
 * someone else. Two kernel calls, for close paths only:
 * - every mapping is registered with some async userfaultfd (the no-walk PAGEMAP_SCAN check);
 * - with this one: UFFDIO_REGISTER fails with EBUSY on a mapping another userfaultfd holds
 *   (fs/userfaultfd.c, measured), and on ours changes nothing that matters to memory about to be
 *   unmapped.
 * UFFDIO_WRITEPROTECT would not do: it does not check which userfaultfd a mapping belongs to
 * (measured on 6.18: another userfaultfd's UFFDIO_WRITEPROTECT re-armed a WriteWatch's pages).
 */
import { put64, u64Struct } from '../libc/u64.js';
import { registeredAnywhere } from '../pagemap/registered.js';
import { UFFDIO_REGISTER_MODE_WP } from './abi.js';
import * as raw from './raw.js';

const reg = u64Struct(4);

export function ownsByFd(fd: number, start: number, end: number): boolean {
  if (fd < 0 || end <= start || !registeredAnywhere(start, end)) return false;
  put64(reg.u32, 0, start);
  put64(reg.u32, 1, end - start);
  reg.u64[2] = UFFDIO_REGISTER_MODE_WP;
  reg.u64[3] = 0n;
  try {
    raw.register(fd, reg.u64);
  } catch {
    return false; // EBUSY: someone else's; EINVAL: nothing mapped there at all; EBADF: not a userfaultfd
  }
  return true;
}
