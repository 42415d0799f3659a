/**
 * `writewatch scan` as a user runs it (node dist/cli/main.js, built by `npm test` first), on this
 * test's own process and on a child process whose pages the test laid out.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import koffi from 'koffi';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '../src/sys/libc/abi.js';
import { libc } from '../src/sys/libc/libc.js';
import { WriteWatch } from '../src/index.js';
import { PAGE, describeKernel } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';
import { eventually, lingering } from './support/wait.js';

const root = resolve(import.meta.dirname, '..');
const main = join(root, 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'ww-scan-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  expect(existsSync(main), 'dist/cli/main.js: run `npx tsc -p .` (npm test builds first)').toBe(true);
});

function cli(args: string[], options: { uid?: number; gid?: number } = {}) {
  const r = spawnSync(process.execPath, [main, 'scan', ...args], { encoding: 'utf8', timeout: CHILD_TIMEOUT, ...options });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `writewatch scan` as uid/gid 65534. The command's modules are loaded while still root and the
 * process drops privileges only then: the checkout may be readable by root alone (a clone under
 * /root), and what is tested is the pagemap permission, not file permissions.
 */
function cliAsNobody(args: string[]) {
  const script =
    `const scan = await import(${JSON.stringify(pathToFileURL(join(root, 'dist/cli/scan.js')).href)});\n` +
    'process.setgid(65534);\nprocess.setuid(65534);\n' +
    `process.exitCode = await scan.run(${JSON.stringify(args)});\n`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: CHILD_TIMEOUT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface ScanJson {
  pid: number;
  comm: string;
  pageSize: number;
  categories: string[];
  totals: Record<string, number>;
  mappings: {
    start: string;
    end: string;
    perms: string;
    pathname: string;
    pages: number;
    resident: number;
    swapped: number;
    zero: number;
    huge: number;
    file: number;
    tracked: boolean;
    written: number;
    scanned: boolean;
    map?: string;
  }[];
}

function scanJson(args: string[]): ScanJson {
  const r = cli([...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as ScanJson;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** 64 pages in a VMA of their own (PROT_NONE neighbours): 16 written, 8 read (zero page), 40 untouched. */
function pattern(): number {
  const span = 66 * PAGE;
  const raw = libc().mmap(null, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  expect(raw).not.toBe(MAP_FAILED);
  cleanups.push(() => libc().munmap(raw, span));
  const address = Number(raw) + PAGE;
  expect(libc().mprotect(BigInt(address), 64 * PAGE, PROT_READ | PROT_WRITE)).toBe(0);
  expect(libc().madvise(BigInt(address), 64 * PAGE, MADV_NOHUGEPAGE)).toBe(0);
  const u8 = new Uint8Array(koffi.view(BigInt(address), 64 * PAGE));
  for (let p = 0; p < 16; p++) u8[p * PAGE] = 1;
  let s = 0;
  for (let p = 16; p < 24; p++) s += u8[p * PAGE];
  expect(s).toBe(0);
  return address;
}

const hex = (a: number) => `0x${a.toString(16).padStart(8, '0')}`;

/** A node child that lays out 32 pages (10 written, 5 read, 17 untouched), prints their address, and waits. */
async function child(): Promise<{ proc: ChildProcessWithoutNullStreams; address: number }> {
  const code = `
    const { libc } = await import(${JSON.stringify(join(root, 'dist/sys/libc/libc.js'))});
    const koffi = (await import('koffi')).default;
    const P = ${PAGE};
    const raw = libc().mmap(null, 34 * P, 0, 0x22, -1, 0);
    const a = Number(raw) + P;
    libc().mprotect(BigInt(a), 32 * P, 3);
    libc().madvise(BigInt(a), 32 * P, 15);
    const u8 = new Uint8Array(koffi.view(BigInt(a), 32 * P));
    for (let p = 0; p < 10; p++) u8[p * P] = 7;
    let s = 0;
    for (let p = 10; p < 15; p++) s += u8[p * P];
    process.stdout.write(JSON.stringify({ address: a, s }) + '\\n');
    process.stdin.on('data', () => {}).on('end', () => process.exit(0));
  `;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: root });
  cleanups.push(() => proc.kill());
  const line = await new Promise<string>((res, rej) => {
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) res(out);
    });
    proc.on('exit', (c) => rej(new Error(`child exited ${c}`)));
  });
  const { address, s } = JSON.parse(line) as { address: number; s: number };
  expect(s).toBe(0);
  return { proc, address };
}

