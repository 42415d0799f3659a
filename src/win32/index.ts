/**
 * writewatch/win32: VirtualAlloc(MEM_WRITE_WATCH), GetWriteWatch and ResetWriteWatch with Windows'
 * shapes, return values and last errors, for compatibility layers and ports of Windows code.
 * Addresses are bigints; out-parameters are `{ value }` boxes, `null` being a NULL pointer.
 */
import { getLastError as emulatedGetLastError, setLastError as emulatedSetLastError } from './last-error.js';
import { virtualAlloc as emulatedVirtualAlloc } from './virtual-alloc.js';
import { virtualFree as emulatedVirtualFree } from './virtual-free.js';
import { virtualProtect as emulatedVirtualProtect } from './virtual-protect.js';
import * as emulatedWriteWatch from './write-watch.js';
import { viewMemory as emulatedViewMemory } from './view.js';
import * as kernel32 from './kernel32/index.js';

export * from './constants.js';
export type { Box } from './args.js';

/** The Linux emulation over the write-protect mechanism. */
const emulation = {
  getLastError: emulatedGetLastError,
  setLastError: emulatedSetLastError,
  virtualAlloc: emulatedVirtualAlloc,
  virtualFree: emulatedVirtualFree,
  virtualProtect: emulatedVirtualProtect,
  getWriteWatch: emulatedWriteWatch.getWriteWatch,
  resetWriteWatch: emulatedWriteWatch.resetWriteWatch,
  ntGetWriteWatch: emulatedWriteWatch.ntGetWriteWatch,
  ntResetWriteWatch: emulatedWriteWatch.ntResetWriteWatch,
  viewMemory: emulatedViewMemory,
};

/**
 * The one platform switch: on Windows, kernel32 itself (./kernel32/); elsewhere the emulation.
 * Typed as the emulation, so the compiler holds both to the same signatures.
 */
const impl: typeof emulation = process.platform === 'win32' ? kernel32 : emulation;

export const {
  getLastError,
  setLastError,
  virtualAlloc,
  virtualFree,
  virtualProtect,
  getWriteWatch,
  resetWriteWatch,
  ntGetWriteWatch,
  ntResetWriteWatch,
  viewMemory,
} = impl;
