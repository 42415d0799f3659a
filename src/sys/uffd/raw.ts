/**
 * One typed function per userfaultfd call. Each takes the caller's preallocated struct buffer,
 * returns the raw result, and throws a `SystemCallError` (errno read first) on failure.
 */
import { arch } from '../libc/arch.js';
import { check, lastError } from '../libc/errno.js';
import { libc } from '../libc/libc.js';
import { O_RDWR, O_CLOEXEC } from '../libc/abi.js';
import { UFFDIO_API, UFFDIO_REGISTER, UFFDIO_UNREGISTER, UFFDIO_WRITEPROTECT, USERFAULTFD_IOC_NEW } from './abi.js';

/** userfaultfd(2). */
export function userfaultfd(flags: number): number {
  return check(libc().syscall1(arch().SYS_userfaultfd, flags), 'userfaultfd');
}

/** `/dev/userfaultfd` + USERFAULTFD_IOC_NEW: for sandboxes that deny the syscall but expose the device. */
export function userfaultfdFromDevice(flags: number, path = '/dev/userfaultfd'): number {
  const c = libc();
  const dev = c.open(path, O_RDWR | O_CLOEXEC, 0);
  if (dev < 0) throw lastError('open', path);
  const fd = c.ioctlInt(dev, USERFAULTFD_IOC_NEW, flags);
  const err = fd < 0 ? lastError('ioctl', 'USERFAULTFD_IOC_NEW') : undefined;
  c.close(dev);
  if (err) throw err;
  return fd;
}

export function api(fd: number, arg: BigUint64Array): void {
  check(libc().ioctl(fd, UFFDIO_API, arg), 'ioctl', 'UFFDIO_API');
}

export function register(fd: number, arg: BigUint64Array): void {
  check(libc().ioctl(fd, UFFDIO_REGISTER, arg), 'ioctl', 'UFFDIO_REGISTER');
}

export function unregister(fd: number, arg: BigUint64Array): void {
  check(libc().ioctl(fd, UFFDIO_UNREGISTER, arg), 'ioctl', 'UFFDIO_UNREGISTER');
}

export function writeprotect(fd: number, arg: BigUint64Array): void {
  check(libc().ioctl(fd, UFFDIO_WRITEPROTECT, arg), 'ioctl', 'UFFDIO_WRITEPROTECT');
}

export function close(fd: number): void {
  check(libc().close(fd), 'close');
}
