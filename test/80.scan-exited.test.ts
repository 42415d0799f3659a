/**
 * Kernel differences `writewatch scan` must not depend on: a process that has exited (ESRCH on
 * most kernels, an empty answer on some: 6.12.95, 7.2.13, 7.3-rc7) is an error, never an empty
 * map; the label of a process is its program, not the main thread's name (Node 24 renames it
 * `MainThread`, 26 `node-MainThread`); addresses at the top of the user address space (past 2^47
 * with 5-level paging or arm64's 52-bit VA) are addresses.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import koffi from 'koffi';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { CHILD_TIMEOUT, userAddressLimit } from './support/machine.js';
import { eventually, lingering } from './support/wait.js';
import { MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/sys/libc/abi.js';
import { libc } from '../src/sys/libc/libc.js';
import { PAGE_IS } from '../src/sys/pagemap/abi.js';
import { addressSpaceAlive } from '../src/sys/pagemap/alive.js';
import { PagemapQuery } from '../src/sys/pagemap/query.js';
import { openPagemap } from '../src/sys/pagemap/raw.js';
import { scanResidency } from '../src/sys/pagemap/residency.js';
import { PAGE, describeKernel } from './support/kernel.js';

const main = join(resolve(import.meta.dirname, '..'), 'dist/cli/main.js');
beforeAll(() => {
  expect(existsSync(main), 'dist/cli/main.js: run `npx tsc -p .` (npm test builds first)').toBe(true);
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [main, 'scan', ...args], { encoding: 'utf8', timeout: CHILD_TIMEOUT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `pid`'s /proc state letter ('gone' once it has no /proc entry). */
function stateOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return 'gone';
  }
}

/** Resolves once `pid`'s state satisfies `ok`: no window of its own (support/wait.ts). */
async function until(pid: number, ok: (state: string) => boolean): Promise<void> {
  await eventually(() => ok(stateOf(pid)));
}

/**
 * A zombie: `sh` starts a `read` on fd 3 in the background and execs `cat` (reading a pipe we
 * hold: it lives until killed), which never reaps it. The read ends when we close our end of fd 3,
 * after the exec (cat does not hold fd 3).
 */
async function zombie(): Promise<number> {
  const sh = spawn('sh', ['-c', 'read x <&3 & echo $!; exec cat 3<&-'], { stdio: ['pipe', 'pipe', 'ignore', 'pipe'] });
  sh.stdin!.on('error', () => {});
  cleanups.push(() => sh.kill('SIGKILL'));
  const pid = await new Promise<number>((res) => sh.stdout.once('data', (d: Buffer) => res(Number(d.toString().trim()))));
  await eventually(() => readFileSync(`/proc/${sh.pid}/cmdline`, 'utf8').startsWith('cat'));
  (sh.stdio[3] as NodeJS.WritableStream).end();
  await until(pid, (s) => s === 'Z');
  return pid;
}

