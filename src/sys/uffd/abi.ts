/**
 * userfaultfd uapi (include/uapi/linux/userfaultfd.h, Linux 6.7+): struct layouts, ioctl numbers,
 * feature and mode bits. Nothing here talks to the kernel; test/00.abi.test.ts pins every value.
 */
import { _IO, _IOR, _IOWR } from '../libc/abi.js';

export const UFFD_API = 0xaa;
/** `UFFDIO` ioctl type byte. */
export const UFFDIO = 0xaa;

/** userfaultfd(2) flag: only user-mode faults are handled, so no privilege is needed. */
export const UFFD_USER_MODE_ONLY = 1;

// struct uffdio_api { __u64 api, features, ioctls; }
export const UFFDIO_API_SIZE = 24;
export const UFFDIO_API_OFF = { api: 0, features: 8, ioctls: 16 } as const;
// struct uffdio_range { __u64 start, len; }
export const UFFDIO_RANGE_SIZE = 16;
export const UFFDIO_RANGE_OFF = { start: 0, len: 8 } as const;
// struct uffdio_register { struct uffdio_range range; __u64 mode, ioctls; }
export const UFFDIO_REGISTER_SIZE = 32;
export const UFFDIO_REGISTER_OFF = { start: 0, len: 8, mode: 16, ioctls: 24 } as const;
// struct uffdio_writeprotect { struct uffdio_range range; __u64 mode; }
export const UFFDIO_WRITEPROTECT_SIZE = 24;
export const UFFDIO_WRITEPROTECT_OFF = { start: 0, len: 8, mode: 16 } as const;

// ioctl command numbers (the `_UFFDIO_*` constants); also the bit numbers in `ioctls` masks.
export const _UFFDIO_REGISTER = 0x00;
export const _UFFDIO_UNREGISTER = 0x01;
export const _UFFDIO_WAKE = 0x02;
export const _UFFDIO_COPY = 0x03;
export const _UFFDIO_ZEROPAGE = 0x04;
export const _UFFDIO_MOVE = 0x05;
export const _UFFDIO_WRITEPROTECT = 0x06;
export const _UFFDIO_CONTINUE = 0x07;
export const _UFFDIO_POISON = 0x08;
export const _UFFDIO_API = 0x3f;

export const UFFDIO_API = _IOWR(UFFDIO, _UFFDIO_API, UFFDIO_API_SIZE);
export const UFFDIO_REGISTER = _IOWR(UFFDIO, _UFFDIO_REGISTER, UFFDIO_REGISTER_SIZE);
export const UFFDIO_UNREGISTER = _IOR(UFFDIO, _UFFDIO_UNREGISTER, UFFDIO_RANGE_SIZE);
export const UFFDIO_WAKE = _IOR(UFFDIO, _UFFDIO_WAKE, UFFDIO_RANGE_SIZE);
export const UFFDIO_WRITEPROTECT = _IOWR(UFFDIO, _UFFDIO_WRITEPROTECT, UFFDIO_WRITEPROTECT_SIZE);
/** On `/dev/userfaultfd`: make a new userfaultfd; the argument is the flags, by value. */
export const USERFAULTFD_IOC_NEW = _IO(UFFDIO, 0x00);

export const UFFDIO_REGISTER_MODE_MISSING = 1n << 0n;
export const UFFDIO_REGISTER_MODE_WP = 1n << 1n;
export const UFFDIO_REGISTER_MODE_MINOR = 1n << 2n;

export const UFFDIO_WRITEPROTECT_MODE_WP = 1n << 0n;
export const UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 1n << 1n;

/** `uffdio_api.features` bits. */
export const UFFD_FEATURE = {
  PAGEFAULT_FLAG_WP: 1n << 0n,
  EVENT_FORK: 1n << 1n,
  EVENT_REMAP: 1n << 2n,
  EVENT_REMOVE: 1n << 3n,
  MISSING_HUGETLBFS: 1n << 4n,
  MISSING_SHMEM: 1n << 5n,
  EVENT_UNMAP: 1n << 6n,
  SIGBUS: 1n << 7n,
  THREAD_ID: 1n << 8n,
  MINOR_HUGETLBFS: 1n << 9n,
  MINOR_SHMEM: 1n << 10n,
  EXACT_ADDRESS: 1n << 11n,
  WP_HUGETLBFS_SHMEM: 1n << 12n,
  WP_UNPOPULATED: 1n << 13n,
  POISON: 1n << 14n,
  WP_ASYNC: 1n << 15n,
  MOVE: 1n << 16n,
} as const;

/** The features write watching needs: async WP (faults resolved in-kernel) on never-touched pages too. */
export const WRITEWATCH_FEATURES = UFFD_FEATURE.WP_ASYNC | UFFD_FEATURE.WP_UNPOPULATED;

/** Names of the set bits of a feature mask, for messages. */
export function featureNames(mask: bigint): string[] {
  return Object.entries(UFFD_FEATURE)
    .filter(([, bit]) => (mask & bit) !== 0n)
    .map(([name]) => `UFFD_FEATURE_${name}`);
}
