/**
 * GetSystemInfo on Windows: kernel32's answer, read once (nothing in it changes while the process
 * runs) and stored into the caller's object each call.
 */
import { InvalidArgTypeError } from '../../errors.js';
import { SYSTEM_INFO, SYSTEM_INFO_SIZE } from '../../sys/kernel32/abi.js';
import { kernel32 } from '../../sys/kernel32/raw.js';
import type { SystemInfo } from '../rules/query.js';

let info: Readonly<SystemInfo> | undefined;

function read(): Readonly<SystemInfo> {
  const buf = new ArrayBuffer(SYSTEM_INFO_SIZE);
  kernel32().GetSystemInfo(buf);
  const dv = new DataView(buf);
  return Object.freeze({
    pageSize: dv.getUint32(SYSTEM_INFO.dwPageSize, true),
    allocationGranularity: dv.getUint32(SYSTEM_INFO.dwAllocationGranularity, true),
    minimumApplicationAddress: dv.getBigUint64(SYSTEM_INFO.lpMinimumApplicationAddress, true),
    maximumApplicationAddress: dv.getBigUint64(SYSTEM_INFO.lpMaximumApplicationAddress, true),
    numberOfProcessors: dv.getUint32(SYSTEM_INFO.dwNumberOfProcessors, true),
  });
}

/**
 * GetSystemInfo: fills `info`. GetSystemInfo has no failure return (a NULL pointer is an access
 * violation in C), so anything but an object throws ERR_INVALID_ARG_TYPE.
 */
export function getSystemInfo(out: object): void {
  if (typeof out !== 'object' || out === null) throw new InvalidArgTypeError('info', 'an object', out);
  Object.assign(out, (info ??= read()));
}
