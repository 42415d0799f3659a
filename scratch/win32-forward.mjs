// SCRATCH (issue 23 item 3): how writewatch/win32's functions could forward to the real kernel32 on
// win32, keeping their JS signatures. Not wired anywhere; run under Wine with
//   . scripts/windows/env.sh && "$WINE" "$WW_NODE_EXE" scratch/win32-forward.mjs > /tmp/out.txt
// and read /tmp/out.txt. What it checks is printed as JSON lines.
import koffi from 'koffi';
import { kernel32 } from '../dist/kernel32/raw.js';

const k = kernel32();
const ntdll = koffi.load('ntdll.dll');
const NtGetWriteWatch = ntdll.func('uint32_t NtGetWriteWatch(intptr_t ProcessHandle, uint32_t Flags, uintptr_t BaseAddress, size_t RegionSize, void *UserAddressArray, void *EntriesInUserAddressArray, void *Granularity)');
const NtResetWriteWatch = ntdll.func('uint32_t NtResetWriteWatch(intptr_t ProcessHandle, uintptr_t BaseAddress, size_t RegionSize)');
const CURRENT_PROCESS = -1; // GetCurrentProcess()'s pseudo-handle

// Scratch out-buffers, reused: the boxes and arrays are written only on success, as Windows does.
const cnt = new BigUint64Array(1);
const gran = new Uint32Array(1);
let scratch = new BigUint64Array(256);

// --- the forwarding layer (what src/win32 would do when process.platform === 'win32') ---
const virtualAlloc = (address, size, type, protect) => k.VirtualAlloc(address === 0n ? null : address, size, type, protect) ?? 0n;
const virtualFree = (address, size, type) => k.VirtualFree(address, size, type) !== 0;
function virtualProtect(address, size, newProtect, oldProtect) {
  const old = new Uint32Array(1);
  const ok = k.VirtualProtect(address, size, newProtect, oldProtect ? old : null) !== 0;
  if (ok && oldProtect) oldProtect.value = old[0];
  return ok;
}
const getLastError = () => k.GetLastError();
const setLastError = (code) => k.SetLastError(code >>> 0);

function ntGetWriteWatch(flags, base, size, addresses, count, granularity) {
  // JS type checks as today (args.ts), then: what C would pass. An array shorter than count.value
  // would be a buffer overrun in C: the JS layer answers it (998) without calling Windows.
  const cap = count ? count.value : 0;
  let out = null;
  if (addresses) {
    if (addresses.length < cap) return 0xc0000005;
    if (addresses instanceof BigUint64Array) out = addresses; // Windows writes in place
    else out = cap <= scratch.length ? scratch : (scratch = new BigUint64Array(cap));
  }
  cnt[0] = BigInt(cap); // off the per-page path; a Uint32Array over it would avoid the BigInt
  const status = NtGetWriteWatch(CURRENT_PROCESS, flags, base, size, out, count ? cnt : null, granularity ? gran : null);
  if (status === 0) {
    const n = Number(cnt[0]);
    count.value = n;
    granularity.value = gran[0];
    if (out === scratch) for (let i = 0; i < n; i++) addresses[i] = scratch[i];
  }
  return status;
}
function getWriteWatch(flags, base, size, addresses, count, granularity) {
  // kernelbase's wrapper, but through kernel32 itself so the last error is Windows' own.
  const cap = count ? count.value : 0;
  if (addresses && addresses.length < cap) {
    k.SetLastError(998);
    return 0xffffffff;
  }
  let out = addresses instanceof BigUint64Array || addresses === null ? addresses : cap <= scratch.length ? scratch : (scratch = new BigUint64Array(cap));
  cnt[0] = BigInt(cap);
  const r = k.GetWriteWatch(flags, base, size, out, count ? cnt : null, granularity ? gran : null);
  if (r === 0) {
    const n = Number(cnt[0]);
    count.value = n;
    granularity.value = gran[0];
    if (out === scratch) for (let i = 0; i < n; i++) addresses[i] = scratch[i];
  }
  return r;
}
const resetWriteWatch = (base, size) => k.ResetWriteWatch(base, size);
const ntResetWriteWatch = (base, size) => NtResetWriteWatch(CURRENT_PROCESS, base, size);

// --- what it answers ---
const log = [];
const P = 4096n;
const b = virtualAlloc(0n, 16 * 4096, 0x1000 | 0x2000 | 0x200000, 4);
log.push({ alloc: typeof b, aligned: b % 0x10000n === 0n });
const u8 = new Uint8Array(koffi.view(b, 16 * 4096));
for (const p of [5, 1, 9]) u8[p * 4096] = 1;
const arr = new Array(16).fill(0n);
const c = { value: 16 }, g = { value: 0 };
log.push({ get: getWriteWatch(0, b, 16 * 4096, arr, c, g), count: c.value, gran: g.value, pages: arr.map((a) => Number((a - b) / P)) });
const typed = new BigUint64Array(2);
c.value = 2;
log.push({ getResetCap2: getWriteWatch(1, b, 16 * 4096, typed, c, g), pages: Array.from(typed, (a) => Number((a - b) / P)) });
c.value = 16;
log.push({ ntGet: ntGetWriteWatch(0, b, 16 * 4096, arr, c, g), count: c.value, pages: arr.slice(0, c.value).map((a) => Number((a - b) / P)) });
setLastError(0xdeadbeef);
log.push({ resetOk: resetWriteWatch(b, 16 * 4096), lastErrorKept: getLastError() === 0xdeadbeef });
c.value = 0;
log.push({ count0: getWriteWatch(0, b, 4096, arr, c, g), lastError: getLastError() });
c.value = 1;
log.push({ nullCount: getWriteWatch(0, b, 4096, arr, null, g), lastError: getLastError() });
log.push({ shortArray: getWriteWatch(0, b, 4096, [], { value: 4 }, g), lastError: getLastError() });
log.push({ ntNullCount: ntGetWriteWatch(0, b, 4096, arr, null, g).toString(16), ntReset0: ntResetWriteWatch(b, 0).toString(16) });
const old = { value: 0 };
log.push({ protect: virtualProtect(b, 4096, 2, old), old: old.value });
// A bigint where the binding says uintptr_t: does koffi take it?
log.push({ bigintBase: k.ResetWriteWatch(b, 4096) });
log.push({ free: virtualFree(b, 0, 0x8000), freeAgain: virtualFree(b, 0, 0x8000), lastError: getLastError() });
c.value = 1;
log.push({ getAfterFree: getWriteWatch(0, b, 4096, arr, c, g), lastError: getLastError() });
process.stdout.write(log.map((l) => JSON.stringify(l)).join('\n') + '\n');
