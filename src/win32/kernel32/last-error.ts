/**
 * GetLastError / SetLastError on Windows: the thread's own last error, kept by Windows. koffi saves
 * it when a call returns and restores it before the next, so what kernel32 set survives the JS in
 * between. The same JS argument checks as the Linux emulation (../last-error.ts).
 */
import { kernel32 } from '../../sys/kernel32/raw.js';
import { checkLastError } from '../args.js';

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
  kernel32().SetLastError(checkLastError(code));
}
