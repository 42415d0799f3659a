/**
 * What only Windows answers (run under Wine by npm run test:windows; skipped on Linux, where
 * 10.writewatch and 60.track pin the same API over userfaultfd): WriteWatch.allocate is kernel32's
 * own write watch, WriteWatch.track cannot be ('write-protect' refuses it with the reason, 'auto'
 * and 'compare' track by content), and probe() says so with the Windows version.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probe, WriteWatch } from '../src/index.js';

const windows = process.platform === 'win32';

describe.skipIf(!windows)('22 Windows: one API over kernel32', () => {
  const PAGE = probe().pageSize;

  it('probe() is supported by kernel32, names the Windows version, reads no /proc', () => {
    const p = probe();
    expect(p).toMatchObject({ supported: true, platform: 'win32', endToEnd: true, reasons: [] });
    expect(p.windows).toMatch(/^Windows \d+\.\d+\.\d+/);
    expect(p.auto.mechanism).toBe('write-protect');
    expect(p.unprivilegedUserfaultfd).toBeNull(); // no Linux sysctl read through Wine's Z: drive
    expect(PAGE).toBe(4096);
  });

  it("allocate() is write-protect (kernel32's GetWriteWatch): written pages, reset, maxPages, getInto, ranges", () => {
    using ww = WriteWatch.allocate(16 * PAGE);
    expect(ww.mechanism).toBe('write-protect');
    const u8 = new Uint8Array(ww.buffer);
    for (const p of [9, 1, 5, 6]) u8[p * PAGE + 7] = 1;
    expect(ww.get()).toEqual([1, 5, 6, 9].map((p) => p * PAGE));
    expect(ww.ranges()).toEqual([
      { offset: PAGE, length: PAGE },
      { offset: 5 * PAGE, length: 2 * PAGE },
      { offset: 9 * PAGE, length: PAGE },
    ]);
    expect(ww.get({ reset: true, maxPages: 2 })).toEqual([PAGE, 5 * PAGE]);
    const out = new Float64Array(8);
    expect(ww.getInto(out, { reset: true })).toBe(2);
    expect([...out.subarray(0, 2)]).toEqual([6 * PAGE, 9 * PAGE]);
    expect(ww.get()).toEqual([]);
    u8[3 * PAGE] = 2; // a store of any value is a write
    ww.reset(3 * PAGE, 1);
    expect(ww.get()).toEqual([]);
  });

  it("track() with 'write-protect' is ERR_WRITEWATCH_UNSUPPORTED with Windows' reason; 'auto' and 'compare' track by content", () => {
    const buffer = new ArrayBuffer(8 * PAGE, { maxByteLength: 8 * PAGE });
    let err: unknown;
    try {
      WriteWatch.track(buffer);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_WRITEWATCH_UNSUPPORTED', message: expect.stringMatching(/reserve[sd]? with VirtualAlloc\(MEM_WRITE_WATCH\)/) });
    for (const mechanism of ['auto', 'compare'] as const) {
      using ww = WriteWatch.track(buffer, { mechanism });
      expect(ww.mechanism).toBe('compare');
      new Uint8Array(buffer)[2 * PAGE + 1] ^= 0xff;
      expect(ww.get({ reset: true })).toEqual([2 * PAGE]);
      expect(ww.get()).toEqual([]);
    }
  });

  /** Runs the CLI under this node.exe, its output to a file (node.exe under Wine dies when stdout is a pipe). */
  function cli(...args: string[]): { status: number | null; out: string } {
    const dir = mkdtempSync(join(tmpdir(), 'ww-cli-'));
    const file = join(dir, 'out.txt');
    const fd = openSync(file, 'w');
    try {
      const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'dist', 'cli', 'main.js'), ...args], { stdio: ['ignore', fd, fd] });
      return { status: r.status, out: readFileSync(file, 'utf8') };
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    }
  }

  it('writewatch probe says supported, by kernel32, with the Windows version; --json agrees; demo runs', () => {
    const text = cli('probe');
    expect(text.status, text.out).toBe(0);
    expect(text.out).toMatch(/^supported: +yes$/m);
    expect(text.out).toMatch(/^platform: +win32 \(Windows \d+\.\d+\.\d+/m);
    expect(text.out).toMatch(/^write-protect: +kernel32's GetWriteWatch/m);
    const json = cli('probe', '--json');
    expect(JSON.parse(json.out)).toMatchObject({ supported: true, platform: 'win32', auto: { mechanism: 'write-protect' } });
    const demo = cli('demo');
    expect(demo.status, demo.out).toBe(0);
    expect(demo.out).toMatch(/frame +12\/12 .* expected: match/);
    expect(demo.out).toMatch(/every frame reported exactly the pages written/);
  });

  it("allocate() with 'compare' works too: VirtualAlloc'd memory and a shadow, freed at close", () => {
    const ww = WriteWatch.allocate(4 * PAGE, { mechanism: 'compare' });
    new Uint8Array(ww.buffer)[PAGE] = 1;
    expect(ww.get()).toEqual([PAGE]);
    ww.close();
    expect(() => ww.get()).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_CLOSED' }));
  });
});

it('off Windows this file checks nothing but that it is skipped there (its cases run under npm run test:windows)', () => {
  expect(windows).toBe(process.platform === 'win32');
});
