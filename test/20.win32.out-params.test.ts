/**
 * Out-parameters that cannot be written (issue 9, case 3). A frozen, getter-only or Proxy `count`,
 * `granularity`, `addresses` or `oldProtect` is an unwritable pointer: the call fails with 998
 * (STATUS_ACCESS_VIOLATION) as Windows fails it, and has changed nothing: no page reset, no
 * protection changed, no out-parameter written. Today it reset the pages, then threw a bare
 * TypeError, and the written pages were gone. Also: setLastError validates like every function.
 */
import { readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const P = BigInt(PAGE);
const SIZE = 16 * PAGE;
const WRITTEN = [0, 2, 5, 6];
const live: bigint[] = [];

afterEach(() => {
  for (const b of live.splice(0)) w.virtualFree(b, 0, w.MEM_RELEASE);
});

/** A write-watched allocation with WRITTEN pages written. */
function dirty(): bigint {
  const base = w.virtualAlloc(0n, SIZE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
  expect(base).not.toBe(0n);
  live.push(base);
  const u8 = new Uint8Array(w.viewMemory(base, SIZE));
  for (const p of WRITTEN) u8[p * PAGE + 7] = 1;
  return base;
}

/** The written pages, by a plain GetWriteWatch without reset. */
function written(base: bigint): number[] {
  const addrs = new BigUint64Array(64);
  const count = { value: 64 };
  expect(w.getWriteWatch(0, base, SIZE, addrs, count, { value: 0 })).toBe(0);
  return [...addrs.subarray(0, count.value)].map((a) => Number((a - base) / P));
}

/** Calls with RESET; it must fail with 998 without throwing. */
function expectNoAccess(base: bigint, addrs: BigUint64Array | bigint[], count: w.Box, gran: w.Box, label: string): void {
  w.setLastError(0x1234);
  let r: number | undefined;
  expect(() => (r = w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, addrs, count, gran)), label).not.toThrow();
  expect([label, r, w.getLastError()]).toEqual([label, w.WRITE_WATCH_FAILED, w.ERROR_NOACCESS]);
  expect(w.ntGetWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, addrs, count, gran), label).toBe(w.STATUS_ACCESS_VIOLATION);
}

const getterOnly = (v: number): w.Box => Object.defineProperty({}, 'value', { get: () => v, enumerable: true }) as w.Box;
const throwingSet = <T extends object>(target: T): T =>
  new Proxy(target, {
    set() {
      throw new Error('no stores here');
    },
  });
/** Accepts the first store (the probe's write-back), throws on the next: only a rollback can save this. */
function secondStoreThrows(v: number): w.Box {
  let stores = 0;
  let value = v;
  return {
    get value() {
      return value;
    },
    set value(x: number) {
      if (++stores > 1) throw new Error('second store');
      value = x;
    },
  };
}

