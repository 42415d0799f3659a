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
import { libc } from '../libc/libc.js';
import { getPageSize } from '../platform.js';
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

const SEEK_SET = 0;
const SEEK_CUR = 1;
/**
 * A file position only this thread's pagemap descriptor has (PAGEMAP_SCAN and pread leave it
 * alone). Reading it back is one lseek, cheaper than fstat, so get() can afford it whenever a scan
 * answers "nothing written": the answer a number dup2'ed to another process's pagemap gives, our
 * addresses being holes there.
 */
const CANARY = 0x1000_0000 + Math.floor(Math.random() * 0x0fff_ffff);
let positioned = false;

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
    positioned = libc().lseek(fd, CANARY, SEEK_SET) === CANARY;
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

/**
 * After a scan that found nothing written: whether the pagemap fd is still ours, by its file
 * position (one lseek), falling back to st_dev:st_ino when the position moved (someone read the
 * fd). If it is not ours, forgets the number as verifyPagemap() does and returns false: the caller
 * asks again on a fresh descriptor. An empty answer changed nothing (no page was re-protected), so
 * asking again is safe.
 */
export function pagemapStillOurs(): boolean {
  if (fd < 0 || !positioned) return true;
  const c = libc();
  if (c.lseek(fd, 0, SEEK_CUR) === CANARY) return true;
  if (!verifyPagemap()) return false;
  c.lseek(fd, CANARY, SEEK_SET); // ours, only moved: put the canary back
  return true;
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
