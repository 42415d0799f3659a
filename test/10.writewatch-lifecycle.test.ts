/**
 * close(): use after close throws ERR_WRITEWATCH_CLOSED, stale buffers never crash the process
 * (checked in a child, where a SIGSEGV cannot take the test runner down), and allocate/close
 * cycles leave no fd and no mapping behind.
 */
import { spawnSync } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import koffi from 'koffi';
import { WriteWatch } from '../src/index.js';
import { MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '../src/sys/libc/abi.js';
import { libc } from '../src/sys/libc/libc.js';
import { PAGE, describeKernel } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';

const root = join(import.meta.dirname, '..');

function expectClosed(fn: () => unknown): void {
  let thrown: any;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown?.code).toBe('ERR_WRITEWATCH_CLOSED');
}

describeKernel('WriteWatch close', () => {
  it('every method and .buffer throw ERR_WRITEWATCH_CLOSED after close, even with bad arguments', () => {
    const ww = WriteWatch.allocate(4 * PAGE);
    new Uint8Array(ww.buffer)[0] = 1;
    const address = ww.address;
    ww.close();
    expect(ww.closed).toBe(true);
    expectClosed(() => ww.buffer);
    expectClosed(() => ww.get());
    expectClosed(() => ww.get({ reset: true }));
    expectClosed(() => ww.get({ maxPages: 0 }));
    expectClosed(() => ww.getInto(new Float64Array(4)));
    expectClosed(() => ww.getInto(null as unknown as Float64Array));
    expectClosed(() => ww.ranges());
    expectClosed(() => ww.reset());
    expectClosed(() => ww.reset(-1));
    // Plain facts about what was tracked stay readable.
    expect(ww.address).toBe(address);
    expect(ww.byteLength).toBe(4 * PAGE);
    expect(ww.granularity).toBe(PAGE);
  });

  it('close is idempotent; Symbol.dispose closes', () => {
    const ww = WriteWatch.allocate(PAGE);
    ww.close();
    ww.close();
    ww[Symbol.dispose]();
    expect(ww.closed).toBe(true);

    const other = WriteWatch.allocate(PAGE);
    other[Symbol.dispose]();
    expect(other.closed).toBe(true);
    expectClosed(() => other.get());
  });

  it('a `using` declaration closes at the end of its block', () => {
    let kept: WriteWatch;
    {
      using ww = WriteWatch.allocate(2 * PAGE);
      kept = ww;
      new Uint8Array(ww.buffer)[PAGE] = 1;
      expect(ww.get()).toEqual([PAGE]);
    }
    expect(kept.closed).toBe(true);
    expectClosed(() => kept.get());
  });

  /**
   * Which of `ranges` are still mapped as allocate() or close()'s placeholder maps them: exactly
   * that range, anonymous rw-p. Not "anything overlapping": V8 and malloc reuse freed address space
   * for memory of their own at any time (their mappings are not of these 1-16-page sizes at these
   * bounds), which says nothing about a leak.
   */
  function stillOurs(ranges: [number, number][]): [number, number][] {
    const shaped = new Set<string>();
    for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      if (/ rw-p 00000000 00:00 0\s*$/.test(line)) shaped.add(line.split(' ')[0]);
    }
    return ranges.filter(([a, len]) => shaped.has(`${a.toString(16)}-${(a + len).toString(16)}`));
  }

  // /proc's fd and maps listings are Linux's.
  it.skipIf(process.platform !== 'linux')('1,000 allocate/close cycles leave no fd and no mapping behind once their views are collected', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    // Warm up: the shared /proc/self/pagemap fd is opened once, on first use.
    for (let i = 0; i < 20; i++) WriteWatch.allocate(16 * PAGE).close();
    const fdsBefore = fds();
    const ours: [number, number][] = [];
    // In a function of its own: a suspended async function keeps its last values alive.
    (() => {
      for (let i = 0; i < 1000; i++) {
        const length = (1 + (i % 16)) * PAGE;
        const ww = WriteWatch.allocate(length);
        const u8 = new Uint8Array(ww.buffer);
        u8[0] = 1;
        if (i % 100 === 0) expect(ww.get({ reset: true })).toEqual([0]);
        ours.push([Number(koffi.address(u8)), length]); // the address from the buffer, not the WriteWatch
        ww.close();
        // The view made before close is detached or a harmless placeholder, never a fault.
        u8[0] = 2;
      }
    })();
    expect(fds()).toBe(fdsBefore);
    // Views that are still reachable may keep a placeholder over their range until collected.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    expect(stillOurs(ours)).toEqual([]);
    // And nothing in the process is still registered for uffd-wp (smaps VmFlags "uw").
    expect(readFileSync('/proc/self/smaps', 'utf8')).not.toMatch(/^VmFlags:.*\buw\b/m);
  });

  it.skipIf(process.platform !== 'linux')('negative control: a mapping left behind as allocate() maps it is found by that check', () => {
    const c = libc();
    const len = 3 * PAGE;
    // PROT_NONE pages on either side keep it from merging with a neighbouring rw-p mapping.
    const raw = c.mmap(null, len + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect(raw).not.toBe(MAP_FAILED);
    const p = raw + BigInt(PAGE);
    try {
      expect(c.mprotect(p, len, PROT_READ | PROT_WRITE)).toBe(0);
      expect(c.madvise(p, len, MADV_NOHUGEPAGE)).toBe(0);
      expect(stillOurs([[Number(p), len]])).toEqual([[Number(p), len]]);
      expect(c.munmap(p, len)).toBe(0);
      expect(stillOurs([[Number(p), len]])).toEqual([]);
    } finally {
      c.munmap(raw, len + 2 * PAGE);
    }
  });
});