describeKernel('win32: an out-parameter that cannot be written is 998 and changes nothing', () => {
  const cases: [string, () => { addrs: BigUint64Array | bigint[]; count: w.Box; gran: w.Box }][] = [
    ['frozen count', () => ({ addrs: new BigUint64Array(64), count: Object.freeze({ value: 64 }), gran: { value: 0 } })],
    ['frozen granularity', () => ({ addrs: new BigUint64Array(64), count: { value: 64 }, gran: Object.freeze({ value: 0 }) })],
    ['getter-only count.value', () => ({ addrs: new BigUint64Array(64), count: getterOnly(64), gran: { value: 0 } })],
    ['getter-only granularity.value', () => ({ addrs: new BigUint64Array(64), count: { value: 64 }, gran: getterOnly(0) })],
    ['a Proxy count whose set throws', () => ({ addrs: new BigUint64Array(64), count: throwingSet({ value: 64 }), gran: { value: 0 } })],
    ['frozen addresses array', () => ({ addrs: Object.freeze(new Array<bigint>(64).fill(0n)) as bigint[], count: { value: 64 }, gran: { value: 0 } })],
    ['a Proxy addresses array whose set throws', () => ({ addrs: throwingSet(new Array<bigint>(64).fill(0n)), count: { value: 64 }, gran: { value: 0 } })],
    ['a count whose second store throws (rolled back)', () => ({ addrs: new BigUint64Array(64), count: secondStoreThrows(64), gran: { value: 0 } })],
    ['a granularity whose second store throws (rolled back)', () => ({ addrs: new BigUint64Array(64), count: { value: 64 }, gran: secondStoreThrows(0) })],
  ];
  for (const [label, make] of cases) {
    it(`${label}: GetWriteWatch(RESET) fails with 998 and every written page still reads written`, () => {
      const base = dirty();
      const { addrs, count, gran } = make();
      expectNoAccess(base, addrs, count, gran, label);
      expect(written(base)).toEqual(WRITTEN);
    });
  }

  it('an addresses array that throws at its third store: restored entry by entry, pages still written', () => {
    const base = dirty();
    const target = new Array<bigint>(64).fill(7n);
    let stores = 0;
    const addrs = new Proxy(target, {
      set(t, k, v) {
        if (++stores === 3) throw new Error('third store');
        return Reflect.set(t, k, v);
      },
    });
    const count = { value: 64 };
    const gran = { value: 0 };
    w.setLastError(0);
    expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, addrs, count, gran)).toBe(w.WRITE_WATCH_FAILED);
    expect(w.getLastError()).toBe(w.ERROR_NOACCESS);
    expect(target.every((v) => v === 7n)).toBe(true);
    expect([count.value, gran.value]).toEqual([64, 0]);
    expect(written(base)).toEqual(WRITTEN);
  });

  it('negative control: the same call with writable out-parameters does reset', () => {
    const base = dirty();
    const addrs = new Array<bigint>(64).fill(0n);
    const count = { value: 64 };
    expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, addrs, count, { value: 0 })).toBe(0);
    expect(addrs.slice(0, count.value).map((a) => Number((a - base) / P))).toEqual(WRITTEN);
    expect(written(base)).toEqual([]);
  });

  it('a count whose getter throws is 998, not a bare error', () => {
    const base = dirty();
    const count = Object.defineProperty({}, 'value', { get: () => { throw new Error('boom'); }, set() {} }) as w.Box;
    expectNoAccess(base, new BigUint64Array(64), count, { value: 0 }, 'throwing getter');
    expect(written(base)).toEqual(WRITTEN);
  });
});

/** The rwxp field of the /proc/self/maps line that holds `addr`. */
function perms(addr: bigint): string | undefined {
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
    if (m && BigInt('0x' + m[1]) <= addr && addr < BigInt('0x' + m[2])) return m[3];
  }
  return undefined;
}

describeKernel('win32: VirtualProtect with an unwritable oldProtect changes no protection', () => {
  for (const [label, make] of [
    ['frozen', () => Object.freeze({ value: 0 })],
    ['getter-only', () => getterOnly(0)],
    ['a Proxy whose set throws', () => throwingSet({ value: 0 })],
    ['second store throws (rolled back)', () => secondStoreThrows(0)],
  ] as [string, () => w.Box][]) {
    it(`${label}: false, 998, protection unchanged`, () => {
      const base = dirty();
      const page2 = base + 2n * P;
      // Two pages with different protections inside the range, so a rollback must restore each.
      const old = { value: 0 };
      expect(w.virtualProtect(page2, PAGE, w.PAGE_READONLY, old)).toBe(true);
      expect(perms(page2)).toBe('r--p');
      expect(perms(base)).toBe('rw-p');
      w.setLastError(0);
      expect(w.virtualProtect(base, 4 * PAGE, w.PAGE_NOACCESS, make())).toBe(false);
      expect(w.getLastError()).toBe(w.ERROR_NOACCESS);
      expect([perms(base), perms(page2), perms(base + 3n * P)]).toEqual(['rw-p', 'r--p', 'rw-p']);
      // And the library's own record agrees: the next VirtualProtect reports the first page's protection.
      expect(w.virtualProtect(page2, PAGE, w.PAGE_READWRITE, old)).toBe(true);
      expect(old.value).toBe(w.PAGE_READONLY);
      expect(written(base)).toEqual(WRITTEN); // protection changes never touch the written state
    });
  }
});

