/**
 * Writing GetWriteWatch's `lpAddresses` out-parameter: a BigUint64Array (stores run no user code)
 * or a plain array (whose stores may throw or run user code, and are undone if one throws).
 */
import { types } from 'node:util';
import { typedArrayBuffer, typedArrayByteOffset, typedArrayLength } from '../writewatch/intrinsics.js';

const TWO32 = 4294967296;

// The 32-bit view of the last BigUint64Array written: lets addresses be stored without a BigInt each.
let lastOut: BigUint64Array | null = null;
let lastOut32: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/** Writes the addresses into a BigUint64Array of at least `n` elements. */
export function copyOutTyped(out: BigUint64Array, buf: Float64Array, n: number): void {
  // Re-derived when the array changes, or its length does (a view that tracks a resizable buffer);
  // through the engine's getters, so a subclass cannot point it past the array.
  const length = typedArrayLength(out);
  if (out !== lastOut || lastOut32.length !== length * 2) {
    lastOut = out;
    lastOut32 = new Uint32Array(typedArrayBuffer(out), typedArrayByteOffset(out), length * 2);
  }
  const u32 = lastOut32;
  // Little-endian halves (x86_64 and arm64 Linux are little-endian); addresses < 2^53 are exact.
  for (let i = 0; i < n; i++) {
    const a = buf[i];
    u32[2 * i] = a >>> 0;
    u32[2 * i + 1] = (a / TWO32) >>> 0;
  }
}

/**
 * Writes the addresses into a plain array, whose stores may throw (frozen, a Proxy, a non-writable
 * index) or run user code; on a throw, restores what it overwrote and rethrows, so the array is as
 * it was. `values` is the call's own copy: user code reached from a store cannot change it.
 */
export function copyOutArray(out: bigint[], values: bigint[]): void {
  const saved: unknown[] = [];
  let i = 0;
  try {
    for (; i < values.length; i++) {
      saved.push(out[i]);
      out[i] = values[i];
    }
  } catch (e) {
    for (let k = 0; k < saved.length && k < i; k++) {
      try {
        out[k] = saved[k] as bigint;
      } catch {
        /* best effort: a store that threw once may throw again */
      }
    }
    throw e;
  }
}

/** False for a plain array that cannot take stores: frozen, or a Proxy whose traps throw. */
export function storable(out: bigint[]): boolean {
  try {
    return !Object.isFrozen(out);
  } catch {
    return false;
  }
}

/** The length of the addresses array (a typed array's through the engine's getter), or -1 when reading it throws. */
export function lengthOf(out: BigUint64Array | bigint[]): number {
  if (types.isBigUint64Array(out)) return typedArrayLength(out);
  try {
    const n = out.length;
    return typeof n === 'number' ? n : -1;
  } catch {
    return -1;
  }
}