describeKernel('writewatch scan', () => {
  it('scans this test process: the laid-out mapping has exactly its pages, in JSON and in --map', () => {
    const address = pattern();
    const j = scanJson([String(process.pid), '--map', '--width', '64']);
    expect(j.pid).toBe(process.pid);
    expect(j.pageSize).toBe(PAGE);
    expect(j.categories).toEqual(expect.arrayContaining(['PRESENT', 'SWAPPED', 'PFNZERO', 'HUGE']));
    const m = j.mappings.find((x) => x.start === hex(address))!;
    expect(m).toMatchObject({ end: hex(address + 64 * PAGE), perms: 'rw-p', pages: 64, resident: 24, zero: 8, huge: 0, swapped: 0, tracked: false, scanned: true });
    expect(m.map).toBe('█'.repeat(16) + 'z'.repeat(8) + '░'.repeat(40));
    expect(j.totals.resident).toBe(j.mappings.reduce((n, x) => n + x.resident, 0));
    expect(j.mappings.some((x) => x.pathname === process.execPath || x.pathname.endsWith('/node'))).toBe(true);

    const text = cli([String(process.pid), '--map', '--width', '32']);
    expect(text.status).toBe(0);
    const row = text.stdout.split('\n').find((l) => l.startsWith(`${address.toString(16).padStart(8, '0')}-`))!;
    // 64 pages in 32 buckets of 2: 8 present, 4 zero page, 20 untouched.
    // The size column is 64 pages: 256K with 4 KiB pages, 1M with 16 KiB pages, 4M with 64 KiB pages.
    const kib = (64 * PAGE) / 1024;
    expect(row.split(/\s+/)).toEqual([expect.any(String), 'rw-p', kib < 1024 ? `${kib}K` : `${kib / 1024}M`, '24', '0', '8', '0', '█'.repeat(8) + 'zzzz' + '░'.repeat(20)]);
    expect(text.stdout).toMatch(new RegExp(`^pid ${process.pid} \\(`));
    expect(text.stdout).toContain('z zero page');
  });

  it('scans a child process, and agrees with its smaps', async () => {
    const { proc, address } = await child();
    const j = scanJson([String(proc.pid)]);
    expect(j.pid).toBe(proc.pid);
    expect(j.comm).toBe('node');
    const m = j.mappings.find((x) => x.start === hex(address))!;
    expect(m).toMatchObject({ pages: 32, resident: 15, zero: 5, swapped: 0, huge: 0 });
    const smaps = readFileSync(`/proc/${proc.pid}/smaps`, 'utf8');
    const block = smaps.slice(smaps.indexOf(`${address.toString(16)}-`));
    expect(Number(/\nRss:\s+(\d+) kB/.exec(block)![1])).toBe(10 * (PAGE / 1024));
    expect(Number(/\nSwap:\s+(\d+) kB/.exec(block)![1])).toBe(0);
    // Its whole residency is plausible for a node process: the binary and a heap are resident.
    expect(j.totals.resident).toBeGreaterThan(1000);
    expect(j.mappings.find((x) => x.pathname === '[heap]')?.resident).toBeGreaterThan(0);
  });

  it('--json marks write-watched memory tracked, with the pages written since the last reset; --used lists only memory in use', () => {
    const ww = WriteWatch.allocate(16 * PAGE);
    cleanups.push(() => ww.close());
    const u8 = new Uint8Array(ww.buffer);
    for (const p of [2, 3, 11]) u8[p * PAGE + 5] = 1;
    ww.reset(0, 3 * PAGE); // pages 2 (reset) and 3, 11 (written since)
    u8[3 * PAGE] = 2;
    const at = hex(Number(koffi.address(u8))); // the mapping's start, from the buffer itself
    const j = scanJson([String(process.pid)]);
    const m = j.mappings.find((x) => x.start === at);
    expect(m, `mapping at ${at}`).toBeDefined();
    expect(m).toMatchObject({ end: hex(Number(koffi.address(u8)) + 16 * PAGE), tracked: true, written: 2, pages: 16, resident: 3 });
    expect(j.totals.written).toBeGreaterThanOrEqual(2);
    // Memory nobody watches is not tracked and has nothing written to report.
    const heap = j.mappings.find((x) => x.pathname === '[heap]');
    if (heap) expect(heap).toMatchObject({ tracked: false, written: 0 });
    expect(j.mappings.filter((x) => x.tracked).every((x) => x.written <= x.pages)).toBe(true);

    // --used: only mappings with resident, swapped or guard pages; a reserved, never touched one is left out.
    const raw = libc().mmap(null, 8 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect(raw).not.toBe(MAP_FAILED);
    cleanups.push(() => libc().munmap(raw, 8 * PAGE));
    const all = scanJson([String(process.pid)]);
    expect(all.mappings.find((x) => x.start === hex(Number(raw)))).toMatchObject({ resident: 0, swapped: 0 });
    const used = scanJson([String(process.pid), '--used']);
    expect(used.mappings.length).toBeGreaterThan(5);
    expect(used.mappings.length).toBeLessThan(all.mappings.length);
    expect(used.mappings.every((x) => x.resident + x.swapped + ((x as { guard?: number }).guard ?? 0) > 0)).toBe(true);
    expect(used.mappings.find((x) => x.start === hex(Number(raw)))).toBeUndefined();
    expect(used.mappings.find((x) => x.start === at)).toMatchObject({ tracked: true, written: 2 });
  });

  it('defaults to its own process and writes an SVG picture', () => {
    const svg = join(dir, 'map.svg');
    const r = cli(['--svg', svg, '--used', '--width', '16']);
    expect(r.status).toBe(0);
    const first = r.stdout.split('\n')[0];
    expect(first).toMatch(/^pid \d+ \(node\): \d+ mappings, .* resident/);
    const image = readFileSync(svg, 'utf8');
    expect(image.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(image.trimEnd().endsWith('</svg>')).toBe(true);
    // --used: every mapping listed has resident pages, one labelled row each in the image.
    const rows = r.stdout.split('\n').slice(2).filter((l) => /^[0-9a-f]+-/.test(l));
    expect(rows.length).toBeGreaterThan(5);
    expect((image.match(/<text x="4" y="\d+"><title>/g) ?? []).length).toBe(rows.length);
  });

  it('fails clearly for a process that does not exist', () => {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')); // pids stay below pid_max
    const r = cli([String(pidMax)]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`writewatch scan: no process with pid ${pidMax} (ENOENT: /proc/${pidMax} does not exist or the process exited)\n`);
  });

  it('says a process with no address space has exited (a zombie) or has none (a kernel thread), rather than that it does not exist', async () => {
    // A zombie has a /proc entry but no mm, as a kernel thread has: the same ESRCH path, and one
    // any machine can make (no kernel thread is visible inside a pid namespace). `sleep 0` exits
    // and stays unreaped: its parent exec'd `cat`, which never waits.
    const parent = lingering('sleep 0 & exec cat');
    cleanups.push(() => parent.kill('SIGKILL'));
    const zombie = await eventually(() =>
      readdirSync('/proc').find((d) => {
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          return f[0] === 'Z' && Number(f[1]) === parent.pid;
        } catch {
          return false;
        }
      }),
    );
    const expectNoAddressSpace = (pid: string, why: string) => {
      const r = cli([pid]);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`writewatch scan: pid ${pid} ${why}\n`);
    };
    // A zombie is named for what it is: exited, its parent not having reaped it.
    expectNoAddressSpace(zombie!, 'has exited (ESRCH: a zombie its parent has not reaped yet; no address space is left to scan)');
    // PF_KTHREAD (0x00200000) in field 9 of /proc/<pid>/stat, where one is visible.
    const kthread = readdirSync('/proc').find((d) => {
      if (!/^\d+$/.test(d)) return false;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]) & 0x00200000) !== 0;
      } catch {
        return false;
      }
    });
    if (kthread !== undefined) expectNoAddressSpace(kthread, 'has no user address space to scan (ESRCH: a kernel thread, or a process that is exiting)');
  });

  it('fails clearly for a process it may not read', () => {
    // As root: drop to nobody and look at this (root-owned) process. Otherwise: pid 1 is not ours.
    const asRoot = process.getuid?.() === 0;
    const r = asRoot ? cliAsNobody([String(process.pid)]) : cli(['1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^writewatch scan: permission denied reading the page tables of pid \d+ \(EACCES\): .*PTRACE_MODE_READ/);
  });

  it('rejects bad arguments with usage (exit 2) and prints help', () => {
    for (const args of [['abc'], ['0'], ['-5'], ['1', '2'], ['--width', '0'], ['--svg'], ['--bogus']]) {
      const r = cli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^writewatch scan: .*\nusage: writewatch scan/);
    }
    const h = cli(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('PAGE_IS_SWAPPED');
  });
});
