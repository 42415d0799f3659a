/**
 * probe(): what this process can use, and why not, without throwing. It runs the real sequence
 * once on one page (create, negotiate, register, arm, write, scan) so "supported" means it works.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { InvalidArgTypeError, InvalidArgValueError, SystemCallError, explainResourceError, isResourceError } from './errors.js';
import { arch } from './sys/libc/arch.js';
import { getPageSize } from './sys/platform.js';
import { acceptedCategories } from './sys/pagemap/categories.js';
import { explainOpenFailure, explainScanFailure, scanFailure } from './sys/pagemap/unavailable.js';
import { closeFd, openPagemap } from './sys/pagemap/raw.js';
import { featureNames } from './sys/uffd/abi.js';
import { Userfaultfd } from './sys/uffd/userfaultfd.js';
import { mechanismNamed } from './mechanisms/index.js';
import { windowsVersion } from './sys/kernel32/system.js';
import { WriteWatch } from './writewatch/write-watch.js';

/** Moved to the pagemap layer; still exported here for existing importers. */
export { acceptedCategories } from './sys/pagemap/categories.js';

export interface ProbeResult {
  supported: boolean;
  /** `process.platform`: write-protect is userfaultfd on 'linux', kernel32's GetWriteWatch on 'win32'. */
  platform: string;
  /** On Windows, its version ("Windows 10.0.19045", with Wine's version under Wine); null elsewhere. */
  windows: string | null;
  /** Why not (empty when supported), each with what to do. */
  reasons: string[];
  /** Works, but with known kernel bugs worth an upgrade (does not affect `supported`). */
  warnings: string[];
  /** `uname -r` (on Windows, `os.release()`). */
  kernel: string;
  pageSize: number;
  arch: string;
  /** How a userfaultfd was obtained, or null. */
  userfaultfd: { via: 'syscall' | 'device'; features: string[] } | null;
  /** Whether `/proc/self/pagemap` answers PAGEMAP_SCAN. */
  pagemapScan: boolean;
  /** Category bits the kernel accepts in PAGEMAP_SCAN masks (6.7: 0x7f, 6.8+: 0xff, 6.16+: 0x1ff). */
  categories: number;
  /** `vm.unprivileged_userfaultfd`, when readable. */
  unprivilegedUserfaultfd: number | null;
  /** Whether a write to tracked memory was reported by a scan (the end-to-end check). */
  endToEnd: boolean;
  /**
   * What `{ mechanism: 'auto' }` chooses here, and why: 'write-protect' when supported, else
   * 'compare' (a shadow diff: pages whose content changed), which needs none of the above. When
   * write-protect failed only for an exhausted resource (descriptors, memory, the registry's
   * slots), 'write-protect': 'auto' throws that error as allocate()/track() do, it does not fall back.
   */
  auto: { mechanism: 'write-protect' | 'compare' | null; reason: string };
}

/** `kernelRelease` is judged instead of this kernel's `uname -r` (tests of the version rules). */
export function probe(kernelRelease?: string): ProbeResult {
  // Copied once and checked before anything runs: probe(123) would otherwise die in split().
  const given: unknown = kernelRelease;
  if (given !== undefined && typeof given !== 'string') throw new InvalidArgTypeError('kernelRelease', 'of type string', given);
  // Judged by its major.minor(.patch): anything else would pass every version rule (NaN compares false).
  if (given !== undefined && !/^\d+\.\d+(\.\d+)?([^\d.]|$)/.test(given)) {
    throw new InvalidArgValueError('kernelRelease', given, "must be a kernel release as `uname -r` prints it (e.g. '6.18.4-generic')");
  }
  kernelRelease = given ?? release();
  /** Failures that were an exhausted resource, not a missing feature (see `auto`). */
  let resources = 0;
  const failed = (e: unknown): string => {
    if (isResourceError(e)) resources++;
    return message(e);
  };
  const result: ProbeResult = {
    supported: false,
    platform: process.platform,
    windows: null,
    reasons: [],
    warnings: [],
    kernel: kernelRelease,
    pageSize: 0,
    arch: process.arch,
    userfaultfd: null,
    pagemapScan: false,
    categories: 0,
    unprivilegedUserfaultfd: process.platform === 'linux' ? readSysctl('/proc/sys/vm/unprivileged_userfaultfd') : null,
    endToEnd: false,
    auto: { mechanism: 'compare', reason: '' },
  };
  if (process.platform !== 'linux') return probeElsewhere(result);
  try {
    arch();
    result.pageSize = getPageSize();
  } catch (e) {
    result.reasons.push(message(e));
    result.auto = autoChoice(result, 0);
    return result;
  }
  const [major, minor] = result.kernel.split('.').map((x) => parseInt(x, 10));
  const [minMajor, minMinor] = arch().minKernel;
  if (major < minMajor || (major === minMajor && minor < minMinor)) {
    result.reasons.push(
      `Linux ${result.kernel} is older than ${minMajor}.${minMinor}, the first release with userfaultfd WP_ASYNC and PAGEMAP_SCAN on ${process.arch}: upgrade the kernel`,
    );
  }
  const patch = parseInt(result.kernel.split('.')[2] ?? '0', 10) || 0;
  if (major === 6 && (minor === 7 || (minor === 8 && patch < 10))) {
    // kernel research §4: fixed in 6.9 and 6.8.10 (A/D bits lost by WP scans, uffd-wp misread on
    // swap entries, stale WP bits left by close()).
    result.warnings.push(
      `Linux ${result.kernel} predates the PAGEMAP_SCAN/userfaultfd fixes of 6.9 (6.8.10): swapped-out pages can be misreported; upgrade to >= 6.9`,
    );
  }
  try {
    const u = Userfaultfd.open();
    result.userfaultfd = { via: u.via, features: featureNames(u.features) };
    u.close();
  } catch (e) {
    result.reasons.push(failed(e));
  }
  let fd = -1;
  try {
    fd = openPagemap('self');
  } catch (e) {
    if (isResourceError(e)) resources++;
    result.reasons.push(explainOpenFailure(e));
  }
  if (fd >= 0) {
    try {
      const err = scanFailure(fd);
      result.pagemapScan = err === null;
      if (err) result.reasons.push(explainScanFailure(err, fd, result.kernel));
      else result.categories = acceptedCategories(fd);
    } finally {
      closeFd(fd);
    }
  }
  if (result.reasons.length === 0) endToEnd(result, failed);
  result.supported = result.reasons.length === 0;
  result.auto = autoChoice(result, resources);
  return result;
}

