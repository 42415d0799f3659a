/**
 * `/proc/<pid>/maps`: the VMAs a residency scan walks. The format is `proc(5)`'s:
 * `start-end perms offset dev inode [pathname]`, addresses and offset in hex.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { InvalidArgTypeError, InvalidArgValueError, SystemCallError } from '../../errors.js';

export interface MapsEntry {
  /** Hex as printed: `[vsyscall]` lies above 2^56 and would not survive as a number. */
  startHex: string;
  endHex: string;
  /**
   * Absolute addresses; NaN for a mapping outside the user address space (`[vsyscall]` at
   * 0xffffffffff600000), which PAGEMAP_SCAN cannot walk (EFAULT).
   */
  start: number;
  end: number;
  /** `rwxp` / `r--s` … */
  perms: string;
  offset: number;
  dev: string;
  inode: number;
  /** The file, `[heap]`, `[stack]`, `[anon:name]`…, or '' for anonymous memory. */
  pathname: string;
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/;

/** Parses the text of a maps file; lines that do not match the format are an error, not skipped. */
export function parseMaps(text: string): MapsEntry[] {
  if (typeof text !== 'string') throw new InvalidArgTypeError('text', 'of type string', text);
  const out: MapsEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) throw new InvalidArgValueError('text', line, 'has an unexpected /proc/<pid>/maps line (start-end perms offset dev inode [pathname])');
    out.push({
      startHex: m[1],
      endHex: m[2],
      start: userAddress(m[1]),
      end: userAddress(m[2]),
      perms: m[3],
      offset: parseInt(m[4], 16),
      dev: m[5],
      inode: Number(m[6]),
      pathname: m[7],
    });
  }
  return out;
}

/** Page-aligned addresses below 2^56 (x86_64 5-level paging) are exact doubles, safe integers or not. */
function userAddress(hex: string): number {
  const n = parseInt(hex, 16);
  return n <= 2 ** 56 ? n : NaN;
}

/**
 * A process to read under /proc: 'self' or a positive safe integer, nothing else. A string such as
 * '../../tmp/x' would make `/proc/${pid}/maps` a path anywhere in the file system.
 */
export function checkPid(pid: unknown): number | 'self' {
  if (pid === 'self') return pid;
  if (typeof pid !== 'number') throw new InvalidArgTypeError('pid', "a positive integer or 'self'", pid);
  if (!Number.isSafeInteger(pid) || pid < 1) throw new InvalidArgValueError('pid', pid, "must be a positive integer or 'self'");
  return pid;
}

/**
 * Reads `/proc/<pid>/maps`. Errors are system errors with `.code`: ENOENT for a process that does
 * not exist (or exited), EACCES when PTRACE_MODE_READ on it is refused.
 */
export function readMaps(pid: number | 'self'): MapsEntry[] {
  const path = `/proc/${checkPid(pid)}/maps`;
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (typeof err.errno === 'number') throw new SystemCallError('open', -err.errno, path);
    throw e;
  }
  return parseMaps(text);
}

/** smaps is read into this buffer, reused: a string per read would be garbage of ~100 KB a call. */
let smaps = Buffer.alloc(1 << 18);

/** Reads /proc/self/smaps whole into `smaps`; returns its length. */
function readSmaps(): number {
  const fd = openSync('/proc/self/smaps', 'r');
  try {
    let n = 0;
    for (;;) {
      if (n === smaps.length) {
        const bigger = Buffer.alloc(smaps.length * 2);
        smaps.copy(bigger, 0, 0, n);
        smaps = bigger;
      }
      const k = readSync(fd, smaps, n, smaps.length - n, null);
      if (k === 0) return n;
      n += k;
    }
  } finally {
    closeSync(fd);
  }
}

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX['0123456789abcdef'.charCodeAt(i)] = i;
const VMFLAGS = Buffer.from('VmFlags:');

/**
 * Walks `/proc/self/smaps` in place, calling `visit(s, e, has)` for each mapping overlapping
 * [start, end) in address order, `has` saying whether its VmFlags carry the two-letter code
 * `flag`; stops when `visit` returns false. Mappings are in address order, each with one VmFlags
 * line (Linux 3.8+) after its range line.
 */
function eachOverlapping(start: number, end: number, flag: string, visit: (s: number, e: number, has: boolean) => boolean): void {
  const n = readSmaps();
  const b = smaps;
  const f0 = flag.charCodeAt(0);
  const f1 = flag.charCodeAt(1);
  let s = 0, e = 0;
  let inRange = false;
  for (let i = 0; i < n; ) {
    let eol = b.indexOf(10, i);
    if (eol < 0 || eol > n) eol = n;
    // A mapping's first line starts with its hex range; the others with a field name.
    if (HEX[b[i]] >= 0) {
      let j = i;
      s = 0, e = 0;
      for (; HEX[b[j]] >= 0; j++) s = s * 16 + HEX[b[j]];
      for (j++; HEX[b[j]] >= 0; j++) e = e * 16 + HEX[b[j]];
      if (s >= end) return;
      inRange = start < e;
    } else if (inRange && b.compare(VMFLAGS, 0, VMFLAGS.length, i, i + VMFLAGS.length) === 0) {
      let has = false;
      for (let j = i + VMFLAGS.length; j + 1 < eol && !has; j++) has = b[j] === f0 && b[j + 1] === f1 && b[j - 1] === 32;
      if (!visit(s, e, has)) return;
    }
    i = eol + 1;
  }
}

/**
 * Whether any mapping of this process that overlaps [start, end) carries the two-letter VmFlags
 * code `flag` (`ht`: hugetlb). From `/proc/self/smaps` (~1 ms: track() only).
 */
export function anyHasVmFlag(start: number, end: number, flag: string): boolean {
  let found = false;
  eachOverlapping(start, end, flag, (_s, _e, has) => !(found = has));
  return found;
}

/**
 * Whether every mapping of this process that overlaps [start, end) carries the two-letter VmFlags
 * code `flag` (`wf` wipe-on-fork, `nh` no-huge-page …), with no hole in the range. From
 * `/proc/self/smaps` (for close paths only: the kernel's side costs ~1 ms).
 */
export function allHaveVmFlag(start: number, end: number, flag: string): boolean {
  let reach = start;
  let all = true;
  eachOverlapping(start, end, flag, (s, e, has) => {
    if (s > reach || !has) return (all = false); // a hole, or a mapping without the flag
    reach = Math.max(reach, e);
    return true;
  });
  return all && reach >= end;
}