describeKernel('a process that has exited', () => {
  it('its pagemap fd reads as no address space once it is gone, and a query on it fails instead of answering nothing', async () => {
    const child = lingering();
    cleanups.push(() => child.kill('SIGKILL'));
    await until(child.pid!, (s) => s !== 'gone' && s !== '');
    // Once the child runs cat's image, not the forked node's (busybox's cat on a small root).
    const node = realpathSync(process.execPath);
    await eventually(() => readlinkSync(`/proc/${child.pid}/exe`) !== node);
    const fd = openPagemap(child.pid!);
    try {
      expect(addressSpaceAlive(fd)).toBe(true);
      const q = new PagemapQuery(fd, { returnMask: 0 });
      expect(q.count(0, PAGE)).toBe(0); // nothing mapped at 0 in a live process: a valid empty answer
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await until(child.pid!, (s) => s === 'gone');
      // The same fd: the mm it pins has no users left.
      expect(addressSpaceAlive(fd)).toBe(false);
      // ESRCH from the kernel or from the liveness check, never an empty result.
      expect(() => q.count(0, 2 ** 30)).toThrow(expect.objectContaining({ code: 'ESRCH', syscall: 'ioctl' }));
      expect(() => q.count(0, PAGE)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    } finally {
      closeSync(fd);
    }
  });

  it('this process is alive to itself (negative control of the check above)', () => {
    const fd = openPagemap('self');
    try {
      expect(addressSpaceAlive(fd)).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('a zombie is an error for scanResidency and for `writewatch scan`, not an empty map', async () => {
    const pid = await zombie();
    expect(readFileSync(`/proc/${pid}/maps`, 'utf8')).toBe(''); // what an empty map would be built from
    expect(() => scanResidency(pid)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    const r = cli([String(pid), '--json']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`writewatch scan: pid ${pid} has exited (ESRCH: a zombie its parent has not reaped yet; no address space is left to scan)\n`);
  });
});

describeKernel('the process label of `writewatch scan`', () => {
  it("is the program's name (node) whatever the main thread is called", async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); console.log("up")'], { stdio: ['ignore', 'pipe', 'ignore'] });
    cleanups.push(() => child.kill('SIGKILL'));
    await new Promise((r) => child.stdout.once('data', r));
    const r = cli([String(child.pid), '--json']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).comm).toBe(basename(process.execPath));
    // The thread name Node gives its main thread varies by version; the label does not follow it.
    const comm = readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim();
    expect(['node', 'MainThread', 'node-MainThread']).toContain(comm);
    const text = cli([String(child.pid)]);
    expect(text.stdout).toMatch(new RegExp(`^pid ${child.pid} \\(${basename(process.execPath)}\\): `));
  });

  it('keeps the comm of a process that rewrote argv[0] into a title', async () => {
    // node, not sleep: busybox's applets would take the title for their own name.
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); console.log("up")'], { argv0: 'worker: a title', stdio: ['ignore', 'pipe', 'ignore'] });
    cleanups.push(() => child.kill('SIGKILL'));
    await new Promise((r) => child.stdout.once('data', r));
    expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8')).toMatch(/^worker: a title\0/);
    const r = cli([String(child.pid), '--json']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).comm).toBe(readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim());
  });
});

describeKernel('the top of the user address space (past 2^47 where it reaches further: x86_64 5-level paging, arm64 52-bit VA)', () => {
  it('a mapping placed at the highest free pages is scanned and queried like any other, and lies past 2^47 wherever the space does', () => {
    const length = 8 * PAGE;
    // Placed, not hinted: the end of the user address space is found by probing (TASK_SIZE,
    // support/machine.ts), and the mapping goes right below it (MAP_FIXED_NOREPLACE), lower by a
    // few pages at a time if something is there already.
    const limit = userAddressLimit();
    let p = MAP_FAILED as bigint;
    for (let below = 1; below <= 64 && p === MAP_FAILED; below++) {
      p = libc().mmap(BigInt(limit - below * length), length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) as bigint;
    }
    expect(p).not.toBe(MAP_FAILED);
    cleanups.push(() => libc().munmap(p, length));
    expect(Number(p) + length).toBeGreaterThan(limit - 65 * length);
    console.log(`user address space ends at 2^${Math.log2(limit).toFixed(2)}; mapped at 0x${p.toString(16)}`);
    if (limit > 2 ** 47 + 65 * length) expect(p).toBeGreaterThan(2n ** 47n); // the addresses this test is about
    const address = Number(p);
    expect(BigInt(address)).toBe(p); // page-aligned addresses below 2^56 are exact doubles
    const u8 = new Uint8Array(koffi.view(p, length));
    u8[0] = 1;
    u8[3 * PAGE] = 1;
    u8[7 * PAGE] = 1;
    using q = PagemapQuery.open('self', { required: PAGE_IS.PRESENT, returnMask: 0 });
    expect(q.count(address, address + length)).toBe(3);
    expect([...q.regions(address, address + length)].map((r) => (r.start - address) / PAGE)).toEqual([0, 3, 7]);
    // The residency scan has the mapping (merged with a neighbour or not) as a scanned number.
    const m = scanResidency('self').mappings.find((x) => x.start <= address && address < x.end);
    expect(m).toMatchObject({ scanned: true });
    expect(m!.resident).toBeGreaterThanOrEqual(3);
  });
});
