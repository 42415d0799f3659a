// The thunks a compatibility layer (an emulator or a Wine-like loader running x86-64 Windows code)
// puts behind a guest's kernel32 imports. Guest code passes raw 64-bit pointers: in-parameters
// are read from, and out-parameters written to, the guest's own memory, which on this side is
// just memory of this process (viewMemory). writewatch/win32 does the Windows part: argument
// checks in Windows' order, return values, GetLastError.
import * as w from 'writewatch/win32';

const NULL = 0n;

/** A view of guest memory, or null when the guest pointer is bad (Windows would fault: 998). */
function guest(ptr, bytes) {
  try {
    return new DataView(w.viewMemory(ptr, bytes));
  } catch {
    return null;
  }
}

export function VirtualAlloc(lpAddress, dwSize, flAllocationType, flProtect) {
  return w.virtualAlloc(lpAddress, dwSize, flAllocationType, flProtect);
}

export function VirtualFree(lpAddress, dwSize, dwFreeType) {
  return w.virtualFree(lpAddress, dwSize, dwFreeType) ? 1 : 0;
}

/**
 * UINT GetWriteWatch(DWORD dwFlags, PVOID lpBaseAddress, SIZE_T dwRegionSize,
 *                    PVOID *lpAddresses, ULONG_PTR *lpdwCount, LPDWORD lpdwGranularity)
 */
export function GetWriteWatch(dwFlags, lpBaseAddress, dwRegionSize, lpAddresses, lpdwCount, lpdwGranularity) {
  // NULL stays NULL (a `null` box), so the library reports it with Windows' error and order.
  const countMem = lpdwCount === NULL ? null : guest(lpdwCount, 8);
  const granMem = lpdwGranularity === NULL ? null : guest(lpdwGranularity, 4);
  if ((lpdwCount !== NULL && !countMem) || (lpdwGranularity !== NULL && !granMem)) {
    w.setLastError(w.ERROR_NOACCESS);
    return 0xffffffff;
  }
  const count = countMem ? { value: Number(countMem.getBigUint64(0, true)) } : null;
  const granularity = granMem ? { value: 0 } : null;
  // The PVOID array is guest memory too: the library writes the addresses straight into it.
  let addresses = null;
  if (lpAddresses !== NULL) {
    const cap = count ? Math.min(count.value, 1 << 20) : 0;
    const mem = cap > 0 ? guest(lpAddresses, cap * 8) : null;
    addresses = mem ? new BigUint64Array(mem.buffer, mem.byteOffset, cap) : cap > 0 ? [] : new BigUint64Array(0);
  }
  const ret = w.getWriteWatch(dwFlags, lpBaseAddress, dwRegionSize, addresses, count, granularity);
  if (ret === 0) {
    // Out-parameters are written only on success, as on Windows.
    countMem.setBigUint64(0, BigInt(count.value), true);
    granMem.setUint32(0, granularity.value, true);
  }
  return ret;
}

/** UINT ResetWriteWatch(LPVOID lpBaseAddress, SIZE_T dwRegionSize) */
export function ResetWriteWatch(lpBaseAddress, dwRegionSize) {
  return w.resetWriteWatch(lpBaseAddress, dwRegionSize);
}

export function GetLastError() {
  return w.getLastError();
}
