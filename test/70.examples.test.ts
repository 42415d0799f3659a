/**
 * Runs every example as a user would (`node examples/<name>/index.mjs`, importing the package by
 * name, so the build must exist: npm test builds first) and checks what it prints against what
 * the example's own workload must produce, computed here independently.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { describeKernel, PAGE } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';

const ROOT = resolve(__dirname, '..');

function run(example: string, ...args: string[]): string[] {
  const out = execFileSync(process.execPath, [join(ROOT, 'examples', example, 'index.mjs'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT,
  });
  return out.trimEnd().split('\n');
}

/** "a-b,c" → every row listed. */
function rowsOf(list: string): number[] {
  const rows: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let r = a; r <= (b ?? a); r++) rows.push(r);
  }
  return rows;
}

beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist/index.js')), 'build first: npx tsc -p .').toBe(true);
});

describeKernel('70 examples', () => {
  it('framebuffer: each frame redraws exactly the rows the guest wrote, and the screen equals the guest framebuffer', () => {
    const frames = 45; // long enough for the box to bounce off the bottom and the right edge
    const lines = run('framebuffer', String(frames));
    const frameLines = lines.filter((l) => l.startsWith('frame'));
    expect(frameLines).toHaveLength(frames + 1);
    let prevY = -1;
    let bounced = false;
    for (const line of frameLines) {
      const m = /^frame +(\d+): box at \((\d+),(\d+)\) redraw rows ([\d,-]+) \((\d+)\/256 rows\)$/.exec(line);
      expect(m, line).not.toBeNull();
      const [f, , y] = [Number(m![1]), Number(m![2]), Number(m![3])];
      const want = new Set<number>();
      if (f === 0) for (let r = 0; r < 256; r++) want.add(r);
      else {
        for (let r = 0; r < 32; r++) want.add(prevY + r).add(y + r); // erased and drawn
        if (f % 8 === 0) want.add(255); // the progress pixel
        if (y < prevY) bounced = true;
      }
      // A row is 4 KiB: with 4 KiB pages the dirty rows are exactly the rows written; with larger
      // pages (16 KiB: 4 rows), every row of each page a written row is on.
      const perPage = Math.max(1, PAGE / 4096);
      const grouped = new Set<number>();
      for (const r of want) for (let g = Math.floor(r / perPage) * perPage, k = 0; k < perPage; k++) grouped.add(g + k);
      expect(rowsOf(m![4]), line).toEqual([...grouped].filter((r) => r < 256).sort((a, b) => a - b));
      expect(Number(m![5])).toBe(rowsOf(m![4]).length);
      prevY = y;
    }
    expect(bounced).toBe(true);
    expect(lines.find((l) => l.startsWith('screen sha256'))).toMatch(/: identical$/);
    const thumb = lines.filter((l) => l.startsWith('  |'));
    expect(thumb).toHaveLength(16);
    expect(thumb.join('').match(/#/g)?.length).toBeGreaterThanOrEqual(4);
  });

  it('incremental-snapshot: snapshots hold only written pages and the chain, restored here independently, is byte-exact', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-snap-test-'));
    try {
      // 16 MiB rather than the example's 64: the same workload, scaled, so that an emulated machine
      // runs it in its time bound (64 MiB took 120-170 s under QEMU TCG).
      const ticks = 10, mib = 16;
      const lines = run('incremental-snapshot', dir, String(ticks), String(mib));
      const snaps = lines.filter((l) => l.startsWith('snapshot'));
      expect(snaps).toHaveLength(ticks + 1);
      const printed = snaps.map((l) => {
        const m = /^snapshot +(\d+): +(\d+) runs, +([\d.]+) MiB written of ([\d.]+) MiB \(([\d.]+)%\) +state ([0-9a-f]{16})$/.exec(l);
        expect(m, l).not.toBeNull();
        return { runs: Number(m![2]), written: Number(m![3]), size: Number(m![4]), hash: m![6] };
      });
      expect(printed[0].written).toBe(printed[0].size);
      // In pages, whatever their size: a tick writes the hot page, at most 300 object pages and the
      // 1,536 bytes of log (at most 2 pages); the level load at tick ticks/2 also fills mib/8 MiB of
      // new memory (and at most one page more at each end).
      const bound = (k: number) => ((1 + 300 + 2) * PAGE + (k === ticks >> 1 ? (mib << 20) / 8 + 2 * PAGE : 0)) / 1048576;
      for (let k = 1; k <= ticks; k++) {
        expect(printed[k].written, snaps[k]).toBeLessThanOrEqual(bound(k) + 0.01);
        expect(printed[k].runs).toBeGreaterThan(1);
      }
      expect(printed[0].size).toBe(mib);
      expect(printed[ticks].size).toBe(mib + mib / 4); // the memory grew by a quarter
      expect(lines.at(-1)).toMatch(/^restored chain is byte-exact: yes/);

      // Restore the chain from the files ourselves and compare with the state hashed at each snapshot.
      const files = readdirSync(dir).filter((f) => f.endsWith('.snap')).sort();
      expect(files).toHaveLength(ticks + 1);
      let image = Buffer.alloc(0);
      files.forEach((f, seq) => {
        const file = readFileSync(join(dir, f));
        expect(file.toString('latin1', 0, 8)).toBe('WWSNAP1\0');
        const length = file.readUInt32LE(12);
        if (length !== image.length) image = Buffer.concat([image, Buffer.alloc(length - image.length)]);
        const n = file.readUInt32LE(16);
        let at = 20 + 8 * n;
        for (let i = 0; i < n; i++) {
          const offset = file.readUInt32LE(20 + 8 * i), len = file.readUInt32LE(24 + 8 * i);
          expect(offset % PAGE).toBe(0);
          file.copy(image, offset, at, at + len);
          at += len;
        }
        expect(at).toBe(file.length);
        expect(file.length / 1048576).toBeCloseTo(printed[seq].written, 1);
        expect(createHash('sha256').update(image).digest('hex').slice(0, 16), f).toBe(printed[seq].hash);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gpu-upload: each frame uploads exactly the coalesced ranges the worker animated, and the GPU copy ends identical', () => {
    const frames = 8;
    const lines = run('gpu-upload', String(frames));
    expect(lines[0]).toBe('frame 0: initial upload of 6144 KiB');
    const page = (b: number, up: boolean) => (up ? Math.ceil(b / PAGE) : Math.floor(b / PAGE)) * PAGE;
    for (let f = 1; f <= frames; f++) {
      const want: string[] = [];
      const flag = [16384 * 32, (16384 + 4096) * 32];
      want.push(`vertices ${flag[0] / 32}-${flag[1] / 32 - 1} (${(flag[1] - flag[0]) >> 10} KiB)`);
      if (f % 2 === 0) {
        const s = page(40000 * 32, false), e = page(41000 * 32, true);
        want.push(`vertices ${s / 32}-${Math.ceil(e / 32) - 1} (${(e - s) >> 10} KiB)`);
      }
      // The brush writes texture rows y..y+63 (4 KiB each, from a 2 MiB boundary): whole pages of them.
      const y = (f * 24) % (1024 - 64);
      const perPage = Math.max(1, PAGE / 4096);
      const ts = Math.floor(y / perPage) * perPage, te = Math.ceil((y + 64) / perPage) * perPage;
      want.push(`texture rows ${ts}-${te - 1} (${(te - ts) * 4} KiB)`);
      const line = lines.find((l) => l.startsWith(`frame ${f}:`));
      expect(line).toBeDefined();
      expect(line).toBe(`frame ${f}: ${want.length} uploads, ${want.reduce((n, w) => n + Number(/\((\d+) KiB\)/.exec(w)![1]), 0)} KiB of 6144 KiB: ${want.join(', ')}`);
    }
    expect(lines.at(-1)).toBe('GPU copy matches the shared buffer: yes');
  });

  it('win32-shim: a guest\'s kernel32 calls through the thunks get Windows\' results, out-parameters in guest memory', () => {
    const lines = run('win32-shim');
    // Every result below is a Windows rule (WINDOWS-SEMANTICS.md): one entry per written page in
    // ascending order, partial results reset only what they return, decommit clears, error codes.
    const calls = lines.filter((l) => !l.startsWith('#'));
    // The transcript follows from the page size (shimTranscript below); with 4 KiB pages it is
    // the one written out here, so the model is pinned to a transcript read line by line.
    expect(shimTranscript(4096)).toEqual([
      `VirtualAlloc(NULL, 0x40000, MEM_RESERVE|MEM_WRITE_WATCH, PAGE_READWRITE) = heap`,
      `VirtualAlloc(heap, 0x10000, MEM_COMMIT, PAGE_READWRITE) = heap`,
      `VirtualAlloc(NULL, 0x1000, MEM_COMMIT|MEM_RESERVE, PAGE_READWRITE) = locals`,
      `GetWriteWatch(0, heap, 0x40000, locals+0x100, &count=64, locals+0x8) = 0: count 0, granularity 0x1000, []`,
      `GetWriteWatch(WRITE_WATCH_FLAG_RESET, heap, 0x40000, locals+0x100, &count=64, locals+0x8) = 0: count 3, granularity 0x1000, [heap, heap+0x2000, heap+0x9000]`,
      `GetWriteWatch(0, heap, 0x40000, locals+0x100, &count=64, locals+0x8) = 0: count 0, granularity 0x1000, []`,
      `GetWriteWatch(WRITE_WATCH_FLAG_RESET, heap, 0x40000, locals+0x100, &count=2, locals+0x8) = 0: count 2, granularity 0x1000, [heap+0x1000, heap+0x2000]`,
      `GetWriteWatch(0, heap, 0x40000, locals+0x100, &count=64, locals+0x8) = 0: count 3, granularity 0x1000, [heap+0x3000, heap+0x4000, heap+0x5000]`,
      `GetWriteWatch(0, heap+0x4000, 0x2000, locals+0x100, &count=64, locals+0x8) = 0: count 2, granularity 0x1000, [heap+0x4000, heap+0x5000]`,
      `ResetWriteWatch(heap, 0x40000) = 0`,
      `GetWriteWatch(0, heap, 0x40000, locals+0x100, &count=64, locals+0x8) = 0: count 0, granularity 0x1000, []`,
      `VirtualFree(heap+0x6000, 0x1000, MEM_DECOMMIT) = 1`,
      `VirtualAlloc(heap+0x6000, 0x1000, MEM_COMMIT, PAGE_READWRITE) = heap+0x6000`,
      `GetWriteWatch(0, heap, 0x40000, locals+0x100, &count=64, locals+0x8) = 0: count 0, granularity 0x1000, []`,
      `GetWriteWatch(0, locals, 0x1000, locals+0x100, &count=64, locals+0x8) = 0xffffffff (GetLastError 87)`,
      `GetWriteWatch(0, heap, 0x40000, locals+0x100, NULL, locals+0x8) = 0xffffffff (GetLastError 998)`,
      `GetWriteWatch(0, heap, 0x40000, locals+0x100, &count=0, locals+0x8) = 0xffffffff (GetLastError 87)`,
      `GetWriteWatch(0, heap, 0x40001, locals+0x100, &count=64, locals+0x8) = 0xffffffff (GetLastError 87)`,
      `GetWriteWatch(0, heap, 0x40000, 0x1000, &count=64, locals+0x8) = 0xffffffff (GetLastError 998)`,
      `ResetWriteWatch(heap, 0x0) = 0xffffffff (GetLastError 87)`,
      `VirtualFree(heap, 0x0, MEM_RELEASE) = 1`,
      `VirtualFree(locals, 0x0, MEM_RELEASE) = 1`,
      `ResetWriteWatch(heap, 0x1000) = 0xffffffff (GetLastError 87)`,
    ]);
    expect(calls).toEqual(shimTranscript(PAGE));
  });
});

/**
 * What examples/win32-shim prints with pages of `page` bytes, from Windows' rules: an address is
 * reported once per written page, ascending; a capped reset resets what it returns; a range covers
 * every page it touches; decommit clears and a commit returns the rounded-down base.
 */
function shimTranscript(page: number): string[] {
  const hex = (n: number) => `0x${n.toString(16)}`;
  const at = (off: number) => (off === 0 ? 'heap' : `heap+${hex(off)}`);
  const pagesOf = (offsets: number[]) => [...new Set(offsets.map((o) => Math.floor(o / page) * page))].sort((a, b) => a - b);
  const gww = (flags: string, base: string, size: string, cap: number, result: number[]) =>
    `GetWriteWatch(${flags}, ${base}, ${size}, locals+0x100, &count=${cap}, locals+0x8) = 0: count ${result.length}, granularity ${hex(page)}, [${result.map(at).join(', ')}]`;
  const all = (flags: string, cap: number, result: number[]) => gww(flags, 'heap', '0x40000', cap, result);
  const RESET = 'WRITE_WATCH_FLAG_RESET';
  let dirty = pagesOf([0x10, 0x2008, 0x2ff8, 0x9000]);
  const first = dirty;
  dirty = pagesOf([1, 2, 3, 4, 5].map((p) => p * 0x1000 + 0x80));
  const capped = dirty.slice(0, 2);
  const rest = dirty.slice(2);
  const inWindow = rest.filter((o) => o + page > 0x4000 && o < 0x6000);
  const decommitted = Math.floor(0x6000 / page) * page;
  return [
    `VirtualAlloc(NULL, 0x40000, MEM_RESERVE|MEM_WRITE_WATCH, PAGE_READWRITE) = heap`,
    `VirtualAlloc(heap, 0x10000, MEM_COMMIT, PAGE_READWRITE) = heap`,
    `VirtualAlloc(NULL, 0x1000, MEM_COMMIT|MEM_RESERVE, PAGE_READWRITE) = locals`,
    all('0', 64, []),
    all(RESET, 64, first),
    all('0', 64, []),
    all(RESET, 2, capped),
    all('0', 64, rest),
    gww('0', 'heap+0x4000', '0x2000', 64, inWindow),
    `ResetWriteWatch(heap, 0x40000) = 0`,
    all('0', 64, []),
    `VirtualFree(heap+0x6000, 0x1000, MEM_DECOMMIT) = 1`,
    `VirtualAlloc(heap+0x6000, 0x1000, MEM_COMMIT, PAGE_READWRITE) = ${at(decommitted)}`,
    all('0', 64, []),
    `GetWriteWatch(0, locals, 0x1000, locals+0x100, &count=64, locals+0x8) = 0xffffffff (GetLastError 87)`,
    `GetWriteWatch(0, heap, 0x40000, locals+0x100, NULL, locals+0x8) = 0xffffffff (GetLastError 998)`,
    `GetWriteWatch(0, heap, 0x40000, locals+0x100, &count=0, locals+0x8) = 0xffffffff (GetLastError 87)`,
    `GetWriteWatch(0, heap, 0x40001, locals+0x100, &count=64, locals+0x8) = 0xffffffff (GetLastError 87)`,
    `GetWriteWatch(0, heap, 0x40000, 0x1000, &count=64, locals+0x8) = 0xffffffff (GetLastError 998)`,
    `ResetWriteWatch(heap, 0x0) = 0xffffffff (GetLastError 87)`,
    `VirtualFree(heap, 0x0, MEM_RELEASE) = 1`,
    `VirtualFree(locals, 0x0, MEM_RELEASE) = 1`,
    `ResetWriteWatch(heap, 0x1000) = 0xffffffff (GetLastError 87)`,
  ];
}
