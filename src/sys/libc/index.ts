export * from './abi.js';
export * from './arch.js';
export { libc, type Libc, type Ptr } from './libc.js';
export { getPageSize, addressOf } from '../platform.js';
export { lastError, check } from './errno.js';
export { u64Struct, put64, get64 } from './u64.js';
