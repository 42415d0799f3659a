// How a compatibility layer serves a Windows guest's VirtualAlloc(MEM_WRITE_WATCH) /
// GetWriteWatch / ResetWriteWatch with writewatch/win32. The "guest" below is what a garbage
// collector with a write barrier-free card table does on Windows (the .NET and Mono GCs use
// GetWriteWatch exactly so): reserve a heap with MEM_WRITE_WATCH, commit part of it, mutate, and
// ask which pages changed. Its calls go through kernel32.mjs, the thunks, with raw pointers;
// every call is traced with its result, strace-style.
//
//   installed:  node node_modules/writewatch/examples/win32-shim/index.mjs
//   in a clone: npm run build && node examples/win32-shim/index.mjs
import * as w from 'writewatch/win32';
import * as kernel32 from './kernel32.mjs';

const hex = (n) => `0x${n.toString(16)}`;
// Each named allocation with its size: an address is labelled by the allocation that holds it,
// wherever mmap placed the allocations relative to each other.
const names = new Map();
const sym = (addr) => {
  for (const [base, { name, size }] of names) if (addr >= base && addr < base + BigInt(size)) return addr === base ? name : `${name}+${hex(addr - base)}`;
  return addr === 0n ? 'NULL' : hex(addr);
};
const flags = (v, table) => table.filter(([, bit]) => v & bit).map(([n]) => n).join('|') || '0';
const ALLOC = [['MEM_COMMIT', w.MEM_COMMIT], ['MEM_RESERVE', w.MEM_RESERVE], ['MEM_WRITE_WATCH', w.MEM_WRITE_WATCH], ['MEM_DECOMMIT', w.MEM_DECOMMIT], ['MEM_RELEASE', w.MEM_RELEASE]];
const PROT = { [w.PAGE_NOACCESS]: 'PAGE_NOACCESS', [w.PAGE_READONLY]: 'PAGE_READONLY', [w.PAGE_READWRITE]: 'PAGE_READWRITE' };
const log = (s) => console.log(s);

// --- guest memory helpers (what guest code does with plain loads and stores) -------------------
const poke64 = (addr, v) => new DataView(w.viewMemory(addr, 8)).setBigUint64(0, BigInt(v), true);
const peek64 = (addr) => new DataView(w.viewMemory(addr, 8)).getBigUint64(0, true);
const peek32 = (addr) => new DataView(w.viewMemory(addr, 4)).getUint32(0, true);

function VirtualAlloc(addr, size, type, prot, name) {
  const p = kernel32.VirtualAlloc(addr, size, type, prot);
  if (name && p) names.set(p, { name, size });
  log(`VirtualAlloc(${sym(addr)}, ${hex(size)}, ${flags(type, ALLOC)}, ${PROT[prot]}) = ${p ? sym(p) : `NULL (GetLastError ${kernel32.GetLastError()})`}`);
  return p;
}

function VirtualFree(addr, size, type) {
  const ok = kernel32.VirtualFree(addr, size, type);
  log(`VirtualFree(${sym(addr)}, ${hex(size)}, ${flags(type, ALLOC)}) = ${ok}`);
}

/** The guest's GetWriteWatch call: capacity in *lpdwCount, results read back from its memory. */
function GetWriteWatch(reset, base, size, lpAddresses, lpdwCount, lpdwGranularity, capacity) {
  if (lpdwCount) poke64(lpdwCount, capacity);
  const ret = kernel32.GetWriteWatch(reset ? w.WRITE_WATCH_FLAG_RESET : 0, base, size, lpAddresses, lpdwCount, lpdwGranularity);
  const args = `${reset ? 'WRITE_WATCH_FLAG_RESET' : '0'}, ${sym(base)}, ${hex(size)}, ${sym(lpAddresses)}, ${lpdwCount ? `&count=${capacity}` : 'NULL'}, ${sym(lpdwGranularity)}`;
  if (ret !== 0) {
    log(`GetWriteWatch(${args}) = ${hex(ret)} (GetLastError ${kernel32.GetLastError()})`);
    return [];
  }
  const count = Number(peek64(lpdwCount));
  const pages = [];
  for (let i = 0; i < count; i++) pages.push(peek64(lpAddresses + BigInt(8 * i)));
  log(`GetWriteWatch(${args}) = 0: count ${count}, granularity ${hex(peek32(lpdwGranularity))}, [${pages.map(sym).join(', ')}]`);
  return pages;
}

