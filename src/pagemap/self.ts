/**
 * The process's own `/proc/self/pagemap`, opened once with O_CLOEXEC and shared by every tracker
 * in this thread. Re-opened when the pid changes: an inherited pagemap fd keeps acting on the
 * parent's address space.
 */
import createDebug from 'debug';
import { arch } from '../libc/arch.js';
import { getPageSize, libc } from '../libc/libc.js';
import { closeFd } from './raw.js';
import { openPagemapForScan } from './unavailable.js';
import { WrittenScanner } from './written.js';

const debug = createDebug('writewatch:pagemap');

let fd = -1;
let pid = -1;
let scanner: WrittenScanner | undefined;

function currentPid(): number {
  return libc().syscall0(arch().SYS_getpid);
}

/** The fd of this process's pagemap, opening it on first use. */
export function selfPagemapFd(): number {
  if (fd < 0) {
    fd = openPagemapForScan(); // ERR_WRITEWATCH_UNSUPPORTED, with the reason, in a sandbox that hides it
    pid = currentPid();
    debug('opened /proc/self/pagemap as fd %d (pid %d)', fd, pid);
  }
  return fd;
}

/** Re-opens the pagemap if this is a forked child; cheap enough for allocate(), not for get(). */
export function checkPagemapOwner(): void {
  if (fd >= 0 && currentPid() !== pid) {
    debug('pid changed from %d: re-opening pagemap', pid);
    const inherited = fd;
    fd = -1;
    closeFd(inherited); // closes only the child's copy
    selfPagemapFd();
  }
}

/** The shared scanner over this process's pagemap. */
export function selfScanner(): WrittenScanner {
  selfPagemapFd(); // open now, so allocate() fails where pagemap is unusable, not the first get()
  return (scanner ??= new WrittenScanner(selfPagemapFd, getPageSize()));
}

/** Closes the shared fd (tests use it to prove nothing else is left open). */
export function closeSelfPagemap(): void {
  if (fd >= 0) {
    const old = fd;
    fd = -1;
    closeFd(old);
  }
}
