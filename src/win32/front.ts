/**
 * The Win32-level calls over a Space: JS type checks (args.ts), the Windows rules (rules.ts), and
 * kernelbase's translation of an NTSTATUS into a return value and the thread's last error. The
 * module functions (functions.ts, the process's memory) and AddressSpace (a guest's) both call these.
 */
import { InvalidArgTypeError } from '../errors.js';
import { checkAddress, checkBox, checkDword, checkGetWatchArgs, checkSize, type Box } from './args.js';
import { STATUS_ACCESS_VIOLATION, WRITE_WATCH_FAILED } from './constants.js';
import { setNtStatus } from './last-error.js';
import * as rules from './rules/index.js';
import type { Space } from './space.js';

export type { MemoryBasicInformation, SystemInfo } from './rules/index.js';

/** VirtualAlloc: the base, or 0n with the last error. */
export function virtualAllocIn(space: Space, address: bigint, size: number, allocationType: number, protect: number): bigint {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  checkDword('allocationType', allocationType);
  checkDword('protect', protect);
  const result = rules.allocate(space, addr, size, allocationType, protect);
  if (typeof result === 'number') {
    setNtStatus(result);
    return 0n;
  }
  return result;
}

/** VirtualFree: true, or false with the last error. */
export function virtualFreeIn(space: Space, address: bigint, size: number, freeType: number): boolean {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  checkDword('freeType', freeType);
  return setNtStatus(rules.free(space, addr, size, freeType));
}

/** VirtualProtect: true, or false with the last error (NULL or unwritable oldProtect: 998). */
export function virtualProtectIn(space: Space, address: bigint, size: number, newProtect: number, oldProtect: Box | null): boolean {
  const addr = checkAddress('address', address);
  checkSize('size', size);
  checkDword('newProtect', newProtect);
  const old = checkBox('oldProtect', oldProtect);
  return setNtStatus(rules.run((f) => rules.protect(space, f, addr, size, newProtect, old)));
}

/**
 * VirtualQuery: fills `info` and returns 48 (sizeof(MEMORY_BASIC_INFORMATION)); 0 with the last
 * error 87 for an address above the user range, 998 for an `info` whose properties cannot be set.
 */
export function virtualQueryIn(space: Space, address: bigint, info: object): number {
  const addr = checkAddress('address', address);
  if (typeof info !== 'object' || info === null) throw new InvalidArgTypeError('info', 'an object', info);
  const m = rules.query(space, addr);
  if (typeof m === 'number') {
    setNtStatus(m);
    return 0;
  }
  if (!rules.fillInfo(info, m)) {
    setNtStatus(STATUS_ACCESS_VIOLATION);
    return 0;
  }
  return rules.MEMORY_BASIC_INFORMATION_SIZE;
}

/** GetSystemInfo: fills `info`'s memory fields (a setter that throws propagates: Windows has no failure here). */
export function getSystemInfoIn(space: Space, info: object): void {
  if (typeof info !== 'object' || info === null) throw new InvalidArgTypeError('info', 'an object', info);
  Object.assign(info, rules.systemInfo(space));
}

/** NtGetWriteWatch: an NTSTATUS; the last error is not touched. */
export function ntGetWriteWatchIn(
  space: Space,
  flags: number,
  base: bigint,
  size: number,
  addresses: BigUint64Array | bigint[] | null,
  count: Box | null,
  granularity: Box | null,
): number {
  const a = checkGetWatchArgs(flags, base, size, addresses, count, granularity);
  return rules.run((f) => rules.getWatch(space, f, a.flags, a.base, a.size, a.out, a.cnt, a.gran));
}

/** NtResetWriteWatch: an NTSTATUS. */
export function ntResetWriteWatchIn(space: Space, base: bigint, size: number): number {
  const b = checkAddress('base', base);
  checkSize('size', size);
  return rules.run((f) => rules.resetWatch(space, f, b, size));
}

/** GetWriteWatch: 0, or 0xFFFFFFFF with the last error (87, 998). */
export function getWriteWatchIn(
  space: Space,
  flags: number,
  base: bigint,
  size: number,
  addresses: BigUint64Array | bigint[] | null,
  count: Box | null,
  granularity: Box | null,
): number {
  return setNtStatus(ntGetWriteWatchIn(space, flags, base, size, addresses, count, granularity)) ? 0 : WRITE_WATCH_FAILED;
}

/** ResetWriteWatch: 0, or 0xFFFFFFFF with the last error 87. */
export function resetWriteWatchIn(space: Space, base: bigint, size: number): number {
  return setNtStatus(ntResetWriteWatchIn(space, base, size)) ? 0 : WRITE_WATCH_FAILED;
}
