/**
 * writewatch/win32 against test_write_watch's cases (support/write-watch-cases.ts) on whatever host
 * runs it: on Windows the module forwards to the real kernel32 (npm run test:windows runs this file
 * under Wine), on Linux it emulates. Each case asserts Windows' answer, or, on a host the table
 * lists as deviating (Wine 8's mprotect path, Linux where Windows cannot be followed), exactly that
 * host's answer, named in the test title: never "either".
 *
 * Then what the forwarding layer adds on top of kernel32, checked on both hosts where the
 * emulation has it too: the JS argument checks, out-parameters that cannot be written, the last
 * error, viewMemory; and on Windows VirtualQuery and GetSystemInfo, which the emulation lacks yet.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import * as forward from '../src/win32/kernel32/index.js';
import { kernel32 } from '../src/sys/kernel32/raw.js';
import { windowsVersion } from '../src/sys/kernel32/system.js';
import { describeKernel, PAGE } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';
import { cases, expectedOn, invalidParameters, type Ctx, type Host, type Win32 } from './support/write-watch-cases.js';

const onWindows = process.platform === 'win32';
const host: Host = onWindows ? (windowsVersion().wine !== null ? 'wine' : 'windows') : 'linux';
const hostName = onWindows ? windowsVersion().text : process.platform;
const P = BigInt(PAGE);

const held: bigint[] = [];
const ctx: Ctx = {
  w,
  page: PAGE,
  alloc(pages, type = w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, protect = w.PAGE_READWRITE) {
    const b = w.virtualAlloc(0n, pages * PAGE, type, protect);
    if (b === 0n) throw new Error(`VirtualAlloc(${pages} pages, 0x${type.toString(16)}) failed: ${w.getLastError()}`);
    held.push(b);
    return b;
  },
  free(base) {
    const i = held.indexOf(base);
    if (i >= 0) held.splice(i, 1);
    return w.virtualFree(base, 0, w.MEM_RELEASE);
  },
  keep(base) {
    held.push(base);
  },
};
afterEach(() => {
  for (const b of held.splice(0)) w.virtualFree(b, 0, w.MEM_RELEASE);
});

describeKernel(`22 test_write_watch through writewatch/win32 on ${hostName}`, () => {
  it('the host is the one the table is about (on Windows, kernel32 answers; Wine says which Wine)', () => {
    if (onWindows) expect(windowsVersion().text).toMatch(/^Windows 10\.0\.\d+( \(Wine \d+\.\d+.*\))?$/);
    expect(['windows', 'wine', 'linux']).toContain(host);
    // The one switch in src/win32/index.ts: kernel32 itself on Windows, the emulation elsewhere.
    const picked = [w.getLastError, w.setLastError, w.virtualAlloc, w.virtualFree, w.virtualProtect, w.getWriteWatch, w.resetWriteWatch, w.ntGetWriteWatch, w.ntResetWriteWatch, w.viewMemory];
    const forwarders = [forward.getLastError, forward.setLastError, forward.virtualAlloc, forward.virtualFree, forward.virtualProtect, forward.getWriteWatch, forward.resetWriteWatch, forward.ntGetWriteWatch, forward.ntResetWriteWatch, forward.viewMemory];
    expect(picked.map((f, i) => f === forwarders[i])).toEqual(picked.map(() => onWindows));
  });

  for (const c of cases) {
    const { answer, why } = expectedOn(c, host);
    it(`${c.name} (${c.source})${why ? ` [${host} differs from Windows: ${why}]` : ''}`, async () => {
      expect(await c.run(ctx)).toEqual(answer);
      // The deviation is real: this host's answer is not Windows' (else the table entry is stale).
      if (why) expect(answer).not.toEqual(c.windows);
    });
  }

  it('negative controls: the table catches a GetWriteWatch that drops RESET, or resets past the count', async () => {
    const named = (name: string) => cases.find((c) => c.name.startsWith(name))!;
    const broken = (getWriteWatch: Win32['getWriteWatch']): Ctx => ({ ...ctx, w: { ...w, getWriteWatch } });
    const dropsReset: Win32['getWriteWatch'] = (flags, ...rest) => w.getWriteWatch(flags & ~w.WRITE_WATCH_FLAG_RESET, ...rest);
    // Asks for every page (resetting them all with RESET) and hands back only the first count.value.
    const resetsAll: Win32['getWriteWatch'] = (flags, base, size, addresses, count, gran) => {
      const all = new BigUint64Array(1 << 12);
      const got = { value: all.length };
      const r = w.getWriteWatch(flags, base, size, all, got, gran);
      if (r === 0) {
        const n = Math.min(got.value, count!.value);
        for (let i = 0; i < n; i++) addresses![i] = all[i];
        count!.value = n;
      }
      return r;
    };
    for (const [name, variant] of [
      ['one write reports its page', dropsReset],
      ['more written pages than the count', resetsAll],
    ] as const) {
      const c = named(name);
      expect(await c.run(broken(variant)), name).not.toEqual(expectedOn(c, host).answer);
      expect(await c.run(ctx), name).toEqual(expectedOn(c, host).answer);
    }
  });

  it('argument errors, each with its last error, the granularity untouched (C1-C11 [W])', () => {
    const base = ctx.alloc(16);
    const seen = invalidParameters.map(([name, call]) => {
      const gran = { value: 0 };
      w.setLastError(0xdeadbeef);
      return [name, call(w, base, 16 * PAGE, PAGE, gran), w.getLastError(), gran.value];
    });
    expect(seen).toEqual(invalidParameters.map(([name, , err]) => [name, 0xffffffff, err, 0]));
  });
});

describeKernel(`22 writewatch/win32's JS layer on ${hostName}`, () => {
  it('wrong JS types throw the same coded errors on every host (Windows has no types)', () => {
    const b = ctx.alloc(4);
    const box = { value: 4 };
    const calls: [string, () => unknown, string][] = [
      ['virtualAlloc address', () => w.virtualAlloc(0 as unknown as bigint, PAGE, w.MEM_COMMIT, w.PAGE_READWRITE), 'ERR_INVALID_ARG_TYPE'],
      ['virtualAlloc size', () => w.virtualAlloc(0n, -1, w.MEM_COMMIT, w.PAGE_READWRITE), 'ERR_OUT_OF_RANGE'],
      ['virtualFree freeType', () => w.virtualFree(b, 0, 2 ** 32), 'ERR_OUT_OF_RANGE'],
      ['virtualProtect oldProtect', () => w.virtualProtect(b, PAGE, w.PAGE_READONLY, 5 as unknown as w.Box), 'ERR_INVALID_ARG_TYPE'],
      ['getWriteWatch flags', () => w.getWriteWatch('1' as unknown as number, b, PAGE, new BigUint64Array(4), box, { value: 0 }), 'ERR_INVALID_ARG_TYPE'],
      ['getWriteWatch base', () => w.getWriteWatch(0, -1n, PAGE, new BigUint64Array(4), box, { value: 0 }), 'ERR_OUT_OF_RANGE'],
      ['getWriteWatch addresses', () => w.getWriteWatch(0, b, PAGE, new Uint32Array(4) as unknown as BigUint64Array, box, { value: 0 }), 'ERR_INVALID_ARG_TYPE'],
      ['getWriteWatch count.value', () => w.getWriteWatch(0, b, PAGE, new BigUint64Array(4), { value: '4' as unknown as number }, { value: 0 }), 'ERR_INVALID_ARG_TYPE'],
      ['resetWriteWatch size', () => w.resetWriteWatch(b, 0.5), 'ERR_OUT_OF_RANGE'],
      ['setLastError', () => w.setLastError(2 ** 32), 'ERR_OUT_OF_RANGE'],
      ['viewMemory outside an allocation', () => w.viewMemory(b + 4n * P, 1), 'ERR_OUT_OF_RANGE'],
    ];
    expect(calls.map(([name, call]) => [name, codeOf(call)])).toEqual(calls.map(([name, , code]) => [name, code]));
  });

  it('the last error is the thread\'s: kept across successful calls, set by failing ones, -1 stored as 0xFFFFFFFF', () => {
    const b = ctx.alloc(4);
    w.setLastError(-1);
    expect(w.getLastError()).toBe(0xffffffff);
    w.setLastError(0x1234);
    expect(w.resetWriteWatch(b, 4 * PAGE)).toBe(0);
    expect(w.virtualProtect(b, PAGE, w.PAGE_READONLY, { value: 0 })).toBe(true);
    expect(w.getLastError()).toBe(0x1234);
    expect(w.virtualFree(b + 1n, 0, 0)).toBe(false);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_PARAMETER);
  });

  it('an unwritable count or granularity (frozen, getter-only, throwing Proxy) is 998 and resets nothing', () => {
    const b = ctx.alloc(8);
    new Uint8Array(w.viewMemory(b, 8 * PAGE))[2 * PAGE] = 1;
    const getterOnly = Object.defineProperty({}, 'value', { get: () => 8, enumerable: true }) as w.Box;
    const proxy = new Proxy({ value: 8 }, { set: () => { throw new Error('no'); } });
    for (const [name, count, gran] of [
      ['frozen count', Object.freeze({ value: 8 }), { value: 0 }],
      ['getter-only granularity', { value: 8 }, getterOnly],
      ['Proxy count', proxy, { value: 0 }],
    ] as [string, w.Box, w.Box][]) {
      w.setLastError(0);
      expect([name, w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, b, 8 * PAGE, new BigUint64Array(8), count, gran), w.getLastError()]).toEqual([name, 0xffffffff, 998]);
      expect([name, w.ntGetWriteWatch(w.WRITE_WATCH_FLAG_RESET, b, 8 * PAGE, new BigUint64Array(8), count, gran)]).toEqual([name, w.STATUS_ACCESS_VIOLATION]);
    }
    expect(pagesOf(b, 8)).toEqual([2]);
  });

  it('stores that throw after the call (a Proxy array, a setter that passed the probe) are undone: 998, pages still written', () => {
    const b = ctx.alloc(8);
    const u8 = new Uint8Array(w.viewMemory(b, 8 * PAGE));
    for (const i of [0, 2, 5]) u8[i * PAGE] = 1;
    const arr = new Proxy([7n, 7n, 7n, 7n, 7n, 7n, 7n, 7n], { set: (t, k, v) => (k === '2' ? false : Reflect.set(t, k, v)) });
    w.setLastError(0);
    expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, b, 8 * PAGE, arr, { value: 8 }, { value: 0 })).toBe(0xffffffff);
    expect(w.getLastError()).toBe(998);
    expect([...arr]).toEqual([7n, 7n, 7n, 7n, 7n, 7n, 7n, 7n]);
    let stores = 0;
    const second = {
      get value() {
        return 8;
      },
      set value(_v: number) {
        if (++stores > 1) throw new Error('second store');
      },
    };
    const typed = new BigUint64Array(8).fill(9n);
    expect(w.ntGetWriteWatch(w.WRITE_WATCH_FLAG_RESET, b, 8 * PAGE, typed, second, { value: 0 })).toBe(w.STATUS_ACCESS_VIOLATION);
    expect([...typed]).toEqual(Array(8).fill(9n));
    expect(pagesOf(b, 8)).toEqual([0, 2, 5]);
    // A bigint[] with ordinary stores: RESET returns and resets exactly the pages given.
    const plain: bigint[] = Array(2).fill(0n);
    const count = { value: 2 };
    expect(w.getWriteWatch(w.WRITE_WATCH_FLAG_RESET, b, 8 * PAGE, plain, count, { value: 0 })).toBe(0);
    expect(plain.map((a) => Number((a - b) / P))).toEqual([0, 2]);
    expect(pagesOf(b, 8)).toEqual([5]);
  });

  it('a user setter that calls in again cannot change the outer call\'s results', () => {
    const b = ctx.alloc(8);
    const u8 = new Uint8Array(w.viewMemory(b, 8 * PAGE));
    u8[PAGE] = 1;
    u8[4 * PAGE] = 1;
    const inner: number[] = [];
    let value = 8;
    let stores = 0;
    const count = {
      get value() {
        return value;
      },
      set value(v: number) {
        value = v;
        // The result's store (the probe's write-back was the first): a reset call from inside.
        if (++stores === 2) inner.push(...pagesOf(b, 8, true));
      },
    };
    const arr: bigint[] = Array(8).fill(0n);
    expect(w.getWriteWatch(0, b, 8 * PAGE, arr, count, { value: 0 })).toBe(0);
    expect(inner).toEqual([1, 4]);
    expect(count.value).toBe(2);
    expect(arr.slice(0, 2).map((a) => Number((a - b) / P))).toEqual([1, 4]);
    expect(pagesOf(b, 8)).toEqual([]); // the inner call's reset happened
  });

  it('VirtualProtect with an unwritable oldProtect: false, 998, no protection changed; NULL likewise', () => {
    const b = ctx.alloc(4);
    const old = { value: 0 };
    for (const box of [null, Object.freeze({ value: 0 }), new Proxy({ value: 0 }, { set: () => false })]) {
      w.setLastError(0);
      expect(w.virtualProtect(b, PAGE, w.PAGE_READONLY, box)).toBe(false);
      expect(w.getLastError()).toBe(998);
    }
    expect(w.virtualProtect(b, 4 * PAGE, w.PAGE_READWRITE, old)).toBe(true);
    expect(old.value).toBe(w.PAGE_READWRITE); // never changed
    let stores = 0;
    const second = {
      get value() {
        return 0;
      },
      set value(_v: number) {
        if (++stores > 1) throw new Error('second store');
      },
    };
    w.setLastError(0);
    expect(w.virtualProtect(b, 2 * PAGE, w.PAGE_NOACCESS, second)).toBe(false);
    expect(w.getLastError()).toBe(998);
    expect(w.virtualProtect(b, 4 * PAGE, w.PAGE_READWRITE, old)).toBe(true);
    expect(old.value).toBe(w.PAGE_READWRITE); // put back
  });

  it('viewMemory: inside one live allocation only; views are detached at MEM_RELEASE', () => {
    const b = ctx.alloc(4);
    const v = new Uint8Array(w.viewMemory(b + P, 2 * PAGE));
    v[0] = 7;
    expect(new Uint8Array(w.viewMemory(b, 4 * PAGE))[PAGE]).toBe(7);
    expect(codeOf(() => w.viewMemory(b + P, 3 * PAGE + 1))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => w.viewMemory(0n, 1))).toBe('ERR_OUT_OF_RANGE');
    expect(w.viewMemory(b, 0).byteLength).toBe(0);
    expect(ctx.free(b)).toBe(true);
    expect(v.byteLength).toBe(0);
    expect(v[0]).toBe(undefined);
    expect(codeOf(() => w.viewMemory(b, 1))).toBe('ERR_OUT_OF_RANGE');
  });
});

describeKernel(`22 MEM_RELEASE while a view is reachable, on ${hostName}`, () => {
  /** Released allocations still held for views: the emulation's placeholders, or the forwarding's held regions. */
  const heldNow = async () => (onWindows ? forward.heldCount() : (await import('../src/memory/mapping.js')).heldMappings());
  const collect = async () => {
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    // Work-counted: a few collections, each followed by a turn of the event loop for the finalizers.
    for (let i = 0; i < 10 && (await heldNow()) > 0; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
  };

  it('crypto.randomFill into a view, MEM_RELEASE on the same tick: no crash, the fill lands in held memory, the view detached', async () => {
    const { randomFill } = await import('node:crypto');
    await collect();
    expect(await heldNow()).toBe(0);
    const size = 16 << 20;
    const b = w.virtualAlloc(0n, size, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    expect(b).not.toBe(0n);
    const view = new Uint8Array(w.viewMemory(b, size));
    const done = new Promise<Error | null>((resolve) => randomFill(view, (err) => resolve(err)));
    w.setLastError(0x77);
    expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
    expect(w.getLastError()).toBe(0x77); // a release that succeeded
    expect(view.byteLength).toBe(0);
    expect(await done).toBeNull();
    // For Windows the memory is free: the calls answer as for free memory...
    const addrs = new BigUint64Array(4);
    w.setLastError(0);
    expect(w.getWriteWatch(0, b, PAGE, addrs, { value: 4 }, { value: 0 })).toBe(0xffffffff);
    expect(w.getLastError()).toBe(87);
    // A release of free memory answers what this platform answers for an address never allocated
    // (487 in the emulation, as Wine 10 and ReactOS; Wine 8's kernel32 says 87).
    w.setLastError(0);
    expect(w.virtualFree(0x7ff0_0000_0000n, 0, w.MEM_RELEASE)).toBe(false);
    const freeAnswer = w.getLastError();
    expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(false);
    expect(w.getLastError()).toBe(freeAnswer);
    expect(w.virtualAlloc(b, PAGE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(0n);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS);
    expect(codeOf(() => w.viewMemory(b, 1))).toBe('ERR_OUT_OF_RANGE');
    // ...but the range is not given out again while the view object is reachable.
    expect(w.virtualAlloc(b, size, w.MEM_RESERVE, w.PAGE_NOACCESS)).toBe(0n);
    expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS);
    if (onWindows) {
      expect(await heldNow()).toBe(1); // the forwarding's own count (the emulation keeps its placeholder in its table)
      const info = {} as forward.MemoryBasicInformation;
      expect(forward.virtualQuery(b + P, info)).toBe(48);
      expect(info).toMatchObject({ baseAddress: b + P, allocationBase: 0n, state: 0x10000 });
    }
  });

  it('the held range is let go once its views were collected', async () => {
    await collect();
    expect(await heldNow()).toBe(0);
  });

  it.runIf(onWindows && typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function')(
    'a view moved by transfer() before MEM_RELEASE: the memory it reaches stays held for good, writable',
    async () => {
      await collect();
      const b = ctx.alloc(4);
      const moved = (w.viewMemory(b, 4 * PAGE) as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
      expect(ctx.free(b)).toBe(true);
      await collect();
      expect(await heldNow()).toBe(1); // pinned: nothing says when `moved` dies
      const u8 = new Uint8Array(moved);
      u8[3 * PAGE + 1] = 5; // no fault: fresh pages behind it
      expect(u8[3 * PAGE + 1]).toBe(5);
    },
  );
});

if (onWindows) {
  describe('22 the forwarding layer on Windows: VirtualQuery, GetSystemInfo, the allocation table', () => {
    it('getSystemInfo: 4 KiB pages, 64 KiB granularity, the user address range, processors', () => {
      const s = {} as forward.SystemInfo;
      forward.getSystemInfo(s);
      expect(s).toMatchObject({ pageSize: PAGE, allocationGranularity: 0x10000, minimumApplicationAddress: 0x10000n });
      expect(s.maximumApplicationAddress > 2n ** 40n).toBe(true);
      expect(s.numberOfProcessors).toBeGreaterThanOrEqual(1);
      expect(codeOf(() => forward.getSystemInfo(null as unknown as forward.SystemInfo))).toBe('ERR_INVALID_ARG_TYPE');
    });

    it('virtualQuery: reserved, committed and free regions, as test_VirtualAlloc reads them; a null info is ERR_INVALID_ARG_TYPE, as in the emulation', () => {
      const b = w.virtualAlloc(0n, 0xfffc, w.MEM_RESERVE, w.PAGE_NOACCESS);
      ctx.keep(b);
      const info = {} as forward.MemoryBasicInformation;
      expect(forward.virtualQuery(b, info)).toBe(48);
      expect(info).toEqual({ baseAddress: b, allocationBase: b, allocationProtect: w.PAGE_NOACCESS, regionSize: 0x10000, state: w.MEM_RESERVE, protect: 0, type: 0x20000 });
      expect(w.virtualAlloc(b, PAGE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(b);
      expect(forward.virtualQuery(b + 5n, info)).toBe(48);
      expect(info).toMatchObject({ baseAddress: b, regionSize: PAGE, state: w.MEM_COMMIT, protect: w.PAGE_READWRITE });
      expect(() => forward.virtualQuery(b, null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      w.setLastError(0);
      expect(forward.virtualQuery(0xffff_ffff_ffff_0000n, info)).toBe(0);
      expect(w.getLastError()).toBe(87);
      expect(ctx.free(b)).toBe(true);
      expect(forward.virtualQuery(b, info)).toBe(48);
      expect(info.state).toBe(0x10000); // MEM_FREE
    });

    const script = fileURLToPath(new URL('./native/win32-release-filling.mjs', import.meta.url));
  const runFilling = (mode: string) => {
    const r = spawnSync(process.execPath, ['--expose-gc', script, mode], { encoding: 'utf8', timeout: CHILD_TIMEOUT });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  // In children, opt-in (WW_WINE_CHILDREN=1): with one of them in the file, vitest's worker under
  // Wine 8 sometimes never exits after every test passed (three of seven runs here; each part alone
  // never did in three runs); the in-process randomFill test above covers the same rule. The
  // negative control crashes its child on purpose (winedbg starts).
  const children = process.env.WW_WINE_CHILDREN === '1';
  it.runIf(children)('randomFill of 256 MiB, MEM_RELEASE on the same tick, three rounds, in a child: no crash', () => {
    const ok = runFilling('library');
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual([0, 1, 2].map(() => ({ released: true, err: null, lengthAfter: 0 })));
  });

  it.runIf(children)('negative control: releasing at once (no hold) kills the child filling the view', () => {
    const control = runFilling('direct');
    expect(control.status).not.toBe(0);
    expect(control.stdout).toBe('');
  });

  it('the table forgets a released allocation, and one released behind its back (its views detached)', () => {
      const before = forward.regionCount();
      const b = ctx.alloc(4);
      expect(forward.regionCount()).toBe(before + 1);
      expect(w.virtualAlloc(b + P, PAGE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(b + P); // a commit is no new allocation
      expect(forward.regionCount()).toBe(before + 1);
      const v = new Uint8Array(w.viewMemory(b, 4 * PAGE));
      // Released by a direct kernel32 call: viewMemory notices (VirtualQuery), detaches, refuses.
      held.splice(held.indexOf(b), 1);
      expect(kernel32().VirtualFree(b, 0, w.MEM_RELEASE)).not.toBe(0);
      expect(v.byteLength).toBe(4 * PAGE); // nothing told the table yet
      expect(codeOf(() => w.viewMemory(b, 1))).toBe('ERR_OUT_OF_RANGE');
      expect(v.byteLength).toBe(0);
      expect(forward.regionCount()).toBe(before);
    });
  });
}

function codeOf(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

function pagesOf(b: bigint, pages: number, reset = false): number[] {
  const addrs = new BigUint64Array(pages);
  const count = { value: pages };
  const r = w.getWriteWatch(reset ? w.WRITE_WATCH_FLAG_RESET : 0, b, pages * PAGE, addrs, count, { value: 0 });
  if (r !== 0) throw new Error(`GetWriteWatch failed: ${w.getLastError()}`);
  return [...addrs.subarray(0, count.value)].map((a) => Number((a - b) / P));
}
