/**
 * `/proc/<pid>/maps`: the VMAs a residency scan walks. The format is `proc(5)`'s:
 * `start-end perms offset dev inode [pathname]`, addresses and offset in hex.
 */
import { readFileSync } from 'node:fs';
import { SystemCallError } from '../../errors.js';

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
  const out: MapsEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unexpected /proc/<pid>/maps line: ${JSON.stringify(line)}`);
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
 * Reads `/proc/<pid>/maps`. Errors are system errors with `.code`: ENOENT for a process that does
 * not exist (or exited), EACCES when PTRACE_MODE_READ on it is refused.
 */
export function readMaps(pid: number | 'self'): MapsEntry[] {
  const path = `/proc/${pid}/maps`;
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
