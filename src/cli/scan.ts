/**
 * `writewatch scan [pid]`: residency of every mapping of a process from read-only PAGEMAP_SCAN
 * queries (present, swapped, zero page, huge), as a table, a picture (`--map`, `--svg`) or JSON.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UnsupportedError } from '../errors.js';
import { categoryNames } from '../sys/pagemap/categories.js';
import { CLASS, CLASSES, bucketPages, scanResidency, type MappingResidency, type ProcessResidency } from '../sys/pagemap/residency.js';
import { renderSvg } from './scan-svg.js';

export const usage = 'writewatch scan [pid] [--map] [--width N] [--svg FILE] [--json] [--used]';

/** `writewatch help scan` and `scan --help`. */
export const help = `usage: ${usage}

Residency of each mapping of /proc/<pid>/maps (default: this command's own process), read with
the PAGEMAP_SCAN ioctl without modifying the target. Counts are in pages:
  resident  present pages (the shared zero page and huge pages included)
  swapped   swap entries; also the uffd-wp markers that write-watched memory keeps in
            never-touched pages (the kernel reports both as PAGE_IS_SWAPPED)
  zero      pages mapped to the shared zero page (read, never written; smaps Rss omits them)
  huge      pages of PMD-mapped transparent huge pages or hugetlb pages
  written   for write-watched mappings (marked *), pages written since the last reset
  (--json also has file: page-cache pages, guard: MADV_GUARD_INSTALL pages on Linux 6.16+)

  --map        a picture per mapping, one character per bucket of pages:
               █ ≥75% resident  ▓ ≥50%  ▒ some  ░ none  z zero page  H huge  s swapped  g guard
               w written since the last reset (write-watched mappings)
  --width N    characters (buckets) per mapping in --map / --svg (default 48)
  --svg FILE   write the picture as an SVG image
  --json       machine-readable output (an object with a "mappings" array)
  --used       only mappings with resident or swapped pages

Reading another process needs PTRACE_MODE_READ on it: the same user and a kernel.yama.ptrace_scope
that allows it, or root (CAP_SYS_PTRACE).`;

interface Args {
  pid: number | 'self';
  map: boolean;
  width: number;
  svg: string | null;
  json: boolean;
  used: boolean;
}

class UsageError extends Error {}

function parseArgs(args: string[]): Args | 'help' {
  const a: Args = { pid: 'self', map: false, width: 48, svg: null, json: false, used: false };
  let pidSeen = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') return 'help';
    else if (arg === '--map') a.map = true;
    else if (arg === '--json') a.json = true;
    else if (arg === '--used') a.used = true;
    else if (arg === '--svg' || arg === '--width') {
      const value = args[++i];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      if (arg === '--svg') a.svg = value;
      else {
        a.width = Number(value);
        if (!Number.isInteger(a.width) || a.width < 1 || a.width > 4096) throw new UsageError(`--width must be an integer from 1 to 4096, not ${JSON.stringify(value)}`);
      }
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else if (!pidSeen) {
      pidSeen = true;
      if (arg !== 'self') {
        if (!/^[1-9][0-9]{0,9}$/.test(arg)) throw new UsageError(`pid must be a positive integer or "self", not ${JSON.stringify(arg)}`);
        a.pid = Number(arg);
      }
    } else throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
  }
  return a;
}

export async function run(args: string[]): Promise<number> {
  let a: Args | 'help';
  try {
    a = parseArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`writewatch scan: ${e.message}\nusage: ${usage}\n`);
    return 2;
  }
  if (a === 'help') {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const pidText = a.pid === 'self' ? String(process.pid) : String(a.pid);
  let result: ProcessResidency;
  try {
    result = scanResidency(a.pid, { buckets: a.map || a.svg ? a.width : 0 });
  } catch (e) {
    process.stderr.write(`writewatch scan: ${explain(e, pidText)}\n`);
    return 1;
  }
  if (a.used) result.mappings = result.mappings.filter((m) => m.resident + m.swapped + m.guard > 0);
  const comm = processName(a.pid);
  if (a.svg) writeFileSync(a.svg, renderSvg(result, `pid ${pidText} (${comm})`));
  if (a.json) process.stdout.write(`${JSON.stringify(toJson(result, pidText, comm, a.map), null, 2)}\n`);
  else process.stdout.write(renderText(result, pidText, comm, a.map, a.width));
  return 0;
}

/** The reason in words, with what to do; the errno name stays visible for scripts reading stderr. */
function explain(e: unknown, pid: string): string {
  const err = e as { code?: string; message?: string };
  switch (err.code) {
    case 'ESRCH':
      // open() of /proc/<pid>/pagemap is ESRCH when the task has no mm: kernel threads, exiting tasks.
      if (processState(pid) === 'Z') return `pid ${pid} has exited (ESRCH: a zombie its parent has not reaped yet; no address space is left to scan)`;
      if (existsSync(`/proc/${pid}`)) return `pid ${pid} has no user address space to scan (ESRCH: a kernel thread, or a process that is exiting)`;
    // fallthrough
    case 'ENOENT':
      return `no process with pid ${pid} (${err.code}: /proc/${pid} does not exist or the process exited)`;
    case 'EACCES':
    case 'EPERM':
      return (
        `permission denied reading the page tables of pid ${pid} (${err.code}): /proc/${pid}/pagemap needs ` +
        'PTRACE_MODE_READ on the target: run as its user with a kernel.yama.ptrace_scope that allows it, or as root'
      );
    default:
      if (e instanceof UnsupportedError) return `${err.code}: ${err.message}`;
      return `${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`;
  }
}

