/**
 * What only the compare mechanism does: it reports pages whose bytes differ from their baseline
 * (their content when tracking began, then at their last reset), not pages that were written.
 * Also the `mechanism` option itself ('auto', bad values) and the shadow's lifecycle. Needs no
 * kernel feature beyond mmap: runs on kernels without userfaultfd WP_ASYNC (6.1) as well.
 * The shared contract (offsets, ranges, maxPages, getInto…) runs under both mechanisms in
 * 10.writewatch*.test.ts and 60.track.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { probe, WriteWatch } from '../src/index.js';
import { describeKernel, kernel, PAGE } from './support/kernel.js';

const MiB = 1 << 20;
const open: WriteWatch[] = [];
afterEach(() => {
  for (const ww of open.splice(0)) ww.close();
});
function compared(byteLength: number): WriteWatch {
  const ww = WriteWatch.allocate(byteLength, { mechanism: 'compare' });
  open.push(ww);
  return ww;
}
const pages = (...ps: number[]) => ps.map((p) => p * PAGE);

/**
 * The content claims, each a scenario over a tracker, so that the negative controls below can run
 * the very same checks over a broken variant and show they fail there.
 */
type Tracker = Pick<WriteWatch, 'buffer' | 'get' | 'reset'>;

/** Stores of the bytes already there, and a change undone before the next call, are not changes. */
function sameBytes(ww: Tracker): void {
  const u8 = new Uint8Array(ww.buffer);
  u8[PAGE] = 0; // zero over zero
  new Uint8Array(ww.buffer, 2 * PAGE, PAGE).fill(0);
  u8[3 * PAGE + 9] = 5;
  u8[3 * PAGE + 9] = 0; // changed and changed back: the content is the baseline's
  expect(ww.get()).toEqual([]);
  u8[4 * PAGE + 1] = 5;
  expect(ww.get({ reset: true })).toEqual(pages(4));
  u8[4 * PAGE + 1] = 5; // the new baseline's value
  expect(ww.get()).toEqual([]);
  u8[4 * PAGE + 1] = 0; // back to zero is a change from the baseline
  expect(ww.get()).toEqual(pages(4));
}

/** A capped reset re-baselines exactly the pages it returned; reset(offset, length) the pages it touches. */
function cappedRebaseline(ww: Tracker): void {
  const u8 = new Uint8Array(ww.buffer);
  for (const p of [1, 2, 5, 9, 12]) u8[p * PAGE + 3] = 0x11;
  expect(ww.get({ maxPages: 2, reset: true })).toEqual(pages(1, 2));
  expect(ww.get()).toEqual(pages(5, 9, 12));
  // Pages 1 and 2 were re-baselined with 0x11: storing it again is no change; pages past the cap kept theirs.
  u8[PAGE + 3] = 0x11;
  u8[2 * PAGE + 3] = 0x22;
  expect(ww.get()).toEqual(pages(2, 5, 9, 12));
  ww.reset(5 * PAGE + 1, 4 * PAGE); // touches pages 5..9
  expect(ww.get()).toEqual(pages(2, 12));
  ww.reset();
  expect(ww.get()).toEqual([]);
  u8[9 * PAGE + 3] = 0; // the baseline of page 9 is now 0x11: zero is a change
  expect(ww.get()).toEqual(pages(9));
}

/** Pages added by growth compare against zeros: a zero stored there is no change, a 4 is. */
function grownAgainstZeros(mechanism: 'compare' | 'write-protect'): void {
  const ab = new ArrayBuffer(PAGE * 4, { maxByteLength: 64 * PAGE });
  const sab = new SharedArrayBuffer(PAGE * 4, { maxByteLength: 64 * PAGE });
  const mem = new WebAssembly.Memory({ initial: 1, maximum: 8 });
  for (const target of [ab, sab, mem]) {
    const ww = WriteWatch.track(target, { mechanism });
    open.push(ww);
    if (target === ab) ab.resize(40 * PAGE);
    else if (target === sab) sab.grow(40 * PAGE);
    else mem.grow(4);
    const u8 = new Uint8Array(ww.buffer);
    const at = ww.byteLength - 3 * PAGE;
    u8[at] = 0; // zero into a grown page: its content is still the zeros it is compared with
    expect(ww.get()).toEqual([]);
    u8[at + 1] = 4;
    const page = Math.floor((Number(ww.address) + at) / PAGE) * PAGE - Number(ww.address);
    expect(ww.get({ reset: true })).toEqual([page]);
    expect(ww.get()).toEqual([]);
  }
}