it('setLastError validates like every other function (issue 9, case 9)', () => {
  w.setLastError(0x1234);
  for (const [v, code] of [
    [Number.NaN, 'ERR_OUT_OF_RANGE'],
    [1.5, 'ERR_OUT_OF_RANGE'],
    [2 ** 32, 'ERR_OUT_OF_RANGE'],
    [-(2 ** 31) - 1, 'ERR_OUT_OF_RANGE'],
    [Infinity, 'ERR_OUT_OF_RANGE'],
    ['5', 'ERR_INVALID_ARG_TYPE'],
    [{}, 'ERR_INVALID_ARG_TYPE'],
    [5n, 'ERR_INVALID_ARG_TYPE'],
    [undefined, 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
  ] as [unknown, string][]) {
    let err: any;
    try {
      w.setLastError(v as number);
    } catch (e) {
      err = e;
    }
    expect([String(v), err?.code]).toEqual([String(v), code]);
    expect(w.getLastError()).toBe(0x1234); // a refused call stores nothing
  }
  w.setLastError(-1); // C's conversion of an int: 0xFFFFFFFF
  expect(w.getLastError()).toBe(0xffffffff);
  w.setLastError(0xdeadbeef);
  expect(w.getLastError()).toBe(0xdeadbeef);
  w.setLastError(-(2 ** 31));
  expect(w.getLastError()).toBe(0x80000000);
});

describeKernel('win32: out-parameters from another realm (issue 9, case 9: one rule)', () => {
  it('a node:vm BigUint64Array receives the addresses', async () => {
    const vm = await import('node:vm');
    const base = dirty();
    const addrs = vm.runInNewContext('new BigUint64Array(64)') as BigUint64Array;
    const count = { value: 64 };
    expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, addrs, count, { value: 0 })).toBe(0);
    expect([...addrs.subarray(0, count.value)].map((a) => Number((a - base) / P))).toEqual(WRITTEN);
  });
});

describeKernel('win32: a revoked Proxy as an out-parameter', () => {
  it('as addresses: ERR_INVALID_ARG_TYPE (no array at all); as count: 998; nothing reset either way', () => {
    const base = dirty();
    const { proxy, revoke } = Proxy.revocable(new Array<bigint>(64).fill(0n), {});
    revoke();
    let code: string | undefined;
    try {
      w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, proxy, { value: 64 }, { value: 0 });
    } catch (e) {
      code = (e as { code?: string }).code;
    }
    expect(code).toBe('ERR_INVALID_ARG_TYPE');
    const box = Proxy.revocable({ value: 64 }, {});
    box.revoke();
    expectNoAccess(base, new BigUint64Array(64), box.proxy, { value: 0 }, 'revoked count');
    expect(written(base)).toEqual(WRITTEN);
  });
});

describeKernel('win32: out-parameters whose other traps throw', () => {
  it('an addresses Proxy whose isExtensible trap throws, and a granularity whose getter throws on its second read: 998, nothing reset', () => {
    const base = dirty();
    const addrs = new Proxy(new Array<bigint>(64).fill(0n), {
      isExtensible() {
        throw new Error('no');
      },
    });
    expectNoAccess(base, addrs, { value: 64 }, { value: 0 }, 'isExtensible throws');
    expect(written(base)).toEqual(WRITTEN);
    let reads = 0;
    const gran = {
      get value() {
        if (++reads > 1) throw new Error('second read');
        return 0;
      },
      set value(_v: number) {},
    } as w.Box;
    w.setLastError(0);
    expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, new BigUint64Array(64), { value: 64 }, gran)).toBe(w.WRITE_WATCH_FAILED);
    expect(w.getLastError()).toBe(w.ERROR_NOACCESS);
    expect(written(base)).toEqual(WRITTEN);
  });
});

describeKernel('win32: count.value is read once', () => {
  it('a count getter is read exactly once, so no second read can throw after the call acted', () => {
    const base = dirty();
    let reads = 0;
    const count = {
      get value() {
        if (++reads > 1) throw new Error('second read');
        return 64;
      },
      set value(_v: number) {},
    } as w.Box;
    const addrs = new BigUint64Array(64);
    w.setLastError(0);
    const r = w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, base, SIZE, addrs, count, { value: 0 });
    // Read once by the probe: the call then succeeds, and its count store goes to the no-op setter.
    expect([r, reads]).toEqual([0, 1]);
    expect([...addrs.subarray(0, WRITTEN.length)].map((a) => Number((a - base) / P))).toEqual(WRITTEN);
  });
});
