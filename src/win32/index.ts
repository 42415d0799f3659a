/**
 * writewatch/win32: VirtualAlloc(MEM_WRITE_WATCH), GetWriteWatch, ResetWriteWatch, VirtualProtect,
 * VirtualQuery and GetSystemInfo with Windows' shapes, return values and last errors, for
 * compatibility layers and ports of Windows code, on the process's memory (the functions) or a
 * guest's (AddressSpace). Addresses are bigints; out-parameters are `{ value }` boxes, `null`
 * being a NULL pointer.
 */
export * from './constants.js';
export { getLastError, setLastError } from './last-error.js';
export {
  virtualAlloc,
  virtualFree,
  virtualProtect,
  virtualQuery,
  getSystemInfo,
  getWriteWatch,
  resetWriteWatch,
  ntGetWriteWatch,
  ntResetWriteWatch,
} from './functions.js';
export { viewMemory } from './view.js';
export { AddressSpace, type AddressSpaceOptions } from './address-space.js';
export type { Box } from './args.js';
export type { MemoryBasicInformation, SystemInfo } from './front.js';
