/**
 * The process's own `/proc/self/pagemap`, opened once with O_CLOEXEC and shared by every tracker
 * in this thread. Re-opened when the pid changes (an inherited pagemap fd keeps acting on the
 * parent's address space) and when its number no longer names the file we opened (closed behind
 * our back, or another file put there): st_dev:st_ino recorded at open tell, as for userfaultfds.
 * A worker's fd is closed when the worker ends (or, terminated mid-JS, by the next thread that opens
 * one: process/registry.ts).
 */
import createDebug from 'debug';
import { arch } from '../libc/arch.js';
import { getPageSize, libc } from '../libc/libc.js';
import { atThreadExit } from '../libc/thread-exit.js';
import { fdIsRecorded, forgetFd, recordFd } from '../process/registry.js';
import { closeFd } from './raw.js';
import { openPagemapForScan } from './unavailable.js';
import { WrittenScanner } from './written.js';

const debug = createDebug('writewatch:pagemap');

let fd = -1;
let pid = -1;
let slot = -1;
let scanner: WrittenScanner | undefined;

function currentPid(): number {
  return libc().syscall0(arch().SYS_getpid);
}

/** The fd of this process's pagemap, opening it on first use. */
export function selfPagemapFd(): number {
  if (fd < 0) {
    const opened = openPagemapForScan(); // ERR_WRITEWATCH_UNSUPPORTED, with the reason, in a sandbox that hides it
    try {
      slot = recordFd(opened);
    } catch (e) {
      closeFd(opened);
      throw e;
    }
    fd = opened;
    pid = currentPid();
    debug('opened /proc/self/pagemap as fd %d (pid %d)', fd, pid);
    atThreadExit(closeSelfPagemap); // a worker's fd would otherwise outlive it
  }
  return fd;
}

/** Re-opens the pagemap if this is a forked child; cheap enough for allocate(), not for get(). */
export function checkPagemapOwner(): void {
  if (fd >= 0 && currentPid() !== pid) {
    debug('pid changed from %d: re-opening pagemap', pid);
    const inherited = fd;
    fd = -1;
    forgetFd(slot);
    closeFd(inherited); // closes only the child's copy
    selfPagemapFd();
  }
  verifyPagemap();
}

/**
 * Whether the pagemap fd still names the file this thread opened; if not, forgets the number
 * (without closing it: it is someone else's now) so that the next selfPagemapFd() opens a fresh
 * one. One fstat: for allocate/track/close and error paths (EBADF, ENOTTY, EINVAL), not per get.
 * Returns false when it had to forget it.
 */
export function verifyPagemap(): boolean {
  if (fd < 0 || fdIsRecorded(slot, fd)) return true;
  debug('fd %d is no longer our /proc/self/pagemap: opening a new one', fd);
  fd = -1;
  forgetFd(slot);
  return false;
}

/** The shared scanner over this process's pagemap. */
export function selfScanner(): WrittenScanner {
  selfPagemapFd(); // open now, so allocate() fails where pagemap is unusable, not the first get()
  return (scanner ??= new WrittenScanner(selfPagemapFd, getPageSize()));
}

/** Closes the shared fd if it is still ours (tests use it to prove nothing else is left open). */
export function closeSelfPagemap(): void {
  if (fd >= 0) {
    const old = fd;
    const ours = fdIsRecorded(slot, old);
    fd = -1;
    forgetFd(slot);
    if (ours) closeFd(old);
  }
}
