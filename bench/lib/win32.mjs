/**
 * The Windows-shaped face, `writewatch/win32`, on the same work: VirtualAlloc(MEM_WRITE_WATCH) and
 * GetWriteWatch into a BigUint64Array. Null (with the reason) if the entry point cannot be loaded.
 */
import { now, since } from './clock.mjs';
import { touch } from './patterns.mjs';

export async function loadWin32(log) {
  let w;
  try {
    w = await import('writewatch/win32');
  } catch (e) {
    log(`win32 rows SKIPPED: writewatch/win32 cannot be loaded (${e.code || e.message})`);
    return null;
  }
  const need = ['virtualAlloc', 'virtualFree', 'getWriteWatch', 'resetWriteWatch', 'viewMemory'];
  const missing = need.filter((n) => typeof w[n] !== 'function');
  if (missing.length) {
    log(`win32 rows SKIPPED: writewatch/win32 lacks ${missing.join(', ')}`);
    return null;
  }
  return {
    /** One allocation of `length` bytes (≤ 4 GiB: it is written through one viewMemory view). */
    region(length, page = 4096) {
      const base = w.virtualAlloc(0n, length, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      if (!base) throw new Error(`VirtualAlloc(${length}) failed: last error ${w.getLastError()}`);
      const u32 = new Uint32Array(w.viewMemory(base, length));
      const count = { value: 0 }, granularity = { value: 0 };
      let addrs = new BigUint64Array(1);
      const words = page / 4;
      return {
        prepare(k) {
          if (addrs.length < k) addrs = new BigUint64Array(k);
        },
        dirty: (pages, value) => touch(u32, pages, value, words),
        time(reset) {
          const flags = reset ? w.WRITE_WATCH_FLAG_RESET : 0;
          count.value = addrs.length;
          const t0 = now();
          const rc = w.getWriteWatch(flags, base, length, addrs, count, granularity);
          const ns = since(t0);
          if (rc !== 0) throw new Error(`GetWriteWatch failed: last error ${w.getLastError()}`);
          return { ns, pages: count.value };
        },
        /** ns for `iters` GetWriteWatch calls (get only). */
        timeCalls(iters) {
          const t0 = now();
          for (let i = 0; i < iters; i++) {
            count.value = addrs.length;
            w.getWriteWatch(0, base, length, addrs, count, granularity);
          }
          return since(t0);
        },
        reset() {
          if (w.resetWriteWatch(base, length) !== 0) throw new Error(`ResetWriteWatch failed: ${w.getLastError()}`);
        },
        close() {
          w.virtualFree(base, 0, w.MEM_RELEASE);
        },
      };
    },
  };
}
