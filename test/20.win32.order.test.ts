/**
 * GetWriteWatch's argument checks and their order (WINDOWS-SEMANTICS.md, Wine's NtGetWriteWatch):
 * every combination of bad arguments must fail with the error of the earliest check, and leave
 * every out-parameter as it was.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const SIZE = 8 * PAGE;

// Each bad argument, with the rank of the check that catches it and the error it gives alone.
const BAD = {
  countNull: { rank: 2, err: 998 },
  granNull: { rank: 2, err: 998 },
  countZero: { rank: 3, err: 87 },
  sizeZero: { rank: 3, err: 87 },
  flags: { rank: 4, err: 87 },
  addrNull: { rank: 5, err: 998 },
  addrShort: { rank: 5, err: 998 },
  notWatched: { rank: 6, err: 87 },
} as const;
type Bad = keyof typeof BAD;

describeKernel('win32: GetWriteWatch check order', () => {
  let watched = 0n;
  let plain = 0n;
  beforeAll(() => {
    watched = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    plain = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_READWRITE);
    expect(watched).not.toBe(0n);
    expect(plain).not.toBe(0n);
    new Uint8Array(w.viewMemory(watched, SIZE))[3 * PAGE] = 1; // one dirty page, so success has a result
  });
  afterAll(() => {
    expect(w.virtualFree(watched, 0, w.MEM_RELEASE)).toBe(true);
    expect(w.virtualFree(plain, 0, w.MEM_RELEASE)).toBe(true);
  });

  type GetWriteWatch = typeof w.getWriteWatch;

  function call(bad: Set<Bad>, getWriteWatch: GetWriteWatch = w.getWriteWatch) {
    const cap = bad.has('countZero') ? 0 : 4;
    const addrs = bad.has('addrNull') ? null : new BigUint64Array(bad.has('addrShort') ? cap - 1 : cap).fill(0xaan);
    const count = bad.has('countNull') ? null : { value: cap };
    const gran = bad.has('granNull') ? null : { value: 7 };
    const base = bad.has('notWatched') ? plain : watched;
    const size = bad.has('sizeZero') ? 0 : SIZE;
    const flags = bad.has('flags') ? 2 : 0;
    w.setLastError(0xdeadbeef);
    const ret = getWriteWatch(flags, base, size, addrs, count, gran);
    return { ret, err: w.getLastError(), addrs, count, gran, cap };
  }

  /** Every combination of bad arguments through `getWriteWatch`: how many, and what was wrong with which. */
  function everyCombination(getWriteWatch: GetWriteWatch): { combos: number; wrong: string[] } {
    const names = Object.keys(BAD) as Bad[];
    let combos = 0;
    const wrong: string[] = [];
    for (let mask = 1; mask < 1 << names.length; mask++) {
      const bad = new Set(names.filter((_, i) => mask & (1 << i)));
      if (bad.has('addrNull') && bad.has('addrShort')) continue;
      if (bad.has('countZero') && bad.has('addrShort')) continue; // no array is shorter than 0
      const first = [...bad].sort((a, b) => BAD[a].rank - BAD[b].rank)[0];
      const r = call(bad, getWriteWatch);
      const label = [...bad].join('+');
      if (r.ret !== 0xffffffff) wrong.push(`${label}: returned ${r.ret}`);
      else if (r.err !== BAD[first].err) wrong.push(`${label}: error ${r.err}, not ${BAD[first].err}`);
      else if (r.count && r.count.value !== r.cap) wrong.push(`${label}: count written`);
      else if (r.gran && r.gran.value !== 7) wrong.push(`${label}: granularity written`);
      else if (r.addrs && ![...r.addrs].every((a) => a === 0xaan)) wrong.push(`${label}: addresses written`);
      combos++;
    }
    return { combos, wrong };
  }

  /** A GetWriteWatch failing with `err` whenever `when` holds, before any of its own checks. */
  const failingFirst = (when: (...a: Parameters<GetWriteWatch>) => boolean, err: number): GetWriteWatch =>
    (...a) => {
      if (!when(...a)) return w.getWriteWatch(...a);
      w.setLastError(err);
      return 0xffffffff;
    };

  it('every combination fails with the earliest check, out-parameters untouched', () => {
    const { combos, wrong } = everyCombination(w.getWriteWatch);
    expect(wrong).toEqual([]);
    expect(combos).toBeGreaterThan(150);
  });

  it('negative controls: checks in another order, a wrong code, out-parameters written on failure: each caught', () => {
    // The size check made before the null out-parameter checks (rank 3 before rank 2).
    const reordered = everyCombination(failingFirst((_f, _b, size) => size === 0, w.ERROR_INVALID_PARAMETER));
    expect(reordered.wrong.length).toBeGreaterThan(0);
    expect(reordered.wrong).toContain('countNull+sizeZero: error 87, not 998');
    // A null count reported as 87 (ERROR_INVALID_PARAMETER) instead of 998 (ERROR_NOACCESS).
    const wrongCode = everyCombination(failingFirst((_f, _b, _s, _a, count) => count === null, w.ERROR_INVALID_PARAMETER));
    expect(wrongCode.wrong).toContain('countNull: error 87, not 998');
    // A failure that zeroes *lpdwCount on its way out.
    const touches: GetWriteWatch = (f, b, size, addrs, count, gran) => {
      const ret = w.getWriteWatch(f, b, size, addrs, count, gran);
      if (ret !== 0 && count) count.value = 0;
      return ret;
    };
    expect(everyCombination(touches).wrong).toContain('sizeZero: count written');
  });

  it('with nothing bad it succeeds, writing only the returned entries', () => {
    const r = call(new Set());
    expect(r.ret).toBe(0);
    expect(r.err).toBe(0xdeadbeef);
    expect(r.count!.value).toBe(1);
    expect(r.gran!.value).toBe(PAGE);
    expect([...r.addrs!]).toEqual([watched + BigInt(3 * PAGE), 0xaan, 0xaan, 0xaan]);
  });

  it('an unaligned base with size 0 covers one page and is valid', () => {
    const addrs = new BigUint64Array(4);
    const count = { value: 4 };
    const gran = { value: 0 };
    expect(w.getWriteWatch(0, watched + BigInt(3 * PAGE + 5), 0, addrs, count, gran)).toBe(0);
    expect(count.value).toBe(1);
    expect(addrs[0]).toBe(watched + BigInt(3 * PAGE));
    count.value = 4;
    expect(w.getWriteWatch(0, watched + BigInt(2 * PAGE + 5), 0, addrs, count, gran)).toBe(0);
    expect(count.value).toBe(0);
    // ResetWriteWatch rounds the same way.
    expect(w.resetWriteWatch(watched + BigInt(2 * PAGE + 5), 0)).toBe(0);
    expect(w.resetWriteWatch(watched + BigInt(2 * PAGE), 0)).toBe(0xffffffff);
    expect(w.getLastError()).toBe(87);
  });

  it('ntGetWriteWatch / ntResetWriteWatch return the NTSTATUS and never set the last error', () => {
    const addrs = new BigUint64Array(4);
    const gran = { value: 0 };
    const cases: [() => number, number][] = [
      [() => w.ntGetWriteWatch(0, watched, SIZE, addrs, { value: 4 }, gran), w.STATUS_SUCCESS],
      [() => w.ntGetWriteWatch(0, watched, SIZE, addrs, null, gran), w.STATUS_ACCESS_VIOLATION],
      [() => w.ntGetWriteWatch(0, watched, SIZE, null, { value: 4 }, gran), w.STATUS_ACCESS_VIOLATION],
      [() => w.ntGetWriteWatch(0, watched, SIZE, addrs, { value: 0 }, gran), w.STATUS_INVALID_PARAMETER],
      [() => w.ntGetWriteWatch(3, watched, SIZE, addrs, { value: 4 }, gran), w.STATUS_INVALID_PARAMETER],
      [() => w.ntGetWriteWatch(0, plain, SIZE, addrs, { value: 4 }, gran), w.STATUS_INVALID_PARAMETER],
      [() => w.ntGetWriteWatch(0, 0n, SIZE, addrs, { value: 4 }, gran), w.STATUS_INVALID_PARAMETER],
      [() => w.ntResetWriteWatch(watched, SIZE), w.STATUS_SUCCESS],
      [() => w.ntResetWriteWatch(watched, 0), w.STATUS_INVALID_PARAMETER],
      [() => w.ntResetWriteWatch(plain, SIZE), w.STATUS_INVALID_PARAMETER],
    ];
    for (const [f, status] of cases) {
      w.setLastError(0x1234);
      expect(f()).toBe(status);
      expect(w.getLastError()).toBe(0x1234);
    }
    // (The NTSTATUS values themselves are pinned once, from ntstatus.h, in 20.win32.constants.)
  });

  it('wrong JS types throw ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE and reset nothing', () => {
    const view = new Uint8Array(w.viewMemory(watched, SIZE));
    view[3 * PAGE] = 1; // earlier tests reset it
    view[5 * PAGE] = 1;
    const gran = { value: 0 };
    const addrs = new BigUint64Array(8);
    const bad: [() => unknown, string][] = [
      [() => w.getWriteWatch(1, Number(watched) as any, SIZE, addrs, { value: 8 }, gran), 'ERR_INVALID_ARG_TYPE'],
      [() => w.getWriteWatch(1, watched, BigInt(SIZE) as any, addrs, { value: 8 }, gran), 'ERR_INVALID_ARG_TYPE'],
      [() => w.getWriteWatch(1, watched, SIZE, new Uint8Array(8) as any, { value: 8 }, gran), 'ERR_INVALID_ARG_TYPE'],
      [() => w.getWriteWatch(1, watched, SIZE, addrs, 8 as any, gran), 'ERR_INVALID_ARG_TYPE'],
      [() => w.getWriteWatch(1, watched, SIZE, addrs, { value: 8n } as any, gran), 'ERR_INVALID_ARG_TYPE'],
      [() => w.getWriteWatch('1' as any, watched, SIZE, addrs, { value: 8 }, gran), 'ERR_INVALID_ARG_TYPE'],
      [() => w.getWriteWatch(1, watched, -1, addrs, { value: 8 }, gran), 'ERR_OUT_OF_RANGE'],
      [() => w.getWriteWatch(1, -1n, SIZE, addrs, { value: 8 }, gran), 'ERR_OUT_OF_RANGE'],
      [() => w.getWriteWatch(1, watched, SIZE, addrs, { value: 1.5 }, gran), 'ERR_OUT_OF_RANGE'],
      [() => w.resetWriteWatch(Number(watched) as any, SIZE), 'ERR_INVALID_ARG_TYPE'],
      [() => w.virtualAlloc(0 as any, SIZE, w.MEM_RESERVE, w.PAGE_READWRITE), 'ERR_INVALID_ARG_TYPE'],
      [() => w.virtualFree(watched, 0, 'release' as any), 'ERR_INVALID_ARG_TYPE'],
      [() => w.virtualProtect(watched, SIZE, w.PAGE_READWRITE, 4 as any), 'ERR_INVALID_ARG_TYPE'],
      [() => w.viewMemory(Number(watched) as any, 1), 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [f, code] of bad) expect(f).toThrow(expect.objectContaining({ code }));
    const count = { value: 8 };
    expect(w.getWriteWatch(0, watched, SIZE, addrs, count, gran)).toBe(0);
    expect([...addrs.subarray(0, count.value)]).toEqual([watched + BigInt(3 * PAGE), watched + BigInt(5 * PAGE)]);
  });
});
