/**
 * Run by test/50.resources-exhausted.test.ts under a low `ulimit -n`: fills the fd table with
 * /dev/null, then asks for tracking. Prints JSON: what each call threw or returned while the table
 * was full, and whether tracking works once descriptors are free again.
 */
import { openSync, closeSync } from 'node:fs';
import koffi from 'koffi';
import { WriteWatch, probe } from 'writewatch';
import * as w from 'writewatch/win32';

// sysconf(_SC_PAGESIZE) itself (30 on every glibc architecture), not getconf: a minimal root
// (the kernel matrix's VMs) has no getconf.
const page = Number(koffi.load('libc.so.6').func('long sysconf(int)')(30));
// Loads libc through koffi while files can still be opened, without opening /proc/self/pagemap.
w.virtualFree(w.virtualAlloc(0n, page, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_READWRITE), 0, w.MEM_RELEASE);
const held = [];
function fill() {
  for (;;) {
    try {
      held.push(openSync('/dev/null', 'r'));
    } catch (e) {
      if (e.code === 'EMFILE') return;
      throw e;
    }
  }
}
const free = (n) => { for (let i = 0; i < n && held.length; i++) closeSync(held.pop()); };
const outcome = (f) => {
  try {
    const v = f();
    if (v && typeof v.close === 'function') v.close();
    return { ok: true, value: typeof v === 'bigint' ? String(v) : typeof v === 'object' ? 'object' : v };
  } catch (e) {
    return { ok: false, code: e.code, name: e.name, syscall: e.syscall, message: e.message };
  }
};

const r = {};
fill();
// Nothing of the library is open yet: /proc/self/pagemap is the first descriptor it needs.
r.allocateNoPagemap = outcome(() => WriteWatch.allocate(4 * page));
r.virtualAlloc = (() => {
  w.setLastError(0);
  const base = w.virtualAlloc(0n, 4 * page, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
  return { base: String(base), lastError: w.getLastError() };
})();
// One free slot: pagemap takes it, the userfaultfd finds the table full.
free(1);
r.allocateNoUffd = outcome(() => WriteWatch.allocate(4 * page));
fill();
r.probe = probe();
r.track = outcome(() => WriteWatch.track(new ArrayBuffer(8 * page)));
r.virtualAllocNoUffd = (() => {
  w.setLastError(0);
  const base = w.virtualAlloc(0n, 4 * page, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
  return { base: String(base), lastError: w.getLastError() };
})();
// Descriptors free again: the same calls work (a resource error is not "unsupported for good").
free(held.length);
r.allocateAfter = outcome(() => {
  const ww = WriteWatch.allocate(4 * page);
  new Uint8Array(ww.buffer)[page] = 1;
  const pages = ww.get();
  ww.close();
  return JSON.stringify(pages);
});
r.probeAfter = probe().supported;
console.log(JSON.stringify(r));