/** `ww` with get({ reset }) replaced: `resets` says what a resetting get re-baselines instead of the pages it returned. */
function brokenReset(ww: WriteWatch, resets: 'everything' | 'nothing'): Tracker {
  return {
    get buffer() {
      return ww.buffer;
    },
    get: ((o?: Parameters<WriteWatch['get']>[0]) => {
      const r = ww.get({ ...o, reset: false });
      if (o?.reset && resets === 'everything') ww.reset();
      return r;
    }) as WriteWatch['get'],
    reset: ww.reset.bind(ww),
  };
}

describe('10 compare: changed pages, not written pages', () => {
  it('a store of the bytes already there is not reported; a change and its undoing before the next call is not either', () => {
    sameBytes(compared(8 * PAGE));
  });

  it('track(): the baseline is the content when tracking began; data written back unchanged is not reported', () => {
    const ab = new ArrayBuffer(MiB);
    const u8 = new Uint8Array(ab);
    for (let i = 0; i < u8.length; i++) u8[i] = (i * 13 + 1) & 0xff;
    const ww = WriteWatch.track(ab, { mechanism: 'compare' });
    open.push(ww);
    expect(ww.get()).toEqual([]);
    u8.set(u8.slice(0, 300_000)); // every byte rewritten with itself
    expect(ww.get()).toEqual([]);
    const first = Math.ceil(Number(ww.address) / PAGE) * PAGE - Number(ww.address);
    u8[first + 5 * PAGE + 100] ^= 0xff;
    expect(ww.get()).toEqual([first + 5 * PAGE]);
  });

  it('writes by the kernel count by content: readSync of the bytes already there is not reported, of new bytes is', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-compare-'));
    try {
      const file = join(dir, 'data');
      // Each page its own bytes (a pattern of period 256 would make the pages equal).
      const data = new Uint8Array(2 * PAGE).map((_, i) => (i * 7 + 3 + Math.floor(i / PAGE) * 101) & 0xff);
      writeFileSync(file, data);
      const ww = compared(8 * PAGE);
      const fd = openSync(file, 'r');
      try {
        readSync(fd, new Uint8Array(ww.buffer), 2 * PAGE, 2 * PAGE, 0);
        expect(ww.get({ reset: true })).toEqual(pages(2, 3));
        readSync(fd, new Uint8Array(ww.buffer), 2 * PAGE, 2 * PAGE, 0); // the same bytes again
        expect(ww.get()).toEqual([]);
        readSync(fd, new Uint8Array(ww.buffer), 3 * PAGE, 2 * PAGE, 0); // shifted: pages 3 and 4 change
        expect(ww.get()).toEqual(pages(3, 4));
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reset with maxPages re-baselines only the returned pages; reset(offset, length) only the pages it touches', () => {
    cappedRebaseline(compared(16 * PAGE));
  });

  it('pages added by growth compare against zeros (resizable ArrayBuffer, growable SharedArrayBuffer, WebAssembly.Memory)', () => {
    grownAgainstZeros('compare');
  });

  it('a resizable ArrayBuffer grown past maxByteLength given to track(): the shadow grows, exact', () => {
    const ab = new ArrayBuffer(PAGE * 2, { maxByteLength: 256 * PAGE });
    const ww = WriteWatch.track(ab, { mechanism: 'compare', maxByteLength: 4 * PAGE });
    open.push(ww);
    ab.resize(200 * PAGE);
    expect(ww.get()).toEqual([]);
    new Uint8Array(ab)[150 * PAGE + 7] = 1;
    const page = Math.floor((Number(ww.address) + 150 * PAGE) / PAGE) * PAGE - Number(ww.address);
    expect(ww.get()).toEqual([page]);
  });
});

describe('10 compare: negative controls (each content check, run over a broken variant, fails)', () => {
  it('a capped reset that re-baselines every page, or none, fails the maxPages check (get({ reset }) patched over the public methods)', () => {
    expect(() => cappedRebaseline(brokenReset(compared(16 * PAGE), 'everything'))).toThrow(/expected/);
    expect(() => cappedRebaseline(brokenReset(compared(16 * PAGE), 'nothing'))).toThrow(/expected/);
    expect(() => sameBytes(brokenReset(compared(8 * PAGE), 'nothing'))).toThrow(/expected/);
  });
});

describeKernel('10 compare: negative controls over the write-protect mechanism (it reports writes, not changes)', () => {
  it('a store of the same bytes is reported there: the same-bytes check fails', () => {
    const ww = WriteWatch.allocate(8 * PAGE, { mechanism: 'write-protect' });
    open.push(ww);
    expect(() => sameBytes(ww)).toThrow(/expected/);
  });

  it('re-storing a re-baselined value is reported there: the maxPages check fails', () => {
    const ww = WriteWatch.allocate(16 * PAGE, { mechanism: 'write-protect' });
    open.push(ww);
    expect(() => cappedRebaseline(ww)).toThrow(/expected/);
  });

  // Windows' write-protect tracks no growable target (only memory reserved with MEM_WRITE_WATCH).
  it.skipIf(process.platform === 'win32')('a zero stored into a grown page is reported there: the grown-pages check fails', () => {
    expect(() => grownAgainstZeros('write-protect')).toThrow(/expected/);
  });
});

describe('10 compare: the mechanism option', () => {
  it('mechanism is reported; the default is write-protect', () => {
    const ww = compared(PAGE);
    expect(ww.mechanism).toBe('compare');
    ww.close();
    expect(ww.mechanism).toBe('compare');
    if (!kernel.supported) return; // the default needs write-protect: covered where it exists
    const d = WriteWatch.allocate(PAGE);
    expect(d.mechanism).toBe('write-protect');
    d.close();
  });

  it("'auto' picks what probe().auto says, for allocate and track", () => {
    const want = probe().auto.mechanism;
    expect(want).toBe(kernel.supported ? 'write-protect' : 'compare');
    const a = WriteWatch.allocate(4 * PAGE, { mechanism: 'auto' });
    const t = WriteWatch.track(new ArrayBuffer(8 * PAGE), { mechanism: 'auto' });
    open.push(a, t);
    // Windows' write-protect serves allocate() only (memory reserved with MEM_WRITE_WATCH): track() is compare's.
    expect([a.mechanism, t.mechanism]).toEqual([want, process.platform === 'win32' ? 'compare' : want]);
    new Uint8Array(a.buffer)[PAGE] = 1;
    expect(a.get()).toEqual([PAGE]);
  });

  it('any other mechanism is ERR_INVALID_ARG_VALUE; options that are not an object ERR_INVALID_ARG_TYPE; nothing is left open', () => {
    const fds = () => (process.platform === 'linux' ? readdirSync('/proc/self/fd').length : 0);
    const before = fds();
    for (const bad of ['Compare', 'write_protect', 'soft-dirty', '', 0, 1, true, null, {}, ['compare'], Symbol('compare')]) {
      for (const call of [
        () => WriteWatch.allocate(PAGE, { mechanism: bad as never }),
        () => WriteWatch.track(new ArrayBuffer(4 * PAGE), { mechanism: bad as never }),
      ]) {
        expect(call).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      }
    }
    expect(() => WriteWatch.allocate(PAGE, { mechanism: 'x' as never })).toThrow(/options\.mechanism.*'write-protect', 'compare', 'auto'/);
    for (const bad of [null, 5, 'compare']) {
      expect(() => WriteWatch.allocate(PAGE, bad as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    }
    expect(fds()).toBe(before);
  });
});

describe('10 compare: lifecycle', () => {
  /**
   * The mappings the compare mechanism makes (shadows and allocations), told apart by the
   * wipe-on-fork flag it sets on them ("wf" in smaps VmFlags), which nothing else in Node sets:
   * counted from the kernel's own listing, so V8 growing its heap meanwhile does not count.
   */
  const compareMappings = () =>
    readFileSync('/proc/self/smaps', 'utf8').split('\n').filter((l) => l.startsWith('VmFlags:') && / wf\b/.test(l)).length;

  // smaps and the registry's reaper are Linux's; Windows frees a shadow with VirtualFree.
  it.skipIf(process.platform !== 'linux')('close() unmaps the shadow: 1,000 allocate/close and track/close cycles leave no mapping behind', () => {
    const ab = new ArrayBuffer(64 * PAGE);
    const before = compareMappings();
    const cycle = (i: number, close: boolean) => {
      const a = WriteWatch.allocate(16 * PAGE, { mechanism: 'compare' });
      new Uint8Array(a.buffer)[i % (16 * PAGE)] = 1;
      a.get({ reset: true });
      const t = WriteWatch.track(ab, { mechanism: 'compare' });
      if (!close) return [a, t];
      a.close();
      t.close();
      return [];
    };
    for (let i = 0; i < 1000; i++) cycle(i, true);
    expect(compareMappings()).toBe(before);
    // Negative control: the same cycle without close() leaves its shadow and allocation mapped,
    // and the count sees them (a shadow each for a and t, and a's memory).
    const open = cycle(0, false);
    expect(compareMappings()).toBeGreaterThanOrEqual(before + 3);
    for (const w of open) w.close();
    expect(compareMappings()).toBe(before);
  });

  it.skipIf(process.platform !== 'linux')('a worker that exits without close() leaves its shadows unmapped', async () => {
    const SIZE = (1 << 20) + 5 * PAGE;
    const WORKERS = 5;
    // Bytes of the mappings only a shadow has: read-write, MAP_NORESERVE ("nr") and no huge pages
    // ("nh"). Summed, not counted: adjacent mappings with the same flags merge into one line.
    const shadowBytes = () => {
      let total = 0;
      for (const entry of readFileSync('/proc/self/smaps', 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
        const [range, perms] = entry.split(' ');
        const flags = / nr\b/.test(/VmFlags:(.*)/.exec(entry)?.[1] ?? '') && / nh\b/.test(/VmFlags:(.*)/.exec(entry)?.[1] ?? '');
        if (perms !== 'rw-p' || !flags) continue;
        const [s, e] = range.split('-').map((x) => parseInt(x, 16));
        total += e - s;
      }
      return total;
    };
    const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const before = shadowBytes();
    for (let i = 0; i < WORKERS; i++) {
      const w = new Worker(
        `const { WriteWatch } = await import(${JSON.stringify(dist)});
         const ww = WriteWatch.allocate(${SIZE}, { mechanism: 'compare' });
         new Uint8Array(ww.buffer)[0] = 1;
         ww.get({ reset: true });`,
        { eval: true, type: 'module' } as WorkerOptions,
      );
      await new Promise((resolve, reject) => {
        w.once('exit', resolve);
        w.once('error', reject);
      });
    }
    // Leaked shadows would be WORKERS × SIZE bytes.
    expect(shadowBytes() - before).toBeLessThan(SIZE);
  });

  it('every method throws ERR_WRITEWATCH_CLOSED after close', () => {
    const ww = compared(4 * PAGE);
    ww.close();
    for (const call of [() => ww.get(), () => ww.getInto(new Float64Array(4)), () => ww.ranges(), () => ww.reset(), () => ww.buffer]) {
      expect(call).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_CLOSED' }));
    }
  });

  it.skipIf(process.platform !== 'linux')('memory unmapped behind the library is ERR_WRITEWATCH_LOST, not a SIGSEGV (in a child process)', () => {
    const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `
      import koffi from 'koffi';
      import { WriteWatch } from ${JSON.stringify(dist)};
      const munmap = koffi.load('libc.so.6').func('int munmap(uintptr_t, size_t)');
      const page = ${PAGE};
      const ww = WriteWatch.allocate(8 * page, { mechanism: 'compare' });
      new Uint8Array(ww.buffer)[page] = 1;
      munmap(Number(ww.address) + 4 * page, page);
      if (process.env.WW_NAIVE_COMPARE) {
        // The broken variant: a compare without the mapped check reads the memory as it is.
        const mem = new Uint8Array(koffi.view(ww.address, 8 * page));
        let sum = 0;
        for (let i = 0; i < mem.length; i += page) sum += mem[i];
        console.log(JSON.stringify({ naive: sum }));
        process.exit(0);
      }
      const codes = [() => ww.get(), () => ww.get({ reset: true }), () => ww.getInto(new Float64Array(8)), () => ww.ranges(), () => ww.reset()]
        .map((f) => { try { f(); return 'none'; } catch (e) { return e.code; } });
      const exact = ww.get({ length: 4 * page });
      console.log(JSON.stringify({ codes, exact }));`;
    const run = (env: Record<string, string> = {}) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
    const r = run();
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ codes: Array(5).fill('ERR_WRITEWATCH_LOST'), exact: [PAGE] });
    // Negative control: the same child reading the memory without the check (WW_NAIVE_COMPARE)
    // dies of SIGSEGV, which is what the two checks above would see.
    const naive = run({ WW_NAIVE_COMPARE: '1' });
    expect(naive.signal, naive.stdout + naive.stderr).toBe('SIGSEGV');
  });
});