/** The end-to-end check: a write to a fresh allocation is reported once, and reset. */
function endToEnd(result: ProbeResult, failed: (e: unknown) => string = message): void {
  try {
    const ww = WriteWatch.allocate(2 * result.pageSize);
    try {
      new Uint8Array(ww.buffer)[result.pageSize] = 1;
      const pages = ww.get({ reset: true });
      result.endToEnd = pages.length === 1 && pages[0] === result.pageSize && ww.get().length === 0;
      if (!result.endToEnd) result.reasons.push(`a test write was reported wrongly (${JSON.stringify(pages)})`);
    } finally {
      ww.close();
    }
  } catch (e) {
    result.reasons.push(`tracking a test page failed: ${failed(e)}`);
  }
}

/**
 * Off Linux: on Windows, kernel32's GetWriteWatch (for allocate; track() takes compare), with the
 * Windows version; anywhere else no mechanism, and the platform named. No /proc is read (under Wine
 * it would be the Linux host's).
 */
function probeElsewhere(result: ProbeResult): ProbeResult {
  if (process.platform === 'win32') {
    try {
      result.windows = windowsVersion().text;
      result.pageSize = getPageSize();
      const why = mechanismNamed('write-protect').unavailable();
      if (why !== null) result.reasons.push(why);
      else endToEnd(result);
    } catch (e) {
      result.reasons.push(message(e));
    }
    result.supported = result.reasons.length === 0;
    result.auto = result.supported
      ? { mechanism: 'write-protect', reason: "Windows' own GetWriteWatch (kernel32) for allocate(); track() uses compare, as Windows adds write watch only to memory it reserved with it" }
      : autoChoice(result, 0);
    return result;
  }
  result.reasons.push(`${process.platform} has no write-protect mechanism: writewatch runs on Linux and Windows`);
  result.auto = { mechanism: null, reason: `no mechanism runs on ${process.platform}` };
  return result;
}

/** mechanisms/index.ts's one 'auto' rule: only a missing feature turns to compare; a resource error is thrown. */
function autoChoice(r: ProbeResult, resources: number): ProbeResult['auto'] {
  if (r.supported) return { mechanism: 'write-protect', reason: "the kernel's async write-protect works here: written pages, exactly" };
  if (resources > 0 && resources === r.reasons.length) {
    return {
      mechanism: 'write-protect',
      reason:
        `write-protect works here but a resource is exhausted (${r.reasons.join('; ')}): allocate()/track() with 'auto' ` +
        'throw that error rather than fall back to compare; free the resource and retry',
    };
  }
  const why = mechanismNamed('compare').unavailable();
  if (why !== null) return { mechanism: null, reason: `write-protect is unsupported here (${r.reasons.join('; ')}), and so is compare (${why})` };
  return {
    mechanism: 'compare',
    reason: `write-protect is unsupported here (${r.reasons.join('; ')}): pages are found by comparing with a shadow copy, which reports pages whose content changed`,
  };
}

function readSysctl(path: string): number | null {
  try {
    return parseInt(readFileSync(path, 'utf8'), 10);
  } catch {
    return null;
  }
}

function message(e: unknown): string {
  if (isResourceError(e)) return explainResourceError(e);
  if (e instanceof SystemCallError) return `${e.syscall} failed with ${e.code}`;
  return e instanceof Error ? e.message : String(e);
}
