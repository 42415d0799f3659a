/**
 * Detaching an ArrayBuffer that wraps native memory, so that JS can no longer reach memory we are
 * about to unmap. Node 20 offers no public way for external buffers (transfer and postMessage copy
 * them), so this uses V8's %ArrayBufferDetach through a function compiled with natives syntax
 * briefly enabled. Where that is unavailable, `detach` returns false and the caller must keep the
 * memory mapped (see mapping.ts).
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type Detach = (ab: ArrayBuffer) => void;
let impl: Detach | null | undefined;

function load(): Detach | null {
  try {
    v8.setFlagsFromString('--allow-natives-syntax');
    try {
      return vm.runInThisContext('(function detach(ab) { %ArrayBufferDetach(ab); })') as Detach;
    } finally {
      v8.setFlagsFromString('--no-allow-natives-syntax');
    }
  } catch {
    return null;
  }
}

/** Detaches `ab`; true when it is now detached (byteLength 0, views read undefined). */
export function detach(ab: ArrayBuffer): boolean {
  if (ab.byteLength === 0) return true;
  impl ??= load();
  if (!impl) return false;
  try {
    impl(ab);
  } catch {
    return false;
  }
  return ab.byteLength === 0;
}
