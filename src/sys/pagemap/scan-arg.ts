/**
 * A preallocated `pm_scan_arg` and its `page_region` vector, shared by every kind of scan. Both
 * live in off-heap ArrayBuffers that never move, so their addresses can be handed to the kernel
 * once; they are read through 32-bit views so that no BigInt is made per call.
 */
import { addressOf } from '../platform.js';
import { u64Struct } from '../libc/u64.js';
import { PAGE_REGION_SIZE, PM_SCAN_ARG, PM_SCAN_ARG_SIZE } from './abi.js';

/**
 * Regions per ioctl. The kernel fills `vec` through a bounce buffer of PMD_SIZE / PAGE_SIZE
 * entries; a call producing more than that can leave `walk_end` stale (measured on 6.18), so one
 * call never asks for more than one bounce buffer's worth.
 */
export function regionsPerCall(pageSize: number): number {
  return (pageSize / 8) | 0; // PMD_SIZE / PAGE_SIZE: a page table holds pageSize / 8 entries
}

export interface ScanArg {
  arg: BigUint64Array;
  arg32: Uint32Array;
  /** Kept reachable by its owner: its address is in `arg`. */
  vec: ArrayBuffer;
  vec32: Uint32Array;
  /** Capacity of `vec` in regions (`regionsPerCall`). */
  vecLen: number;
}

/** A pm_scan_arg with `size`, `vec` and `vec_len` filled in; flags and masks are the caller's. */
export function scanArg(pageSize: number): ScanArg {
  const vecLen = regionsPerCall(pageSize);
  const { u64, u32 } = u64Struct(PM_SCAN_ARG_SIZE / 8);
  const vec = new ArrayBuffer(vecLen * PAGE_REGION_SIZE);
  u64[PM_SCAN_ARG.size] = BigInt(PM_SCAN_ARG_SIZE);
  u64[PM_SCAN_ARG.vec] = addressOf(vec);
  u64[PM_SCAN_ARG.vec_len] = BigInt(vecLen);
  return { arg: u64, arg32: u32, vec, vec32: new Uint32Array(vec), vecLen };
}
