/**
 * writewatch/win32 on Windows: every function forwards to kernel32 (ntdll for the Nt* ones) with
 * the same JS signatures, argument checks and answers as the Linux emulation (../index.ts picks
 * this module when process.platform is 'win32'). Nothing here loads kernel32.dll at import.
 */
export { getLastError, setLastError } from './last-error.js';
export { virtualAlloc, virtualFree, virtualProtect, virtualQuery } from './memory.js';
export { getWriteWatch, resetWriteWatch, ntGetWriteWatch, ntResetWriteWatch } from './write-watch.js';
export { getSystemInfo } from './system-info.js';
export type { MemoryBasicInformation, SystemInfo } from '../rules/query.js';
export { viewMemory } from './view.js';
export { heldCount, regionCount } from './regions.js';
