/**
 * JS-level argument checks. Windows has no types: a C caller cannot pass a string for a pointer, so
 * a wrong JS type is a programming error and throws (ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE)
 * instead of becoming a Windows error code. Values of the right type, however absurd (flags
 * 0xdeadbeef, a NULL base), go through to the Windows rules.
 *
 * An out-parameter of the right type that cannot be written (a frozen box, a getter-only `value`,
 * a frozen array, a Proxy whose `set` throws) is what an unwritable pointer is in C, and Windows
 * answers an unwritable out-pointer with STATUS_ACCESS_VIOLATION (ERROR_NOACCESS, 998) and changes
 * nothing, exactly as it answers NULL (WINDOWS-SEMANTICS.md, GetWriteWatch checks 2 and 5; API.md's
 * "an addresses array shorter than count.value is treated as an access violation"). So such a
 * call fails with 998, not a throw: `writable()` probes a box before the call acts.
 */
import { types } from 'node:util';
import { InvalidArgTypeError, OutOfRangeError } from '../errors.js';

/** An out-parameter that Windows takes by pointer: `{ value }`, or `null` for a NULL pointer. */
export interface Box {
  value: number;
}

const U64_MAX = 0xffffffffffffffffn;

/** A pointer-sized address: a bigint in [0, 2^64). */
export function checkAddress(name: string, value: unknown): bigint {
  if (typeof value !== 'bigint') throw new InvalidArgTypeError(name, 'of type bigint', value);
  if (value < 0n || value > U64_MAX) throw new OutOfRangeError(name, '>= 0n and <= 2n ** 64n - 1n', value);
  return value;
}

/** A SIZE_T: a non-negative safe integer (sizes past 2^53 cannot fit any address space we map). */
export function checkSize(name: string, value: unknown): number {
  if (typeof value !== 'number') throw new InvalidArgTypeError(name, 'of type number', value);
  if (!Number.isSafeInteger(value) || value < 0) throw new OutOfRangeError(name, 'a safe integer >= 0', value);
  return value;
}

/** A DWORD / ULONG: an integer in [0, 2^32). */
export function checkDword(name: string, value: unknown): number {
  if (typeof value !== 'number') throw new InvalidArgTypeError(name, 'of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new OutOfRangeError(name, '>= 0 and <= 4294967295', value);
  return value;
}

/** A `{ value: number }` box or null (NULL). `value` is checked only where Windows reads it. */
export function checkBox(name: string, box: unknown): Box | null {
  if (box === null) return null;
  if (typeof box !== 'object' || box === undefined) throw new InvalidArgTypeError(name, 'an object { value: number } or null', box);
  return box as Box;
}

/** What probe() answers for a box whose `value` cannot be read or written. */
export const UNWRITABLE: unique symbol = Symbol('unwritable');

/**
 * Reads `box.value` and writes the same value back, as ProbeForWrite touches the page; returns the
 * value read, or UNWRITABLE when a getter or setter throws (or the box is frozen: this module is
 * strict code, so the store throws). Call before acting; the write-back is no change.
 */
export function probe(box: Box): unknown {
  try {
    const v = box.value;
    box.value = v;
    return v;
  } catch {
    return UNWRITABLE;
  }
}

/** True when `box.value` can be read and written (see probe). */
export function writable(box: Box): boolean {
  return probe(box) !== UNWRITABLE;
}

/** `*lpdwCount` on input, as probe() read it: a ULONG_PTR. */
export function checkCountValue(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new InvalidArgTypeError(`${name}.value`, 'of type number', v);
  if (!Number.isSafeInteger(v) || v < 0) throw new OutOfRangeError(`${name}.value`, 'a safe integer >= 0', v);
  return v;
}

/** The lpAddresses array: a BigUint64Array, a bigint[] or null (NULL). */
export function checkAddresses(name: string, value: unknown): BigUint64Array | bigint[] | null {
  // Brand checks, so a BigUint64Array or Array from another realm (node:vm) counts as one.
  if (value === null || types.isBigUint64Array(value)) return value as BigUint64Array | null;
  let array = false;
  try {
    array = Array.isArray(value);
  } catch {
    /* a revoked Proxy: no array at all */
  }
  if (array) return value as bigint[];
  throw new InvalidArgTypeError(name, 'an instance of BigUint64Array, an Array of bigint, or null', value);
}

/** GetWriteWatch's and NtGetWriteWatch's arguments, type-checked in one order for every front. */
export function checkGetWatchArgs(
  flags: unknown,
  base: unknown,
  size: unknown,
  addresses: unknown,
  count: unknown,
  granularity: unknown,
): { flags: number; base: bigint; size: number; out: BigUint64Array | bigint[] | null; cnt: Box | null; gran: Box | null } {
  const f = checkDword('flags', flags);
  const b = checkAddress('base', base);
  const n = checkSize('size', size);
  return { flags: f, base: b, size: n, out: checkAddresses('addresses', addresses), cnt: checkBox('count', count), gran: checkBox('granularity', granularity) };
}

/**
 * SetLastError's argument: a DWORD, or a negative int32 as C converts it (SetLastError(-1) stores
 * 0xFFFFFFFF); returned as the DWORD to store. Not a number → ERR_INVALID_ARG_TYPE; NaN, a
 * fraction or outside [-2^31, 2^32) → ERR_OUT_OF_RANGE.
 */
export function checkLastError(code: unknown): number {
  if (typeof code !== 'number') throw new InvalidArgTypeError('code', 'of type number', code);
  if (!Number.isInteger(code) || code < -0x80000000 || code > 0xffffffff) {
    throw new OutOfRangeError('code', '>= -2147483648 and <= 4294967295 (a DWORD, or an int32 as C converts it)', code);
  }
  return code >>> 0;
}
