/**
 * writewatch/win32: VirtualAlloc(MEM_WRITE_WATCH), GetWriteWatch and ResetWriteWatch with Windows'
 * shapes, return values and last errors, for compatibility layers and ports of Windows code.
 * Addresses are bigints; out-parameters are `{ value }` boxes, `null` being a NULL pointer.
 */
export * from './constants.js';
export { getLastError, setLastError } from './last-error.js';
export { virtualAlloc } from './virtual-alloc.js';
export { virtualFree } from './virtual-free.js';
export { virtualProtect } from './virtual-protect.js';
export { getWriteWatch, resetWriteWatch, ntGetWriteWatch, ntResetWriteWatch } from './write-watch.js';
export { viewMemory } from './view.js';
export type { Box } from './args.js';
