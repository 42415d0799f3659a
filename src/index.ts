/**
 * writewatch: Windows-style write watching (GetWriteWatch / ResetWriteWatch) for Node.js on Linux,
 * on userfaultfd async write-protect and PAGEMAP_SCAN.
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
} from './errors.js';
export * as uffd from './uffd/index.js';
export * as pagemap from './pagemap/index.js';
export { probe, type ProbeResult } from './probe.js';
