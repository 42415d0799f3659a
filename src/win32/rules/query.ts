/** VirtualQuery's and GetSystemInfo's answers (MEMORY_BASIC_INFORMATION, SYSTEM_INFO), over any Space. */
import { ALLOCATION_GRANULARITY, MEM_COMMIT, MEM_PRIVATE, MEM_RESERVE, MEMORY_BASIC_INFORMATION_SIZE, STATUS_INVALID_PARAMETER } from '../constants.js';
import { PROTECTION, type Space } from '../space.js';
import { pageOf } from './frame.js';

/** MEMORY_BASIC_INFORMATION, in camelCase, with bigint addresses. */
export interface MemoryBasicInformation {
  baseAddress: bigint;
  allocationBase: bigint;
  allocationProtect: number;
  regionSize: number;
  state: number;
  protect: number;
  type: number;
}

/**
 * NtQueryVirtualMemory(MemoryBasicInformation): the run of pages from `address` (rounded down)
 * with the same state and protection, up to the allocation's end; outside allocations, what the
 * space says lies there. An address above the user range → STATUS_INVALID_PARAMETER.
 */
export function query(space: Space, address: bigint): MemoryBasicInformation | number {
  if (address > BigInt(space.maxAddress)) return STATUS_INVALID_PARAMETER;
  const page = space.pageSize;
  const a0 = Number(address);
  const at = a0 - (a0 % page);
  return space.locked(() => {
    const a = space.find(at, at);
    if (!a) {
      const o = space.outside(at);
      return {
        baseAddress: BigInt(at),
        allocationBase: BigInt(o.allocationBase),
        allocationProtect: o.allocationProtect,
        regionSize: o.end - at,
        state: o.state,
        protect: o.protect,
        type: o.type,
      };
    }
    const first = pageOf(a, at, page);
    const p = a.pages[first] & PROTECTION;
    let i = first + 1;
    const n = a.pages.length;
    while (i < n && (a.pages[i] & PROTECTION) === p) i++;
    return {
      baseAddress: BigInt(at),
      allocationBase: BigInt(a.base),
      allocationProtect: a.allocationProtect,
      regionSize: (i - first) * page,
      state: p === 0 ? MEM_RESERVE : MEM_COMMIT,
      protect: p,
      type: MEM_PRIVATE,
    };
  });
}

/** Writes a MemoryBasicInformation into the caller's object (user code: its setters may throw → 998). */
export function fillInfo(info: object, m: MemoryBasicInformation): boolean {
  try {
    const o = info as Record<string, unknown>;
    o.baseAddress = m.baseAddress;
    o.allocationBase = m.allocationBase;
    o.allocationProtect = m.allocationProtect;
    o.regionSize = m.regionSize;
    o.state = m.state;
    o.protect = m.protect;
    o.type = m.type;
    return true;
  } catch {
    return false;
  }
}

export { MEMORY_BASIC_INFORMATION_SIZE };

/** SYSTEM_INFO's memory fields, in camelCase. */
export interface SystemInfo {
  pageSize: number;
  allocationGranularity: number;
  minimumApplicationAddress: bigint;
  maximumApplicationAddress: bigint;
  numberOfProcessors: number;
}

export function systemInfo(space: Space): SystemInfo {
  return {
    pageSize: space.pageSize,
    allocationGranularity: ALLOCATION_GRANULARITY,
    minimumApplicationAddress: BigInt(space.minAddress),
    maximumApplicationAddress: BigInt(space.maxAddress),
    numberOfProcessors: space.processors,
  };
}
