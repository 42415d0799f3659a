/**
 * Run inside sandbox-exec by test/50.sandbox.test.ts: prints, as one JSON line, what probe() says,
 * what WriteWatch.allocate throws, and what virtualAlloc(MEM_WRITE_WATCH) returns with its last
 * error. Imports by package name (dist), as a user would.
 */
import { probe, WriteWatch } from 'writewatch';
import * as w from 'writewatch/win32';

const p = probe();
let allocate;
try {
  const ww = WriteWatch.allocate(2 * (p.pageSize || 4096));
  new Uint8Array(ww.buffer)[0] = 1;
  allocate = { pages: ww.get({ reset: true }), after: ww.get() };
  ww.close();
} catch (e) {
  allocate = { name: e.name, code: e.code, message: e.message };
}
const base = w.virtualAlloc(0n, 0x10000, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
const win32 = { base: String(base), lastError: w.getLastError() };
if (base !== 0n) w.virtualFree(base, 0, w.MEM_RELEASE);
process.stdout.write(`${JSON.stringify({ probe: p, allocate, win32 })}\n`);
