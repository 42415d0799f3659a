/** The pagemap calls: open `/proc/<pid>/pagemap` and issue PAGEMAP_SCAN on it. */
import { O_CLOEXEC, O_RDONLY } from '../libc/abi.js';
import { check, lastError } from '../libc/errno.js';
import { libc } from '../libc/libc.js';
import { PAGEMAP_SCAN } from './abi.js';
import { checkPid } from '../proc/maps.js';

export function openPagemap(pid: number | 'self' = 'self'): number {
  const path = `/proc/${checkPid(pid)}/pagemap`;
  const fd = libc().open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) throw lastError('open', path);
  return fd;
}

/**
 * PAGEMAP_SCAN: returns the number of `page_region`s written, or -1 with errno left for the
 * caller, which reads it at once (the hot loop maps EPERM to a lost registration).
 */
export function pagemapScan(fd: number, arg: BigUint64Array): number {
  return libc().ioctl(fd, PAGEMAP_SCAN, arg);
}

export function closeFd(fd: number): void {
  check(libc().close(fd), 'close');
}
