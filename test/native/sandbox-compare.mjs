/**
 * Run inside sandbox-exec by test/50.sandbox-compare.test.ts: prints, as one JSON line, what
 * probe() says 'auto' picks, what the default allocate() throws, and what allocate/track with
 * mechanism 'auto' and 'compare' report for known writes; and whether writewatch/win32 still
 * fails with ERROR_NOT_SUPPORTED. Imports by package name (dist), as a user would.
 */
import { probe, WriteWatch } from 'writewatch';
import * as w from 'writewatch/win32';

const p = probe();
const page = p.pageSize || 4096;

function attempt(fn) {
  try {
    return fn();
  } catch (e) {
    return { name: e.name, code: e.code, message: e.message };
  }
}

/** Writes pages 1 and 3 (page 3 with the byte already there), then reads with reset and again. */
function exercise(ww) {
  const u8 = new Uint8Array(ww.buffer);
  const first = Math.ceil(Number(ww.address) / page) * page - Number(ww.address); // track: whole pages only
  u8[first + page + 5] = 7;
  u8[first + 3 * page] = u8[first + 3 * page];
  const r = { mechanism: ww.mechanism, pages: ww.get({ reset: true }).map((o) => (o - first) / page), after: ww.get() };
  u8[first + page + 5] = 8;
  r.again = ww.get().map((o) => (o - first) / page);
  ww.close();
  return r;
}

const out = {
  probe: { supported: p.supported, reasons: p.reasons, auto: p.auto },
  defaultAllocate: attempt(() => exercise(WriteWatch.allocate(4 * page))),
  autoAllocate: attempt(() => exercise(WriteWatch.allocate(4 * page, { mechanism: 'auto' }))),
  compareAllocate: attempt(() => exercise(WriteWatch.allocate(4 * page, { mechanism: 'compare' }))),
  // Resizable: V8 places it on whole pages of its own, so no neighbour shares a page with it.
  autoTrack: attempt(() => exercise(WriteWatch.track(new ArrayBuffer(6 * page, { maxByteLength: 6 * page }), { mechanism: 'auto' }))),
};
// A memory that starts empty and grows: nothing past its committed bytes is read (its
// reservation is PROT_NONE), also where PAGEMAP_SCAN cannot say which pages are populated.
out.emptyGrows = attempt(() => {
  const memory = new WebAssembly.Memory({ initial: 0, maximum: 2 });
  const ww = WriteWatch.track(memory, { mechanism: 'compare' });
  const before = ww.get();
  memory.grow(1);
  new Uint8Array(memory.buffer)[3 * page + 1] = 1; // a page of the grown part
  const r = { before, after: ww.get({ reset: true }), again: ww.get() };
  ww.close();
  return r;
});
const base = w.virtualAlloc(0n, 0x10000, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
out.win32 = { base: String(base), lastError: w.getLastError() };
if (base !== 0n) w.virtualFree(base, 0, w.MEM_RELEASE);
process.stdout.write(`${JSON.stringify(out)}\n`);
