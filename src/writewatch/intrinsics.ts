/**
 * The engine's own getters for buffers and views, captured at load. User code must not run in the
 * middle of a call: `length`, `byteLength`, `buffer` and friends read through a subclass's
 * override, an own property defined on the object, or a WebAssembly.Memory's own `buffer` accessor
 * could lie about the memory or close the tracker mid-call. These read the internal slots instead
 * (and work on objects of any realm), allocating nothing per call.
 */
type Getter<T, R> = (self: T) => R;

/** `getter.call(self)` with neither `call` nor the getter looked up on user-reachable objects at call time. */
const uncurry = Function.prototype.bind.bind(Function.prototype.call) as <T, R>(f: (this: T) => R) => Getter<T, R>;

function getter<T, R>(proto: object | undefined, key: string): Getter<T, R> | undefined {
  const d = proto === undefined ? undefined : Object.getOwnPropertyDescriptor(proto, key);
  return d?.get === undefined ? undefined : uncurry(d.get as (this: T) => R);
}

const TypedArray = Object.getPrototypeOf(Uint8Array.prototype) as object;

export const typedArrayBuffer = getter<ArrayBufferView, ArrayBuffer | SharedArrayBuffer>(TypedArray, 'buffer')!;
export const typedArrayByteOffset = getter<ArrayBufferView, number>(TypedArray, 'byteOffset')!;
export const typedArrayByteLength = getter<ArrayBufferView, number>(TypedArray, 'byteLength')!;
export const typedArrayLength = getter<ArrayBufferView, number>(TypedArray, 'length')!;
export const dataViewBuffer = getter<DataView, ArrayBuffer | SharedArrayBuffer>(DataView.prototype, 'buffer')!;
export const dataViewByteOffset = getter<DataView, number>(DataView.prototype, 'byteOffset')!;
export const dataViewByteLength = getter<DataView, number>(DataView.prototype, 'byteLength')!;

const arrayBufferByteLength = getter<ArrayBuffer, number>(ArrayBuffer.prototype, 'byteLength')!;
const sharedByteLength = getter<SharedArrayBuffer, number>(SharedArrayBuffer.prototype, 'byteLength')!;
// Absent on runtimes without resizable buffers (then every buffer is fixed).
const arrayBufferResizable = getter<ArrayBuffer, boolean>(ArrayBuffer.prototype, 'resizable');
const arrayBufferMax = getter<ArrayBuffer, number>(ArrayBuffer.prototype, 'maxByteLength');
const sharedGrowable = getter<SharedArrayBuffer, boolean>(SharedArrayBuffer.prototype, 'growable');
const sharedMax = getter<SharedArrayBuffer, number>(SharedArrayBuffer.prototype, 'maxByteLength');

const wasmMemory = (globalThis as { WebAssembly?: { Memory?: { prototype: object } } }).WebAssembly?.Memory?.prototype;
const memoryBufferGetter = getter<object, ArrayBuffer | SharedArrayBuffer>(wasmMemory, 'buffer');

/** A WebAssembly.Memory's current buffer; throws TypeError for anything else. */
export function memoryBuffer(m: object): ArrayBuffer | SharedArrayBuffer {
  if (memoryBufferGetter === undefined) throw new TypeError('no WebAssembly.Memory in this runtime');
  return memoryBufferGetter(m);
}

/** Whether `x` is a WebAssembly.Memory of any realm (its buffer getter's own brand check). */
export function isWasmMemory(x: unknown): x is object {
  if (memoryBufferGetter === undefined || x === null || typeof x !== 'object') return false;
  try {
    memoryBufferGetter(x);
    return true;
  } catch {
    return false;
  }
}

/** Which getters apply: SharedArrayBuffer's refuse an ArrayBuffer and vice versa. */
export function byteLengthOf(b: ArrayBuffer | SharedArrayBuffer, shared: boolean): number {
  return shared ? sharedByteLength(b as SharedArrayBuffer) : arrayBufferByteLength(b as ArrayBuffer);
}

export function isGrowable(b: ArrayBuffer | SharedArrayBuffer, shared: boolean): boolean {
  const g = shared ? sharedGrowable : arrayBufferResizable;
  return g !== undefined && g(b as never) === true;
}

export function maxByteLengthOf(b: ArrayBuffer | SharedArrayBuffer, shared: boolean): number {
  const g = shared ? sharedMax : arrayBufferMax;
  return g === undefined ? byteLengthOf(b, shared) : g(b as never);
}