describe('stale buffers after close, in a child process', () => {
  const dist = join(root, 'dist', 'index.js');

  it('dist is built (npm test builds first; run `npx tsc -p .` when calling vitest directly)', () => {
    expect(existsSync(dist)).toBe(true);
  });

  const runChild = (source: string) =>
    spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', source], {
      cwd: root,
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT,
    });

  describeKernel('via the package name', () => {
    it('touching .buffer and a Uint8Array over it after close() does not crash', () => {
      const child = runChild(`
        import { WriteWatch } from 'writewatch';
        const out = [];
        for (let round = 0; round < 50; round++) {
          const ww = WriteWatch.allocate(${8 * PAGE});
          const ab = ww.buffer;
          const u8 = new Uint8Array(ab);
          const f64 = new Float64Array(ww.buffer, ${PAGE});
          u8.fill(7);
          ww.close();
          let threw = null;
          try { ww.buffer; } catch (e) { threw = e.code; }
          // Reads and writes through every stale handle: a detached view reads undefined and drops
          // writes; any read that returns a value means the memory (or a placeholder) is still there.
          let defined = 0;
          for (let i = 0; i < ${8 * PAGE}; i += 512) { u8[i] = 9; if (u8[i] !== undefined) defined++; }
          for (let i = 0; i < 16; i++) { f64[i] = 1.5; if (f64[i] !== undefined) defined++; }
          // A detached buffer refuses new views with a TypeError: an exception, not a crash.
          try { new Uint8Array(ab).fill(3); } catch (e) { if (!(e instanceof TypeError)) throw e; }
          try { new DataView(ab).setUint32(0, 1); } catch (e) { if (!(e instanceof TypeError)) throw e; }
          if (round === 49) out.push({ threw, abLength: ab.byteLength, u8Length: u8.length, f64Length: f64.length, defined });
          globalThis.gc();
        }
        console.log(JSON.stringify(out[0]));
        console.log('survived');
      `);
      expect(child.signal).toBeNull();
      expect(child.stderr).toBe('');
      expect(child.status).toBe(0);
      const [json, last] = child.stdout.trim().split('\n');
      expect(last).toBe('survived');
      const r = JSON.parse(json);
      // Detached, as the README says: every stale handle has length 0 and reads undefined.
      expect(r).toEqual({ threw: 'ERR_WRITEWATCH_CLOSED', abLength: 0, u8Length: 0, f64Length: 0, defined: 0 });
    });
  });
});
