/**
 * What Windows says about itself: GetSystemInfo's page size and allocation granularity, and the
 * version (RtlGetVersion, which unlike GetVersionEx does not lie to unmanifested programs; ntdll's
 * wine_get_version when this is Wine).
 */
import {
  RTL_OSVERSIONINFOW,
  RTL_OSVERSIONINFOW_SIZE,
  SYSTEM_INFO,
  SYSTEM_INFO_SIZE,
} from './abi.js';
import { kernel32 } from './raw.js';

export interface SystemInfo {
  /** dwPageSize: 4096 on x64; GetWriteWatch's granularity. */
  pageSize: number;
  /** dwAllocationGranularity: where VirtualAlloc(NULL, …) places allocations (64 KiB). */
  allocationGranularity: number;
  minimumApplicationAddress: number;
  maximumApplicationAddress: number;
}

let info: SystemInfo | undefined;

/** GetSystemInfo, once. */
export function systemInfo(): SystemInfo {
  if (info) return info;
  const buf = new ArrayBuffer(SYSTEM_INFO_SIZE);
  kernel32().GetSystemInfo(buf);
  const dv = new DataView(buf);
  info = {
    pageSize: dv.getUint32(SYSTEM_INFO.dwPageSize, true),
    allocationGranularity: dv.getUint32(SYSTEM_INFO.dwAllocationGranularity, true),
    minimumApplicationAddress: Number(dv.getBigUint64(SYSTEM_INFO.lpMinimumApplicationAddress, true)),
    maximumApplicationAddress: Number(dv.getBigUint64(SYSTEM_INFO.lpMaximumApplicationAddress, true)),
  };
  return info;
}

export interface WindowsVersion {
  major: number;
  minor: number;
  build: number;
  /** Wine's version ("8.0") when this Windows is Wine, else null. */
  wine: string | null;
  /** "Windows 10.0.19045", "Windows 10.0.19045 (Wine 8.0)". */
  text: string;
}

let version: WindowsVersion | undefined;

/** RtlGetVersion and wine_get_version, once. */
export function windowsVersion(): WindowsVersion {
  if (version) return version;
  const k = kernel32();
  const buf = new ArrayBuffer(RTL_OSVERSIONINFOW_SIZE);
  const dv = new DataView(buf);
  dv.setUint32(RTL_OSVERSIONINFOW.dwOSVersionInfoSize, RTL_OSVERSIONINFOW_SIZE, true);
  const status = k.RtlGetVersion(buf);
  const major = status === 0 ? dv.getUint32(RTL_OSVERSIONINFOW.dwMajorVersion, true) : 0;
  const minor = status === 0 ? dv.getUint32(RTL_OSVERSIONINFOW.dwMinorVersion, true) : 0;
  const build = status === 0 ? dv.getUint32(RTL_OSVERSIONINFOW.dwBuildNumber, true) : 0;
  const wine = k.wine_get_version ? k.wine_get_version() : null;
  const text = `Windows ${major}.${minor}.${build}${wine ? ` (Wine ${wine})` : ''}`;
  version = { major, minor, build, wine, text };
  return version;
}
