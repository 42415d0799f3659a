/**
 * Why this process cannot use `/proc/self/pagemap` for write watching, and what to do: one
 * message for probe() and for the UnsupportedError that allocate()/track() throw, so both say the
 * same thing. Sandboxes hide pagemap in three ways, each with its own errno: no procfs at /proc
 * (ENOENT), an LSM or mount option denying it (EACCES/EPERM), or a file mounted over it the way
 * runtimes mask /proc entries (open works, the ioctl fails with ENOTTY); a seccomp filter can
 * also reject the ioctl itself.
 */
import { fstatSync } from 'node:fs';
import { release } from 'node:os';
import { SystemCallError, UnsupportedError, explainResourceError, isResourceError } from '../../errors.js';
import { lastError } from '../libc/errno.js';
import { libc } from '../libc/libc.js';
import { u64Struct } from '../libc/u64.js';
import { PAGE_IS, PAGEMAP_SCAN, PM_SCAN_ARG, PM_SCAN_ARG_SIZE } from './abi.js';
import { closeFd, openPagemap } from './raw.js';

const PATH = '/proc/self/pagemap';

/** The message for a failed open of /proc/self/pagemap. */
export function explainOpenFailure(err: unknown): string {
  if (isResourceError(err)) return explainResourceError(err);
  const code = err instanceof SystemCallError ? err.code : String(err);
  if (code === 'ENOENT') {
    return `${PATH} does not exist (ENOENT): procfs is not mounted at /proc in this sandbox; mount it (container runtimes do by default)`;
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return `${PATH} cannot be opened (${code}): an LSM (AppArmor, SELinux) or the procfs mount denies it; allow this process to read its own pagemap`;
  }
  return `${PATH} cannot be opened (${code})`;
}

/** The message for a zero-length PAGEMAP_SCAN that failed with `err` on an open pagemap `fd`. */
export function explainScanFailure(err: SystemCallError, fd: number, kernel = release()): string {
  let what = '';
  try {
    const st = fstatSync(fd);
    // procfs's pagemap is a regular file; a runtime masking it binds /dev/null or a directory over it.
    if (!st.isFile()) what = st.isCharacterDevice() ? 'a character device (e.g. /dev/null)' : 'not a regular file';
  } catch {
    /* fd unusable: say nothing about what it is */
  }
  if (what) {
    return `${PATH} is masked: ${what} is mounted over it, as container runtimes mask /proc entries (PAGEMAP_SCAN failed with ${err.code}); unmask it (docker/podman: --security-opt systempaths=unconfined)`;
  }
  const [major, minor] = kernel.split('.').map((x) => parseInt(x, 10));
  if ((err.code === 'ENOTTY' || err.code === 'EINVAL') && (major < 6 || (major === 6 && minor < 7))) {
    return `${PATH} does not support the PAGEMAP_SCAN ioctl (${err.code}): Linux ${kernel} is older than 6.7; upgrade the kernel`;
  }
  return (
    `the PAGEMAP_SCAN ioctl on ${PATH} failed with ${err.code} although Linux ${kernel} has it: a seccomp filter ` +
    `or an LSM rejects the ioctl; allow ioctl request 0x${PAGEMAP_SCAN.toString(16)} in the sandbox profile`
  );
}

/** A zero-length scan (walks nothing, changes nothing); returns the errno's error or null. */
export function scanFailure(fd: number): SystemCallError | null {
  const { u64 } = u64Struct(PM_SCAN_ARG_SIZE / 8);
  u64[PM_SCAN_ARG.size] = BigInt(PM_SCAN_ARG_SIZE);
  u64[PM_SCAN_ARG.category_mask] = BigInt(PAGE_IS.WRITTEN);
  u64[PM_SCAN_ARG.return_mask] = BigInt(PAGE_IS.WRITTEN);
  return libc().ioctl(fd, PAGEMAP_SCAN, u64) === 0 ? null : lastError('ioctl', 'PAGEMAP_SCAN');
}

/**
 * Opens /proc/self/pagemap and checks that it answers PAGEMAP_SCAN; throws
 * `ERR_WRITEWATCH_UNSUPPORTED` with the reason otherwise, or the SystemCallError itself for
 * EMFILE, ENFILE and ENOMEM.
 */
export function openPagemapForScan(): number {
  let fd: number;
  try {
    fd = openPagemap('self');
  } catch (e) {
    if (isResourceError(e)) throw e; // out of fds or memory: not a sandbox, and not for good
    throw new UnsupportedError(explainOpenFailure(e), { cause: e });
  }
  const err = scanFailure(fd);
  if (err && isResourceError(err)) {
    closeFd(fd);
    throw err; // ENOMEM for the kernel's bounce buffer
  }
  if (err) {
    const msg = explainScanFailure(err, fd);
    closeFd(fd);
    throw new UnsupportedError(msg, { cause: err });
  }
  return fd;
}
