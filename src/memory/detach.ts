/**
 * Detaching an ArrayBuffer that wraps native memory, so that JS can no longer reach memory we are
 * about to unmap.
 *
 * Where the runtime has `ArrayBuffer.prototype.transfer` (Node 22, 24, 26: V8 ≥ 11.4), that public
 * API is used: `transfer(0)` detaches the buffer and returns a fresh empty one, so no second
 * ArrayBuffer ever aliases the memory (a full-length `transfer()` of a koffi.view external buffer
 * would: measured on 22.23, 24.22, 26.12, it hands the same memory to the new buffer).
 * `structuredClone`/`postMessage` cannot do it: they copy an external buffer on Node 20 and refuse
 * it on 22+ ("Cannot transfer object of unsupported type").
 *
 * Node 20 has neither, so there and only there this falls back to V8's %ArrayBufferDetach, through
 * a function compiled with natives syntax briefly enabled. Where neither works, `detach` returns
 * false and the caller keeps the memory mapped (see mapping.ts).
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type Detach = (ab: ArrayBuffer) => void;
let impl: Detach | null | undefined;

/** Which way this runtime detaches: the public API, V8's natives syntax (Node 20), or none. */
export type DetachMethod = 'transfer' | 'natives-syntax' | 'none';
let method: DetachMethod = 'none';

const transfer = (ArrayBuffer.prototype as { transfer?: (this: ArrayBuffer, n?: number) => ArrayBuffer }).transfer;

/**
 * Whether this runtime has `ArrayBuffer.prototype.transfer` (Node 22+), and with it a way for user
 * code to move a view's memory into an ArrayBuffer the library never sees: a full-length
 * `transfer()` of an external buffer keeps the same memory (V8 reuses the backing store).
 */
export const canTransfer = typeof transfer === 'function';

/** The engine's byteLength getter: an own `byteLength` property user code defined cannot lie to it. */
const apply = Reflect.apply; // captured: user code may replace Reflect.apply or Function.prototype.call later
const byteLengthGetter = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength')!.get!;

/** `ab`'s real length (0 once detached). */
export function byteLengthOf(ab: ArrayBuffer): number {
  return apply(byteLengthGetter, ab, []) as number;
}

function load(): Detach | null {
  if (typeof transfer === 'function') {
    method = 'transfer';
    return (ab) => void apply(transfer, ab, [0]);
  }
  try {
    v8.setFlagsFromString('--allow-natives-syntax');
    try {
      const f = vm.runInThisContext('(function detach(ab) { %ArrayBufferDetach(ab); })') as Detach;
      method = 'natives-syntax';
      return f;
    } finally {
      v8.setFlagsFromString('--no-allow-natives-syntax');
    }
  } catch {
    return null;
  }
}

/** How `detach` works on this runtime (loads it on first call). */
export function detachMethod(): DetachMethod {
  impl ??= load();
  return method;
}

/** Detaches `ab`; true when it is now detached (byteLength 0, views read undefined). */
export function detach(ab: ArrayBuffer): boolean {
  if (byteLengthOf(ab) === 0) return true;
  impl ??= load();
  if (!impl) return false;
  try {
    impl(ab);
  } catch {
    return false;
  }
  return byteLengthOf(ab) === 0;
}
