/**
 * writewatch/win32: VirtualAlloc(MEM_WRITE_WATCH), GetWriteWatch, ResetWriteWatch, VirtualProtect,
 * VirtualQuery and GetSystemInfo with Windows' shapes, return values and last errors, for
 * compatibility layers and ports of Windows code, on the process's memory (the functions) or a
 * guest's (AddressSpace). Addresses are bigints; out-parameters are `{ value }` boxes, `null`
 * being a NULL pointer.
 */
import * as emulatedFunctions from './functions.js';
import * as kernel32 from './kernel32/index.js';
import { getLastError as emulatedGetLastError, setLastError as emulatedSetLastError } from './last-error.js';
import { viewMemory as emulatedViewMemory } from './view.js';

export * from './constants.js';
export { AddressSpace, type AddressSpaceOptions } from './address-space.js';
export type { Box } from './args.js';
export type { MemoryBasicInformation, SystemInfo } from './front.js';

/** The Linux emulation: the Windows rules (rules/) over the process space and the write-protect mechanism. */
const emulation = {
  getLastError: emulatedGetLastError,
  setLastError: emulatedSetLastError,
  virtualAlloc: emulatedFunctions.virtualAlloc,
  virtualFree: emulatedFunctions.virtualFree,
  virtualProtect: emulatedFunctions.virtualProtect,
  virtualQuery: emulatedFunctions.virtualQuery,
  getSystemInfo: emulatedFunctions.getSystemInfo,
  getWriteWatch: emulatedFunctions.getWriteWatch,
  resetWriteWatch: emulatedFunctions.resetWriteWatch,
  ntGetWriteWatch: emulatedFunctions.ntGetWriteWatch,
  ntResetWriteWatch: emulatedFunctions.ntResetWriteWatch,
  viewMemory: emulatedViewMemory,
};

/**
 * The one platform switch: on Windows, kernel32 itself (./kernel32/); elsewhere the emulation.
 * Typed as the emulation, so the compiler holds both to the same signatures. (AddressSpace is the
 * same everywhere: a guest's memory is a WebAssembly.Memory or buffer on every platform.)
 */
const impl: typeof emulation = process.platform === 'win32' ? kernel32 : emulation;

export const {
  getLastError,
  setLastError,
  virtualAlloc,
  virtualFree,
  virtualProtect,
  virtualQuery,
  getSystemInfo,
  getWriteWatch,
  resetWriteWatch,
  ntGetWriteWatch,
  ntResetWriteWatch,
  viewMemory,
} = impl;
