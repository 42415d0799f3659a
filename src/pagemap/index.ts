export * as abi from './abi.js';
export { PAGE_IS, type PageCategory } from './abi.js';
export { WrittenScanner, type RegionSink, regionsPerCall } from './written.js';
export { selfPagemapFd, selfScanner } from './self.js';
export { openPagemap } from './raw.js';
export { acceptedCategories, categoryNames } from './categories.js';
export { PagemapQuery, type QueryOptions, type PagemapRegion, type RegionCallback } from './query.js';
export { parseMaps, readMaps, type MapsEntry } from './maps.js';
export { scanResidency, type MappingResidency, type ProcessResidency, type ResidencyOptions } from './residency.js';
