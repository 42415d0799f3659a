/**
 * kernel32: Windows' own virtual-memory and write-watch calls (VirtualAlloc(MEM_WRITE_WATCH),
 * GetWriteWatch, ResetWriteWatch, …) through koffi, for the Windows mechanism
 * (src/mechanisms/kernel32) and writewatch/win32 on Windows. Loads kernel32.dll on first use only.
 */
export * from './abi.js';
export { kernel32, kernel32Loaded, type Kernel32, type Ptr } from './raw.js';
export { Win32Error, lastWin32Error, isWin32ResourceError } from './error.js';
export { systemInfo, windowsVersion, type SystemInfo, type WindowsVersion } from './system.js';
