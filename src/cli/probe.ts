/**
 * `writewatch probe`: whether write watching works in this process, and if not, what to change.
 * The exit status is the answer (0 supported, 1 not) so scripts and CI can gate on it.
 */
import { categoryNames as pagemapCategoryNames } from '../sys/pagemap/categories.js';
import { probe, type ProbeResult } from '../probe.js';

export const usage = 'writewatch probe [--json]   check kernel and sandbox support (exit 0 when supported)';

/** `writewatch help probe` and `probe --help`. */
export const help = `usage: ${usage}

Whether write watching works in this process, and if not, why and what to change. It runs the
real sequence once on a test page (create a userfaultfd, negotiate its features, register, arm,
write, scan) and prints what it found: the kernel, the page size, userfaultfd and how it was
opened (the syscall or /dev/userfaultfd), whether /proc/self/pagemap answers PAGEMAP_SCAN, and
what { mechanism: 'auto' } picks here. When something is missing, each reason is printed with what
to do: a seccomp profile that blocks userfaultfd (Docker's default: 'auto' then gives 'compare'),
/dev/userfaultfd not accessible, a kernel older than 6.7 (6.10 on aarch64), a masked /proc, a full
fd table (EMFILE: close trackers or raise ulimit -n).

  --json   the probe() object: supported, reasons, warnings, kernel, pageSize, userfaultfd,
           pagemapScan, auto, ...

Exit status: 0 supported, 1 not supported (the reasons are printed), 2 a wrong command line.`;

export async function run(args: string[]): Promise<number> {
  let json = false;
  for (const a of args) {
    if (a === '--json') json = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${help}\n`);
      return 0;
    } else {
      process.stderr.write(`writewatch probe: unknown option ${a}\nusage: ${usage}\n`);
      return 2;
    }
  }
  const result = probe();
  process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : format(result));
  return result.supported ? 0 : 1;
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** The human report: one fact per line, then each reason with its remedy. */
export function format(r: ProbeResult): string {
  const hex = (n: number) => `0x${n.toString(16)}`;
  if (r.platform !== undefined && r.platform !== 'linux') return formatElsewhere(r);
  const lines = [
    `supported:                 ${yesNo(r.supported)}`,
    `kernel:                    ${r.kernel}`,
    `arch:                      ${r.arch}`,
    `page size:                 ${r.pageSize || 'unknown'}`,
    `userfaultfd:               ${r.userfaultfd ? `yes, via ${r.userfaultfd.via === 'syscall' ? 'the userfaultfd syscall' : '/dev/userfaultfd'}` : 'no'}`,
    `  features:                ${r.userfaultfd ? r.userfaultfd.features.join(' ') || '(none)' : '-'}`,
    `PAGEMAP_SCAN:              ${yesNo(r.pagemapScan)}`,
    `  accepted categories:     ${r.pagemapScan ? `${hex(r.categories)} (${categoryNames(r.categories)})` : '-'}`,
    `vm.unprivileged_userfaultfd: ${r.unprivilegedUserfaultfd ?? 'unreadable'}${unprivilegedNote(r.unprivilegedUserfaultfd)}`,
    `end-to-end write check:    ${r.endToEnd ? 'passed' : r.reasons.length ? 'not run or failed' : 'failed'}`,
    `mechanism 'auto' uses:     ${r.auto ? r.auto.mechanism : '-'}`,
  ];
  for (const w of r.warnings ?? []) lines.push(`warning: ${w}`);
  if (r.reasons.length > 0) {
    lines.push('', 'why not, and what to do:');
    for (const reason of r.reasons) lines.push(`  - ${reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Off Linux: what the platform offers (Windows: kernel32's own write watch), without Linux's facts. */
function formatElsewhere(r: ProbeResult): string {
  const lines = [
    `supported:                 ${yesNo(r.supported)}`,
    `platform:                  ${r.platform}${r.windows ? ` (${r.windows})` : ''}`,
    `arch:                      ${r.arch}`,
    `page size:                 ${r.pageSize || 'unknown'}`,
    `write-protect:             ${r.platform === 'win32' ? "kernel32's GetWriteWatch (allocate; track uses compare)" : 'none'}`,
    `end-to-end write check:    ${r.endToEnd ? 'passed' : r.reasons.length ? 'not run or failed' : 'failed'}`,
    `mechanism 'auto' uses:     ${r.auto.mechanism ?? 'none'}`,
  ];
  if (r.reasons.length > 0) {
    lines.push('', 'why not, and what to do:');
    for (const reason of r.reasons) lines.push(`  - ${reason}`);
  }
  return `${lines.join('\n')}\n`;
}

function categoryNames(mask: number): string {
  // The library's names: bits newer than ours (7.3's ACCESSED) are named too, not dropped.
  const names = pagemapCategoryNames(mask);
  return names.length ? names.join(' ') : 'none';
}

function unprivilegedNote(v: number | null): string {
  // The library asks for UFFD_USER_MODE_ONLY, which is allowed whatever the sysctl says.
  if (v === 0) return ' (only user-mode-only userfaultfds for unprivileged users; enough for writewatch)';
  if (v === 1) return ' (unprivileged userfaultfd allowed)';
  return '';
}
