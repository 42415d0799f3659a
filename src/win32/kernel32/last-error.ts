/**
 * GetLastError / SetLastError on Windows: the thread's own last error, kept by Windows. koffi saves
 * it when a call returns and restores it before the next, so what kernel32 set survives the JS in
 * between. The same JS argument checks as the Linux emulation (../last-error.ts).
 */
import { InvalidArgTypeError, OutOfRangeError } from '../../errors.js';
import { kernel32 } from '../../sys/kernel32/raw.js';

/** GetLastError. */
export function getLastError(): number {
  return kernel32().GetLastError();
}

/**
 * SetLastError: a DWORD, or a negative int32 as C converts it (-1 stores 0xFFFFFFFF). Anything
 * else throws, as on Linux: not a number → ERR_INVALID_ARG_TYPE; NaN, a fraction or outside
 * [-2^31, 2^32) → ERR_OUT_OF_RANGE.
 */
export function setLastError(code: number): void {
  if (typeof code !== 'number') throw new InvalidArgTypeError('code', 'of type number', code);
  if (!Number.isInteger(code) || code < -0x80000000 || code > 0xffffffff) {
    throw new OutOfRangeError('code', '>= -2147483648 and <= 4294967295 (a DWORD, or an int32 as C converts it)', code);
  }
  kernel32().SetLastError(code >>> 0);
}
