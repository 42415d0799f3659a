export * as abi from './abi.js';
export { PAGE_IS, type PageCategory } from './abi.js';
export { WrittenScanner, type RegionSink, regionsPerCall } from './written.js';
export { selfPagemapFd, selfScanner } from './self.js';
export { openPagemap } from './raw.js';