function ResetWriteWatch(base, size) {
  const ret = kernel32.ResetWriteWatch(base, size);
  log(`ResetWriteWatch(${sym(base)}, ${hex(size)}) = ${ret === 0 ? 0 : `${hex(ret)} (GetLastError ${kernel32.GetLastError()})`}`);
}

// --- the guest program ---------------------------------------------------------------------------
log('# a GC heap: 256 KiB reserved with MEM_WRITE_WATCH, 64 KiB committed; a page of locals for out-parameters');
const heap = VirtualAlloc(0n, 0x40000, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_READWRITE, 'heap');
VirtualAlloc(heap, 0x10000, w.MEM_COMMIT, w.PAGE_READWRITE);
const locals = VirtualAlloc(0n, 0x1000, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_READWRITE, 'locals');
const lpdwCount = locals, lpdwGranularity = locals + 8n, lpAddresses = locals + 0x100n;

log('# nothing written yet');
GetWriteWatch(false, heap, 0x40000, lpAddresses, lpdwCount, lpdwGranularity, 64);

log('# the mutator stores to three objects on pages 0, 2 and 9');
for (const at of [0x10n, 0x2008n, 0x2ff8n, 0x9000n]) poke64(heap + at, 0xdeadn);
GetWriteWatch(true, heap, 0x40000, lpAddresses, lpdwCount, lpdwGranularity, 64);
GetWriteWatch(false, heap, 0x40000, lpAddresses, lpdwCount, lpdwGranularity, 64);

log('# five pages written, room for two: only the two returned are reset');
for (let p = 1n; p <= 5n; p++) poke64(heap + p * 0x1000n + 0x80n, p);
GetWriteWatch(true, heap, 0x40000, lpAddresses, lpdwCount, lpdwGranularity, 2);
GetWriteWatch(false, heap, 0x40000, lpAddresses, lpdwCount, lpdwGranularity, 64);
log('# a sub-range, then ResetWriteWatch of everything');
GetWriteWatch(false, heap + 0x4000n, 0x2000, lpAddresses, lpdwCount, lpdwGranularity, 64);
ResetWriteWatch(heap, 0x40000);
GetWriteWatch(false, heap, 0x40000, lpAddresses, lpdwCount, lpdwGranularity, 64);

log('# decommit clears the written state; recommitting is not a write');
poke64(heap + 0x6000n, 1);
VirtualFree(heap + 0x6000n, 0x1000, w.MEM_DECOMMIT);
VirtualAlloc(heap + 0x6000n, 0x1000, w.MEM_COMMIT, w.PAGE_READWRITE);
GetWriteWatch(false, heap, 0x40000, lpAddresses, lpdwCount, lpdwGranularity, 64);

log("# the guest's mistakes get Windows' answers");
GetWriteWatch(false, locals, 0x1000, lpAddresses, lpdwCount, lpdwGranularity, 64); // not MEM_WRITE_WATCH: 87
GetWriteWatch(false, heap, 0x40000, lpAddresses, 0n, lpdwGranularity, 64); // NULL lpdwCount: 998
GetWriteWatch(false, heap, 0x40000, lpAddresses, lpdwCount, lpdwGranularity, 0); // *lpdwCount == 0: 87
GetWriteWatch(false, heap, 0x40001, lpAddresses, lpdwCount, lpdwGranularity, 64); // one byte past the end: 87
GetWriteWatch(false, heap, 0x40000, 0x1000n, lpdwCount, lpdwGranularity, 64); // a wild lpAddresses: 998
ResetWriteWatch(heap, 0); // size 0: 87

VirtualFree(heap, 0, w.MEM_RELEASE);
VirtualFree(locals, 0, w.MEM_RELEASE);
log('# after MEM_RELEASE the heap is no longer watched');
ResetWriteWatch(heap, 0x1000);
