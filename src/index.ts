/**
 * writewatch: Windows-style write watching (GetWriteWatch / ResetWriteWatch) for Node.js: on Linux
 * userfaultfd async write-protect and PAGEMAP_SCAN, on Windows kernel32's own GetWriteWatch, and a
 * shadow compare where neither can run.
 */
export {
  WriteWatch,
  type GetOptions,
  type ByteRange,
  type TrackTarget,
  type TrackOptions,
  type WebAssemblyMemory,
  type AllocateOptions,
  type MechanismOptions,
  type Mechanism,
  type BufferOf,
} from './writewatch/index.js';
export {
  WriteWatchError,
  UnsupportedError,
  ClosedError,
  LostError,
  SystemCallError,
  InvalidArgTypeError,
  InvalidArgValueError,
  OutOfRangeError,
  UntrackedError,
} from './errors.js';
export * as uffd from './sys/uffd/index.js';
export * as pagemap from './sys/pagemap/index.js';
export { probe, type ProbeResult } from './probe.js';