/**
 * The name `ps` shows in its COMMAND column: the program of argv[0] (`node`, `python3`), not
 * /proc/<pid>/comm, which is the main thread's name and which Node renames (`MainThread` on 24,
 * `node-MainThread` on 26). Processes that rewrite their argv into a title (`nginx: master
 * process`) and kernel threads (no argv) keep their comm, as ps does for them.
 */
function processName(pid: number | 'self'): string {
  let comm = '?';
  try {
    comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    // gone or not ours: argv may still tell
  }
  let argv0 = '';
  try {
    argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
  } catch {
    return comm;
  }
  if (argv0 === '' || /[\s:]/.test(argv0)) return comm;
  return basename(argv0);
}

/** The state letter of /proc/<pid>/stat (after the parenthesised comm, which may hold spaces). */
function processState(pid: string): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

function toJson(r: ProcessResidency, pid: string, comm: string, withMap: boolean): object {
  return {
    pid: Number(pid),
    comm,
    pageSize: r.pageSize,
    categories: categoryNames(r.categories),
    totals: totals(r.mappings),
    mappings: r.mappings.map((m) => ({
      start: `0x${m.startHex}`,
      end: `0x${m.endHex}`,
      perms: m.perms,
      offset: m.offset,
      dev: m.dev,
      inode: m.inode,
      pathname: m.pathname,
      scanned: m.scanned,
      pages: m.pages,
      resident: m.resident,
      swapped: m.swapped,
      zero: m.zero,
      huge: m.huge,
      file: m.file,
      guard: m.guard,
      tracked: m.tracked,
      written: m.written,
      ...(withMap && m.buckets ? { map: picture(m) } : {}),
    })),
  };
}

function totals(ms: MappingResidency[]) {
  const t = { mappings: ms.length, pages: 0, resident: 0, swapped: 0, zero: 0, huge: 0, file: 0, guard: 0, written: 0 };
  for (const m of ms) {
    t.pages += m.pages;
    t.resident += m.resident;
    t.swapped += m.swapped;
    t.zero += m.zero;
    t.huge += m.huge;
    t.file += m.file;
    t.guard += m.guard;
    t.written += m.written;
  }
  return t;
}

/** One character per bucket: the class holding most pages, present ones shaded by density. */
export function picture(m: MappingResidency): string {
  const b = m.buckets;
  if (!b) return '';
  const n = b.length / CLASSES;
  let s = '';
  for (let k = 0; k < n; k++) {
    const total = bucketPages(k, n, m.pages);
    const o = k * CLASSES;
    let best = -1, bestCount = 0;
    for (const cls of [CLASS.HUGE, CLASS.PRESENT, CLASS.SWAPPED, CLASS.ZERO, CLASS.GUARD]) {
      if (b[o + cls] > bestCount) (best = cls), (bestCount = b[o + cls]);
    }
    // In write-watched memory the written pages are the point: one is enough to mark the bucket.
    if (b[o + CLASS.WRITTEN] > 0) s += 'w';
    else if (best === CLASS.PRESENT) {
      const f = bestCount / total;
      s += f >= 0.75 ? '█' : f >= 0.5 ? '▓' : '▒';
    } else s += best === CLASS.HUGE ? 'H' : best === CLASS.ZERO ? 'z' : best === CLASS.SWAPPED ? 's' : best === CLASS.GUARD ? 'g' : '░';
  }
  return s;
}

function size(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let u = 0;
  while (bytes >= 1024 && u < units.length - 1) (bytes /= 1024), u++;
  return `${bytes >= 100 || Number.isInteger(bytes) ? Math.round(bytes) : bytes.toFixed(1)}${units[u]}`;
}

function renderText(r: ProcessResidency, pid: string, comm: string, withMap: boolean, width: number): string {
  const t = totals(r.mappings);
  const lines: string[] = [];
  lines.push(
    `pid ${pid} (${comm}): ${t.mappings} mappings, ${size(t.pages * r.pageSize)} mapped, ${size(t.resident * r.pageSize)} resident ` +
      `(${t.resident} pages of ${size(r.pageSize)}), ${t.swapped} swapped, ${t.zero} zero-page, ${t.huge} huge`,
  );
  const head = ['address', 'perm', 'size', 'resident', 'swapped', 'zero', 'huge'];
  const rows = r.mappings.map((m) => [
    `${m.startHex}-${m.endHex}`,
    m.perms,
    size(m.pages * r.pageSize),
    m.scanned ? String(m.resident) : '-',
    m.scanned ? String(m.swapped) : '-',
    m.scanned ? String(m.zero) : '-',
    m.scanned ? String(m.huge) : '-',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (cols: string[]) => cols.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  lines.push(`${fmt(head)}  ${withMap ? `${'map'.padEnd(width)}  ` : ''}name`);
  r.mappings.forEach((m, i) => {
    const name = m.pathname + (m.tracked ? ` *written ${m.written}` : '') + (m.scanned ? '' : ' (not scannable)');
    lines.push(`${fmt(rows[i])}  ${withMap ? `${picture(m).padEnd(width)}  ` : ''}${name}`.trimEnd());
  });
  if (withMap) lines.push('map: █ ≥75% resident  ▓ ≥50%  ▒ some  ░ none  z zero page  H huge  s swapped/uffd marker  g guard  w written (write-watched)');
  return `${lines.join('\n')}\n`;
}
