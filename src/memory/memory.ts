/**
 * Memory the library mapped itself (allocate), whatever the platform: JS reaches it through views,
 * and release() frees it so that no view can fault the process or reach memory mapped there later.
 * Linux: mapping.ts (mmap); Windows: windows.ts (VirtualAlloc).
 */
export interface Memory {
  readonly address: number;
  readonly length: number;
  /** An ArrayBuffer over [offset, offset + length); detached by release(). */
  view(offset: number, length: number): ArrayBuffer;
  /** Detaches every view and frees the memory once no view can reach it, if `owned()` still says it is ours. */
  release(): void;
  /** Asked before every unmap: false once the memory may be someone else's. */
  setOwned(owned: () => boolean): void;
  /** Its owner was garbage-collected without release(): the views are the user's now (views.ts). */
  orphan(): void;
}
