/**
 * The process's address space: the one place that picks its implementation. On Linux, the
 * emulation over mmap and the write-protect mechanism (space.ts); a kernel32-forwarding space on
 * Windows goes here.
 */
export { processSpace } from './space.js';
export { processView } from './view.js';
