export { WriteWatch, type Watched, type AllocateOptions } from './write-watch.js';
export type { GetOptions } from './args.js';
export type { ByteRange } from './sinks.js';
export type { TrackOptions, TrackTarget, WebAssemblyMemory } from './track.js';
export type { Mechanism, MechanismOptions } from './mechanism.js';
