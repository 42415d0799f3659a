export { WriteWatch, type AllocateOptions, type BufferOf } from './write-watch.js';
export type { GetOptions } from './args.js';
export type { ByteRange } from './sinks.js';
export type { TrackOptions, TrackTarget, WebAssemblyMemory } from './target.js';
export type { Mechanism, MechanismOptions } from './mechanism.js';
