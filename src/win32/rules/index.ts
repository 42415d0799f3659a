/**
 * The Windows rules of VirtualAlloc, VirtualFree, VirtualProtect, VirtualQuery, GetWriteWatch and
 * ResetWriteWatch, once, over any Space (space.ts): argument checks in Windows' order, page and
 * 64 KiB rounding, the NTSTATUS of each failure, results. The module functions (the process's
 * memory) and AddressSpace (a guest's) are thin fronts over these.
 *
 * Each function takes JS values already type-checked (args.ts) and returns an NTSTATUS (or a base
 * address); user code (the out-parameters' getters and setters) runs before the space is locked or
 * after it is unlocked, never inside, so a nested call from it cannot deadlock or see a half-done one.
 */
export { run, type Frame } from './frame.js';
export { allocate } from './allocate.js';
export { free } from './free.js';
export { protect } from './protect.js';
export { query, fillInfo, systemInfo, MEMORY_BASIC_INFORMATION_SIZE, type MemoryBasicInformation, type SystemInfo } from './query.js';
export { getWatch, resetWatch } from './write-watch.js';
