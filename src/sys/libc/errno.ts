import { SystemCallError } from '../../errors.js';
import { libc } from './libc.js';

/**
 * Builds the error for a call that just returned -1. Must be called before anything else runs:
 * koffi exposes the live thread errno, which later libc calls (or Node's own I/O) overwrite.
 */
export function lastError(syscall: string, detail?: string): SystemCallError {
  return new SystemCallError(syscall, libc().errno(), detail);
}

/** Throws the errno of the call that just returned `ret` when it is negative; returns `ret`. */
export function check(ret: number, syscall: string, detail?: string): number {
  if (ret < 0) throw lastError(syscall, detail);
  return ret;
}
